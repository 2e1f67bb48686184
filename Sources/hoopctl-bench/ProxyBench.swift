import Foundation
import GRDB
import HoopCommon
import HoopSandbox
#if canImport(Glibc)
import Glibc
#endif

/// Issues 5 and 17's figures: `pgbench -S -c 8 -j 2` in simple, extended and prepared modes
/// straight to PostgreSQL, through hoopctl's guard proxy (a ledger record per statement, values
/// captured) and through pgbouncer in session mode, all in this run: TPS, the CPU the process in
/// the middle spends per statement, the ledger's group commits; and the p50 and p99 latency each
/// adds at one client.
/// All three connect as a session role that reads through masking views, over unix sockets.
struct ProxyBench {
    let scratch: TemporaryScratch
    /// HOOPCTL_BENCH_SECONDS shortens a run while working on the bench itself.
    let seconds = Int(ProcessInfo.processInfo.environment["HOOPCTL_BENCH_SECONDS"] ?? "") ?? 15
    static let modes = ["simple", "extended", "prepared"]
    static let bigRows = 1_000_000
    /// Only the pgbench runs (TPS, CPU per statement, latency): the `proxy-cpu` section, for profiling.
    var pgbenchOnly = false

    func run() throws {
        print("== proxy ==")
        let home = scratch.file("proxy-home")
        let hoopctlEnvironment = ExecBench.environment(["HOOPCTL_HOME": home])
        func hoopctl(_ arguments: [String]) throws -> ChildProcess.Result {
            try ChildProcess(HoopctlPath.path, arguments, environment: hoopctlEnvironment).check()
        }
        _ = try hoopctl(["sandbox", "up"])
        defer { _ = try? hoopctl(["sandbox", "down", "--purge"]) }
        let sandbox = Sandbox(home: StateDirectory(url: URL(fileURLWithPath: home)))
        guard let state = try sandbox.loadState() else { throw BenchError("no sandbox state") }

        // pgbench's tables, in scope of the read role; a `direct` twin of it for the baselines.
        var adminEnvironment = ExecBench.environment([:])
        for (key, value) in sandbox.environment(state) { adminEnvironment[key] = value }
        _ = try ChildProcess("pgbench", ["-i", "-q", "-s", "10"], environment: adminEnvironment).check()
        // An application's tables belong to its owner role, which the broker (not a superuser) administers them as.
        _ = try ChildProcess("psql", ["-X", "-q", "-c", ["pgbench_accounts", "pgbench_branches", "pgbench_history", "pgbench_tellers"]
            .map { "ALTER TABLE public.\($0) OWNER TO shop_owner;" }.joined(separator: " ")], environment: adminEnvironment).check()
        // A million customers (the sandbox's thousand, repeated) for COPY through the detectors.
        if !pgbenchOnly { _ = try ChildProcess("psql", ["-X", "-q", "-c", """
            CREATE TABLE customers_big AS
            SELECT c.id + 1000 * g AS id, c.name, c.email, c.phone, c.ssn, c.card_number, c.notes, c.created_at
            FROM customers c, generate_series(0, \(Self.bigRows / 1000 - 1)) g;
            ALTER TABLE customers_big OWNER TO shop_owner
            """], environment: adminEnvironment).check() }
        var policy = try String(contentsOfFile: sandbox.policyFile, encoding: .utf8)
        policy = policy.replacingOccurrences(of: "connection_limit: 5", with: "connection_limit: 20")
            .replacingOccurrences(of: "      write:\n", with: """
                      direct:
                        tables: ["public.*"]
                        connection_limit: 20
                        direct: true
                        max_ttl: 2h
                      nocapture:               # the read role but for its capture
                        tables: ["public.*"]
                        max_ttl: 2h
                        statement_timeout: 30s
                        idle_in_transaction_timeout: 5m
                        connection_limit: 20
                        capture: { values: none }
                      write:

                """)
            .replacingOccurrences(of: "- { who: group:analysts, target: sandbox, roles: [read] }",
                                  with: "- { who: group:analysts, target: sandbox, roles: [read, direct, nocapture] }")
        try policy.write(toFile: sandbox.policyFile, atomically: true, encoding: .utf8)
        _ = try hoopctl(["policy", "reload"])
        _ = try hoopctl(["target", "init", "sandbox"])

        let direct = try OpenSession(role: "direct", scratch: scratch, environment: hoopctlEnvironment)
        let proxied = try OpenSession(role: "read", scratch: scratch, environment: hoopctlEnvironment)
        let bouncer = try Bouncer(upstream: direct.environment, scratch: scratch)
        defer { bouncer.stop() }
        let targets: [(name: String, environment: [String: String])] = [
            ("direct", direct.environment), ("hoopctl", proxied.environment), ("pgbouncer", bouncer.environment),
        ]
        print("pgbench -S -c 8 -j 2 -T \(seconds), scale 10, unix sockets; hoopctl records every statement in its ledger")
        var tps: [String: [String: Double]] = [:]
        // CPU time of the process in the middle (the broker, pgbouncer) per statement, from /proc.
        let middle: [String: () -> pid_t?] = ["hoopctl": { Self.pid(inFile: "\(home)/sandbox/broker.pid") },
                                              "pgbouncer": { Self.pid(inFile: "\(bouncer.directory)/pgbouncer.pid") }]
        var cpu: [String: [String: Double]] = [:]
        // The ledger's group commits under the 8-client load: records committed together share a timestamp.
        let ledgerPath = "\(home)/ledger.sqlite"
        var batches: [String: [Int: Int]] = [:]
        for mode in Self.modes {
            for target in targets {
                let pid = middle[target.name]?()
                let before = pid.flatMap(Self.cpuMicroseconds)
                let firstRecord = target.name == "hoopctl" ? try Self.lastRecord(ledgerPath) : 0
                let output = try pgbench(["-S", "-M", mode, "-c", "8", "-j", "2", "-T", String(seconds)], target.environment)
                tps[mode, default: [:]][target.name] = try Self.number(after: "tps = ", in: output)
                if let pid, let before, let after = Self.cpuMicroseconds(pid) {
                    let statements = try Self.number(after: "number of transactions actually processed: ", in: output)
                    cpu[mode, default: [:]][target.name] = (after - before) / max(statements, 1)
                }
                if target.name == "hoopctl" { batches[mode] = try Self.batchSizes(ledgerPath, after: firstRecord) }
            }
        }
        var report = Report(header: ["mode (TPS)", "direct", "hoopctl", "pgbouncer", "hoopctl / direct", "hoopctl / pgbouncer", "goal"])
        for mode in Self.modes {
            let row = tps[mode]!, toDirect = row["hoopctl"]! / row["direct"]!, toBouncer = row["hoopctl"]! / row["pgbouncer"]!
            let goal = mode == "simple" ? "≥ 0.45 direct: \(toDirect >= 0.45 ? "met" : "NOT met")" : "-"
            report.add(mode, format(row["direct"]!), format(row["hoopctl"]!), format(row["pgbouncer"]!),
                       format(toDirect, decimals: 2), format(toBouncer, decimals: 2), goal)
        }
        report.print()
        var cpuReport = Report(header: ["mode (CPU µs per statement)", "hoopctl broker", "pgbouncer", "hoopctl / pgbouncer", "goal"])
        for mode in Self.modes {
            guard let broker = cpu[mode]?["hoopctl"], let bouncer = cpu[mode]?["pgbouncer"] else { continue }
            cpuReport.add(mode, format(broker, decimals: 1), format(bouncer, decimals: 1), format(broker / bouncer, decimals: 1),
                          "≤ 3: \(broker / bouncer <= 3 ? "met" : "NOT met")")
        }
        cpuReport.print()
        var batchReport = Report(header: ["ledger group commits, 8 clients", "batches", "records per batch (mean)", "1", "2-3", "4-7", "8-15", "16+"])
        for mode in Self.modes {
            let sizes = batches[mode] ?? [:]
            let count = sizes.values.reduce(0, +), records = sizes.reduce(0) { $0 + $1.key * $1.value }
            func share(_ range: ClosedRange<Int>) -> String {
                format(Double(sizes.filter { range.contains($0.key) }.values.reduce(0, +)) * 100 / Double(max(count, 1)), decimals: 1) + "%"
            }
            batchReport.add(mode, String(count), format(Double(records) / Double(max(count, 1)), decimals: 2),
                            share(1...1), share(2...3), share(4...7), share(8...15), share(16...Int.max))
        }
        batchReport.print()

        let latencySeconds = max(3, seconds / 3)
        var latency = Report(header: ["1 client, -T \(latencySeconds) (µs)", "direct p50", "hoopctl p50", "pgbouncer p50", "direct p99",
                                      "hoopctl p99", "pgbouncer p99", "hoopctl added p50", "added p99", "goal"])
        for mode in ["simple", "prepared"] {
            var p50: [String: Double] = [:], p99: [String: Double] = [:]
            for target in targets {
                let prefix = scratch.file("latency-\(mode)-\(target.name)")
                _ = try pgbench(["-S", "-M", mode, "-c", "1", "-T", String(latencySeconds), "-l", "--log-prefix=\(prefix)"], target.environment)
                (p50[target.name], p99[target.name]) = try Self.latencies(logPrefix: prefix)
            }
            let added = p50["hoopctl"]! - p50["direct"]!
            latency.add(mode, format(p50["direct"]!), format(p50["hoopctl"]!), format(p50["pgbouncer"]!), format(p99["direct"]!),
                        format(p99["hoopctl"]!), format(p99["pgbouncer"]!), format(added), format(p99["hoopctl"]! - p99["direct"]!),
                        "p50 ≤ 60: \(added <= 60 ? "met" : "NOT met")")
        }
        latency.print()
        if pgbenchOnly {
            direct.end()
            proxied.end()
            return
        }

        // COPY of a million rows, straight and through the proxy with the sandbox's detectors on.
        let copy = ["-X", "-q", "-c", "copy (select * from customers_big) to stdout"]
        var copyTimes: [String: Double] = [:]
        for target in targets where target.name != "pgbouncer" {
            var runs: [Double] = []
            for _ in 0..<3 {
                runs.append(try Clock.seconds { _ = try ChildProcess("sh", ["-c", "psql \(copy.map { "'\($0)'" }.joined(separator: " ")) > /dev/null"],
                                                                   environment: target.environment).check() })
            }
            copyTimes[target.name] = runs.sorted()[1]
        }
        var copyReport = Report(header: ["copy (select * from customers_big) to stdout", "direct", "hoopctl", "hoopctl / direct", "goal"])
        let rowsDirect = Double(Self.bigRows) / copyTimes["direct"]!, rowsProxied = Double(Self.bigRows) / copyTimes["hoopctl"]!
        copyReport.add("\(Self.bigRows) rows, detectors on (rows/s, median of 3)", format(rowsDirect), format(rowsProxied),
                       format(rowsProxied / rowsDirect, decimals: 2), "≥ 0.6: \(rowsProxied / rowsDirect >= 0.6 ? "met" : "NOT met")")
        copyReport.print()
        print("ratios and added latency compare runs of this same invocation.\n")
        print("== capture of statement values ==")
        let uncaptured = try OpenSession(role: "nocapture", scratch: scratch, environment: hoopctlEnvironment)
        try CaptureBench(seconds: seconds, brokerPID: middle["hoopctl"]!, ledgerPath: "\(home)/ledger.sqlite", maskedScript: scratch.file("masked.sql"))
            .run(sealed: proxied, none: uncaptured, pgbench: pgbench)
        uncaptured.end()
        print("ratios compare runs of this same invocation.\n")
        try MaskingBench(scratch: scratch, sandbox: sandbox, hoopctlEnvironment: hoopctlEnvironment, adminEnvironment: adminEnvironment)
            .run(direct: direct, proxied: proxied)
        print("ratios compare runs of this same invocation.\n")
        direct.end()
        proxied.end()
    }

