import Foundation
import GRDB
import HoopCommon
import HoopLedger

/// Ledger figures of issue 2: appends with the hash chain (batches of 1 and 64), `audit --since 1h`
/// over a 1,000,000-record ledger, and `audit verify`; baselines are plain SQLite doing the same.
struct LedgerBench {
    let scratch: TemporaryScratch

    static let bigLedgerRecords = 1_000_000

    func run() throws {
        print("== ledger ==")
        var report = Report(header: ["measure", "hoopctl", "baseline", "ratio", "goal"])

        let single = try appendRate(batch: 1, records: 3_000)
        let singlePlain = try plainInsertRate(batch: 1, records: 3_000)
        report.add("append, batches of 1 (records/s)", format(single), format(singlePlain),
                   format(single / singlePlain, decimals: 2), "-")
        let batchedDurability = try appendRate(batch: 1, records: 20_000, durability: .batched(interval: .milliseconds(20)))
        report.add("append, batches of 1, batched fsync (records/s)", format(batchedDurability), "-", "-", "-")
        let batched = try appendRate(batch: 64, records: 64 * 4_000)
        let batchedPlain = try plainInsertRate(batch: 64, records: 64 * 4_000)
        report.add("append, batches of 64 (records/s)", format(batched), format(batchedPlain),
                   format(batched / batchedPlain, decimals: 2), "≥ 50000")

        let big = scratch.file("big.sqlite")
        let buildSeconds = try buildBigLedger(at: big)
        print("built a \(Self.bigLedgerRecords)-record ledger in \(format(buildSeconds, decimals: 1)) s")

        let since = Int64((Date().timeIntervalSince1970 - 3600) * 1_000_000)
        let recent = try DatabaseQueue(path: big).read { try Int.fetchOne($0, sql: "SELECT count(*) FROM records WHERE ts >= ?", arguments: [since]) ?? 0 }
        let audit = try Clock.medianMilliseconds(runs: 11, ChildProcess(HoopctlPath.path, ["audit", "--since", "1h", "--ledger", big]))
        let auditJSON = try Clock.medianMilliseconds(runs: 11, ChildProcess(HoopctlPath.path, ["audit", "--since", "1h", "--json", "--ledger", big]))
        let sqlite = try Clock.medianMilliseconds(runs: 11, ChildProcess("sqlite3", [big,
            "SELECT id, ts, kind, identity, target, session, body FROM records WHERE ts >= \(since) ORDER BY +id"]))
        report.add("audit --since 1h, 1M records, \(recent) shown (ms)", format(audit, decimals: 1), format(sqlite, decimals: 1),
                   format(audit / sqlite, decimals: 2), "≤ 100")
        report.add("audit --since 1h --json (ms)", format(auditJSON, decimals: 1), format(sqlite, decimals: 1),
                   format(auditJSON / sqlite, decimals: 2), "-")

        var verifySeconds = 0.0
        verifySeconds = try Clock.seconds {
            try ChildProcess(HoopctlPath.path, ["audit", "verify", "--ledger", big]).check()
        }
        let scanSeconds = try Clock.seconds {
            try ChildProcess("sqlite3", [big, "SELECT count(*), sum(length(body) + length(hash) + length(prev_hash)) FROM records"]).check()
        }
        report.add("audit verify (records/s)", format(Double(Self.bigLedgerRecords) / verifySeconds),
                   format(Double(Self.bigLedgerRecords) / scanSeconds),
                   format(scanSeconds / verifySeconds, decimals: 2), "≥ 300000")

        // Issue 7: `audit trace` over a million statements, a tenth of which read customers.email.
        let traced = scratch.file("lineage.sqlite")
        let traceBuild = try buildLineageLedger(at: traced)
        print("built a \(Self.bigLedgerRecords)-statement ledger with lineage in \(format(traceBuild, decimals: 1)) s")
        let trace = try Clock.medianMilliseconds(runs: 11, ChildProcess(HoopctlPath.path, ["audit", "trace", "customers.email", "--ledger", traced]))
        let traceJob = try Clock.medianMilliseconds(runs: 11, ChildProcess(HoopctlPath.path, ["audit", "trace", "customers.email", "--by", "job",
                                                                                                "--ledger", traced]))
        let traceSQL = try Clock.medianMilliseconds(runs: 11, ChildProcess("sqlite3", [traced, """
            SELECT identity, json_group_array(DISTINCT job), count(DISTINCT session), sum(statements), json_group_array(DISTINCT fingerprint),
                   min(first), max(last), sum(statements * (masking IN ('view', 'detector'))), sum(statements * (masking = 'clear')),
                   sum(statements * (access = 'write'))
            FROM lineage WHERE item IN ('customers.email', 'public.customers.email') AND hour >= \(Int64((Date().timeIntervalSince1970 - 30 * 86400) * 1e6))
            GROUP BY identity
            """]))
        report.add("audit trace customers.email, 1M statements (ms)", format(trace, decimals: 1), format(traceSQL, decimals: 1),
                   format(trace / traceSQL, decimals: 2), "≤ 200")
        report.add("audit trace customers.email --by job (ms)", format(traceJob, decimals: 1), format(traceSQL, decimals: 1),
                   format(traceJob / traceSQL, decimals: 2), "-")
        // verify recounts the lineage index from the statement records: the chain walk plus that.
        let tracedRecords = try DatabaseQueue(path: traced).read { try Int.fetchOne($0, sql: "SELECT count(*) FROM records") ?? 0 }
        let verifyLineage = try Clock.seconds { try ChildProcess(HoopctlPath.path, ["audit", "verify", "--ledger", traced]).check() }
        let scanLineage = try Clock.seconds {
            try ChildProcess("sqlite3", [traced, "SELECT count(*), sum(length(body) + length(hash) + length(prev_hash)) FROM records"]).check()
        }
        report.add("audit verify, with the lineage recount (records/s)", format(Double(tracedRecords) / verifyLineage),
                   format(Double(tracedRecords) / scanLineage), format(scanLineage / verifyLineage, decimals: 2), "-")
        report.print()
        print("baselines: plain SQLite inserts of the same rows and pragmas without the chain; the sqlite3 CLI running")
        print("the same query; a full scan of the same columns. ratio = hoopctl / baseline (for verify: rate / rate).\n")

        try StoreBench(scratch: scratch, bigLedger: big, sqliteAppendRate: batched).run()
    }

