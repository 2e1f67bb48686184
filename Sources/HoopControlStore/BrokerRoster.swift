import Foundation
import HoopPostgres

/// A broker as the others sharing its store see it.
public struct BrokerPresence: Sendable, Equatable {
    public var id: String
    public var host: String
    public var pid: Int
    /// Its checkpoint signing key's public half (raw Ed25519, 32 bytes).
    public var checkpointKey: Data
    /// Its token signing key's public half: tokens it issued are good at the others too.
    public var tokenKey: Data = Data()
    public var started: Date
    public var heartbeat: Date
    /// Set by a clean stop.
    public var stopped: Date?

    public init(id: String, host: String, pid: Int, checkpointKey: Data, started: Date, heartbeat: Date, stopped: Date? = nil) {
        (self.id, self.host, self.pid, self.checkpointKey) = (id, host, pid, checkpointKey)
        (self.started, self.heartbeat, self.stopped) = (started, heartbeat, stopped)
    }
}

/// Which brokers share the state, and whether each is alive: the brokers' concern.
public protocol BrokerRoster: Sendable {
    /// Says this broker is alive (at its start, then every `BrokerRosterTiming.heartbeat`).
    func heartbeat(_ broker: BrokerPresence) throws
    /// Every broker that ever joined, this one included.
    func brokers() throws -> [BrokerPresence]
    /// A clean stop: the others need not wait for the heartbeat to go stale.
    func leave(_ id: String) throws
    /// Takes (or keeps) the lease on a piece of shared work for `seconds`: true for the one
    /// broker that holds it, until it lapses (a broker that died lets it lapse).
    func lease(_ work: String, for broker: String, seconds: TimeInterval) throws -> Bool
}

public enum BrokerRosterTiming {
    /// How often a broker says it is alive.
    public static let heartbeat: TimeInterval = 2
    /// How long without a heartbeat before the others treat a broker as dead.
    public static let deadAfter: TimeInterval = 10
}

extension BrokerPresence {
    public func isAlive(now: Date = Date()) -> Bool {
        stopped == nil && now.timeIntervalSince(heartbeat) < BrokerRosterTiming.deadAfter
    }
}

/// One broker alone on its SQLite ledger: the roster is itself.
public final class LocalBrokerRoster: BrokerRoster, @unchecked Sendable {
    private let lock = NSLock()
    private var me: BrokerPresence?

    public init() {}

    public func heartbeat(_ broker: BrokerPresence) throws { lock.withLock { me = broker } }
    public func brokers() throws -> [BrokerPresence] { lock.withLock { me.map { [$0] } ?? [] } }
    public func leave(_ id: String) throws { lock.withLock { me?.stopped = Date() } }
    public func lease(_ work: String, for broker: String, seconds: TimeInterval) throws -> Bool { true }
}

/// The brokers sharing a PostgreSQL control store (`hoopctl.brokers`).
public final class PostgresBrokerRoster: BrokerRoster, @unchecked Sendable {
    let connections: StoreConnections

    init(connections: StoreConnections) {
        self.connections = connections
    }


    public func heartbeat(_ broker: BrokerPresence) throws {
        try connections.with { connection in
            try connection.execute("""
                INSERT INTO hoopctl.brokers (id, host, pid, checkpoint_key, token_key, started, heartbeat)
                VALUES ($1, $2, $3::integer, $4, $5, $6::bigint, $7::bigint)
                ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, checkpoint_key = excluded.checkpoint_key,
                    token_key = excluded.token_key, started = excluded.started, heartbeat = excluded.heartbeat, stopped = NULL
                """, [broker.id, broker.host, String(broker.pid), broker.checkpointKey.base64EncodedString(), broker.tokenKey.base64EncodedString(),
                      StoreTime.text(broker.started), StoreTime.text(broker.heartbeat)])
        }
    }

    public func brokers() throws -> [BrokerPresence] {
        try connections.with { connection in
            try connection.execute("""
                SELECT id, host, pid, checkpoint_key, started, heartbeat, stopped, token_key FROM hoopctl.brokers ORDER BY id
                """).rows.compactMap { row in
                guard let id = row[0], let host = row[1], let pid = row[2].flatMap({ Int($0) }), let key = row[3].flatMap({ Data(base64Encoded: $0) }),
                      let started = StoreTime.date(row[4]), let heartbeat = StoreTime.date(row[5]) else { return nil }
                var presence = BrokerPresence(id: id, host: host, pid: pid, checkpointKey: key, started: started, heartbeat: heartbeat,
                                              stopped: StoreTime.date(row[6]))
                presence.tokenKey = row[7].flatMap { Data(base64Encoded: $0) } ?? Data()
                return presence
            }
        }
    }

    public func leave(_ id: String) throws {
        try connections.with { try $0.execute("UPDATE hoopctl.brokers SET stopped = $2::bigint WHERE id = $1", [id, StoreTime.text(Date())]) }
    }

    public func lease(_ work: String, for broker: String, seconds: TimeInterval) throws -> Bool {
        let now = Date()
        return try connections.with { connection in
            try connection.execute("""
                INSERT INTO hoopctl.leases AS l (work, holder, until) VALUES ($1, $2, $3::bigint)
                ON CONFLICT (work) DO UPDATE SET holder = excluded.holder, until = excluded.until
                WHERE l.holder = excluded.holder OR l.until <= $4::bigint
                RETURNING work
                """, [work, broker, StoreTime.text(now.addingTimeInterval(seconds)), StoreTime.text(now)]).rows.count == 1
        }
    }
}
