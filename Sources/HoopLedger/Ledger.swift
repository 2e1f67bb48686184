import Foundation
#if canImport(Glibc)
import Glibc
#endif
import GRDB
import Synchronization
import HoopCommon

/// The tamper-evident ledger: one SQLite file in WAL mode, append-only, hash-chained.
/// Safe to share between threads and between processes (appends serialize on SQLite's write lock).
public final class Ledger: Sendable {
    public enum Mode: Sendable { case readWrite, readOnly }

    /// When an appended record is on disk, not only in the file (a committed record survives
    /// a crash of the process either way).
    public enum Durability: Sendable, Equatable {
        /// Before append returns (SQLite synchronous=FULL): survives power loss at once.
        case full
        /// Within `interval` (synchronous=NORMAL, the WAL fsynced in the background): appends
        /// cost no fsync each, so the proxy can record every statement before it runs.
        case batched(interval: Duration)
    }

    public let path: String
    let mode: Mode
    let pool: DatabasePool
    /// The commit point (nil: a read-only reader of a ledger that never had one).
    let journal: IntakeJournal?
    private let syncer: WALSyncer?
    let lineage = LineageIndex()
    private let countsLineage: Bool

    /// Opens (and, read-write, creates and migrates) the ledger at `path`.
    /// `journalLimit`: how many bytes of records the intake journal keeps when they cannot be
    /// copied into SQLite, before appends are refused. `countsLineage`: this process keeps the
    /// lineage table (the broker); another process appending beside it (`hoopctl sandbox`) must
    /// not, or both count the broker's statements.
    public init(path: String, mode: Mode = .readWrite, durability: Durability = .full, journalLimit: Int = 64 << 20,
                countsLineage: Bool = true) throws(LedgerError) {
        self.path = path
        self.mode = mode
        self.countsLineage = countsLineage
        let exists = FileManager.default.fileExists(atPath: path)
        if mode == .readOnly, !exists { throw .missing(path: path) }
        var configuration = Configuration()
        configuration.readonly = mode == .readOnly
        configuration.busyMode = .timeout(10)
        configuration.label = "ledger"
        configuration.prepareDatabase { db in
            guard !db.configuration.readonly else { return }
            try db.execute(sql: "PRAGMA page_size = 1024")
            try db.execute(sql: durability == .full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL")
            // Batched: the WAL is checkpointed after a commit has been answered (`checkpointIfDue`),
            // not inside it (which made one statement in a hundred wait a millisecond).
            if durability != .full { try db.execute(sql: "PRAGMA wal_autocheckpoint = 0") }
        }
        do {
            if mode == .readWrite {
                let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
            }
            pool = try DatabasePool(path: path, configuration: configuration)
            if mode == .readWrite {
                if !exists { try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path) }
                try LedgerSchema.migrator.migrate(pool)
            } else {
                let applied = try pool.read { try LedgerSchema.migrator.appliedIdentifiers($0) }
                guard applied.contains(LedgerSchema.latest) else { throw LedgerError.notALedger(path: path) }
            }
        } catch let error as LedgerError {
            throw error
        } catch {
            throw .storage(path: path, message: Ledger.describe(error))
        }
        journal = try IntakeJournal(ledgerPath: path, writable: mode == .readWrite, limit: journalLimit)
        if mode == .readWrite, case .batched(let interval) = durability {
            syncer = WALSyncer(paths: [path + "-wal", path + "-intake"], interval: interval)
        } else {
            syncer = nil
        }
        if mode == .readWrite {
            // What a process that stopped (or was killed) left in the journal goes into SQLite
            // first; then its statements' lineage is counted again from the records. A journal
            // that does not continue SQLite's chain (a file changed behind the broker) stays as
            // it is, read and verified from there: `audit verify` says what was changed.
            try? indexJournal()
            if countsLineage {
                do { try Ledger.catchUpLineage(pool) } catch { throw .storage(path: path, message: Ledger.describe(error)) }
            }
        }
    }

    deinit { syncer?.stop() }

    // MARK: Appending