    static func entry(_ i: Int, time: Date? = nil) -> LedgerEntry {
        switch i % 4 {
        case 0:
            return LedgerEntry(StatementBody(sql: "SELECT id, name, email FROM customers WHERE id = $1", fingerprint: "5a1f0b3c9d2e7f60",
                                             statementClass: "read", decision: "allow", rows: 1, durationMicros: 180 + i % 97),
                               identity: "user:analyst\(i % 50)", target: "prod-db", session: "s-\(i / 40)", time: time)
        case 1:
            return LedgerEntry(StatementBody(sql: "UPDATE orders SET amount = $1 WHERE id = $2", fingerprint: "77c0de11aa55ee90",
                                             statementClass: "write", decision: "allow", rows: 1, durationMicros: 420),
                               identity: "service:retrain-bot", target: "prod-db", session: "s-\(i / 40)", time: time)
        case 2:
            return LedgerEntry(SessionBody(phase: .started, role: "read", reason: "nightly retrain", ttlSeconds: 3600,
                                           process: CallerProcess(pid: 4000 + i % 1000, uid: 1000, executable: "/usr/bin/python3", arguments: ["train.py"])),
                               identity: "user:analyst\(i % 50)", target: "prod-db", session: "s-\(i / 40)", time: time)
        default:
            return LedgerEntry(EventBody(name: "policy.reloaded", message: "policy version \(i)"), identity: "user:root", time: time)
        }
    }

    private func appendRate(batch: Int, records: Int, durability: Ledger.Durability = .full) throws -> Double {
        let path = scratch.file("append-\(batch)-\(durability == .full ? "full" : "batched").sqlite")
        let ledger = try Ledger(path: path, durability: durability)
        let entries = (0..<records).map { Self.entry($0) }
        let seconds = try Clock.seconds {
            for start in stride(from: 0, to: records, by: batch) {
                try ledger.append(Array(entries[start..<min(start + batch, records)]))
            }
        }
        guard try ledger.verify().passed else { throw BenchError("the appended ledger does not verify") }
        return Double(records) / seconds
    }

