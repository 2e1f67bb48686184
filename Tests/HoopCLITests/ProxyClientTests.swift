import Foundation
import HoopCommon
import HoopTestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Real clients through the guard proxy: psql, pgbench in its three modes, psycopg 3, pg_dump.
/// A broker of the test's own, whose policy adds a `loader` role that may also insert.
/// Session roles see views (by unqualified name); COPY FROM names the base table, on which
/// an inserting role holds INSERT alone when the table has no masked column.
final class ProxyClientTests: XCTestCase {
    var pg: TestPostgres.Instance!
    var broker: SeparateBroker!
    static let clients = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Clients")

    override func setUpWithError() throws {
        pg = try TestPostgres.shared()
        try pg.createLoadTestTable()
        broker = try SeparateBroker(pg) { yaml in
            yaml.replacingOccurrences(of: "      write:\n", with: """
                      loader:
                        tables: ["public.*", "loadtest.*"]
                        privileges: [insert]
                        connection_limit: 20
                        max_ttl: 1h
                      write:

                """)
                .replacingOccurrences(of: "connection_limit: 5", with: "connection_limit: 20")
                .replacingOccurrences(of: "- { who: group:analysts, target: sandbox, roles: [write] }",
                                      with: "- { who: group:analysts, target: sandbox, roles: [write, loader] }")
        }
    }

    override func tearDown() { broker = nil }

    private func exec(_ arguments: [String], role: String = "read") throws -> ChildProcess.Result {
        try broker.hoopctl(["exec", "sandbox", "--quiet", "--role", role, "--"] + arguments)
    }

