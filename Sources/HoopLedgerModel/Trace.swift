import Foundation

/// `audit trace`: who touched a table or a column, from the lineage index.
public struct TraceQuery: Sendable, Codable, Equatable {
    public enum Grouping: String, Sendable, Codable, CaseIterable { case identity, session, job }

    /// Items to match exactly (`schema.table` or `schema.table.column`); the caller expands what
    /// the user typed into the names it may mean.
    public var items: [String]
    public var since: Date?
    public var target: String?
    public var by: Grouping

    public init(items: [String], since: Date? = nil, target: String? = nil, by: Grouping = .identity) {
        self.items = items
        self.since = since
        self.target = target
        self.by = by
    }
}

/// What one identity, session or job did to the traced item.
public struct TraceLine: Sendable, Codable, Equatable {
    /// The identity, session id or job.
    public var key: String
    public var identities: [String]
    /// The sessions' jobs (correlation id, else the command).
    public var jobs: [String]
    public var sessions: Int
    /// Statement records that touched it, and their distinct fingerprints.
    public var statements: Int
    public var fingerprints: [String]
    /// Microseconds since the epoch.
    public var first: Int64
    public var last: Int64
    /// Columns read masked (by a view or a detector), read in clear; writes.
    public var masked: Int
    public var clear: Int
    public var writes: Int

    public init(key: String, identities: [String], jobs: [String], sessions: Int, statements: Int, fingerprints: [String], first: Int64, last: Int64, masked: Int, clear: Int, writes: Int) {
        self.key = key
        self.identities = identities
        self.jobs = jobs
        self.sessions = sessions
        self.statements = statements
        self.fingerprints = fingerprints
        self.first = first
        self.last = last
        self.masked = masked
        self.clear = clear
        self.writes = writes
    }
}
