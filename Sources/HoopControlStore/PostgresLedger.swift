import Foundation
import HoopCommon
import HoopLedger
import HoopPostgres

/// The ledger in a PostgreSQL control database, one hash chain for every broker that shares it.
/// An append is one transaction: take the chain's lock (`StoreSchema.chainLock`), read the head,
/// insert the batch chained after it (and its lineage), commit. The owner's trigger refuses any
/// insert that does not continue the chain; the brokers' role cannot update or delete.
public final class PostgresLedger: LedgerStore, @unchecked Sendable {
    public var location: String { connections.address.description }

    let connections: StoreConnections
    /// The connection appends go through, with its prepared statements (under `appendLock`).
    private let appendLock = NSLock()
    private var appender: PostgresConnection?

    /// Connects and checks the store's schema version (a broker refuses a store it does not know).
    public init(address: StoreAddress) throws {
        connections = StoreConnections(address: address)
        try connections.with { try StoreSchema.check($0) }
    }

    // MARK: Appending

    package static let insertRecords = """
        INSERT INTO hoopctl.records (id, ts, kind, identity, target, session, body, prev_hash, hash)
        SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
        """
    static let upsertLineage = """
        INSERT INTO hoopctl.lineage AS l (item, hour, session, fingerprint, access, masking, identity, target, job, statements, first, last)
        SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
                             $10::bigint[], $11::bigint[], $12::bigint[])
        ON CONFLICT (item, hour, session, fingerprint, access, masking) DO UPDATE SET
            statements = l.statements + excluded.statements, first = least(l.first, excluded.first), last = greatest(l.last, excluded.last)
        """

    /// How long an append waits for the chain's lock (held by another broker's batch for
    /// milliseconds): past it the append fails, and what it records does not happen.
    static let chainLockWait = 5

    public func append(_ entries: [LedgerEntry], checkpoint: Bool, index: Bool) throws(LedgerError) -> [LedgerRecord] {
        guard !entries.isEmpty else { return [] }
        do {
            return try appendLock.withLock { try appendLocked(entries) }
        } catch let error as LedgerError {
            throw error
        } catch {
            throw .storage(path: location, message: "\(error)")
        }
    }

    private func appendLocked(_ entries: [LedgerEntry]) throws -> [LedgerRecord] {
        let connection: PostgresConnection
        if let appender, appender.isHealthy {
            connection = appender
        } else {
            appender = nil
            connection = try connections.address.connect()
            try connection.prepare("hoop_insert_records", Self.insertRecords, parameterCount: 9)
            try connection.prepare("hoop_upsert_lineage", Self.upsertLineage, parameterCount: 12)
            appender = connection
        }
        // What does not depend on the chain is made before the chain's lock is taken: the lock
        // is held through the commit, so it is the brokers' one serial section.
        let fixed = try Self.fixedColumns(of: entries)
        let lineage = Self.hasLineage(entries)
        let notify = entries.contains(where: Self.othersFollow)
        do {
            // One round trip: the lock, then the head read after it (a statement of its own, so
            // it sees what the previous holder committed).
            let head = try connection.executeScript("""
                BEGIN; SET LOCAL lock_timeout = '\(Self.chainLockWait)s'; SELECT pg_advisory_xact_lock(\(StoreSchema.chainLock));
                SELECT id, hash FROM hoopctl.chain_head WHERE one = 1
                """).rows.first.flatMap { row -> (id: Int64, hash: String)? in
                guard let id = row[0].flatMap({ Int64($0) }), let hash = row[1] else { return nil }
                return (id, hash)
            }
            let records = Ledger.chain(entries, after: head, now: Date())
            try connection.executePrepared("hoop_insert_records", try Self.chainColumns(of: records, fixed: fixed))
            if lineage, let columns = try Self.lineageColumns(entries, records) {
                try connection.executePrepared("hoop_upsert_lineage", columns)
            }
            // Brokers sharing the store follow requests, decisions, tokens and identities as they are recorded (sent at commit).
            if notify, let last = records.last {
                try connection.execute("SELECT pg_notify($1, $2)", [PostgresRequestStore.channel, String(last.id)])
            }
            try connection.execute("COMMIT")
            return records
        } catch {
            if connection.isHealthy { _ = try? connection.execute("ROLLBACK") } else { appender = nil }
            throw error
        }
    }

