import Foundation

/// The chain's head at a moment, signed by the broker (Ed25519) and published where someone
/// holding the ledger file cannot rewrite it: each target database, `audit --follow`'s stream,
/// a webhook. `audit verify` checks that the chain still holds every checkpoint it can reach.
public struct LedgerCheckpoint: Codable, Sendable, Equatable {
    public var broker: String
    /// The ledger it belongs to: the hash of its first record (the broker's id and key live in
    /// files beside the ledger, which whoever can rewrite the ledger can replace too).
    public var origin: String
    public var recordID: Int64
    public var hash: String
    /// Microseconds since the Unix epoch, UTC.
    public var timestamp: Int64
    /// Base64 Ed25519 signature over `signedText`.
    public var signature: String
    /// Where it was read back from (a target's name); not signed.
    public var source: String?
    /// For a checkpoint the ledger recorded: the targets it was kept in.
    public var kept: [String] = []

    enum CodingKeys: String, CodingKey { case broker, origin, recordID, hash, timestamp, signature, source }

    public init(broker: String, origin: String, recordID: Int64, hash: String, timestamp: Int64, signature: String, source: String? = nil) {
        self.broker = broker
        self.origin = origin
        self.recordID = recordID
        self.hash = hash
        self.timestamp = timestamp
        self.signature = signature
        self.source = source
    }

    public static func signedText(broker: String, origin: String, recordID: Int64, hash: String, timestamp: Int64) -> String {
        "hoopctl-checkpoint v1 \(broker) \(origin) \(recordID) \(hash) \(timestamp)"
    }

    public var signedText: String { Self.signedText(broker: broker, origin: origin, recordID: recordID, hash: hash, timestamp: timestamp) }
}
