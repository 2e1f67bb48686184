import Foundation
import HoopCommon
import HoopPostgres
import HoopTestSupport
import XCTest

/// The ways to more privilege a red team found (issue 13), each as the attack it was: what a
/// reviewer approves is exactly what runs, as exactly the role named, and nothing runs with
/// the broker's own privileges.
final class RedTeamPrivilegeTests: XCTestCase {
    var pg: TestPostgres.Instance!
    var broker: SeparateBroker!
    var session: OpenSession!
    var alice: String!

    override func setUpWithError() throws {
        pg = try TestPostgres.shared()
        broker = try SeparateBroker(pg)
        session = try OpenSession(broker, token: try broker.token("user:bob"))
        alice = try broker.token("user:alice")
        try cleanUp()
    }

    override func tearDownWithError() throws {
        session = nil
        broker = nil
        try cleanUp()
    }

    private func cleanUp() throws {
        let admin = try pg.admin()
        // The masking views rebuilt after a reviewed statement read the new table too.
        try admin.execute("DROP TABLE IF EXISTS public.redteam_who CASCADE")
        try admin.execute("DROP INDEX IF EXISTS public.redteam_idx")
        try admin.execute("REVOKE SELECT ON public.customers FROM PUBLIC")
    }

    /// Sends `sql` in bob's session; when it waits for a review, alice approves it and bob
    /// sends it again. What psql said the second time.
    private func approvedAndSentAgain(_ sql: String) throws -> ChildProcess.Result {
        let first = try session.psql(["-c", sql])
        let id = try XCTUnwrap(first.stderr.firstMatch(of: /request ([0-9a-f]{12})/)?.1, first.stderr)
        let approval = try broker.hoopctl(["approve", String(id)], token: alice)
        XCTAssertEqual(approval.status, 0, approval.stderr)
        return try session.psql(["-c", sql])
    }

    // MARK: 1. A reviewed statement runs as exactly its run_as, and alone

    func testAReviewedStatementRunsAsItsRoleOverItsOwnLogin() throws {
        let ran = try approvedAndSentAgain("CREATE TABLE redteam_who AS SELECT current_user::text AS who, session_user::text AS login, "
                                           + "(SELECT rolsuper FROM pg_roles WHERE rolname = session_user) AS super")
        XCTAssertTrue(ran.stderr.contains("ran as shop_owner"), ran.stderr)
        let row = try XCTUnwrap(try pg.admin().execute("""
            SELECT who, login, super::text, pg_get_userbyid(c.relowner) FROM public.redteam_who, pg_class c WHERE c.oid = 'public.redteam_who'::regclass
            """).rows.first)
        XCTAssertEqual(row[0], "shop_owner")
        XCTAssertTrue(row[1]?.hasPrefix("hoop_rv_") == true, "a login made for the run, not the broker's: \(row)")
        XCTAssertEqual(row[2], "false")
        XCTAssertEqual(row[3], "shop_owner", "what it creates belongs to the role it ran as")
        XCTAssertEqual(try pg.admin().execute("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'hoop\\_rv\\_%'").scalar, "0",
                       "the run's login is gone")
        let event = try XCTUnwrap(try broker.events("review.ran-as-owner").last)
        let details = (event["body"] as? [String: Any])?["details"] as? [String: Any]
        XCTAssertEqual(details?["role"] as? String, "shop_owner")
        XCTAssertNotNil(details?["fingerprint"] as? String)
    }

    /// A statement that gives something to the run's own login (SESSION_USER) still leaves no
    /// login behind.
    func testTheRunsLoginIsGoneWhateverTheStatementGaveIt() throws {
        let ran = try approvedAndSentAgain("GRANT SELECT ON public.customers TO SESSION_USER")
        XCTAssertTrue(ran.stderr.contains("ran as shop_owner"), ran.stderr)
        XCTAssertEqual(try pg.admin().execute("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'hoop\\_rv\\_%'").scalar, "0")
        XCTAssertFalse(try broker.hoopctl(["target", "doctor", "sandbox"]).stdout.contains("review-login"))
    }