    /// Whether other brokers act on this entry (`Broker.followLedger`): requests, decisions,
    /// identities, tokens issued or revoked. Not statements and their outcomes, the bulk.
    static func othersFollow(_ entry: LedgerEntry) -> Bool {
        switch entry.kind {
        case .request, .decision, .identity: return true
        case .event: return entry.body.contains(#""name":"token."#)
        default: return false
        }
    }

    /// Whether any entry has lineage to count.
    static func hasLineage(_ entries: [LedgerEntry]) -> Bool {
        entries.contains { !($0.lineage?.items.isEmpty ?? true) }
    }

    /// The columns that do not depend on the chain: kind, identity, target, session, body.
    static func fixedColumns(of entries: [LedgerEntry]) throws -> [String?] {
        try fixedColumns(entries.map { ($0.kind.rawValue, $0.identity, $0.target, $0.session, $0.body) })
    }

    static func fixedColumns(_ rows: [(kind: String, identity: String?, target: String?, session: String?, body: String)]) throws -> [String?] {
        var kinds = PostgresArray(), identities = PostgresArray(), targets = PostgresArray(), sessions = PostgresArray(), bodies = PostgresArray()
        for row in rows {
            try kinds.append(row.kind)
            try identities.append(row.identity)
            try targets.append(row.target)
            try sessions.append(row.session)
            try bodies.append(row.body)
        }
        return [kinds, identities, targets, sessions, bodies].map { $0.literal }
    }

    /// The nine array parameters: the chain's columns (id, time, previous hash, hash) with the fixed ones.
    static func chainColumns(of records: [LedgerRecord], fixed: [String?]) throws -> [String?] {
        var ids = PostgresArray(), times = PostgresArray(), previous = PostgresArray(), hashes = PostgresArray()
        for record in records {
            ids.append(record.id)
            times.append(record.timestamp)
            try previous.append(record.previousHash)
            try hashes.append(record.hash)
        }
        return [ids.literal, times.literal] + fixed + [previous.literal, hashes.literal]
    }

    /// The records as nine array parameters, one per column.
    package static func columns(of records: [LedgerRecord]) throws -> [String?] {
        try chainColumns(of: records, fixed: fixedColumns(records.map { ($0.kind, $0.identity, $0.target, $0.session, $0.body) }))
    }

    /// The batch's lineage, one row per key of the table (nil: no statement touched anything).
    static func lineageColumns(_ entries: [LedgerEntry], _ records: [LedgerRecord]) throws -> [String?]? {
        guard entries.contains(where: { !($0.lineage?.items.isEmpty ?? true) }) else { return nil }
        let index = LineageIndex()
        for (entry, record) in zip(entries, records) {
            if let lineage = entry.lineage, !lineage.items.isEmpty {
                index.add(lineage, timestamp: record.timestamp, identity: entry.identity, target: entry.target, session: entry.session)
            }
        }
        return try lineageColumns(index.take())
    }

    /// Counted lineage as twelve array parameters, one row per primary key of the table (an
    /// upsert may not touch a row twice): the first who, where and job stay, as SQLite keeps them.
    static func lineageColumns(_ counted: [LineageIndex.Key: LineageIndex.Counts]) throws -> [String?]? {
        guard !counted.isEmpty else { return nil }
        struct TableKey: Hashable { var item: String, hour: Int64, session: String, fingerprint: String, access: String, masking: String }
        var rows: [TableKey: LineageIndex.Row] = [:]
        for (key, counts) in counted {
            let tableKey = TableKey(item: key.item, hour: key.hour, session: key.session, fingerprint: key.fingerprint, access: key.access,
                                    masking: key.masking)
            if var row = rows[tableKey] {
                row.counts.statements += counts.statements
                row.counts.first = min(row.counts.first, counts.first)
                row.counts.last = max(row.counts.last, counts.last)
                rows[tableKey] = row
            } else {
                rows[tableKey] = LineageIndex.Row(key: key, counts: counts)
            }
        }
        var columns = Array(repeating: PostgresArray(), count: 12)
        for row in rows.values {
            let key = row.key
            try columns[0].append(key.item)
            columns[1].append(key.hour)
            try columns[2].append(key.session)
            try columns[3].append(key.fingerprint)
            try columns[4].append(key.access)
            try columns[5].append(key.masking)
            try columns[6].append(key.identity)
            try columns[7].append(key.target)
            try columns[8].append(key.job)
            columns[9].append(Int64(row.counts.statements))
            columns[10].append(row.counts.first)
            columns[11].append(row.counts.last)
        }
        return columns.map { $0.literal }
    }

    // Records are in SQL as soon as they are committed: nothing waits to be indexed.
    public var indexDeadline: DispatchTime? { nil }
    public func indexJournalIfDue() throws(LedgerError) {}
    public func indexJournal(checkpoint: Bool, flushLineage: Bool) throws(LedgerError) {}
    public func flushPendingLineage() {}

    // MARK: Reading

    func read<T>(_ body: (PostgresConnection) throws -> T) throws(LedgerError) -> T {
        do {
            return try connections.with(body)
        } catch let error as LedgerError {
            throw error
        } catch {
            throw .storage(path: location, message: "\(error)")
        }
    }

    static let recordColumns = "id, ts, kind, identity, target, session, body, prev_hash, hash"

    static func record(_ row: [String?]) throws -> LedgerRecord {
        guard row.count == 9, let id = row[0].flatMap({ Int64($0) }), let ts = row[1].flatMap({ Int64($0) }), let kind = row[2],
              let body = row[6], let previous = row[7], let hash = row[8] else {
            throw LedgerError.storage(path: "", message: "a ledger row could not be read")
        }
        return LedgerRecord(id: id, timestamp: ts, kind: kind, identity: row[3], target: row[4], session: row[5], body: body,
                            previousHash: previous, hash: hash)
    }

    public func records(_ query: LedgerQuery) throws(LedgerError) -> [LedgerRecord] {
        var conditions: [String] = [], parameters: [String?] = []
        func parameter(_ value: String?) -> String {
            parameters.append(value)
            return "$\(parameters.count)"
        }
        if let since = query.since { conditions.append("ts >= \(parameter(StoreTime.text(since)))::bigint") }
        if let until = query.until { conditions.append("ts < \(parameter(StoreTime.text(until)))::bigint") }
        if let identity = query.identity { conditions.append("identity = \(parameter(identity))") }
        if let target = query.target { conditions.append("target = \(parameter(target))") }
        if let session = query.session { conditions.append("session = \(parameter(session))") }
        if !query.kinds.isEmpty { conditions.append("kind = ANY(\(parameter(PostgresArray.text(query.kinds.map(\.rawValue))))::text[])") }
        if let after = query.afterID { conditions.append("id > \(parameter(String(after)))::bigint") }
        if let correlation = query.correlation {
            conditions.append("""
                session IN (SELECT session FROM hoopctl.records WHERE kind = 'session' AND body::jsonb ->> 'correlation' = \(parameter(correlation)))
                """)
        }
        var sql = "SELECT \(Self.recordColumns) FROM hoopctl.records"
        if !conditions.isEmpty { sql += " WHERE " + conditions.joined(separator: " AND ") }
        if let limit = query.limit {
            sql = "SELECT * FROM (\(sql) ORDER BY id DESC LIMIT \(parameter(String(limit)))::bigint) newest ORDER BY id"
        } else {
            sql += " ORDER BY id"
        }
        let statement = sql
        return try read { connection in try connection.execute(statement, parameters).rows.map(Self.record) }
    }

    public func count() throws(LedgerError) -> Int {
        try read { Int(try $0.execute("SELECT count(*) FROM hoopctl.records").scalar ?? "0") ?? 0 }
    }

    public func head() throws(LedgerError) -> (id: Int64, hash: String)? {
        try read { connection in
            guard let row = try connection.execute("SELECT id, hash FROM hoopctl.records ORDER BY id DESC LIMIT 1").rows.first,
                  let id = row[0].flatMap({ Int64($0) }), let hash = row[1] else { return nil }
            return (id, hash)
        }
    }

    public func origin() throws(LedgerError) -> String? {
        try read { try $0.execute("SELECT hash FROM hoopctl.records ORDER BY id LIMIT 1").scalar }
    }

    // MARK: Verification

    /// Records fetched per round trip while verifying.
    static let verifyPage: Int64 = 20_000

    /// Walks the whole chain, a page at a time: the next page is fetched while this one is
    /// hashed (on every core; the links between records are then checked in order).
    public func verify() throws(LedgerError) -> VerificationReport {
        try read { connection in
            // One snapshot for every read of the walk (the chain, its head, the lineage table),
            // shared with the page fetcher's connection: brokers go on appending meanwhile.
            let snapshot = try connection.executeScript("""
                BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT pg_export_snapshot()
                """).scalar ?? ""
            defer { _ = try? connection.execute("COMMIT") }
            var verifier = ChainVerifier()
            var recount = LineageIndex.Recount()
            let bounds = try connection.execute("SELECT coalesce(min(id), 1), coalesce(max(id), 0) FROM hoopctl.records").rows.first ?? []
            let first = bounds.first.flatMap { $0.flatMap { Int64($0) } } ?? 1, last = bounds.last.flatMap { $0.flatMap { Int64($0) } } ?? 0
            // From the lowest id there is (a row below 1 was put there by hand: the verifier names it).
            let fetcher = try PageFetcher(address: connections.address, snapshot: snapshot, first: min(first, 1), last: last, page: Self.verifyPage)
            var broken = false
            // The hash of the record before (genesis before the first), as the database holds it.
            var previous = Array(HashChain.genesis.utf8)
            while !broken, let page = try fetcher.next() {
                let matches = Self.hashesMatch(page)
                for row in 0..<page.count {
                    guard let id = page.int64(row, 0), let previousHash = page.value(row, 7), let hash = page.value(row, 8) else {
                        throw LedgerError.storage(path: location, message: "a ledger row could not be read")
                    }
                    if !verifier.consume(id: id, hashMatches: matches[row], linksToPrevious: previousHash.elementsEqual(previous),
                                         hash: String(decoding: hash, as: UTF8.self)) {
                        broken = true
                        break
                    }
                    previous.replaceSubrange(previous.indices, with: hash)
                    // Only what the lineage recount reads becomes a record: a session's start, a statement with lineage.
                    if let kind = page.value(row, 2), let body = page.value(row, 6),
                       (kind.elementsEqual("session".utf8) && Self.contains(Self.startedMark, in: body))
                        || (kind.elementsEqual("statement".utf8) && Self.contains(Self.lineageMark, in: body)) {
                        recount.consume(try Self.record(page, row))
                    }
                }
            }
            fetcher.stop()
            let head = try connection.execute("SELECT id, hash FROM hoopctl.chain_head WHERE one = 1").rows.first
            verifier.finish(recordedHead: head.flatMap { row in
                guard let id = row[0].flatMap({ Int64($0) }), let hash = row[1] else { return nil }
                return (id, hash)
            })
            var report = verifier.report
            report.schemaProblems = try StoreSchema.problems(connection)
            if report.failure == nil {
                let table = try connection.execute("""
                    SELECT item, hour, session, fingerprint, access, masking, identity, target, job, statements, first, last FROM hoopctl.lineage
                    """).rows.map(Self.lineageRow)
                report.lineageProblems = Ledger.lineageProblems(table, expected: recount.index.counted, through: report.headID ?? 0,
                                                                head: report.headID ?? 0)
            }
            return report
        }
    }

    static let startedMark = Array(#""phase":"started""#.utf8)
    static let lineageMark = Array(#""lineage":["#.utf8)

    static func contains(_ needle: [UInt8], in haystack: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let first = needle.first, haystack.count >= needle.count else { return false }
        var start = 0
        let last = haystack.count - needle.count
        while start <= last {
            if haystack[start] == first, needle.indices.allSatisfy({ haystack[start + $0] == needle[$0] }) { return true }
            start += 1
        }
        return false
    }

    /// Whether each row's hash is its content's, computed on every core from the bytes libpq holds.
    static func hashesMatch(_ page: RowSet) -> [Bool] {
        let count = page.count
        let lanes = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 8))
        var matches = [Bool](repeating: false, count: count)
        let chunk = (count + lanes - 1) / lanes
        matches.withUnsafeMutableBufferPointer { out in
            let out = SendableBools(out)
            DispatchQueue.concurrentPerform(iterations: lanes) { lane in
                var scratch: [UInt8] = []
                scratch.reserveCapacity(4096)
                let start = lane * chunk
                guard start < count else { return }
                for row in start..<min(start + chunk, count) {
                    guard let id = page.int64(row, 0), let ts = page.int64(row, 1), let kind = page.value(row, 2), let body = page.value(row, 6),
                          let previous = page.value(row, 7), let hash = page.value(row, 8) else { continue }
                    out.buffer[row] = HashChain.matches(id: id, timestamp: ts, kind: kind, identity: page.value(row, 3), target: page.value(row, 4),
                                                        session: page.value(row, 5), body: body, previousHash: previous, storedHash: hash,
                                                        scratch: &scratch)
                }
            }
        }
        return matches
    }

    static func record(_ page: RowSet, _ row: Int) throws -> LedgerRecord {
        guard let id = page.int64(row, 0), let ts = page.int64(row, 1), let kind = page.string(row, 2), let body = page.string(row, 6),
              let previous = page.string(row, 7), let hash = page.string(row, 8) else {
            throw LedgerError.storage(path: "", message: "a ledger row could not be read")
        }
        return LedgerRecord(id: id, timestamp: ts, kind: kind, identity: page.string(row, 3), target: page.string(row, 4),
                            session: page.string(row, 5), body: body, previousHash: previous, hash: hash)
    }

    static func lineageRow(_ row: [String?]) -> LineageIndex.Row {
        func text(_ index: Int) -> String { row[index] ?? "" }
        func number(_ index: Int) -> Int64 { row[index].flatMap { Int64($0) } ?? 0 }
        return LineageIndex.Row(key: LineageIndex.Key(item: text(0), hour: number(1), session: text(2), fingerprint: text(3), access: text(4),
                                                      masking: text(5), identity: text(6), target: text(7), job: text(8)),
                                counts: LineageIndex.Counts(statements: Int(number(9)), first: number(10), last: number(11)))
    }
}

/// A buffer written at distinct indexes from several threads.
private struct SendableBools: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<Bool>
    init(_ buffer: UnsafeMutableBufferPointer<Bool>) { self.buffer = buffer }
}

