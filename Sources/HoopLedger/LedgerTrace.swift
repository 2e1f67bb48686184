import Foundation
import GRDB



extension Ledger {
    public func trace(_ query: TraceQuery) throws(LedgerError) -> [TraceLine] {
        guard !query.items.isEmpty else { return [] }
        var conditions = ["item IN (\(query.items.map { _ in "?" }.joined(separator: ", ")))"]
        var arguments: [(any DatabaseValueConvertible)?] = query.items
        if let since = query.since {
            // Counted by the hour: the hour `since` falls in is included whole.
            conditions.append("hour >= ?")
            arguments.append(Int64((since.timeIntervalSince1970 * 1_000_000).rounded()) / LineageIndex.hourMicros * LineageIndex.hourMicros)
        }
        if let target = query.target {
            conditions.append("target = ?")
            arguments.append(target)
        }
        // The grouping column comes from the enum, never from the caller's text.
        let key = query.by.rawValue
        let sql = """
            SELECT \(key), json_group_array(DISTINCT identity), json_group_array(DISTINCT job), count(DISTINCT session),
                   sum(statements), json_group_array(DISTINCT fingerprint), min(first), max(last),
                   sum(statements * (masking IN ('view', 'view-detect', 'detector'))), sum(statements * (masking = 'clear')),
                   sum(statements * (access = 'write'))
            FROM lineage WHERE \(conditions.joined(separator: " AND "))
            GROUP BY \(key) ORDER BY min(first)
            """
        do {
            indexBeforeReading()
            return try pool.read { db in
                try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).map { row in
                    TraceLine(key: row[0], identities: LedgerCoding.sortedStrings(jsonArray: row[1]),
                              jobs: LedgerCoding.sortedStrings(jsonArray: row[2]), sessions: row[3], statements: row[4],
                              fingerprints: LedgerCoding.sortedStrings(jsonArray: row[5]), first: row[6], last: row[7],
                              masked: row[8] ?? 0, clear: row[9] ?? 0, writes: row[10] ?? 0)
                }
            }
        } catch {
            throw .storage(path: path, message: Ledger.describe(error))
        }
    }
}