    static func pid(inFile path: String) -> pid_t? {
        (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// User and system CPU time of a process so far (utime + stime of /proc/PID/stat), in µs.
    static func cpuMicroseconds(_ pid: pid_t) -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let end = stat.lastIndex(of: ")") else { return nil }
        // Fields after the command name: state is field 3; utime and stime are fields 14 and 15.
        let fields = stat[stat.index(after: end)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) * 1_000_000 / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    private func pgbench(_ arguments: [String], _ environment: [String: String]) throws -> String {
        try ChildProcess("pgbench", ["-n"] + arguments, environment: environment).check().stdout
    }

    static func number(after label: String, in output: String) throws -> Double {
        guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix(label) }),
              let value = Double(line.dropFirst(label.count).prefix { $0.isNumber || $0 == "." }) else {
            throw BenchError("no '\(label)' in pgbench's output:\n\(output)")
        }
        return value
    }

    /// pgbench -l writes a line per transaction: client, transaction, latency in µs, ...
    /// Returns the median and the 99th percentile.
    static func latencies(logPrefix: String) throws -> (p50: Double, p99: Double) {
        let directory = URL(fileURLWithPath: logPrefix).deletingLastPathComponent().path
        let name = URL(fileURLWithPath: logPrefix).lastPathComponent
        var latencies: [Double] = []
        for file in try FileManager.default.contentsOfDirectory(atPath: directory) where file.hasPrefix(name + ".") {
            let text = try String(contentsOfFile: "\(directory)/\(file)", encoding: .utf8)
            for line in text.split(separator: "\n") {
                let fields = line.split(separator: " ")
                if fields.count > 2, let value = Double(fields[2]) { latencies.append(value) }
            }
            try FileManager.default.removeItem(atPath: "\(directory)/\(file)")
        }
        guard !latencies.isEmpty else { throw BenchError("pgbench wrote no transaction log at \(logPrefix)") }
        latencies.sort()
        return (latencies[latencies.count / 2], latencies[min(latencies.count - 1, latencies.count * 99 / 100)])
    }