/// Reads the records in id order a page ahead, on a connection and a thread of its own.
private final class PageFetcher: @unchecked Sendable {
    private let connection: PostgresConnection
    private let last: Int64
    private let page: Int64
    private var nextStart: Int64 = 1
    private let condition = NSCondition()
    private var ready: Result<RowSet, Error>?
    private var fetching = false

    init(address: StoreAddress, snapshot: String, first: Int64, last: Int64, page: Int64) throws {
        connection = try address.connect()
        try connection.executeScript("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT \(try connection.quoteLiteral(snapshot))")
        nextStart = first
        self.last = last
        self.page = page
        startFetch()
    }

    private func startFetch() {
        guard nextStart <= last else { return }
        let (from, to) = (nextStart, min(nextStart + page - 1, last))
        nextStart = to + 1
        fetching = true
        Thread.detachNewThread { [self] in
            let result = Result { () throws -> RowSet in
                try connection.rowSet("""
                    SELECT \(PostgresLedger.recordColumns) FROM hoopctl.records WHERE id BETWEEN $1::bigint AND $2::bigint ORDER BY id
                    """, [String(from), String(to)])
            }
            condition.withLock {
                ready = result
                fetching = false
                condition.broadcast()
            }
        }
    }

    /// The next page (nil after the last).
    func next() throws -> RowSet? {
        let result: Result<RowSet, Error>? = condition.withLock {
            while fetching { condition.wait() }
            defer { ready = nil }
            return ready
        }
        guard let result else { return nil }
        let records = try result.get()
        condition.withLock { startFetch() }
        // A page shorter than its range means ids are missing: the verifier names the gap.
        return records
    }

    /// Waits for a fetch still running (the connection is not shared).
    func stop() {
        condition.withLock { while fetching { condition.wait() } }
    }
}
