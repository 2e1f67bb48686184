import Foundation
import HoopCommon
import HoopPolicy
import HoopPostgres
import HoopProvisioning
import HoopSandbox

/// Issue 3's figures: what `hoopctl exec` costs on a 200-table schema with 50 masked columns,
/// next to a plain `psql -c 'select 1'` in the same run; and its provisioning and revocation
/// steps on their own.
struct ExecBench {
    let scratch: TemporaryScratch
    static let runs = 31

    func run() throws {
        print("== exec ==")
        let home = scratch.file("exec-home")
        let environment = ["HOOPCTL_HOME": home]
        func hoopctl(_ arguments: [String]) throws -> ChildProcess.Result {
            try ChildProcess(HoopctlPath.path, arguments, environment: Self.environment(environment)).check()
        }
        _ = try hoopctl(["sandbox", "up"])
        defer { _ = try? hoopctl(["sandbox", "down", "--purge"]) }
        let sandbox = Sandbox(home: StateDirectory(url: URL(fileURLWithPath: home)))
        guard let state = try sandbox.loadState() else { throw BenchError("no sandbox state") }
        let admin = try sandbox.connect(state)

        // 200 tables of 6 columns, 50 of which have a masked column, in scope of the read role.
        // Owned by the application's role, as an application's tables are (the broker acts as it).
        var ddl = "CREATE SCHEMA bench AUTHORIZATION shop_owner; SET ROLE shop_owner;"
        for table in 1...200 {
            ddl += "CREATE TABLE bench.t\(table) (id int PRIMARY KEY, name text, email text, amount numeric, note text, created_at timestamptz);"
        }
        try admin.executeScript(ddl + "RESET ROLE;")
        var policy = try String(contentsOfFile: sandbox.policyFile, encoding: .utf8)
        policy = policy.replacingOccurrences(of: "tables: [\"public.*\"]", with: "tables: [\"public.*\", \"bench.*\"]")
        let masks = (1...50).map { "      bench.t\($0 * 4).email: email" }.joined(separator: "\n")
        policy = policy.replacingOccurrences(of: "    masking:\n", with: "    masking:\n\(masks)\n")
        try policy.write(toFile: sandbox.policyFile, atomically: true, encoding: .utf8)
        _ = try hoopctl(["policy", "reload"])
        let initSeconds = try Clock.seconds { _ = try hoopctl(["target", "init", "sandbox"]) }
        let views = try admin.execute("SELECT count(*) FROM pg_views WHERE schemaname LIKE 'hoop\\_read\\_%'").scalar ?? "?"
        print("target init built \(views) views for role read in \(format(initSeconds * 1000)) ms")

        var psqlEnvironment = Self.environment([:])
        for (key, value) in sandbox.environment(state) { psqlEnvironment[key] = value }
        let psql = ChildProcess("psql", ["-X", "-c", "select 1"], environment: psqlEnvironment)
        let execTrue = ChildProcess(HoopctlPath.path, ["exec", "sandbox", "--quiet", "--", "true"], environment: Self.environment(environment))
        let execPsql = ChildProcess(HoopctlPath.path, ["exec", "sandbox", "--quiet", "--", "psql", "-X", "-c", "select 1"],
                                    environment: Self.environment(environment))
        for command in [psql, execTrue, execPsql] { _ = try Clock.medianMilliseconds(runs: 3, command) }
        let plain = try Clock.medianMilliseconds(runs: Self.runs, psql)
        let exec = try Clock.medianMilliseconds(runs: Self.runs, execTrue)
        let execWithPsql = try Clock.medianMilliseconds(runs: Self.runs, execPsql)

        // The broker's two database steps, timed alone on the same database.
        let target = try PolicyLoader.load(path: sandbox.policyFile).get().targets["sandbox"]!
        let current = try MaskingInstaller.currentSchemas(admin, target: target).schemas
        guard let schema = current["read"] ?? nil else { throw BenchError("no masking views for role read") }
        var create: [Double] = [], revoke: [Double] = []
        for run in 0..<Self.runs {
            let spec = SessionRoles.Specification(roleName: "hoop_s_bench\(run)", password: "bench-password-\(run)",
                                                  validUntil: Date().addingTimeInterval(600), readerRole: schema.reader,
                                                  schemas: schema.schemas, connectionLimit: 5, statementTimeout: 30,
                                                  idleInTransactionTimeout: 300, comment: "bench")
            create.append(try Clock.seconds { try SessionRoles.create(admin, spec) } * 1000)
            revoke.append(try Clock.seconds { _ = try SessionRoles.revoke(admin, roleName: spec.roleName) } * 1000)
        }
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

        var report = Report(header: ["measure (median of \(Self.runs), ms)", "value", "psql -c 'select 1'", "added", "goal"])
        report.add("hoopctl exec sandbox -- true", format(exec, decimals: 1), format(plain, decimals: 1),
                   format(exec - plain, decimals: 1), "-")
        report.add("hoopctl exec sandbox -- psql -c 'select 1'", format(execWithPsql, decimals: 1), format(plain, decimals: 1),
                   format(execWithPsql - plain, decimals: 1), "≤ 60")
        report.add("  provisioning: create the session role", format(median(create), decimals: 2), "", "", "")
        report.add("  revocation: terminate, drop owned, drop role", format(median(revoke), decimals: 2), "", "", "")
        report.print()
        print("added = hoopctl's median minus the plain psql median, both measured in this run.\n")
    }

    /// Our environment without anything that would point psql or hoopctl elsewhere.
    static func environment(_ extra: [String: String]) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        for key in ["HOOPCTL_HOME", "HOOPCTL_POLICY", "HOOPCTL_LEDGER", "HOOPCTL_BROKER", "PGHOST", "PGPORT", "PGUSER",
                    "PGDATABASE", "PGPASSWORD", "PGPASSFILE", "PGSERVICE"] {
            environment[key] = nil
        }
        for (key, value) in extra { environment[key] = value }
        return environment
    }
}
