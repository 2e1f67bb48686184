import Foundation
import HoopBrokerAPI
import HoopPostgres

/// A session as every broker sharing the state sees it.
public struct StoredSession: Sendable, Equatable {
    public var info: SessionInfo
    /// The broker that opened it (and watches its client, when it has one on that host).
    public var broker: String
    /// A session opened from the network lives while its client renews it (through any broker).
    public var lease: Date?
    /// The broker revoking it, once one took that on.
    public var claimedBy: String?

    public init(info: SessionInfo, broker: String, lease: Date? = nil, claimedBy: String? = nil) {
        (self.info, self.broker, self.lease, self.claimedBy) = (info, broker, lease, claimedBy)
    }
}

/// Sessions, the brokers' shared concern: which exist, who ends each one (exactly one broker),
/// and which a broker that died left behind.
public protocol SessionStore: Sendable {
    /// Whether other brokers share it (else there is nothing to follow or take over).
    var isShared: Bool { get }
    /// A session about to get its role: from now on every broker knows the role is in use.
    func opening(_ session: StoredSession) throws
    /// Takes on ending the session, for `broker`: true for the one broker that gets it (or
    /// already has it), false when another has it or it ended.
    func claim(_ id: String, for broker: String) throws -> Bool
    /// Its role is gone and its end recorded.
    func ended(_ info: SessionInfo) throws
    /// A remote client renewed it (through whichever broker it reached).
    func renew(_ id: String, until lease: Date) throws
    func session(_ id: String) throws -> StoredSession?
    /// Every session not ended, of every broker.
    func open() throws -> [StoredSession]
    /// The sessions `broker` holds as its own that are no longer open for it: ended or being
    /// ended by another broker (`hoopctl revoke` through it), or renewed through another.
    func changes(among ids: [String], for broker: String) throws -> [StoredSession]
    /// Work a dead broker left: its sessions past their TTL or lease, and ends it began and
    /// never finished; each claimed for `broker` (FOR UPDATE SKIP LOCKED: never two claimants).
    func claimOrphans(for broker: String, liveBrokers: Set<String>, now: Date, limit: Int) throws -> [StoredSession]
    /// Gives back a claimed session, open again until `expires` (the store said it had expired
    /// and the ledger says otherwise).
    func unclaim(_ id: String, for broker: String, expires: Date) throws
}

/// One broker on its SQLite ledger: its own sessions in memory are all there is.
public struct LocalSessionStore: SessionStore {
    public init() {}
    public var isShared: Bool { false }
    public func opening(_ session: StoredSession) throws {}
    public func claim(_ id: String, for broker: String) throws -> Bool { true }
    public func ended(_ info: SessionInfo) throws {}
    public func renew(_ id: String, until lease: Date) throws {}
    public func session(_ id: String) throws -> StoredSession? { nil }
    public func open() throws -> [StoredSession] { [] }
    public func changes(among ids: [String], for broker: String) throws -> [StoredSession] { [] }
    public func claimOrphans(for broker: String, liveBrokers: Set<String>, now: Date, limit: Int) throws -> [StoredSession] { [] }
    public func unclaim(_ id: String, for broker: String, expires: Date) throws {}
}

/// `hoopctl.sessions` in the control store.
public final class PostgresSessionStore: SessionStore, @unchecked Sendable {
    let connections: StoreConnections
    /// How long a claim by a broker that died since stays its own before another takes it over.
    static let staleClaim: TimeInterval = 60

    init(connections: StoreConnections) {
        self.connections = connections
    }

    public var isShared: Bool { true }


    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    static func json(_ info: SessionInfo) throws -> String { String(decoding: try encoder.encode(info), as: UTF8.self) }

    static let columns = "info, broker, lease, claimed_by"

    static func stored(_ row: [String?]) -> StoredSession? {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        guard let json = row[0], let info = try? decoder.decode(SessionInfo.self, from: Data(json.utf8)), let broker = row[1] else { return nil }
        return StoredSession(info: info, broker: broker, lease: StoreTime.date(row[2]), claimedBy: row[3])
    }

