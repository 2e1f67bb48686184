import Foundation
import HoopCommon
import HoopControlStore
import HoopLedger
import HoopPostgres
import HoopSandbox

/// Issue 19's figures: the ledger in a PostgreSQL control store (a sandbox cluster of the run's
/// own). Appends in batches of 64 from one broker process and from two at once, beside plain
/// inserts of the same rows (no chain, no lock) and the SQLite ledger; `audit --since 1h` and
/// `audit verify` over the 1,000,000 records of the SQLite bench, migrated into the store.
struct StoreBench {
    let scratch: TemporaryScratch
    let bigLedger: String
    let sqliteAppendRate: Double

    static let batch = 64
    static let recordsPerBroker = 64 * 2_000

    func run() throws {
        print("== control store (PostgreSQL) ==")
        let home = scratch.file("store-home")
        let environment = ["HOOPCTL_HOME": home, "HOOPCTL_POLICY": "", "HOOPCTL_LEDGER": "", "HOOPCTL_BROKER": ""]
        let up = try ChildProcess(HoopctlPath.path, ["sandbox", "up"], environment: Self.environment(environment)).run()
        guard up.succeeded else { throw BenchError("sandbox up failed: \(up.stderr)") }
        defer { _ = try? ChildProcess(HoopctlPath.path, ["sandbox", "down", "--purge"], environment: Self.environment(environment)).run() }
        let sandbox = Sandbox(home: StateDirectory(url: URL(fileURLWithPath: home)))
        guard let state = try sandbox.loadState() else { throw BenchError("no sandbox state") }
        var report = Report(header: ["measure", "hoopctl", "baseline", "ratio", "goal"])

        // Appends: one broker process, then two at once, each into a store of its own.
        let one = try sandbox.controlStore(state, name: "bench_one", directory: scratch.path)
        let plain = try plainInsertRate(one, records: Self.recordsPerBroker)
        let single = try appendRate(dsnFile: one.brokerDSNFile, processes: 1)
        report.add("append, batches of 64, 1 broker (records/s)", format(single), format(plain), format(single / plain, decimals: 2), "-")
        let two = try sandbox.controlStore(state, name: "bench_two", directory: scratch.path)
        let both = try appendRate(dsnFile: two.brokerDSNFile, processes: 2)
        report.add("append, batches of 64, 2 brokers at once (records/s)", format(both), format(plain), format(both / plain, decimals: 2),
                   "≥ 20000")
        report.add("append, batches of 64, SQLite ledger (records/s)", format(sqliteAppendRate), "-", "-", "-")
        guard try PostgresLedger(address: try StoreAddress(dsnFile: two.brokerDSNFile)).verify().passed else {
            throw BenchError("the two brokers' chain does not verify")
        }

        // The 1M-record ledger, moved into a store.
        let big = try sandbox.controlStore(state, name: "bench_big", directory: scratch.path)
        let migrateSeconds = try Clock.seconds {
            _ = try ChildProcess(HoopctlPath.path, ["store", "migrate", "--dsn-file", big.brokerDSNFile, "--from", bigLedger]).check()
        }
        print("migrated the \(LedgerBench.bigLedgerRecords)-record ledger into PostgreSQL in \(format(migrateSeconds, decimals: 1)) s "
              + "(\(format(Double(LedgerBench.bigLedgerRecords) / migrateSeconds)) records/s, verify included)")
        let psql = ["-X", "-q", "-A", "-t", "-h", state.socketDirectory, "-p", String(state.port), "-U", state.adminUser, "-d", big.database]
        let psqlEnvironment = ["PGPASSFILE": sandbox.passFile, "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
        _ = try ChildProcess("psql", psql + ["-c", "VACUUM ANALYZE hoopctl.records"], environment: psqlEnvironment).check()
        let since = Int64((Date().timeIntervalSince1970 - 3600) * 1_000_000)
        let audit = try Clock.medianMilliseconds(runs: 11, ChildProcess(HoopctlPath.path, ["audit", "--since", "1h", "--store-dsn-file", big.brokerDSNFile]))
        let sql = try Clock.medianMilliseconds(runs: 11, ChildProcess("psql", psql + ["-c", """
            SELECT id, ts, kind, identity, target, session, body FROM hoopctl.records WHERE ts >= \(since) ORDER BY id
            """], environment: psqlEnvironment))
        report.add("audit --since 1h, 1M records (ms)", format(audit, decimals: 1), format(sql, decimals: 1), format(audit / sql, decimals: 2), "-")
        let verify = try Clock.seconds {
            _ = try ChildProcess(HoopctlPath.path, ["audit", "verify", "--store-dsn-file", big.brokerDSNFile]).check()
        }
        let scan = try Clock.seconds {
            _ = try ChildProcess("psql", psql + ["-c", "SELECT count(*), sum(length(body) + length(hash) + length(prev_hash)) FROM hoopctl.records"],
                                 environment: psqlEnvironment).check()
        }
        let records = Double(LedgerBench.bigLedgerRecords)
        report.add("audit verify, PostgreSQL (records/s)", format(records / verify), format(records / scan), format(scan / verify, decimals: 2),
                   "≥ 300000")
        report.print()
        print("baselines: plain INSERT ... unnest of the same rows into a table without chain, lock or trigger (one connection);")
        print("psql running the same query; psql scanning the same columns. Brokers are hoopctl-bench processes appending")
        print("through PostgresLedger (the broker's own code) over the sandbox's unix socket.\n")
    }

    static func environment(_ extra: [String: String]) -> [String: String] {
        ProcessInfo.processInfo.environment.merging(extra) { $1 }
    }

    /// Records per second over `processes` processes appending `recordsPerBroker` each at once.
    private func appendRate(dsnFile: String, processes: Int) throws -> Double {
        let executable = CommandLine.arguments[0].hasPrefix("/") ? CommandLine.arguments[0]
            : FileManager.default.currentDirectoryPath + "/" + CommandLine.arguments[0]
        var children: [Process] = []
        let seconds = try Clock.seconds {
            for _ in 0..<processes {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: executable)
                process.arguments = ["store-append", dsnFile, String(Self.recordsPerBroker), String(Self.batch)]
                process.standardOutput = FileHandle.nullDevice
                try process.run()
                children.append(process)
            }
            for child in children { child.waitUntilExit() }
        }
        guard children.allSatisfy({ $0.terminationStatus == 0 }) else { throw BenchError("a store-append process failed") }
        return Double(processes * Self.recordsPerBroker) / seconds
    }

