import Foundation
import HoopCommon
import HoopTestSupport
import XCTest

/// The guardrails, enforced by the proxy: the corpus's statements run as a role that could
/// write, and nothing denied or needing review reaches the database.
final class GuardrailProxyTests: XCTestCase {
    var pg: TestPostgres.Instance!
    var broker: SeparateBroker!
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("HoopGuardrailsTests/Corpus/statements.txt")

    override func setUpWithError() throws {
        pg = try TestPostgres.shared()
        broker = try SeparateBroker(pg) { yaml in
            yaml.replacingOccurrences(of: "      write:\n", with: """
                      writer:
                        tables: ["public.*"]
                        privileges: [insert, update, delete]
                        connection_limit: 20
                        max_ttl: 1h
                      write:

                """)
                .replacingOccurrences(of: "- { who: group:analysts, target: sandbox, roles: [write] }",
                                      with: "- { who: group:analysts, target: sandbox, roles: [write, writer] }")
        }
    }

    override func tearDown() { broker = nil }

    /// Rows and a checksum of what the corpus could damage.
    private func state() throws -> String {
        try pg.admin().execute("""
            SELECT (SELECT count(*) || ':' || coalesce(sum(amount), 0) FROM orders) || '/' ||
                   (SELECT count(*) || ':' || md5(string_agg(name || email || coalesce(notes, ''), ',' ORDER BY id)) FROM customers) || '/' ||
                   (SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace)
            """).scalar ?? ""
    }

