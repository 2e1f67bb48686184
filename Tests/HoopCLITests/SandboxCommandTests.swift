import Foundation
import HoopCommon
import HoopTestSupport
import XCTest

/// `hoopctl sandbox` end to end, as the README's tour runs it: a real cluster, psql, sqlite3.
final class SandboxCommandTests: XCTestCase {
    var home: TemporaryDirectory!
    var environment: [String: String] { ["HOOPCTL_HOME": home.path, "HOOPCTL_POLICY": "", "HOOPCTL_LEDGER": ""] }

    override func setUpWithError() throws { home = try TemporaryDirectory("sandbox") }

    override func tearDownWithError() throws {
        let down = try HoopctlBinary.run(["sandbox", "down", "--purge"], environment: environment)
        XCTAssertEqual(down.status, 0, down.stderr)
        home.remove()
    }

    private func hoopctl(_ arguments: String..., status expected: Int32 = 0, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let result = try HoopctlBinary.run(arguments, environment: environment)
        XCTAssertEqual(result.status, expected, "hoopctl \(arguments.joined(separator: " ")): \(result.stderr)\(result.stdout)", file: file, line: line)
        return result.stdout
    }

    /// The shell line of the acceptance: `eval "$(hoopctl sandbox env)" && psql -Atc ...`.
    private func shell(_ script: String) throws -> ChildProcess.Result {
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        env["PATH"] = URL(fileURLWithPath: HoopctlBinary.path).deletingLastPathComponent().path + ":" + (env["PATH"] ?? "/usr/bin:/bin")
        for key in ["PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGPASSWORD", "PGPASSFILE", "PGSERVICE"] { env[key] = nil }
        return try ChildProcess("/bin/sh", ["-c", script], environment: env).run()
    }

    func testUpEnvPolicyAuditAndTamperingEndToEnd() throws {
        let first = try hoopctl("sandbox", "up")
        XCTAssertTrue(first.contains("created PostgreSQL"), first)
        XCTAssertTrue(first.contains("created database shop with 1000 customers"), first)
        XCTAssertTrue(first.contains("wrote the demo policy"), first)

        let again = try hoopctl("sandbox", "up")
        XCTAssertTrue(again.contains("PostgreSQL already running on 127.0.0.1:"), again)
        XCTAssertTrue(again.contains("database shop already has 1000 customers"), again)
        XCTAssertTrue(again.contains("kept the policy"), again)
        XCTAssertFalse(again.contains("created"), "up is idempotent: \(again)")

        let status = try JSONSerialization.jsonObject(with: Data(try hoopctl("sandbox", "status", "--json").utf8)) as? [String: Any]
        XCTAssertEqual(status?["running"] as? Bool, true)
        XCTAssertEqual(status?["database"] as? String, "shop")

        let env = try hoopctl("sandbox", "env")
        XCTAssertTrue(env.contains("export PGPASSFILE="), env)
        let password = try String(contentsOfFile: home.file("sandbox/admin.password"), encoding: .utf8)
        XCTAssertFalse(env.contains(password.trimmingCharacters(in: .whitespacesAndNewlines)), "the password is never printed")

        let count = try shell(#"eval "$(hoopctl sandbox env)" && psql -Atc 'select count(*) from customers'"#)
        XCTAssertEqual(count.status, 0, count.stderr)
        XCTAssertGreaterThanOrEqual(Int(count.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0, 1000)

        let check = try shell(#"eval "$(hoopctl sandbox env)" && hoopctl policy check"#)
        XCTAssertEqual(check.status, 0, check.stdout)
        XCTAssertTrue(check.stdout.hasSuffix("policy.yaml: valid: 1 target, 2 roles, 3 groups, 3 access rules, 4 masked columns, 8 detectors\n"), check.stdout)

        let audit = try hoopctl("audit", "--kind", "event")
        XCTAssertTrue(audit.contains("sandbox.up"), audit)
        let verified = try hoopctl("audit", "verify")
        XCTAssertTrue(verified.hasPrefix("ok: verified "), verified)

        // A hand edit with sqlite3, the way someone covering their tracks would do it.
        let ledger = home.file("ledger.sqlite")
        let edit = try ChildProcess("sqlite3", [ledger, """
            DROP TRIGGER records_append_only_update;
            UPDATE records SET body = replace(body, 'sandbox running', 'nothing happened')
            WHERE id = (SELECT max(id) FROM records WHERE body LIKE '%sandbox running%');
            """]).run()
        XCTAssertEqual(edit.status, 0, edit.stderr)
        let edited = try XCTUnwrap(Int(try ChildProcess("sqlite3", [ledger, "SELECT max(id) FROM records WHERE body LIKE '%nothing happened%'"])
            .check().stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        let verify = try hoopctl("audit", "verify", status: 3)
        XCTAssertTrue(verify.contains("record #\(edited) does not match its hash: it was edited"), verify)
        let json = try hoopctl("audit", "verify", "--json", status: 3)
        let report = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        XCTAssertEqual(report?["first_bad_record"] as? Int, edited)
        XCTAssertEqual(report?["ok"] as? Bool, false)
    }

    func testEnvWithoutASandboxSaysWhatToDo() throws {
        let result = try HoopctlBinary.run(["sandbox", "env"], environment: environment)
        XCTAssertEqual(result.status, 1)
        XCTAssertEqual(result.stderr, "hoopctl: error: no sandbox in \(home.path); run 'hoopctl sandbox up'\n")
    }
}