    public func opening(_ session: StoredSession) throws {
        try connections.with { connection in
            try connection.execute("""
                INSERT INTO hoopctl.sessions (id, broker, identity, target, role_name, expires, lease, state, info)
                VALUES ($1, $2, $3, $4, $5, $6::bigint, $7::bigint, 'active', $8)
                """, [session.info.id, session.broker, session.info.identity, session.info.target, session.info.roleName,
                      StoreTime.text(session.info.expiresAt), session.lease.map(StoreTime.text), try Self.json(session.info)])
        }
    }

    public func claim(_ id: String, for broker: String) throws -> Bool {
        try connections.with { connection in
            try connection.execute("""
                UPDATE hoopctl.sessions SET state = 'ending', claimed_by = $2, claimed_at = $3::bigint
                WHERE id = $1 AND (state = 'active' OR (state = 'ending' AND claimed_by = $2)) RETURNING id
                """, [id, broker, StoreTime.text(Date())]).rows.count == 1
        }
    }

    public func ended(_ info: SessionInfo) throws {
        try connections.with { connection in
            try connection.execute("UPDATE hoopctl.sessions SET state = 'ended', info = $2 WHERE id = $1", [info.id, try Self.json(info)])
        }
    }

    public func renew(_ id: String, until lease: Date) throws {
        try connections.with { connection in
            try connection.execute("UPDATE hoopctl.sessions SET lease = greatest(lease, $2::bigint) WHERE id = $1 AND state = 'active'",
                                   [id, StoreTime.text(lease)])
        }
    }

    public func session(_ id: String) throws -> StoredSession? {
        try connections.with { connection in
            try connection.execute("SELECT \(Self.columns) FROM hoopctl.sessions WHERE id = $1", [id]).rows.first.flatMap(Self.stored)
        }
    }

    public func open() throws -> [StoredSession] {
        try connections.with { connection in
            try connection.execute("SELECT \(Self.columns) FROM hoopctl.sessions WHERE state <> 'ended' ORDER BY id").rows.compactMap(Self.stored)
        }
    }

    public func changes(among ids: [String], for broker: String) throws -> [StoredSession] {
        guard !ids.isEmpty else { return [] }
        return try connections.with { connection in
            try connection.execute("""
                SELECT \(Self.columns) FROM hoopctl.sessions
                WHERE id = ANY($1::text[]) AND (state = 'ended' OR claimed_by <> $2 OR lease IS NOT NULL)
                """, [PostgresArray.text(ids), broker]).rows.compactMap(Self.stored)
        }
    }

    public func unclaim(_ id: String, for broker: String, expires: Date) throws {
        try connections.with { connection in
            try connection.execute("""
                UPDATE hoopctl.sessions SET state = 'active', claimed_by = NULL, claimed_at = NULL, expires = $3::bigint
                WHERE id = $1 AND state = 'ending' AND claimed_by = $2
                """, [id, broker, StoreTime.text(expires)])
        }
    }

    public func claimOrphans(for broker: String, liveBrokers: Set<String>, now: Date, limit: Int) throws -> [StoredSession] {
        let live = PostgresArray.text(Array(liveBrokers.union([broker])))
        return try connections.with { connection in
            try connection.execute("""
                UPDATE hoopctl.sessions SET state = 'ending', claimed_by = $1, claimed_at = $3::bigint
                WHERE id IN (
                    SELECT id FROM hoopctl.sessions
                    WHERE (state = 'active' AND broker <> ALL($2::text[]) AND (expires <= $3::bigint OR lease <= $3::bigint))
                       OR (state = 'ending' AND claimed_by <> ALL($2::text[]) AND claimed_at <= $4::bigint)
                    ORDER BY expires LIMIT $5::integer FOR UPDATE SKIP LOCKED)
                RETURNING \(Self.columns)
                """, [broker, live, StoreTime.text(now), StoreTime.text(now.addingTimeInterval(-Self.staleClaim)), String(limit)]).rows.compactMap(Self.stored)
        }
    }
}