    /// The ledger's newest record id.
    static func lastRecord(_ path: String) throws -> Int64 {
        try DatabaseQueue(path: path, configuration: readOnly).read { try Int64.fetchOne($0, sql: "SELECT max(id) FROM records") ?? 0 }
    }

    /// How many group commits appended how many records, after a record id: a batch's records
    /// share the timestamp of its commit.
    static func batchSizes(_ path: String, after id: Int64) throws -> [Int: Int] {
        try DatabaseQueue(path: path, configuration: readOnly).read { db in
            var sizes: [Int: Int] = [:]
            let rows = try Row.fetchCursor(db, sql: "SELECT count(*) FROM records WHERE id > ? GROUP BY ts", arguments: [id])
            while let row = try rows.next() { sizes[row[0] as Int, default: 0] += 1 }
            return sizes
        }
    }

    static var readOnly: Configuration {
        var configuration = Configuration()
        configuration.readonly = true
        return configuration
    }
}

/// A session held open by `hoopctl exec ... -- sh -c 'env > file; sleep'`: the settings its
/// command gets, for pgbench runs started from here.
struct OpenSession {
    let pid: pid_t
    let environment: [String: String]

    init(role: String, scratch: TemporaryScratch, environment: [String: String]) throws {
        let file = scratch.file("session-\(role).env")
        pid = try Daemon.spawn(executable: HoopctlPath.path,
                               arguments: ["exec", "sandbox", "--quiet", "--role", role, "--ttl", "2h", "--", "sh", "-c",
                                           "env > '\(file).tmp' && mv '\(file).tmp' '\(file)' && exec sleep 7200"],
                               environment: environment, log: scratch.file("session-\(role).log"))
        let deadline = Date().addingTimeInterval(30)
        while !FileManager.default.fileExists(atPath: file) {
            guard Date() < deadline else { throw BenchError("the \(role) session did not start: \((try? String(contentsOfFile: scratch.file("session-\(role).log"), encoding: .utf8)) ?? "")") }
            usleep(50_000)
        }
        var settings = ExecBench.environment([:])
        for line in try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2, parts[0].hasPrefix("PG") { settings[parts[0]] = parts[1] }
        }
        try? FileManager.default.removeItem(atPath: file)  // it holds the session's secret
        self.environment = settings
    }

    /// Ends the session the way a user does (SIGTERM to hoopctl: it revokes, then exits).
    func end() {
        kill(pid, SIGTERM)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }
}

