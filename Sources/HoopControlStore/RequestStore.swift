import Foundation
import HoopLedger
import HoopPostgres

/// Access and statement requests, the brokers' shared concern. Their history is the ledger's
/// `request` and `decision` records, which every broker sharing a control store reads as they
/// are appended (each broker keeps the requests in memory, as it rebuilds them at start-up);
/// what must be decided once for all of them is here: which session uses an approval.
public protocol RequestStore: Sendable {
    var isShared: Bool { get }
    /// Reserves an approval for one session: true for the first, false when another session has it.
    func claimApproval(_ request: String, session: String) throws -> Bool
    /// The session did not start: the approval is usable again.
    func releaseApproval(_ request: String, session: String) throws
    /// Calls `changed` soon after another broker records a request or a decision (LISTEN/NOTIFY),
    /// and every `fallback` seconds whatever happens (a notification lost with a connection).
    func follow(fallback: TimeInterval, _ changed: @escaping @Sendable () -> Void) -> StoreFollowing?
}

/// Stops a `follow`.
public protocol StoreFollowing: Sendable {
    func stop()
}

/// One broker on its SQLite ledger: its memory is the only place a request is decided.
public struct LocalRequestStore: RequestStore {
    public init() {}
    public var isShared: Bool { false }
    public func claimApproval(_ request: String, session: String) throws -> Bool { true }
    public func releaseApproval(_ request: String, session: String) throws {}
    public func follow(fallback: TimeInterval, _ changed: @escaping @Sendable () -> Void) -> StoreFollowing? { nil }
}

/// `hoopctl.approvals_used` in the control store, and a LISTEN on the ledger's request channel.
public final class PostgresRequestStore: RequestStore, @unchecked Sendable {
    /// What the ledger's appends NOTIFY when they hold requests or decisions (the payload is the last record's id).
    public static let channel = "hoopctl_requests"
    /// The kinds of record other brokers follow (`Broker.followLedger`).
    public static let followed: Set<RecordKind> = [.request, .decision, .event, .identity]

    let connections: StoreConnections

    init(connections: StoreConnections) {
        self.connections = connections
    }

    public var isShared: Bool { true }

    public func claimApproval(_ request: String, session: String) throws -> Bool {
        try connections.with { connection in
            try connection.execute("""
                INSERT INTO hoopctl.approvals_used (request, session) VALUES ($1, $2)
                ON CONFLICT (request) DO UPDATE SET session = excluded.session WHERE approvals_used.session = excluded.session
                RETURNING request
                """, [request, session]).rows.count == 1
        }
    }

    public func releaseApproval(_ request: String, session: String) throws {
        try connections.with { try $0.execute("DELETE FROM hoopctl.approvals_used WHERE request = $1 AND session = $2", [request, session]) }
    }

    public func follow(fallback: TimeInterval, _ changed: @escaping @Sendable () -> Void) -> StoreFollowing? {
        let listener = StoreListener(address: connections.address, channel: Self.channel, fallback: fallback, changed: changed)
        listener.start()
        return listener
    }
}

/// A thread with a connection of its own that LISTENs on a channel and calls back on each
/// notification (and every `fallback` seconds); it connects again after a failure.
final class StoreListener: StoreFollowing, @unchecked Sendable {
    private let address: StoreAddress
    private let channel: String
    private let fallback: TimeInterval
    private let changed: @Sendable () -> Void
    private let lock = NSLock()
    private var stopped = false

    init(address: StoreAddress, channel: String, fallback: TimeInterval, changed: @escaping @Sendable () -> Void) {
        (self.address, self.channel, self.fallback, self.changed) = (address, channel, fallback, changed)
    }

    private var isStopped: Bool { lock.withLock { stopped } }

    func start() {
        let thread = Thread { [self] in
            Thread.current.name = "store-listener"
            run()
        }
        thread.start()
    }

    func stop() { lock.withLock { stopped = true } }

    private func run() {
        while !isStopped {
            do {
                let connection = try address.connect()
                try connection.execute("LISTEN \(try connection.quoteIdentifier(channel))")
                // What happened while there was no listener.
                changed()
                var lastCall = Date()
                while !isStopped {
                    let arrived = try connection.notifications(waitingUpTo: 0.5)
                    if !arrived.isEmpty || Date().timeIntervalSince(lastCall) >= fallback {
                        lastCall = Date()
                        changed()
                    }
                }
            } catch {
                // The store went away: the fallback keeps callers going; try again shortly.
                changed()
                Thread.sleep(forTimeInterval: 1)
            }
        }
    }
}