    /// The same rows into the same table and pragmas, without hashing, head or chain lookups.
    private func plainInsertRate(batch: Int, records: Int) throws -> Double {
        let path = scratch.file("plain-\(batch).sqlite")
        var configuration = Configuration()
        configuration.prepareDatabase { try $0.execute(sql: "PRAGMA synchronous = FULL") }
        let pool = try DatabasePool(path: path, configuration: configuration)
        try pool.write { db in
            try db.execute(sql: """
                CREATE TABLE records (id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, kind TEXT NOT NULL, identity TEXT,
                    target TEXT, session TEXT, body TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
                CREATE INDEX records_ts ON records(ts);
                CREATE INDEX records_identity_ts ON records(identity, ts);
                CREATE INDEX records_session ON records(session) WHERE session IS NOT NULL;
                """)
        }
        let entries = (0..<records).map { Self.entry($0) }
        let filler = String(repeating: "0", count: 64)
        let seconds = try Clock.seconds {
            for start in stride(from: 0, to: records, by: batch) {
                try pool.write { db in
                    let insert = try db.cachedStatement(sql: "INSERT INTO records (ts, kind, identity, target, session, body, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
                    for entry in entries[start..<min(start + batch, records)] {
                        try insert.execute(arguments: [Int64(Date().timeIntervalSince1970 * 1e6), entry.kind.rawValue, entry.identity,
                                                       entry.target, entry.session, entry.body, filler, filler])
                    }
                }
            }
        }
        return Double(records) / seconds
    }

    /// 1,000,000 statement records with their lineage over 30 days: 50 people and 5 jobs, a tenth
    /// of the statements reading customers.email.
    private func buildLineageLedger(at path: String) throws -> Double {
        let ledger = try Ledger(path: path)
        let span = 30.0 * 86400, start = Date().addingTimeInterval(-span)
        let step = span / Double(Self.bigLedgerRecords)
        func statement(_ i: Int) -> LedgerEntry {
            let items: [StatementLineage.Item]
            let sql: String
            switch i % 10 {
            case 0:
                sql = "SELECT id, name, email FROM customers WHERE id = $1"
                items = [.init(item: "public.customers", access: .read), .init(item: "public.customers.email", access: .read, masking: "view"),
                         .init(item: "public.customers.id", access: .read, masking: "clear"),
                         .init(item: "public.customers.name", access: .read, masking: "detector")]
            case 1, 2, 3:
                sql = "UPDATE orders SET amount = $1 WHERE id = $2"
                items = [.init(item: "public.orders", access: .write), .init(item: "public.orders.id", access: .read, masking: "clear")]
            default:
                sql = "SELECT amount FROM orders WHERE customer_id = $1"
                items = [.init(item: "public.orders", access: .read), .init(item: "public.orders.amount", access: .read, masking: "clear"),
                         .init(item: "public.orders.customer_id", access: .read, masking: "clear")]
            }
            let fingerprint = String(format: "%016llx", UInt64(i % 10 == 0 ? 1 : i % 10 < 4 ? 2 : 3) &* 0x9E37_79B9_7F4A_7C15)
            var entry = LedgerEntry(StatementBody(sql: sql, fingerprint: fingerprint, statementClass: i % 10 < 4 && i % 10 > 0 ? "write" : "read",
                                                  decision: "allow",
                                                  lineage: items.map { ([$0.access.rawValue, $0.item] + ($0.masking.map { [$0] } ?? [])).joined(separator: " ") }),
                                    identity: "user:analyst\(i % 50)", target: "prod-db", session: "s-\(i / 40)",
                                    time: start.addingTimeInterval(Double(i) * step))
            entry.lineage = StatementLineage(fingerprint: fingerprint, items: items, job: "job-\(i / 40 % 5)")
            return entry
        }
        return try Clock.seconds {
            for batchStart in stride(from: 0, to: Self.bigLedgerRecords, by: 10_000) {
                // Each session of 40 statements starts with its record (its job is its correlation id).
                try ledger.append((batchStart..<batchStart + 10_000).flatMap { i -> [LedgerEntry] in
                    guard i % 40 == 0 else { return [statement(i)] }
                    var started = SessionBody(phase: .started, role: "read")
                    started.correlation = "job-\(i / 40 % 5)"
                    return [LedgerEntry(started, identity: "user:analyst\(i % 50)", target: "prod-db", session: "s-\(i / 40)",
                                        time: start.addingTimeInterval(Double(i) * step)), statement(i)]
                })
            }
            ledger.flushPendingLineage()
        }
    }

    /// 1,000,000 records over the last 30 days, so the last hour holds about 1,400.
    func buildBigLedger(at path: String) throws -> Double {
        let ledger = try Ledger(path: path)
        let span = 30.0 * 86400, start = Date().addingTimeInterval(-span)
        let step = span / Double(Self.bigLedgerRecords)
        return try Clock.seconds {
            for batchStart in stride(from: 0, to: Self.bigLedgerRecords, by: 10_000) {
                try ledger.append((batchStart..<batchStart + 10_000).map { Self.entry($0, time: start.addingTimeInterval(Double($0) * step)) })
            }
        }
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
