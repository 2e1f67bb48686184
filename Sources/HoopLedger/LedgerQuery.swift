import Foundation
import GRDB

extension LedgerQuery {
    /// The query's SQL; with `through`, only records up to that id (those after it are read from the journal).
    func sql(through: Int64? = nil) -> (String, StatementArguments) {
        var conditions: [String] = []
        var arguments: [(any DatabaseValueConvertible)?] = []
        func micros(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1_000_000).rounded()) }
        if let since { conditions.append("ts >= ?"); arguments.append(micros(since)) }
        if let until { conditions.append("ts < ?"); arguments.append(micros(until)) }
        if let identity { conditions.append("identity = ?"); arguments.append(identity) }
        if let target { conditions.append("target = ?"); arguments.append(target) }
        if let session { conditions.append("session = ?"); arguments.append(session) }
        if !kinds.isEmpty {
            conditions.append("kind IN (\(kinds.map { _ in "?" }.joined(separator: ", ")))")
            arguments.append(contentsOf: kinds.map { $0.rawValue })
        }
        if let afterID { conditions.append("id > ?"); arguments.append(afterID) }
        // `+id`: a filter only (the journal's tail comes after it); as a rowid range it made SQLite walk the table instead of an index.
        if let through { conditions.append("+id <= ?"); arguments.append(through) }
        if let correlation {
            conditions.append("session IN (SELECT session FROM records WHERE kind = 'session' AND json_extract(body, '$.correlation') = ?)")
            arguments.append(correlation)
        }
        var sql = "SELECT id, ts, kind, identity, target, session, body, prev_hash, hash FROM records"
        if !conditions.isEmpty { sql += " WHERE " + conditions.joined(separator: " AND ") }
        // With an indexed filter, `+id` keeps SQLite from walking the whole table in id order
        // (its choice without statistics) instead of using the index and sorting the few matches.
        let order = since != nil || until != nil || identity != nil || session != nil ? "+id" : "id"
        if let limit {
            sql += " ORDER BY \(order) DESC LIMIT ?"
            arguments.append(limit)
        } else {
            sql += " ORDER BY \(order)"
        }
        return (sql, StatementArguments(arguments))
    }
}
