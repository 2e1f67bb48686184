import Foundation

/// Which records `Ledger.records` returns. Every value is bound as a parameter.
public struct LedgerQuery: Sendable, Equatable, Codable {
    public var since: Date?
    public var until: Date?
    /// A principal (`user:alice`); matched exactly.
    public var identity: String?
    public var target: String?
    public var session: String?
    public var kinds: [RecordKind]
    /// Only records with an id above this one (resuming a stream).
    public var afterID: Int64?
    /// The newest `limit` records (still returned oldest first).
    public var limit: Int?
    /// Only the records of sessions started with this correlation id (one job's sessions).
    public var correlation: String?

    public init(since: Date? = nil, until: Date? = nil, identity: String? = nil, target: String? = nil,
                session: String? = nil, kinds: [RecordKind] = [], afterID: Int64? = nil, limit: Int? = nil) {
        self.since = since
        self.until = until
        self.identity = identity
        self.target = target
        self.session = session
        self.kinds = kinds
        self.afterID = afterID
        self.limit = limit
    }

    enum CodingKeys: String, CodingKey { case since, until, identity, target, session, kinds, afterID, limit, correlation }

    /// Every field may be left out, `{}` being every record.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(since: try container.decodeIfPresent(Date.self, forKey: .since),
                  until: try container.decodeIfPresent(Date.self, forKey: .until),
                  identity: try container.decodeIfPresent(String.self, forKey: .identity),
                  target: try container.decodeIfPresent(String.self, forKey: .target),
                  session: try container.decodeIfPresent(String.self, forKey: .session),
                  kinds: try container.decodeIfPresent([RecordKind].self, forKey: .kinds) ?? [],
                  afterID: try container.decodeIfPresent(Int64.self, forKey: .afterID),
                  limit: try container.decodeIfPresent(Int.self, forKey: .limit))
        correlation = try container.decodeIfPresent(String.self, forKey: .correlation)
    }

    /// What `sql()` selects, for a record read from the intake journal; `correlatedSessions`
    /// are the sessions started with `correlation`.
    package func matches(_ record: LedgerRecord, correlatedSessions: Set<String>) -> Bool {
        func micros(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1_000_000).rounded()) }
        if let since, record.timestamp < micros(since) { return false }
        if let until, record.timestamp >= micros(until) { return false }
        if let identity, record.identity != identity { return false }
        if let target, record.target != target { return false }
        if let session, record.session != session { return false }
        if !kinds.isEmpty, !kinds.contains(where: { $0.rawValue == record.kind }) { return false }
        if let afterID, record.id <= afterID { return false }
        if correlation != nil, !correlatedSessions.contains(record.session ?? "") { return false }
        return true
    }

    /// A session record's correlation id.
    package static func correlation(of record: LedgerRecord) -> String? {
        (try? JSONSerialization.jsonObject(with: Data(record.body.utf8)) as? [String: Any])?["correlation"] as? String
    }
}