    /// A reviewed statement still waiting (for a lock) when its session's token is revoked
    /// never runs.
    func testARevokedSessionsReviewedStatementStopsWhereItWaits() throws {
        let sql = "ALTER TABLE orders ADD COLUMN redteam_late int"
        defer { _ = try? pg.admin().execute("ALTER TABLE public.orders DROP COLUMN IF EXISTS redteam_late CASCADE") }
        let first = try session.psql(["-c", sql])
        let request = String(try XCTUnwrap(first.stderr.firstMatch(of: /request ([0-9a-f]{12})/)?.1, first.stderr))
        XCTAssertEqual(try broker.hoopctl(["approve", request], token: alice).status, 0)
        let locker = try pg.admin()
        try locker.execute("BEGIN")
        try locker.execute("LOCK TABLE public.orders IN ACCESS EXCLUSIVE MODE")
        var environment = ProcessInfo.processInfo.environment
        for (key, value) in session.env { environment[key] = value }
        let waiting = try BackgroundProcess("psql", ["-X", "-c", sql], environment: environment)
        defer { waiting.signal(SIGTERM) }
        let application = "hoopctl-review \(session.sessionID)"
        XCTAssertTrue(eventually(timeout: 10) {
            (try? self.pg.admin().execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", [application]).scalar) == "1"
        }, "the reviewed statement waits for the lock")
        let id = try XCTUnwrap(try broker.hoopctl(["token", "list", "--json"]).stdout.split(separator: "\n")
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .last { $0["subject"] as? String == "user:bob" }?["id"] as? String)
        XCTAssertEqual(try broker.hoopctl(["token", "revoke", id]).status, 0)
        XCTAssertTrue(eventually(timeout: 10) {
            (try? self.pg.admin().execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", [application]).scalar) == "0"
        }, "the run is ended with its session")
        try locker.execute("ROLLBACK")
        Thread.sleep(forTimeInterval: 1)
        XCTAssertEqual(try pg.admin().execute("""
            SELECT count(*) FROM information_schema.columns WHERE table_name = 'orders' AND column_name = 'redteam_late'
            """).scalar, "0", "the approved statement did not run after its session ended")
    }

    func testAnApprovedTextOfSeveralStatementsRunsNothing() throws {
        // Both are under review (DDL, DCL): the text as a whole was approved, and runs not at all.
        let ran = try approvedAndSentAgain("CREATE INDEX redteam_idx ON orders (created_at); GRANT SELECT ON public.customers TO PUBLIC")
        XCTAssertTrue(ran.stderr.contains("runs alone"), ran.stderr)
        let admin = try pg.admin()
        XCTAssertEqual(try admin.execute("SELECT count(*) FROM pg_indexes WHERE indexname = 'redteam_idx'").scalar, "0")
        XCTAssertEqual(try admin.execute("SELECT has_table_privilege('public', 'public.customers', 'SELECT')::text").scalar, "false")
    }

    /// A reviewed rename of a masked column would leave its values unmasked under the new
    /// name: the target refuses sessions until the policy masks the new name.
    func testARenamedMaskedColumnStopsSessionsInsteadOfLeakingIt() throws {
        defer {
            _ = try? pg.admin().execute("ALTER TABLE public.customers RENAME COLUMN tax_id TO ssn")
            _ = try? broker.hoopctl(["target", "init", "sandbox"])
        }
        let ran = try approvedAndSentAgain("ALTER TABLE customers RENAME COLUMN ssn TO tax_id")
        XCTAssertTrue(ran.stderr.contains("ran as shop_owner"), ran.stderr)
        let doctor = try broker.hoopctl(["target", "doctor", "sandbox"])
        XCTAssertTrue(doctor.stdout.contains("masked-column"), doctor.stdout)
        let fresh = try broker.hoopctl(["exec", "sandbox", "--quiet", "--", "psql", "-XAtc", "select tax_id from customers limit 1"])
        XCTAssertNotEqual(fresh.status, 0, fresh.stdout)
        XCTAssertTrue(fresh.stderr.contains("finds a way around masking"), fresh.stderr)
    }

    /// An approved function in `public` that matches a built-in's call better (an untyped
    /// literal argument) never runs as the broker's admin: its connections find functions in
    /// pg_catalog alone.
    func testAFunctionPlantedInPublicNeverRunsAsTheBroker() throws {
        let admin = try pg.admin()
        try admin.execute("CREATE TABLE IF NOT EXISTS public.redteam_calls (who text)")
        try admin.execute("ALTER TABLE public.redteam_calls OWNER TO shop_owner")
        try admin.execute("GRANT INSERT ON public.redteam_calls TO PUBLIC")
        defer {
            _ = try? admin.execute("DROP FUNCTION IF EXISTS public.obj_description(oid, text)")
            _ = try? admin.execute("DROP FUNCTION IF EXISTS public.pg_has_role(name, oid, text)")
            _ = try? admin.execute("DROP TABLE IF EXISTS public.redteam_calls CASCADE")
        }
        for function in ["CREATE FUNCTION public.obj_description(o oid, c text) RETURNS text LANGUAGE sql "
                         + "AS $$ INSERT INTO public.redteam_calls SELECT current_user; SELECT NULL::text $$",
                         "CREATE FUNCTION public.pg_has_role(u name, r oid, p text) RETURNS boolean LANGUAGE sql "
                         + "AS $$ INSERT INTO public.redteam_calls SELECT current_user; SELECT true $$"] {
            let ran = try approvedAndSentAgain(function)
            XCTAssertTrue(ran.stderr.contains("ran as shop_owner"), ran.stderr)
        }
        // Target init (after each reviewed statement), sessions and the doctor all call those built-ins.
        let initialised = try broker.hoopctl(["target", "init", "sandbox"])
        XCTAssertEqual(initialised.status, 0, initialised.stderr)
        _ = try broker.hoopctl(["target", "doctor", "sandbox"])
        let callers = try admin.execute("SELECT DISTINCT who FROM public.redteam_calls").rows.compactMap { $0[0] }
        XCTAssertEqual(callers, [], "the planted functions ran as \(callers)")
    }

    /// Statements under review that would change hoopctl's own objects (run as their owner once
    /// approved) are refused outright, and no review runs as one of hoopctl's roles.
    func testHoopctlsOwnObjectsAreNeverReviewed() throws {
        for statement in ["GRANT SELECT ON hoop.hash_key TO PUBLIC", "TRUNCATE hoop.write_limits",
                          "CREATE OR REPLACE VIEW hoop_x.customers AS SELECT 1", "DROP SCHEMA hoop_read_x CASCADE",
                          "ALTER FUNCTION hoop.mask_hash(text) OWNER TO shop_owner", "GRANT shop_owner TO hoop_s_abc"] {
            let result = try session.psql(["-c", statement])
            XCTAssertTrue(result.stderr.contains("hoopctl: denied"), "\(statement): \(result.stderr)")
            XCTAssertFalse(result.stderr.contains("approval required"), statement)
        }
    }

    // MARK: 2. The reviewer sees what will run

    /// Escape sequences in a statement under review, in its reviewer's comment and in a
    /// reason: every command shows them as escapes, never as bytes a terminal acts on.
    func testTextOthersWroteIsShownEscaped() throws {
        let hidden = "CREATE INDEX redteam_idx ON orders (created_at) /*\u{1B}[8m; GRANT SELECT ON customers TO PUBLIC; \u{1B}[0m\u{202E}*/"
        let first = try session.psql(["-c", hidden])
        let id = String(try XCTUnwrap(first.stderr.firstMatch(of: /request ([0-9a-f]{12})/)?.1, first.stderr))
        let denial = try broker.hoopctl(["deny", id, "--reason", "no \u{1B}]8;;http://evil\u{7}link\u{1B}]8;;\u{7} \u{2066}x\u{2069}"], token: alice)
        XCTAssertEqual(denial.status, 0, denial.stderr)
        // A reviewer's comment on an approval, and a session's reason and command.
        let other = try session.psql(["-c", "CREATE INDEX redteam_idx3 ON orders (amount)"])
        let otherID = String(try XCTUnwrap(other.stderr.firstMatch(of: /request ([0-9a-f]{12})/)?.1, other.stderr))
        let approval = try broker.hoopctl(["approve", otherID, "--comment", "ok \u{1B}[1A\u{1B}[2K\u{202E}"], token: alice)
        XCTAssertEqual(approval.status, 0, approval.stderr)
        XCTAssertFalse(Array((approval.stdout + approval.stderr).utf8).contains(0x1B), "approve: \(approval.stdout)")
        let job = try broker.hoopctl(["exec", "sandbox", "--quiet", "--reason", "audit \u{1B}[8m", "--", "sh", "-c",
                                      "psql -XAtc 'select email from customers limit 1' >/dev/null; : '\u{1B}]0;title\u{7}'"], token: try broker.token("user:bob"))
        XCTAssertEqual(job.status, 0, job.stderr)
        for command in [["requests", "show", id], ["requests", "--all"], ["deny", id, "--reason", "again"], ["audit", "--since", "1h"],
                        ["sessions"], ["audit", "trace", "customers", "--by", "job"], ["audit", "trace", "customers", "--by", "session"],
                        ["audit", "report", "--since", "1h"], ["audit", "report", "--since", "1h", "--format", "html"]] {
            let result = try broker.hoopctl(command, token: command[0] == "deny" ? alice : nil)
            let bytes = Array((result.stdout + result.stderr).utf8)
            XCTAssertFalse(bytes.contains(0x1B) || bytes.contains(0x07), "\(command): raw control bytes in \(result.stdout + result.stderr)")
            XCTAssertFalse((result.stdout + result.stderr).unicodeScalars.contains { [0x202E, 0x2066, 0x2069].contains($0.value) }, "\(command)")
        }
        // hoopctl's own colour mark, written by someone else, is shown as an escape too.
        let mark = try session.psql(["-c", "CREATE INDEX redteam_idx2 ON orders (created_at) /*\u{F8F0}[2K\u{F8F0}[1G hidden*/"])
        let markID = String(try XCTUnwrap(mark.stderr.firstMatch(of: /request ([0-9a-f]{12})/)?.1, mark.stderr))
        for command in [["requests", "show", markID], ["requests", "--json"], ["audit", "--since", "1h", "--json"]] {
            let result = try broker.hoopctl(command)
            XCTAssertFalse(Array(result.stdout.utf8).contains(0x1B), "\(command): \(result.stdout)")
            XCTAssertFalse(result.stdout.unicodeScalars.contains { $0.value == 0xF8F0 }, "\(command)")
            if command.contains("--json") {
                for line in result.stdout.split(separator: "\n") {
                    XCTAssertNotNil(try? JSONSerialization.jsonObject(with: Data(line.utf8)), "\(command): not JSON: \(line)")
                }
            }
        }
        let shown = try broker.hoopctl(["requests", "show", id]).stdout
        XCTAssertTrue(shown.contains("\\x1b[8m; GRANT SELECT ON customers TO PUBLIC; \\x1b[0m\\u202e"), shown)
        XCTAssertTrue(shown.contains("\\x1b]8;;http://evil\\x07link"), shown)
        XCTAssertTrue(shown.contains("class ddl"), "the analysis of what would run: \(shown)")
    }

    /// Every character the red team found shown as nothing, or reordering text, is escaped;
    /// what is escaped beyond the basic plane stays valid JSON.
    func testInvisibleCharactersOfEveryScriptAreEscaped() throws {
        let found: [UInt32] = [0x1B, 0x07, 0x7F, 0x85, 0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x180B, 0x180E, 0x180F, 0x200B, 0x200E,
                               0x2028, 0x202E, 0x2066, 0x2069, 0x2D7F, 0x3164, 0xE000, 0xF8F0, 0xFE0F, 0xFEFF, 0xFFA0, 0xFFF9, 0xFFFE,
                               0x110BD, 0x110CD, 0x13430, 0x13438, 0x1BCA0, 0x1BCA3, 0x1D173, 0x1D17A, 0xE0001, 0xE0041, 0xE0100, 0xF0000, 0x10FFFD]
        for value in found {
            let scalar = try XCTUnwrap(Unicode.Scalar(value))
            let text = "a" + String(Character(scalar)) + "b"
            let shown = VisibleText.escaped(text)
            XCTAssertFalse(shown.unicodeScalars.contains(scalar), String(value, radix: 16))
            let json = "{\"x\": \"" + shown.replacingOccurrences(of: "\\x", with: "\\u00") + "\"}"
            let decoded = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: String]
            XCTAssertEqual(decoded?["x"], text, "\(String(value, radix: 16)): JSON reads the escape as the character")
        }
        XCTAssertEqual(VisibleText.escaped("Zoë wrote: naïve café ✓\n\tok"), "Zoë wrote: naïve café ✓\n\tok", "ordinary text is untouched")
    }

    // MARK: 3. The broker's admin is not a superuser

    func testTheBrokersAdminIsNotASuperuserAndTheDoctorSaysSoOfOneThatIs() throws {
        let dsn = try String(contentsOfFile: pg.sandbox.adminDSNFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let broker = try PostgresConnection(conninfo: dsn)
        let me = try XCTUnwrap(try broker.execute("SELECT current_user::text, rolsuper::text, rolcreaterole::text FROM pg_roles WHERE rolname = current_user").rows.first)
        XCTAssertEqual(me, ["hoop_broker", "false", "true"])
        XCTAssertEqual(try self.broker.hoopctl(["target", "doctor", "sandbox"]).stdout.contains("admin-superuser"), false)

        // A second target, on the same database, whose admin DSN logs in as the cluster's superuser.
        let directory = try TemporaryDirectory("superuser-dsn")
        defer { directory.remove() }
        let superuser = ConnectionString.make(["host": pg.state.socketDirectory, "port": String(pg.state.port), "user": pg.state.adminUser,
                                               "dbname": "shop", "password": try String(contentsOfFile: pg.sandbox.passwordFile, encoding: .utf8)])
        try PrivateFile.write(superuser + "\n", to: directory.file("super.dsn"))
        let second = try SeparateBroker(pg) { yaml in
            yaml.replacingOccurrences(of: "targets:\n", with: """
                targets:
                  second:
                    admin_dsn_file: \(directory.file("super.dsn"))
                    database: shop
                    sslmode: disable
                    roles:
                      audit: { tables: ["public.orders"], max_ttl: 1h }

                """)
        }
        XCTAssertFalse(try second.hoopctl(["target", "doctor", "sandbox"]).stdout.contains("admin-superuser"), "the first target's is not")
        let doctor = try second.hoopctl(["target", "doctor", "second"])
        XCTAssertTrue(doctor.stdout.contains("admin-superuser"), doctor.stdout + doctor.stderr)
        XCTAssertTrue(doctor.stdout.contains("GRANT pg_signal_backend TO \"hoop_broker\""), doctor.stdout)
    }

    // MARK: 4. Revoking a token ends what it opened; so does a policy that no longer allows it

    /// A token revoked while its sessions are being made: none of them survives.
    func testATokenRevokedWhileItsSessionsStartLeavesNone() throws {
        let second = try broker.token("user:bob", ttl: "10m")
        let id = try XCTUnwrap(try broker.hoopctl(["token", "list", "--json"]).stdout.split(separator: "\n")
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .last { $0["subject"] as? String == "user:bob" }?["id"] as? String)
        var environment = broker.environment
        environment["HOOPCTL_TOKEN"] = second
        // Sessions asked for every 40 ms, the token revoked in the middle: some are being made then.
        var starting: [BackgroundProcess] = []
        defer { for process in starting { process.signal(SIGTERM) } }
        var revoke: ChildProcess.Result?
        for index in 0..<12 {
            starting.append(try BackgroundProcess(HoopctlBinary.path, ["exec", "sandbox", "--quiet", "--", "sleep", "30"], environment: environment))
            Thread.sleep(forTimeInterval: 0.04)
            if index == 6 { revoke = try broker.hoopctl(["token", "revoke", id]) }
        }
        XCTAssertEqual(revoke?.status, 0, revoke?.stderr ?? "")
        // Only the session the test opened with another token of bob's is left.
        func bobs() -> [String] {
            ((try? broker.hoopctl(["sessions", "--active", "--json"]).stdout) ?? "").split(separator: "\n")
                .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                .filter { $0["identity"] as? String == "user:bob" }.compactMap { $0["id"] as? String }
        }
        XCTAssertTrue(eventually(timeout: 15) { bobs() == [self.session.sessionID] }, "sessions of the revoked token: \(bobs())")
        Thread.sleep(forTimeInterval: 2)
        XCTAssertEqual(bobs(), [session.sessionID], "and none appears later")
    }

    func testAPolicyWithoutTheIdentityEndsItsSessions() throws {
        let client = try session.loggedIn()
        let asked = try broker.hoopctl(["request", "sandbox", "--role", "write", "--reason", "fix an order"], token: try broker.token("user:bob"))
        XCTAssertEqual(asked.status, 0, asked.stderr)
        let request = String(try XCTUnwrap(asked.stdout.firstMatch(of: /[0-9a-f]{12}/)?.0, asked.stdout))
        let role = "hoop_s_" + session.sessionID
        let policy = try String(contentsOfFile: broker.policyPath, encoding: .utf8)
        let edited = policy.replacingOccurrences(of: ", user:bob,", with: ",")
        XCTAssertNotEqual(edited, policy)
        try edited.write(toFile: broker.policyPath, atomically: true, encoding: .utf8)
        let reload = try broker.hoopctl(["policy", "reload"])
        XCTAssertEqual(reload.status, 0, reload.stderr)
        XCTAssertTrue(eventually(timeout: 10) { client.isClosed() }, "the connection is cut")
        XCTAssertTrue(eventually(timeout: 10) { (try? self.pg.sessionRoles().contains(role)) == false }, "the role is dropped")
        let ended = try broker.records(kind: "session").filter { $0["session"] as? String == session.sessionID }
            .compactMap { ($0["body"] as? [String: Any])?["endedBy"] as? String }
        XCTAssertEqual(ended, ["policy-reload"])
        // His pending request is withdrawn: no approval of it waits for a policy that lets him back.
        XCTAssertTrue(try broker.hoopctl(["requests", "show", request]).stdout.contains("withdrawn"))
        XCTAssertNotEqual(try broker.hoopctl(["approve", request], token: alice).status, 0)
    }

    func testRevokingATokenEndsItsSessionsAndWithdrawsItsRequests() throws {
        let client = try session.loggedIn()
        let pending = try session.psql(["-c", "CREATE INDEX redteam_idx ON orders (created_at)"])
        let request = String(try XCTUnwrap(pending.stderr.firstMatch(of: /request ([0-9a-f]{12})/)?.1, pending.stderr))
        let list = try broker.hoopctl(["token", "list", "--json"]).stdout.split(separator: "\n")
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let id = try XCTUnwrap(list.last { $0["subject"] as? String == "user:bob" }?["id"] as? String)
        let role = "hoop_s_" + session.sessionID
        XCTAssertTrue(try pg.sessionRoles().contains(role))

        let started = Date()
        let revoked = try broker.hoopctl(["token", "revoke", id])
        XCTAssertEqual(revoked.status, 0, revoked.stderr)
        XCTAssertTrue(revoked.stdout.contains("1 session ended, 1 request withdrawn"), revoked.stdout)
        XCTAssertTrue(eventually(timeout: 10) { client.isClosed() }, "the connection is cut")
        XCTAssertTrue(eventually(timeout: 10) { (try? self.pg.sessionRoles().contains(role)) == false }, "the role is dropped")
        XCTAssertLessThan(Date().timeIntervalSince(started), 10)
        let shown = try broker.hoopctl(["requests", "show", request]).stdout
        XCTAssertTrue(shown.contains("withdrawn"), shown)
    }
}