    func testNothingDeniedOrUnderReviewReachesTheDatabase() throws {
        let directory = try TemporaryDirectory("guardrails")
        defer { directory.remove() }
        var expected: [(file: String, decision: String, sql: String)] = []
        for line in try String(contentsOf: Self.corpus, encoding: .utf8).split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: "|", maxSplits: 2).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 3 else { continue }
            let file = directory.file(String(format: "%03d.%@.sql", expected.count, parts[1] == "allow" ? "allowed" : "refused"))
            let sql = parts[2].replacingOccurrences(of: "\\n", with: "\n")
            try sql.write(toFile: file, atomically: true, encoding: .utf8)
            expected.append((file, parts[1], sql))
        }
        let before = try state()
        // One session; each statement as one simple Query (psql -c), as the text is written. What
        // is allowed runs in a transaction that is rolled back (it may write, and must leave nothing
        // behind); what is not runs bare, so anything that got through would show in the database.
        let script = """
            for f in \(directory.path)/*.allowed.sql; do psql -X -q -c begin -c "$(cat "$f")" -c rollback >/dev/null 2>"$f.err"; done
            for f in \(directory.path)/*.refused.sql; do psql -X -q -c "$(cat "$f")" >/dev/null 2>"$f.err"; done
            true
            """
        let run = try broker.hoopctl(["exec", "sandbox", "--quiet", "--role", "writer", "--ttl", "10m", "--", "sh", "-c", script])
        XCTAssertEqual(run.status, 0, run.stderr)

        var refused = 0, failures: [String] = []
        for item in expected {
            let stderr = (try? String(contentsOfFile: item.file + ".err", encoding: .utf8)) ?? ""
            let byProxy = stderr.contains("hoopctl: denied") || stderr.contains("hoopctl: this statement needs a review")
            if item.decision == "allow" {
                if byProxy { failures.append("refused but allowed: \(item.sql) — \(stderr)") }
            } else {
                if !byProxy { failures.append("\(item.decision) but not refused by the proxy: \(item.sql) — \(stderr)") }
                refused += 1
            }
        }
        XCTAssertTrue(failures.isEmpty, failures.prefix(20).joined(separator: "\n"))
        XCTAssertGreaterThan(refused, 150)
        XCTAssertEqual(try state(), before, "the database is as it was")

        // The ledger has the refusals: decision and the 42501 outcome.
        let audit = try broker.hoopctl(["audit", "--json", "--kind", "statement", "--kind", "result"])
        let records = audit.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let decisions = records.compactMap { ($0["body"] as? [String: Any])?["decision"] as? String }
        XCTAssertTrue(decisions.contains("deny") && decisions.contains("review") && decisions.contains("allow"), "\(Set(decisions))")
        XCTAssertTrue(audit.stdout.contains("42501"))
    }

    func testPreparedStatementsAreJudgedAsWhatTheyPrepare() throws {
        let allowed = try broker.hoopctl(["exec", "sandbox", "--quiet", "--role", "writer", "--", "psql", "-XAtq",
                                          "-c", "prepare ok(int) as select count(*) from orders where id = $1", "-c", "execute ok(1)"])
        XCTAssertEqual(allowed.status, 0, allowed.stderr)
        XCTAssertEqual(allowed.stdout, "1\n")
        let before = try state()
        let wiped = try broker.hoopctl(["exec", "sandbox", "--quiet", "--role", "writer", "--", "psql", "-XAt",
                                        "-c", "prepare wipe as delete from orders", "-c", "execute wipe"])
        XCTAssertNotEqual(wiped.status, 0)
        XCTAssertTrue(wiped.stderr.contains("needs a review"), wiped.stderr)
        // The extended protocol: a refused Parse prepares a statement that fails when executed.
        let script = """
            import psycopg
            conn = psycopg.connect("", autocommit=True)
            for sql in ["delete from orders", "select pg_read_file('/etc/passwd')"]:
                try:
                    conn.execute(sql)
                    raise SystemExit("ran: " + sql)
                except psycopg.errors.InsufficientPrivilege as error:
                    assert "hoopctl:" in str(error), error
            assert conn.execute("select count(*) from orders where id = %s", (1,), prepare=True).fetchone()[0] == 1
            print("extended ok")
            """
        let extended = try broker.hoopctl(["exec", "sandbox", "--quiet", "--role", "writer", "--", "python3", "-c", script])
        XCTAssertEqual(extended.status, 0, extended.stderr + extended.stdout)
        XCTAssertTrue(extended.stdout.contains("extended ok"))
        XCTAssertEqual(try state(), before)
    }

    /// max_rows_per_write (1000 in the demo policy) is the database's to enforce: an UPDATE or
    /// DELETE of a session role changing more rows fails and is rolled back, whatever the
    /// protocol; smaller writes and other writers are not affected.
    func testAWriteOfMoreRowsThanTheLimitIsRolledBack() throws {
        let before = try state()
        let total = Int(try pg.admin().execute("SELECT count(*) FROM orders").scalar ?? "") ?? 0
        XCTAssertGreaterThan(total, 1000)
        func writer(_ sql: String) throws -> ChildProcess.Result {
            try broker.hoopctl(["exec", "sandbox", "--role", "writer", "--", "psql", "-X", "-v", "ON_ERROR_STOP=1", "-c", sql])
        }
        let big = try writer("update orders set amount = amount + 1 where id > 0")
        XCTAssertNotEqual(big.status, 0)
        XCTAssertTrue(big.stderr.contains("this UPDATE changed \(total) rows of orders, more than max_rows_per_write (1000): it was rolled back"), big.stderr)
        let delete = try writer("delete from orders where id > 0")
        XCTAssertTrue(delete.stderr.contains("this DELETE changed \(total) rows of orders"), delete.stderr)
        let small = try writer("begin; update orders set amount = amount where id <= 10; rollback")
        XCTAssertEqual(small.status, 0, small.stderr)
        XCTAssertTrue(small.stdout.contains("UPDATE 10"), small.stdout)
        XCTAssertEqual(try state(), before)
        // A session cannot read or raise its own limit.
        for sql in ["select * from hoop.write_limits", "update hoop.write_limits set max_rows = 1000000 where role = current_user"] {
            let tamper = try writer(sql)
            // The proxy refuses hoopctl's own schema first; the database would refuse it too.
            XCTAssertTrue(tamper.stderr.contains("hoopctl: denied") && tamper.stderr.contains("by class admin"),
                          sql + ": " + tamper.stderr)
        }
        // The limit is the session roles': the owner's own writes are not counted.
        let admin = try pg.admin()
        try admin.execute("BEGIN")
        XCTAssertEqual(try admin.execute("UPDATE orders SET amount = amount WHERE id > 0").affectedRows, total)
        try admin.execute("ROLLBACK")
    }
}
