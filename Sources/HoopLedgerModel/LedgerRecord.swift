import Foundation

/// The kinds of record the ledger keeps (DESIGN.md, "Ledger").
public enum RecordKind: String, Sendable, CaseIterable, Codable {
    case identity, session, credential, request, decision, statement, result, event
}

/// A record as stored: header, canonical body, and its place in the hash chain.
public struct LedgerRecord: Sendable, Equatable, Codable {
    public let id: Int64
    /// Microseconds since the Unix epoch, UTC.
    public let timestamp: Int64
    public let kind: String
    public let identity: String?
    public let target: String?
    public let session: String?
    public let body: String
    /// Hex SHA-256 of the record before (64 zeros for the first).
    public let previousHash: String
    /// Hex SHA-256 of this record's canonical encoding, which includes `previousHash`.
    public let hash: String

    public init(id: Int64, timestamp: Int64, kind: String, identity: String? = nil, target: String? = nil, session: String? = nil, body: String, previousHash: String, hash: String) {
        self.id = id
        self.timestamp = timestamp
        self.kind = kind
        self.identity = identity
        self.target = target
        self.session = session
        self.body = body
        self.previousHash = previousHash
        self.hash = hash
    }

    public var time: Date { Date(timeIntervalSince1970: Double(timestamp) / 1_000_000) }
}
