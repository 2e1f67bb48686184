import Foundation
import HoopCommon
import HoopTestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

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

    /// Runs `command` as another OS user (root plays the others).
    private func run(as user: String, _ command: [String]) throws -> ChildProcess.Result {
        try ChildProcess("/usr/sbin/runuser", ["-u", user, "--"] + command).run()
    }

    private func sandboxState(_ home: String) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(home)/sandbox/sandbox.json"))) as? [String: Any])
    }

    private func owner(_ path: String) -> (uid: UInt32, mode: UInt32)? {
        var status = stat()
        guard lstat(path, &status) == 0 else { return nil }
        return (status.st_uid, UInt32(status.st_mode & 0o7777))
    }

    /// As root the cluster belongs to the postgres user: links it plants in the cluster's
    /// directories (the socket directory, the settings file) lead root nowhere.
    func testRootFollowsNoLinkThePostgresUserPlants() throws {
        guard OSUser.isRoot else { throw XCTSkip("the attack is on the sandbox of root: run the tests as root (make test does)") }
        _ = try hoopctl("sandbox", "up")
        _ = try hoopctl("sandbox", "down")
        let cluster = try XCTUnwrap(try sandboxState(home.path)["clusterDirectory"] as? String)
        let victim = try TemporaryDirectory("root-only")
        defer { victim.remove() }
        chmod(victim.path, 0o700)
        try "root's own\n".write(toFile: victim.file("secret"), atomically: true, encoding: .utf8)
        chmod(victim.file("secret"), 0o600)
        let planted = try run(as: "postgres", ["/bin/sh", "-c", "rm -rf '\(cluster)/run' && ln -s '\(victim.path)' '\(cluster)/run'"
                                             + " && rm -f '\(cluster)/data/hoopctl.conf' && ln -s '\(victim.file("secret"))' '\(cluster)/data/hoopctl.conf'"])
        XCTAssertTrue(planted.succeeded, planted.stderr)
        defer { _ = try? run(as: "postgres", ["/bin/rm", "-f", "\(cluster)/run"]) }
        _ = try HoopctlBinary.run(["sandbox", "up"], environment: environment)  // fails: the server cannot use root's directory
        XCTAssertEqual(owner(victim.path)?.uid, 0, "root's directory is still root's")
        XCTAssertEqual(owner(victim.path)?.mode, 0o700)
        XCTAssertEqual(owner(victim.file("secret"))?.uid, 0)
        XCTAssertEqual(try String(contentsOfFile: victim.file("secret"), encoding: .utf8), "root's own\n", "root wrote nothing through a link")
    }

    /// `down --purge` as root while the postgres user swaps directories in the cluster for
    /// links to a root directory: nothing of root's is deleted.
    func testPurgeDeletesNothingThroughTheLinksOfTheClustersOwner() throws {
        guard OSUser.isRoot else { throw XCTSkip("the attack is on the sandbox of root: run the tests as root (make test does)") }
        _ = try hoopctl("sandbox", "up")
        let cluster = try XCTUnwrap(try sandboxState(home.path)["clusterDirectory"] as? String)
        let victim = try TemporaryDirectory("root-files")
        defer { victim.remove() }
        chmod(victim.path, 0o755)
        for index in 0..<200 { try "keep\n".write(toFile: victim.file("f\(index)"), atomically: false, encoding: .utf8) }
        let swapper = try BackgroundProcess("/usr/sbin/runuser", ["-u", "postgres", "--", "python3", "-c", """
            import os, sys, ctypes, time
            cl, victim = sys.argv[1], sys.argv[2]
            libc = ctypes.CDLL(None, use_errno=True)
            for k in range(100):
                os.makedirs(f'{cl}/d{k}', exist_ok=True)
                for i in range(100): open(f'{cl}/d{k}/x{i}', 'w').close()
                if not os.path.lexists(f'{cl}/l{k}'): os.symlink(victim, f'{cl}/l{k}')
            end = time.time() + 8
            while time.time() < end:
                for k in range(100): libc.renameat2(-100, f'{cl}/d{k}'.encode(), -100, f'{cl}/l{k}'.encode(), 2)
            """, cluster, victim.path])
        defer { swapper.signal(SIGTERM) }
        Thread.sleep(forTimeInterval: 2)
        _ = try HoopctlBinary.run(["sandbox", "down", "--purge"], environment: environment)
        swapper.wait(timeout: 10)
        let left = try FileManager.default.contentsOfDirectory(atPath: victim.path).count
        XCTAssertEqual(left, 200, "root deleted \(200 - left) of its own files through the postgres user's links")
    }

    /// A user whose home is too long for a socket path gets a socket directory no one can
    /// guess, and never uses one someone else made under its name.
    func testTheSocketDirectoryOfALongHomeIsNobodyElses() throws {
        guard OSUser.isRoot else { throw XCTSkip("needs two OS users besides root: run the tests as root (make test does)") }
        let base = try TemporaryDirectory("long-home")
        defer { base.remove() }
        chmod(base.path, 0o755)
        // Long enough that "<home>/sandbox/cluster/run" cannot hold a socket; short enough for the broker's.
        let longHome = base.path + "/" + String(repeating: "h", count: max(1, 66 - base.path.utf8.count))
        XCTAssertTrue(try run(as: "nobody", ["/bin/true"]).succeeded)
        chown(base.path, 65534, 65534)
        let environment = ["env", "HOOPCTL_HOME=\(longHome)", "HOOPCTL_POLICY=", "HOOPCTL_LEDGER=", "HOOPCTL_BROKER=", "PATH=/usr/bin:/bin"]
        defer { _ = try? run(as: "nobody", environment + [HoopctlBinary.path, "sandbox", "down", "--purge"]) }
        let up = try run(as: "nobody", environment + [HoopctlBinary.path, "sandbox", "up"])
        XCTAssertTrue(up.succeeded, up.stderr + up.stdout)
        let first = try XCTUnwrap(try sandboxState(longHome)["socketDirectory"] as? String)
        XCTAssertFalse(first.hasSuffix("hoopctl-65534-" + String(first.suffix(12))), "not a name anyone could guess: \(first)")
        XCTAssertEqual(owner(first)?.uid, 65534)
        XCTAssertEqual(owner(first)?.mode, 0o700)
        XCTAssertTrue(try run(as: "nobody", environment + [HoopctlBinary.path, "sandbox", "down"]).succeeded)

        // The directory is gone (a reboot cleaned /tmp), and another user made one of that name.
        try FileManager.default.removeItem(atPath: first)
        XCTAssertTrue(try run(as: "daemon", ["/bin/mkdir", "-m", "777", first]).succeeded)
        defer { try? FileManager.default.removeItem(atPath: first) }
        let refused = try run(as: "nobody", environment + [HoopctlBinary.path, "sandbox", "env"])
        XCTAssertNotEqual(refused.status, 0, "env points psql at nothing someone else made")
        XCTAssertTrue(refused.stderr.contains("someone else made it"), refused.stderr)
        let again = try run(as: "nobody", environment + [HoopctlBinary.path, "sandbox", "up"])
        XCTAssertTrue(again.succeeded, again.stderr + again.stdout)
        let second = try XCTUnwrap(try sandboxState(longHome)["socketDirectory"] as? String)
        XCTAssertNotEqual(second, first, "a new directory of its own")
        XCTAssertEqual(owner(second)?.uid, 65534)
        let env = try run(as: "nobody", environment + [HoopctlBinary.path, "sandbox", "env"])
        XCTAssertTrue(env.stdout.contains("PGHOST='\(second)'"), env.stdout + env.stderr)
    }

    func testEnvWithoutASandboxSaysWhatToDo() throws {
        let result = try HoopctlBinary.run(["sandbox", "env"], environment: environment)
        XCTAssertEqual(result.status, 1)
        XCTAssertEqual(result.stderr, "hoopctl: error: no sandbox in \(home.path); run 'hoopctl sandbox up'\n")
    }
}
