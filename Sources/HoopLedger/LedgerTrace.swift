import Foundation
import GRDB

/// `audit trace`: who touched a table or a column, session by session, from the lineage index.
public struct TraceQuery: Sendable, Codable, Equatable {
    /// Items to match exactly (`schema.table` or `schema.table.column`); the caller expands what
    /// the user typed into the names it may mean.
    public var items: [String]
    public var since: Date?
    public var target: String?

    public init(items: [String], since: Date? = nil, target: String? = nil) {
        self.items = items
        self.since = since
        self.target = target
    }
}

/// What one session did to the traced item.
public struct TraceSession: Sendable, Codable, Equatable {
    public var session: String?
    public var identity: String?
    public var target: String?
    /// Statement records that touched it.
    public var statements: Int
    public var fingerprints: [String]
    /// Microseconds since the epoch.
    public var first: Int64
    public var last: Int64
    /// Columns read masked (by a view or a detector) and in clear; writes.
    public var masked: Int
    public var clear: Int
    public var writes: Int
    /// From the session's start record: the calling process and the job it belongs to.
    public var process: CallerProcess?
    public var correlation: String?
}

extension Ledger {
    public func trace(_ query: TraceQuery) throws(LedgerError) -> [TraceSession] {
        guard !query.items.isEmpty else { return [] }
        var conditions = ["item IN (\(query.items.map { _ in "?" }.joined(separator: ", ")))"]
        var arguments: [(any DatabaseValueConvertible)?] = query.items
        if let since = query.since {
            conditions.append("ts >= ?")
            arguments.append(Int64((since.timeIntervalSince1970 * 1_000_000).rounded()))
        }
        if let target = query.target {
            conditions.append("target = ?")
            arguments.append(target)
        }
        let sql = """
            SELECT session, identity, target, count(DISTINCT record), group_concat(DISTINCT fingerprint), min(ts), max(ts),
                   sum(masking IN ('view', 'detector')), sum(masking = 'clear'), sum(access = 'write')
            FROM lineage WHERE \(conditions.joined(separator: " AND "))
            GROUP BY session, identity, target ORDER BY min(ts)
            """
        do {
            return try pool.read { db in
                var sessions = try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).map { row in
                    TraceSession(session: row[0], identity: row[1], target: row[2], statements: row[3],
                                 fingerprints: ((row[4] as String?) ?? "").split(separator: ",").map(String.init).sorted(),
                                 first: row[5], last: row[6], masked: row[7] ?? 0, clear: row[8] ?? 0, writes: row[9] ?? 0)
                }
                // The job each session belongs to, from its start record.
                let starts = try db.cachedStatement(sql: "SELECT body FROM records WHERE session = ? AND kind = 'session' ORDER BY id LIMIT 1")
                for index in sessions.indices {
                    guard let session = sessions[index].session,
                          let body = try String.fetchOne(starts, arguments: [session]),
                          let start = try? LedgerCoding.decoder.decode(SessionBody.self, from: Data(body.utf8)) else { continue }
                    sessions[index].process = start.process
                    sessions[index].correlation = start.correlation
                }
                return sessions
            }
        } catch {
            throw .storage(path: path, message: Ledger.describe(error))
        }
    }
}