    /// Appends entries (group commit): all are chained and committed, or none is. Committed is
    /// written to the intake journal; with `index` they are also in SQLite when it returns
    /// (the proxy's writer leaves that to `indexJournalIfDue`, so a statement costs a `write`,
    /// not a SQLite transaction). With `checkpoint`, a WAL grown past `checkpointRecords` is
    /// checkpointed before it returns.
    @discardableResult
    public func append(_ entries: [LedgerEntry], checkpoint: Bool, index: Bool) throws(LedgerError) -> [LedgerRecord] {
        guard !entries.isEmpty else { return [] }
        guard let journal else { throw .storage(path: path, message: "the ledger is open read-only") }
        let now = Date()
        let records: [LedgerRecord]
        do {
            records = try journal.exclusively {
                let head = try journal.head { try self.pool.read { try Ledger.head($0) }.map { .init(id: $0.0, hash: $0.1) } }
                let records = Ledger.chain(entries, after: head.map { (id: $0.id, hash: $0.hash) }, now: now)
                try journal.append(records)
                for (entry, record) in zip(entries, records) {
                    if countsLineage, let items = entry.lineage, !items.items.isEmpty {
                        lineage.add(items, timestamp: record.timestamp, identity: entry.identity, target: entry.target, session: entry.session)
                    }
                }
                return records
            }
        } catch {
            throw Ledger.storageError(error, path: path)
        }
        if let syncer { syncer.dirty() } else { journal.sync() }
        // Committed now. A copy that fails leaves them in the journal, where they are read and
        // verified (the proxy's writer reports such a failure; the journal's limit bounds it).
        if index { try? indexJournal(checkpoint: checkpoint) }
        return records
    }

    /// The entries as records chained after `head` (nil: the first records of a ledger).
    public static func chain(_ entries: [LedgerEntry], after head: (id: Int64, hash: String)?, now: Date) -> [LedgerRecord] {
        var (lastID, lastHash) = (head?.id ?? 0, head?.hash ?? HashChain.genesis)
        var records: [LedgerRecord] = []
        records.reserveCapacity(entries.count)
        for entry in entries {
            let id = lastID + 1
            let timestamp = Int64(((entry.time ?? now).timeIntervalSince1970 * 1_000_000).rounded())
            let kind = entry.kind.rawValue
            let hash = HashChain.hash(id: id, timestamp: timestamp, kind: kind, identity: entry.identity, target: entry.target,
                                      session: entry.session, body: entry.body, previousHash: lastHash)
            records.append(LedgerRecord(id: id, timestamp: timestamp, kind: kind,
                                        identity: entry.identity, target: entry.target, session: entry.session,
                                        body: entry.body, previousHash: lastHash, hash: hash))
            (lastID, lastHash) = (id, hash)
        }
        return records
    }

    // MARK: Indexing

    /// How long the journal may hold records before the writer copies them into SQLite, and
    /// how many: one transaction per this many records instead of one per statement.
    static let indexDelay: TimeInterval = 0.05
    static let indexRecords = 2048

    /// When the records this process appended must be copied into SQLite (nil: none waiting).
    public var indexDeadline: DispatchTime? {
        guard let journal else { return nil }
        let (records, since) = journal.backlog
        guard records > 0, let since else { return nil }
        if records >= Self.indexRecords { return .now() }
        return since + Self.indexDelay
    }

    /// Copies the journal into SQLite once `indexDeadline` has come.
    public func indexJournalIfDue() throws(LedgerError) {
        guard let deadline = indexDeadline, deadline <= .now() else { return }
        try indexJournal(checkpoint: true)
    }

    /// Copies the journal's records into SQLite in one transaction, checking that each one
    /// continues the chain (a journal that does not is left as it is, and this fails), then
    /// empties the journal. With `flushLineage`, the lineage counted in memory is written too.
    public func indexJournal(checkpoint: Bool = true, flushLineage: Bool = false) throws(LedgerError) {
        guard let journal else { return }
        var copied = 0
        do {
            try journal.exclusively {
                let contents = try journal.read()
                let records = try contents.whole(path: journal.path)
                // (Emptied by another process since: nothing of ours waits, or the writer would keep coming back.)
                if records.isEmpty { journal.forgetBacklog() }
                let flush = countsLineage && (flushLineage || lineage.isDue)
                guard !records.isEmpty || flush else { return }
                let head = try pool.writeWithoutTransaction { db -> IntakeJournal.Head? in
                    try db.cachedStatement(sql: "BEGIN IMMEDIATE").execute()
                    do {
                        let head = try Ledger.insert(records, into: db, copied: &copied)
                        if flush { try lineage.flush(into: db) }
                        try db.cachedStatement(sql: "COMMIT").execute()
                        return head
                    } catch {
                        if db.isInsideTransaction { try? db.cachedStatement(sql: "ROLLBACK").execute() }
                        throw error
                    }
                }
                if !records.isEmpty || contents.end < contents.size {
                    // The copy must be on disk before the journal is emptied: a power loss must
                    // not find the journal empty and the WAL without it.
                    if syncer != nil { Ledger.fsync(path + "-wal") }
                    try journal.empty(head: head)
                }
            }
        } catch {
            throw Ledger.storageError(error, path: path)
        }
        guard copied > 0 else { return }
        syncer?.dirty()
        appendedSinceCheckpoint.withLock { $0 += copied }
        if checkpoint { checkpointIfDue() }
    }