/// pgbouncer in session mode in front of the direct session's role (the baseline a team would
/// otherwise deploy). Runs as `postgres` when we are root, as pgbouncer refuses root.
struct Bouncer {
    let directory: String
    let environment: [String: String]

    init(upstream: [String: String], scratch: TemporaryScratch) throws {
        directory = scratch.file("pgbouncer")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        guard let port = FreePort.find(), let user = upstream["PGUSER"], let password = upstream["PGPASSWORD"],
              let host = upstream["PGHOST"], let upstreamPort = upstream["PGPORT"] else { throw BenchError("no session settings for pgbouncer") }
        try "\"\(user)\" \"\(password)\"\n".write(toFile: "\(directory)/users.txt", atomically: true, encoding: .utf8)
        try """
            [databases]
            shop = host=\(host) port=\(upstreamPort) dbname=shop
            [pgbouncer]
            listen_addr = 127.0.0.1
            listen_port = \(port)
            unix_socket_dir = \(directory)
            auth_type = scram-sha-256
            auth_file = \(directory)/users.txt
            pool_mode = session
            max_client_conn = 100
            default_pool_size = 20
            logfile = \(directory)/pgbouncer.log
            pidfile = \(directory)/pgbouncer.pid

            """.write(toFile: "\(directory)/pgbouncer.ini", atomically: true, encoding: .utf8)
        var command = ChildProcess("pgbouncer", ["-d", "\(directory)/pgbouncer.ini"])
        if OSUser.isRoot, let owner = OSUser.lookup("postgres") {
            chmod(directory, 0o700)
            for file in [directory, "\(directory)/users.txt", "\(directory)/pgbouncer.ini"] { chown(file, owner.uid, owner.gid) }
            command = ChildProcess("runuser", ["-u", "postgres", "--", "pgbouncer", "-d", "\(directory)/pgbouncer.ini"])
        } else {
            chmod(directory, 0o700)
        }
        _ = try command.check()
        var settings = upstream
        settings["PGHOST"] = directory
        settings["PGPORT"] = String(port)
        environment = settings
        let deadline = Date().addingTimeInterval(10)
        while !FileManager.default.fileExists(atPath: "\(directory)/.s.PGSQL.\(port)") {
            guard Date() < deadline else { throw BenchError("pgbouncer did not start") }
            usleep(50_000)
        }
    }

    func stop() {
        if let text = try? String(contentsOfFile: "\(directory)/pgbouncer.pid", encoding: .utf8),
           let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            kill(pid, SIGTERM)
        }
    }
}