    /// The statement records of the ledger, newest last.
    private func statements() throws -> [[String: Any]] {
        let audit = try broker.hoopctl(["audit", "--json", "--kind", "statement"])
        return audit.stdout.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["body"] as? [String: Any]
        }
    }

    func testPsqlScriptedWithCopyAndSeveralStatements() throws {
        let directory = try TemporaryDirectory("psql")
        defer { directory.remove() }
        let marker = "from file \(UUID().uuidString)"
        try (1...50).map { "\($0)\t\(marker)" }.joined(separator: "\n").write(toFile: directory.file("in.tsv"), atomically: true, encoding: .utf8)
        let script = """
            \\set ON_ERROR_STOP 1
            \\copy loadtest.load_test (v, note) from '\(directory.file("in.tsv"))'
            \\copy (select id, email from customers order by id limit 3) to '\(directory.file("out.tsv"))'
            select count(*) from load_test where note = '\(marker)';
            """
        try script.write(toFile: directory.file("script.sql"), atomically: true, encoding: .utf8)
        let result = try exec(["psql", "-X", "-At", "-f", directory.file("script.sql")], role: "loader")
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdout.split(separator: "\n").last, "50", result.stdout)
        let copied = try String(contentsOfFile: directory.file("out.tsv"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(copied.count, 3)
        XCTAssertTrue(copied.allSatisfy { $0.contains("***@") }, "\(copied)")

        let multi = try exec(["psql", "-X", "-At", "-c", "select 1; select 'two'; select count(*) from customers"])
        XCTAssertEqual(multi.status, 0, multi.stderr)
        XCTAssertEqual(multi.stdout, "1\ntwo\n1000\n")
        let recorded = try statements().compactMap { $0["sql"] as? String }
        XCTAssertTrue(recorded.contains("select $1"), "\(recorded.suffix(5))")
        XCTAssertTrue(recorded.contains("select count(*) from customers"))
        XCTAssertTrue(recorded.contains { $0.hasPrefix("COPY loadtest.load_test") || $0.hasPrefix("COPY  loadtest") || $0.contains("load_test") })
        XCTAssertFalse(recorded.contains { $0.contains("'two'") || $0.contains(marker) }, "no literals in the ledger")
    }

    /// An inserting role holds INSERT alone on base tables without masked columns (COPY FROM
    /// needs a table), USAGE on their serial sequences, and reads only through views.
    func testAnInsertingRoleHoldsTheLeastThatWorks() throws {
        let reader = try exec(["psql", "-XAtc", "select g.rolname from pg_auth_members m join pg_roles g on g.oid = m.roleid join pg_roles r on r.oid = m.member where r.rolname = current_user"],
                              role: "loader").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(reader.hasPrefix("hoop_r_loader_"), reader)
        let admin = try pg.admin()
        let base = try admin.execute("""
            select table_schema || '.' || table_name || ':' || privilege_type from information_schema.role_table_grants
            where grantee = $1 and table_schema not like 'hoop%' order by 1
            """, [reader]).rows.compactMap { $0[0] }.filter { !$0.contains("pgbench_") }
        XCTAssertEqual(base, ["loadtest.load_test:INSERT"], "customers is masked and orders points at it: views only")
        let sequences = try admin.execute("""
            select object_schema || '.' || object_name || ':' || privilege_type from information_schema.role_usage_grants
            where grantee = $1 order by 1
            """, [reader]).rows.compactMap { $0[0] }
        XCTAssertEqual(sequences, ["loadtest.load_test_id_seq:USAGE"])
        for statement in ["select * from loadtest.load_test", "select currval('loadtest.load_test_id_seq')",
                          "update loadtest.load_test set v = 1 where id = 1", "copy loadtest.load_test to stdout",
                          "insert into loadtest.load_test (v) values (1) returning *"] {
            let denied = try exec(["psql", "-X", "-c", statement], role: "loader")
            XCTAssertNotEqual(denied.status, 0, statement)
            XCTAssertTrue(denied.stderr.contains("permission denied") || denied.stderr.contains("not yet defined"), "\(statement): \(denied.stderr)")
        }
    }

    func testPgbenchInEveryMode() throws {
        let admin = try pg.admin()
        if try admin.execute("SELECT to_regclass('public.pgbench_accounts') IS NULL").scalar == "t" {
            var env = ProcessInfo.processInfo.environment
            for (key, value) in pg.sandbox.environment(pg.state) { env[key] = value }
            let initialized = try ChildProcess("pgbench", ["-i", "-q", "-s", "1"], environment: env).run()
            XCTAssertEqual(initialized.status, 0, initialized.stderr)
            // An application's tables belong to its owner role, which the broker administers them as.
            try pg.handToApplicationOwner(["pgbench_accounts", "pgbench_branches", "pgbench_history", "pgbench_tellers"])
            // New tables in the read role's scope: views for them.
            let initialised = try broker.hoopctl(["target", "init", "sandbox"])
            XCTAssertEqual(initialised.status, 0, initialised.stderr)
        }
        for mode in ["simple", "extended", "prepared"] {
            let before = try statements().count
            let result = try exec(["pgbench", "-n", "-S", "-M", mode, "-c", "2", "-j", "1", "-t", "50"])
            XCTAssertEqual(result.status, 0, "\(mode): \(result.stderr)")
            XCTAssertTrue(result.stdout.contains("number of transactions actually processed: 100/100"), result.stdout)
            let recorded = try statements().dropFirst(before)
            let selects = recorded.filter { ($0["sql"] as? String)?.contains("pgbench_accounts") == true && $0["via"] as? String != "parse" }
            XCTAssertEqual(selects.count, 100, "a record per executed statement in \(mode) mode")
            XCTAssertEqual(Set(selects.compactMap { $0["via"] as? String }), [mode == "simple" ? "query" : "execute"])
            // Prepared mode parses once per client, in a read of its own; extended mode's Parse
            // comes with its Execute, whose record stands for it.
            let parses = recorded.filter { ($0["sql"] as? String)?.contains("pgbench_accounts") == true && $0["via"] as? String == "parse" }
            XCTAssertEqual(parses.count, mode == "prepared" ? 2 : 0, "\(mode)")
        }
    }

    func testPsycopg3() throws {
        let result = try exec(["python3", Self.clients.appendingPathComponent("psycopg_client.py").path], role: "loader")
        XCTAssertEqual(result.status, 0, result.stderr + result.stdout)
        XCTAssertTrue(result.stdout.contains("psycopg ok"), result.stdout)
    }

    func testPgDumpOfTheMaskedSchema() throws {
        let schema = try XCTUnwrap(try exec(["psql", "-XAtc", "select current_setting('search_path')"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines).nilIfEmpty)
        let dump = try exec(["pg_dump", "--schema-only", "--no-owner", "--schema", schema])
        XCTAssertEqual(dump.status, 0, dump.stderr)
        XCTAssertTrue(dump.stdout.contains("CREATE VIEW \(schema).customers"), dump.stdout)
        XCTAssertTrue(dump.stdout.contains("'***'") && dump.stdout.contains("hoop.hash_key"), "the masking is in the definition")
    }

    func testLargeResultsStreamThroughASlowClientWithoutBuffering() throws {
        let pid = pid_t(try String(contentsOfFile: "/proc/\(broker.process.pid)/stat", encoding: .utf8).split(separator: " ")[0])!
        func peak() throws -> Int {
            let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
            let line = try XCTUnwrap(status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") })
            return Int(line.split(separator: " ")[1])! // kB
        }
        let before = try peak()
        // 200 MB of rows to a reader that only starts after 3 s: TCP fills, the proxy stops reading.
        let result = try exec(["sh", "-c", "psql -XAtc \"copy (select repeat('x', 1000) from generate_series(1, 200000)) to stdout\" | (sleep 3; wc -c)"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines), String(200_000 * 1001))
        let grown = try peak() - before
        XCTAssertLessThan(grown, 64 * 1024, "the broker's peak memory grew by \(grown) kB for 200 MB of rows")
    }

    func testADirectRoleSkipsTheProxyAndSaysSo() throws {
        let direct = try SeparateBroker(pg) { $0.replacingOccurrences(of: "direct: false", with: "direct: true") }
        let result = try direct.hoopctl(["exec", "sandbox", "--quiet", "--", "sh", "-c", "echo $PGUSER"])
        XCTAssertTrue(result.stdout.hasPrefix("hoop_s_"), "the database role itself: \(result.stdout)")
        let audit = try direct.hoopctl(["audit", "--kind", "event"])
        XCTAssertTrue(audit.stdout.contains("session.direct"), audit.stdout)
    }
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}