    /// Inserts the journal's records that SQLite lacks, in the caller's transaction; returns the head after.
    private static func insert(_ records: [LedgerRecord], into db: Database, copied: inout Int) throws -> IntakeJournal.Head? {
        var head = try Ledger.head(db).map { IntakeJournal.Head(id: $0.0, hash: $0.1) }
        let insert = try db.cachedStatement(sql: """
            INSERT INTO records (id, ts, kind, identity, target, session, body, prev_hash, hash)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        // Records at or below SQLite's head were copied by a process that stopped before it
        // emptied the journal: they must be the very records SQLite holds.
        let stored = try db.cachedStatement(sql: "SELECT hash FROM records WHERE id = ?")
        for record in records where record.id <= head?.id ?? 0 {
            guard try String.fetchOne(stored, arguments: [record.id]) == record.hash else {
                throw LedgerError.storage(path: "", message: "the intake journal's record #\(record.id) is not the ledger's record "
                                          + "#\(record.id): records were written behind the broker (`hoopctl audit verify` tells how)")
            }
        }
        for record in records where record.id > head?.id ?? 0 {
            let expected = HashChain.hash(id: record.id, timestamp: record.timestamp, kind: record.kind, identity: record.identity,
                                          target: record.target, session: record.session, body: record.body,
                                          previousHash: record.previousHash)
            guard record.id == (head?.id ?? 0) + 1, record.previousHash == head?.hash ?? HashChain.genesis, record.hash == expected else {
                throw LedgerError.storage(path: "", message: "the intake journal does not continue the ledger at record #\(record.id): "
                                          + "the SQLite file was changed behind the broker (`hoopctl audit verify --ledger` tells how)")
            }
            try RawInsert.run(insert, db, id: record.id, timestamp: record.timestamp,
                              texts: [record.kind, record.identity, record.target, record.session, record.body, record.previousHash, record.hash])
            head = .init(id: record.id, hash: record.hash)
            copied += 1
        }
        if copied > 0, let head {
            try RawInsert.run(db.cachedStatement(sql: "INSERT OR REPLACE INTO chain_head (one, id, hash) VALUES (1, ?, ?)"), db, id: head.id, text: head.hash)
        }
        return head
    }

    /// Records copied into SQLite since the WAL was last checkpointed (batched durability only: with
    /// `full`, SQLite checkpoints inside commits itself).
    private let appendedSinceCheckpoint = Mutex(0)
    static let checkpointRecords = 4096

    /// Copies the WAL into the file once it holds `checkpointRecords` records, from the writer's
    /// connection between commits, so the checkpoint completes and the next commit starts the
    /// WAL over (a checkpoint from another connection while commits go on never catches up).
    public func checkpointIfDue() {
        guard syncer != nil, appendedSinceCheckpoint.withLock({ count in
            defer { if count >= Self.checkpointRecords { count = 0 } }
            return count >= Self.checkpointRecords
        }) else { return }
        _ = try? pool.writeWithoutTransaction { try $0.checkpoint(.passive) }
    }

    /// Writes the lineage counted since the last write (before reading the lineage table), with
    /// the journal's records it counts.
    func flushLineage() throws(LedgerError) {
        try indexJournal(flushLineage: true)
    }

    /// At shutdown: copies the journal and writes what the lineage index still holds in memory, if it can.
    public func flushPendingLineage() {
        guard mode == .readWrite else { return }
        try? flushLineage()
    }

    /// Before a read that SQL answers from SQLite alone (reports, traces, checkpoints): the
    /// journal copied in first when this process may write; a read-only reader sees what the
    /// writer copied (within `indexDelay` while it runs; at its next start after a crash).
    /// A copy that fails leaves the read to SQLite's records (the writer reports the failure).
    func indexBeforeReading() {
        if mode == .readWrite { try? flushLineage() }
    }

    static func storageError(_ error: Error, path: String) -> LedgerError {
        if let error = error as? LedgerError {
            if case .storage(let errorPath, let message) = error, errorPath.isEmpty { return .storage(path: path, message: message) }
            return error
        }
        return .storage(path: path, message: Ledger.describe(error))
    }

    private static func head(_ db: Database) throws -> (Int64, String)? {
        try RawInsert.idAndText(db.cachedStatement(sql: "SELECT id, hash FROM records ORDER BY id DESC LIMIT 1"), db)
    }

    // MARK: Reading

    /// Records matching the query, oldest first: SQLite's, then the journal's not copied yet.
    public func records(_ query: LedgerQuery) throws(LedgerError) -> [LedgerRecord] {
        let tail = try journalTail()
        let (sql, arguments) = query.sql(through: tail?.through)
        do {
            let stored = try pool.read { db in
                var records: [LedgerRecord] = []
                let cursor = try Row.fetchCursor(db, sql: sql, arguments: arguments)
                while let row = try cursor.next() { records.append(Ledger.record(row)) }
                return query.limit == nil ? records : records.reversed()
            }
            guard let tail, !tail.records.isEmpty else { return stored }
            var correlated: Set<String> = []
            if let correlation = query.correlation {
                correlated = try pool.read { db in
                    try Set(String.fetchAll(db, sql: "SELECT session FROM records WHERE kind = 'session' AND json_extract(body, '$.correlation') = ?",
                                            arguments: [correlation]))
                }
                correlated.formUnion(tail.records.compactMap { $0.kind == RecordKind.session.rawValue && LedgerQuery.correlation(of: $0) == correlation ? $0.session : nil })
            }
            let merged = stored + tail.records.filter { query.matches($0, correlatedSessions: correlated) }
            return query.limit.map { Array(merged.suffix($0)) } ?? merged
        } catch {
            throw Ledger.storageError(error, path: path)
        }
    }

    /// Up to `count` records after id `after`, in id order (SQLite's, then the journal's): for
    /// reading a whole ledger a page at a time (`hoopctl store migrate`).
    public func page(after: Int64, count: Int) throws(LedgerError) -> [LedgerRecord] {
        let tail = try journalTail()
        do {
            let stored = try pool.read { db in
                try Row.fetchAll(db, sql: """
                    SELECT id, ts, kind, identity, target, session, body, prev_hash, hash FROM records WHERE id > ? AND id <= ? ORDER BY id LIMIT ?
                    """, arguments: [after, tail?.through ?? Int64.max, count]).map(Ledger.record)
            }
            guard stored.count < count, let tail else { return stored }
            return stored + tail.records.filter { $0.id > after }.prefix(count - stored.count)
        } catch {
            throw Ledger.storageError(error, path: path)
        }
    }

    /// The number of records.
    public func count() throws(LedgerError) -> Int {
        let tail = try journalTail()
        do {
            return try pool.read {
                try Int.fetchOne($0, sql: "SELECT count(*) FROM records WHERE id <= ?", arguments: [tail?.through ?? Int64.max]) ?? 0
            } + (tail?.records.count ?? 0)
        } catch {
            throw .storage(path: path, message: Ledger.describe(error))
        }
    }

    /// What the journal holds beyond SQLite, read with SQLite's head so that no record is
    /// counted twice or missed while the writer copies them.
    struct JournalTail {
        /// SQLite's head.
        var through: Int64
        /// The journal's records after it (those readable, when the journal is damaged).
        var records: [LedgerRecord]
        /// A journal record at or below `through` that is not SQLite's record of that id.
        var forkedAt: Int64?
        var damagedAt: Int?
    }

    /// The journal's tail (nil: no journal).
    func journalTail() throws(LedgerError) -> JournalTail? {
        guard let journal else { return nil }
        do {
            return try journal.shared {
                try pool.read { db in
                    let through = try Int64.fetchOne(db, sql: "SELECT coalesce(max(id), 0) FROM records") ?? 0
                    let contents = try journal.read()
                    var forkedAt: Int64?
                    for record in contents.records where record.id <= through {
                        if try String.fetchOne(db, sql: "SELECT hash FROM records WHERE id = ?", arguments: [record.id]) != record.hash {
                            forkedAt = record.id
                            break
                        }
                    }
                    return JournalTail(through: through, records: contents.records.filter { $0.id > through }, forkedAt: forkedAt,
                                       damagedAt: contents.damagedAt)
                }
            }
        } catch {
            throw Ledger.storageError(error, path: path)
        }
    }

    static func fsync(_ path: String) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = Glibc.fsync(fd)
        close(fd)
    }

    static func record(_ row: Row) -> LedgerRecord {
        LedgerRecord(id: row[0], timestamp: row[1], kind: row[2], identity: row[3], target: row[4], session: row[5],
                     body: row[6], previousHash: row[7], hash: row[8])
    }

    // MARK: Verification

    /// Walks the whole chain and reports the first record that breaks it; then recounts the
    /// lineage index (derived data outside the chain) from the statement records and reports
    /// every row of it that disagrees.
    public func verify() throws(LedgerError) -> VerificationReport {
        do {
            // A copy that fails (the SQLite file changed behind the broker) must not stop the
            // verification that says how: the journal's records are walked after SQLite's.
            if mode == .readWrite { try? flushLineage() }
            let tail = try journalTail()
            return try pool.read { db in
                var verifier = ChainVerifier()
                let through = try Ledger.lineageThrough(db)
                var recount = LineageIndex.Recount()
                let statement = try db.makeStatement(sql: """
                    SELECT id, ts, kind, identity, target, session, body, prev_hash, hash FROM records ORDER BY id
                    """)
                let cursor = try Row.fetchCursor(statement)
                while let row = try cursor.next() {
                    let record = Ledger.record(row)
                    if !verifier.consume(record) { break }
                    if let through, record.id <= through { recount.consume(record) }
                }
                let head = try Row.fetchOne(db, sql: "SELECT id, hash FROM chain_head WHERE one = 1")
                verifier.finish(recordedHead: head.map { (id: $0[0] as Int64, hash: $0[1] as String) })
                // The journal's records not copied yet continue the chain (those copied meanwhile were walked above).
                let walked = verifier.report.headID ?? 0
                for record in tail?.records ?? [] where record.id > walked {
                    if !verifier.consume(record) { break }
                }
                var report = verifier.report
                if report.failure == nil, let forked = tail?.forkedAt {
                    report.failure = VerificationFailure(recordID: forked, reason: .forked)
                } else if report.failure == nil, let byte = tail?.damagedAt {
                    report.failure = VerificationFailure(recordID: report.headID ?? 0, reason: .journalDamaged(byte: byte))
                }
                report.schemaProblems = try LedgerSchema.problems(db)
                if report.failure == nil, let through {
                    report.lineageProblems = try Ledger.lineageProblems(db, expected: recount.index.counted, through: through,
                                                                       head: report.headID ?? 0)
                }
                return report
            }
        } catch {
            throw Ledger.storageError(error, path: path)
        }
    }

    /// How far the lineage table is written (nil for a ledger of an older hoopctl, not migrated yet).
    static func lineageThrough(_ db: Database) throws -> Int64? {
        guard try db.tableExists("lineage_state") else { return nil }
        return try Int64.fetchOne(db, sql: "SELECT through FROM lineage_state WHERE one = 1") ?? 0
    }

    /// The rows of the lineage table that the records do not bear out, and the counts it lacks.
    /// Compared by the table's own key (item, hour, session, shape, access, masking): the
    /// who, where and job beside it must be among those the records give for that key.
    static func lineageProblems(_ db: Database, expected: [LineageIndex.Key: LineageIndex.Counts], through: Int64, head: Int64) throws -> [String] {
        var rows: [LineageIndex.Row] = []
        let cursor = try Row.fetchCursor(db, sql: """
            SELECT item, hour, session, fingerprint, access, masking, identity, target, job, statements, first, last FROM lineage
            """)
        while let row = try cursor.next() {
            rows.append(LineageIndex.Row(key: LineageIndex.Key(item: row[0], hour: row[1], session: row[2], fingerprint: row[3], access: row[4],
                                                               masking: row[5], identity: row[6], target: row[7], job: row[8]),
                                         counts: LineageIndex.Counts(statements: row[9], first: row[10], last: row[11])))
        }
        return lineageProblems(rows, expected: expected, through: through, head: head)
    }

    /// The rows of a lineage table (any store's) that the records do not bear out, and the counts it lacks.
    public static func lineageProblems(_ table: [LineageIndex.Row], expected: [LineageIndex.Key: LineageIndex.Counts], through: Int64,
                                       head: Int64) -> [String] {
        struct RowKey: Hashable { var item: String, hour: Int64, session: String, fingerprint: String, access: String, masking: String }
        struct Expected { var counts = LineageIndex.Counts(), identities: Set<String> = [], targets: Set<String> = [], jobs: Set<String> = [] }
        var missing: [RowKey: Expected] = [:]
        for (key, counts) in expected {
            let rowKey = RowKey(item: key.item, hour: key.hour, session: key.session, fingerprint: key.fingerprint, access: key.access, masking: key.masking)
            var entry = missing[rowKey, default: Expected()]
            entry.counts.statements += counts.statements
            entry.counts.first = min(entry.counts.first, counts.first)
            entry.counts.last = max(entry.counts.last, counts.last)
            entry.identities.insert(key.identity)
            entry.targets.insert(key.target)
            entry.jobs.insert(key.job)
            missing[rowKey] = entry
        }
        var problems: [String] = []
        if through > head { problems.append("the lineage index claims records up to #\(through), past the chain's head #\(head)") }
        func describe(_ key: RowKey, identity: String) -> String {
            "\(key.access) \(key.item)\(key.masking.isEmpty ? "" : " \(key.masking)") by \(identity.isEmpty ? "-" : identity) "
                + "in session \(key.session.isEmpty ? "-" : key.session), hour \(UTCTime.seconds(key.hour))"
        }
        for row in table {
            let key = RowKey(item: row.key.item, hour: row.key.hour, session: row.key.session, fingerprint: row.key.fingerprint,
                             access: row.key.access, masking: row.key.masking)
            let identity = row.key.identity, target = row.key.target, job = row.key.job
            let statements = row.counts.statements, first = row.counts.first, last = row.counts.last
            guard let records = missing.removeValue(forKey: key) else {
                problems.append("lineage row not borne out by any statement record: \(describe(key, identity: identity)), \(statements) statements")
                continue
            }
            if records.counts.statements != statements || records.counts.first != first || records.counts.last != last {
                problems.append("lineage row disagrees with the statement records: \(describe(key, identity: identity)): "
                                + "\(statements) statements, the records say \(records.counts.statements)")
            } else if !records.identities.contains(identity) || !records.targets.contains(target) || !records.jobs.contains(job) {
                problems.append("lineage row names someone the statement records do not: \(describe(key, identity: identity)), "
                                + "target \(target), job \(job.isEmpty ? "-" : job)")
            }
        }
        for (key, records) in missing {
            problems.append("lineage row missing: \(describe(key, identity: records.identities.sorted().first ?? "")), "
                            + "\(records.counts.statements) statements in the records")
        }
        return problems.sorted()
    }

    /// At start-up: the records a stopped process appended after it last wrote the lineage
    /// table (a crash loses at most a second of it) are counted again, then written.
    static func catchUpLineage(_ pool: DatabasePool) throws {
        try pool.write { db in
            guard let through = try lineageThrough(db), let last = try Int64.fetchOne(db, sql: "SELECT max(id) FROM records"),
                  last > through else { return }
            var recount = LineageIndex.Recount()
            // Jobs come from the sessions' `started` records, which may be older than `through`.
            let sessions = try Row.fetchCursor(db, sql: """
                SELECT id, ts, kind, identity, target, session, body, prev_hash, hash FROM records
                WHERE kind = 'session' AND id <= ? ORDER BY id
                """, arguments: [through])
            while let row = try sessions.next() { recount.consume(Ledger.record(row)) }
            let records = try Row.fetchCursor(db, sql: """
                SELECT id, ts, kind, identity, target, session, body, prev_hash, hash FROM records WHERE id > ? ORDER BY id
                """, arguments: [through])
            while let row = try records.next() { recount.consume(Ledger.record(row)) }
            try recount.index.flush(into: db)
            try db.execute(sql: "UPDATE lineage_state SET through = ? WHERE one = 1", arguments: [last])
        }
    }

    static func describe(_ error: Error) -> String {
        if let error = error as? DatabaseError {
            return error.message ?? "\(error.resultCode)"
        }
        return "\(error)"
    }
}

/// A ledger that could not be opened, read or written.
public enum LedgerError: Error, CustomStringConvertible, Sendable {
    case missing(path: String)
    case notALedger(path: String)
    case storage(path: String, message: String)

    public var description: String {
        switch self {
        case .missing(let path): return "no ledger at \(path)"
        case .notALedger(let path): return "\(path) is not a hoopctl ledger (or was made by a newer hoopctl)"
        case .storage(let path, let message): return "ledger \(path): \(message)"
        }
    }
}
