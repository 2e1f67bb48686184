import Foundation
import GRDB

/// The `lineage` table: for `audit trace`, how many statements of each session and shape
/// touched each table and column in each hour. Fed by appended statement records, counted in
/// memory and written at most once a second (or before a trace or report reads it), so a
/// statement costs a dictionary update, not index writes. Derived data: the statement records
/// (hash-chained) keep each statement's lineage; a crash loses at most the last second of it.
final class LineageIndex: @unchecked Sendable {
    struct Key: Hashable {
        var item: String
        var hour: Int64
        var session: String
        var fingerprint: String
        var access: String
        var masking: String
        var identity: String
        var target: String
        var job: String
    }

    struct Counts {
        var statements = 0
        var first = Int64.max
        var last = Int64.min
    }

    private let lock = NSLock()
    private var pending: [Key: Counts] = [:]
    private var lastFlush = Date()
    static let flushInterval: TimeInterval = 1

    static let hourMicros: Int64 = 3_600_000_000

    func add(_ lineage: StatementLineage, timestamp: Int64, identity: String?, target: String?, session: String?) {
        let hour = timestamp / Self.hourMicros * Self.hourMicros
        lock.withLock {
            for item in lineage.items {
                let key = Key(item: item.item, hour: hour, session: session ?? "", fingerprint: lineage.fingerprint, access: item.access.rawValue,
                              masking: item.masking ?? "", identity: identity ?? "", target: target ?? "", job: lineage.job ?? "")
                var counts = pending[key, default: Counts()]
                counts.statements += 1
                counts.first = min(counts.first, timestamp)
                counts.last = max(counts.last, timestamp)
                pending[key] = counts
            }
        }
    }

    var isDue: Bool { lock.withLock { !pending.isEmpty && Date().timeIntervalSince(lastFlush) >= Self.flushInterval } }

    /// Writes what was counted, in the caller's transaction.
    func flush(into db: Database) throws {
        let batch: [Key: Counts] = lock.withLock {
            defer { pending.removeAll(keepingCapacity: true); lastFlush = Date() }
            return pending
        }
        guard !batch.isEmpty else { return }
        // Every record up to the head is in the table now: a broker that restarts after a crash
        // counts the records after this again (`Ledger.catchUpLineage`).
        try db.cachedStatement(sql: "UPDATE lineage_state SET through = (SELECT coalesce(max(id), 0) FROM records) WHERE one = 1").execute()
        let upsert = try db.cachedStatement(sql: """
            INSERT INTO lineage (item, hour, session, fingerprint, access, masking, identity, target, job, statements, first, last)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (item, hour, session, fingerprint, access, masking) DO UPDATE SET
                statements = statements + excluded.statements, first = min(first, excluded.first), last = max(last, excluded.last)
            """)
        for (key, counts) in batch {
            try upsert.execute(arguments: [key.item, key.hour, key.session, key.fingerprint, key.access, key.masking, key.identity, key.target,
                                           key.job, counts.statements, counts.first, counts.last])
        }
    }
}

extension LineageIndex {
    /// Counts what the statement records say, as `add` would have (a session's job comes from
    /// its `started` record).
    struct Recount {
        private var jobs: [String: String] = [:]
        private(set) var index = LineageIndex()

        mutating func consume(_ record: LedgerRecord) {
            switch record.kind {
            case RecordKind.session.rawValue:
                guard let session = record.session, let body = record.decode(SessionBody.self), body.phase == .started else { return }
                jobs[session] = StatementLineage.job(correlation: body.correlation, arguments: body.process?.arguments)
            case RecordKind.statement.rawValue:
                // Most statements touch something; the cheap test first.
                guard record.body.contains("\"lineage\":"), let body = record.decode(StatementBody.self), let lines = body.lineage else { return }
                let items = lines.compactMap(Self.item(fromSummary:))
                guard !items.isEmpty else { return }
                index.add(StatementLineage(fingerprint: body.fingerprint, items: items, job: record.session.flatMap { jobs[$0] }),
                          timestamp: record.timestamp, identity: record.identity, target: record.target, session: record.session)
            default:
                return
            }
        }

        /// `read public.customers.email view` → the item; nil for a line it does not read. A
        /// name may hold spaces: the access is the first word, and a read's masking the last when it is one.
        static func item(fromSummary line: String) -> StatementLineage.Item? {
            var parts = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            guard parts.count >= 2, let access = StatementLineage.Access(rawValue: parts.removeFirst()) else { return nil }
            // Only reads of columns say how they came back.
            let masking = access == .read && parts.count >= 2 && maskings.contains(parts.last!) ? parts.removeLast() : nil
            return .init(item: parts.joined(separator: " "), access: access, masking: masking)
        }

        static let maskings: Set<String> = ["view", "view-detect", "detector", "clear"]
    }

    /// The counts not yet written, by key (for comparing a recount with the table).
    var counted: [Key: Counts] { lock.withLock { pending } }
}