    /// What a broker's append path would cost without the chain: the same rows, one INSERT per batch.
    private func plainInsertRate(_ store: SandboxControlStore, records: Int) throws -> Double {
        let owner = try StoreAddress(dsnFile: store.ownerDSNFile).connect()
        try owner.execute("CREATE TABLE public.plain_records (LIKE hoopctl.records INCLUDING INDEXES)")
        let entries = (0..<records).map { LedgerBench.entry($0) }
        let chained = Ledger.chain(entries, after: nil, now: Date())
        try owner.prepare("plain", PostgresLedger.insertRecords.replacingOccurrences(of: "hoopctl.records", with: "public.plain_records"),
                          parameterCount: 9)
        let seconds = try Clock.seconds {
            for start in stride(from: 0, to: records, by: Self.batch) {
                try owner.executePrepared("plain", try PostgresLedger.columns(of: Array(chained[start..<min(start + Self.batch, records)])))
            }
        }
        try owner.execute("DROP TABLE public.plain_records")
        return Double(records) / seconds
    }

    /// `hoopctl-bench store-append DSN RECORDS BATCH`: one broker's appends, as fast as they go.
    static func appendChild(dsnFile: String, records: Int, batch: Int) throws {
        let ledger = try PostgresLedger(address: try StoreAddress(dsnFile: dsnFile))
        let entries = (0..<records).map { LedgerBench.entry($0) }
        for start in stride(from: 0, to: records, by: batch) {
            try ledger.append(Array(entries[start..<min(start + batch, records)]))
        }
    }
}
