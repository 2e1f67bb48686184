import Foundation
import HoopCommon
import HoopTestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Red team, approvals and identities: each test is an attack that got through once (issue 15),
/// played as a requester, an admin, an AI agent or a second broker. The test's own OS user is
/// the demo policy's admin; tokens play the other people. A broker of the test's own, with a
/// policy that adds a second admin (`ops`), a reviewing service, a role needing both dba and
/// security, a role whose approvals last a minute, and a webhook.
final class RedTeamIdentityTests: XCTestCase {
    var pg: TestPostgres.Instance!
    var broker: SeparateBroker!
    var hook: BackgroundProcess!
    var hookFile: String { broker.directory.file("webhook.jsonl") }
    var bob = "", alice = "", carol = "", dave = ""

    static let listener = """
        import http.server, sys
        class Hook(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers['Content-Length']))
                with open(sys.argv[1], 'ab') as out: out.write(body + b'\\n')
                self.send_response(200); self.end_headers()
            def log_message(self, *args): pass
        http.server.HTTPServer(('127.0.0.1', int(sys.argv[2])), Hook).serve_forever()
        """

    static func policy(_ yaml: String, webhookPort: UInt16) -> String {
        let roles = """
                  guarded:
                    tables: ["public.orders"]
                    max_ttl: 1h
                    approval: { from: [group:dba, group:security], count: 1, every_group: true }
                  brief:
                    tables: ["public.orders"]
                    max_ttl: 1h
                    approval: { from: [group:dba], approval_ttl: 1m, request_ttl: 10m, max_session: 20m }
                  write:
            """
        let me = OSUser.name(of: getuid())
        return yaml.replacingOccurrences(of: "      write:\n", with: roles + "\n")
            .replacingOccurrences(of: "admins: [user:\(me)]", with: "admins: [user:\(me), user:ops]")
            .replacingOccurrences(of: "dba: [user:alice, user:carol]", with: "dba: [user:alice, user:carol, service:review-bot]")
            .replacingOccurrences(of: "security: [user:auditor]", with: "security: [user:auditor, user:carol, user:dave]")
            .replacingOccurrences(of: "- { who: group:analysts, target: sandbox, roles: [write] }",
                                  with: "- { who: group:analysts, target: sandbox, roles: [write, guarded, brief] }")
            .replacingOccurrences(of: "  - webhook_env: HOOPCTL_WEBHOOK_URL   # e.g. a Slack incoming webhook; the URL is a secret",
                                  with: "  - webhook: http://127.0.0.1:\(webhookPort)/hook")
    }

    override func setUpWithError() throws {
        pg = try TestPostgres.shared()
        let port = try XCTUnwrap(FreePort.find())
        broker = try SeparateBroker(pg) { Self.policy($0, webhookPort: port) }
        hook = try BackgroundProcess("python3", ["-c", Self.listener, hookFile, String(port)])
        bob = try broker.token("user:bob")
        alice = try broker.token("user:alice")
        carol = try broker.token("user:carol")
        dave = try broker.token("user:dave")
    }

    override func tearDown() {
        hook = nil
        broker = nil
    }

    private func request(_ role: String, as token: String?, reason: String = "x", ttl: String? = nil) throws -> String {
        let asked = try broker.hoopctl(["request", "sandbox", "--role", role, "--reason", reason] + (ttl.map { ["--ttl", $0] } ?? []), token: token)
        XCTAssertEqual(asked.status, 0, asked.stderr)
        return asked.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func show(_ id: String, as token: String? = nil) throws -> [String: Any] {
        let shown = try broker.hoopctl(["requests", "show", id, "--json"], token: token)
        XCTAssertEqual(shown.status, 0, shown.stderr)
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any])
    }

    private func requestRecords(_ id: String) throws -> [[String: Any]] {
        try broker.records(kind: "request").compactMap { $0["body"] as? [String: Any] }.filter { $0["requestID"] as? String == id }
    }

    private func date(_ value: Any?) -> Date? { (value as? String).flatMap { ISO8601DateFormatter().date(from: $0) } }

    // MARK: 1. Approval means a different person

    /// The admin asks, then approves through an identity they minted: a token they issued, or a
    /// token issued by a token they issued. Both are the admin deciding their own request.
    func testAnAdminCannotApproveTheirOwnRequestThroughAnIdentityTheyMinted() throws {
        let id = try request("write", as: nil)
        XCTAssertEqual(try broker.hoopctl(["approve", id]).status, 77)
        let minted = try broker.token("user:alice")
        let approve = try broker.hoopctl(["approve", id], token: minted)
        XCTAssertEqual(approve.status, 77, "a token the requester issued decides nothing of theirs: \(approve.stdout)")
        XCTAssertTrue(approve.stderr.contains("issued"), approve.stderr)

        // Through a token minted by a token: the admin makes `ops` (an admin), `ops` makes carol.
        let ops = try broker.token("user:ops")
        let relayed = try broker.hoopctl(["token", "issue", "--subject", "user:carol", "--ttl", "10m"], token: ops)
        XCTAssertEqual(relayed.status, 0, relayed.stderr)
        let viaOps = try broker.hoopctl(["approve", id], token: relayed.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        XCTAssertEqual(viaOps.status, 77, "a token issued by a token the requester issued: \(viaOps.stdout)")
        XCTAssertEqual(try show(id)["state"] as? String, "pending")

        // And the other way round: the admin asks through a token they minted and decides as themselves.
        let mine = try request("write", as: try broker.token("user:bob"))
        let asMe = try broker.hoopctl(["approve", mine])
        XCTAssertEqual(asMe.status, 77, "the issuer of the requester's token is not a second person: \(asMe.stdout)")

        // People the admin made for others still decide each other's requests.
        let bobs = try request("write", as: bob)
        XCTAssertEqual(try broker.hoopctl(["approve", bobs], token: alice).status, 0)
    }

    /// A service is not a person: its vote is refused, even when a group of reviewers lists it.
    func testAServiceTokenDecidesNothing() throws {
        let id = try request("write", as: bob)
        let bot = try broker.token("service:review-bot")
        let vote = try broker.hoopctl(["approve", id], token: bot)
        XCTAssertEqual(vote.status, 77, vote.stdout)
        XCTAssertTrue(vote.stderr.contains("service"), vote.stderr)
        XCTAssertEqual(try show(id, as: bob)["state"] as? String, "pending")
    }

    // MARK: 2. Nothing outlives what allowed it

    /// A 15-second token asks for an 8-hour session: the session ends with the token.
    func testASessionEndsWhenItsTokenExpires() throws {
        let brief = try broker.token("user:bob", ttl: "15s")
        let run = try broker.hoopctl(["exec", "sandbox", "--ttl", "8h", "--", "psql", "-XAtc",
                                      "select extract(epoch from rolvaliduntil - now())::int from pg_roles where rolname = current_user"], token: brief)
        XCTAssertEqual(run.status, 0, run.stderr)
        let seconds = try XCTUnwrap(Int(run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        XCTAssertLessThanOrEqual(seconds, 15, "the session is capped by the token's expiry")
    }

    /// Revoking a token ends the sessions it opened, and those of the tokens it issued.
    func testRevokingATokenEndsItsSessionsAndItsChildren() throws {
        let ops = try broker.token("user:ops")
        let childIssue = try broker.hoopctl(["token", "issue", "--subject", "user:bob", "--ttl", "30m"], token: ops)
        let child = childIssue.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertFalse(child.isEmpty, childIssue.stderr)
        let job = try BackgroundProcess(HoopctlBinary.path, ["exec", "sandbox", "--", "sleep", "60"],
                                        environment: broker.environment.merging(["HOOPCTL_TOKEN": child]) { $1 })
        XCTAssertTrue(try eventually { try self.broker.hoopctl(["sessions", "--json"]).stdout.contains("\"state\":\"active\"") }, job.output)
        let opsID = try XCTUnwrap(try broker.hoopctl(["whoami", "--json"], token: ops).stdout.firstMatch(of: /"tokenID":"([0-9a-f]+)"/).map { String($0.1) })
        let revoked = try broker.hoopctl(["token", "revoke", opsID])
        XCTAssertEqual(revoked.status, 0, revoked.stderr)
        XCTAssertTrue(try eventually(timeout: 15) { !(try self.broker.hoopctl(["sessions", "--json"]).stdout.contains("\"state\":\"active\"")) },
                      "the child token's session ended")
        XCTAssertEqual(try broker.hoopctl(["whoami"], token: child).status, 77, "a token issued by a revoked token is revoked")
        job.signal(SIGTERM)
        XCTAssertNotNil(job.wait(timeout: 30), "the job ends before its broker does (no role left behind)")
    }

    /// A request waits while its token expires: nobody can approve it after.
    func testARequestDiesWithItsToken() throws {
        let brief = try broker.token("user:bob", ttl: "3s")
        let id = try request("write", as: brief)
        sleep(4)
        let late = try broker.hoopctl(["approve", id], token: alice)
        XCTAssertNotEqual(late.status, 0, "the token that asked is gone: \(late.stdout)")
        XCTAssertTrue(try requestRecords(id).contains { ["withdrawn", "expired"].contains($0["state"] as? String) })
    }

    // MARK: 3. `exec` hands its command a database session, not the caller's identity

    func testExecDoesNotPassTheTokenToItsCommand() throws {
        let id = try request("write", as: bob)
        let job = try broker.hoopctl(["exec", "sandbox", "--", "sh", "-c",
                                      "echo \"token=${HOOPCTL_TOKEN:-none}\"; \"\(HoopctlBinary.path)\" approve \(id)"], token: alice)
        XCTAssertTrue(job.stdout.contains("token=none"), job.stdout)
        // Nor from its parent: /proc/PPID/environ (blanked; and unreadable to a non-root user).
        let parent = try broker.hoopctl(["exec", "sandbox", "--", "sh", "-c",
                                         "tr '\\0' '\\n' < /proc/$PPID/environ 2>/dev/null | grep -c '^HOOPCTL_TOKEN=hoop1' || true"], token: alice)
        XCTAssertEqual(parent.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "0", parent.stdout + parent.stderr)
        XCTAssertEqual(try show(id, as: bob)["state"] as? String, "pending", "the job approved as alice: \(job.stdout) \(job.stderr)")
        let passed = try broker.hoopctl(["exec", "sandbox", "--pass-token", "--", "sh", "-c", "echo \"token=${HOOPCTL_TOKEN:-none}\""], token: alice)
        XCTAssertEqual(passed.status, 0, passed.stderr)
        XCTAssertTrue(passed.stdout.contains("token=hoop1."), "passed on when asked")
    }

    // MARK: 4. Requests follow the policy

    /// Tightened to two people of security, a waiting request goes to them; alice decides nothing.
    func testAReloadReroutesWaitingRequests() throws {
        let pending = try request("write", as: bob)
        let approved = try request("write", as: bob, reason: "y")
        XCTAssertEqual(try broker.hoopctl(["approve", approved], token: alice).status, 0)
        let yaml = try String(contentsOfFile: broker.policyPath, encoding: .utf8)
        let tightened = yaml.replacingOccurrences(of: "from: [group:dba]\n          count: 1", with: "from: [group:security]\n          count: 2")
        XCTAssertNotEqual(tightened, yaml)
        try tightened.write(toFile: broker.policyPath, atomically: true, encoding: .utf8)
        XCTAssertEqual(try broker.hoopctl(["policy", "reload"]).status, 0)

        let vote = try broker.hoopctl(["approve", pending], token: alice)
        XCTAssertNotEqual(vote.status, 0, "alice is no reviewer of write any more: \(vote.stdout)")
        let rerouted = try show(pending, as: bob)
        XCTAssertEqual(rerouted["approvers"] as? [String], ["group:security"])
        XCTAssertEqual(rerouted["needed"] as? Int, 2)
        XCTAssertEqual(try show(approved, as: bob)["state"] as? String, "pending", "alice's approval no longer counts")
        let use = try broker.hoopctl(["exec", "sandbox", "--request", approved, "--", "true"], token: bob)
        XCTAssertEqual(use.status, 75, use.stderr)
        XCTAssertTrue(try requestRecords(pending).contains { $0["state"] as? String == "rerouted" && $0["reason"] != nil })
        XCTAssertEqual(try broker.hoopctl(["approve", pending], token: carol).status, 0)
        XCTAssertEqual(try broker.hoopctl(["approve", pending], token: dave).status, 0)
        XCTAssertEqual(try show(pending, as: bob)["state"] as? String, "approved")
    }

    /// The rule stays, the reviewers change: alice leaves dba, and her approval no longer counts.
    /// Then a loosened rule (security, one vote) approves what carol already voted for.
    func testAReloadThatTakesAReviewerAwayDropsTheirVote() throws {
        let id = try request("write", as: bob)
        XCTAssertEqual(try broker.hoopctl(["approve", id], token: alice).status, 0)
        XCTAssertEqual(try show(id, as: bob)["state"] as? String, "approved")
        let yaml = try String(contentsOfFile: broker.policyPath, encoding: .utf8)
        let without = yaml.replacingOccurrences(of: "dba: [user:alice, user:carol, service:review-bot]", with: "dba: [user:carol]")
        XCTAssertNotEqual(without, yaml)
        try without.write(toFile: broker.policyPath, atomically: true, encoding: .utf8)
        XCTAssertEqual(try broker.hoopctl(["policy", "reload"]).status, 0)
        XCTAssertEqual(try show(id, as: bob)["state"] as? String, "pending", "alice is no reviewer any more")
        XCTAssertTrue(try requestRecords(id).contains { $0["state"] as? String == "rerouted" && ($0["reason"] as? String ?? "").contains("user:alice") })

        let guarded = try request("guarded", as: bob)
        XCTAssertEqual(try broker.hoopctl(["approve", guarded], token: carol).status, 0)
        XCTAssertEqual(try show(guarded, as: bob)["state"] as? String, "pending")
        try without.replacingOccurrences(of: "approval: { from: [group:dba, group:security], count: 1, every_group: true }",
                                         with: "approval: { from: [group:security], count: 1 }")
            .write(toFile: broker.policyPath, atomically: true, encoding: .utf8)
        XCTAssertEqual(try broker.hoopctl(["policy", "reload"]).status, 0)
        XCTAssertEqual(try show(guarded, as: bob)["state"] as? String, "approved", "carol's vote satisfies the new rule")
        XCTAssertEqual(try broker.hoopctl(["exec", "sandbox", "--request", guarded, "--", "true"], token: bob).status, 0)
    }

    /// A re-routed approval keeps its deadline through a restart: counted from when it was
    /// given, recorded, and replayed as recorded (not from the restart's clock).
    func testARerouteDeadlineSurvivesARestart() throws {
        let id = try request("brief", as: bob, ttl: "20m")
        XCTAssertEqual(try broker.hoopctl(["approve", id], token: alice).status, 0)
        let given = try XCTUnwrap(date(try show(id, as: bob)["approvalExpiresAt"]))
        let yaml = try String(contentsOfFile: broker.policyPath, encoding: .utf8)
        try yaml.replacingOccurrences(of: "approval_ttl: 1m, request_ttl: 10m", with: "approval_ttl: 30s, request_ttl: 10m")
            .write(toFile: broker.policyPath, atomically: true, encoding: .utf8)
        XCTAssertEqual(try broker.hoopctl(["policy", "reload"]).status, 0)
        let rerouted = try XCTUnwrap(date(try show(id, as: bob)["approvalExpiresAt"]))
        XCTAssertEqual(rerouted.timeIntervalSince(given), -30, accuracy: 1.5, "30 s from the approval, not from the reload")
        sleep(2)
        try broker.crashAndRestart()
        let replayed = try XCTUnwrap(date(try show(id, as: bob)["approvalExpiresAt"]))
        XCTAssertEqual(replayed.timeIntervalSince(rerouted), 0, accuracy: 1, "a restart replays the deadline")
    }

    /// A vote cast with a token that is then revoked no longer counts.
    func testRevokingAnApproversTokenTakesTheirVoteBack() throws {
        let approver = try broker.token("user:alice")
        let id = try request("write", as: bob)
        XCTAssertEqual(try broker.hoopctl(["approve", id], token: approver).status, 0)
        let tokenID = try XCTUnwrap(try broker.hoopctl(["whoami", "--json"], token: approver).stdout.firstMatch(of: /"tokenID":"([0-9a-f]+)"/).map { String($0.1) })
        XCTAssertEqual(try broker.hoopctl(["token", "revoke", tokenID]).status, 0)
        XCTAssertEqual(try show(id, as: bob)["state"] as? String, "pending")
        XCTAssertEqual(try broker.hoopctl(["exec", "sandbox", "--request", id, "--", "true"], token: bob).status, 75)
    }

    /// Approved, then the policy denies its class: the open session (judged under the old
    /// guardrails) cannot run it, nor ask again; a review still waiting when the session ends
    /// is withdrawn with it.
    func testAReloadThatDeniesAReviewedStatementWithdrawsItsApproval() throws {
        let client = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Clients/review_reload_attack.py").path
        var environment = broker.environment
        environment.merge(["HOOPCTL_BIN": HoopctlBinary.path, "ALICE": alice, "POLICY": broker.policyPath, "HOOPCTL_TOKEN": bob]) { $1 }
        let run = try ChildProcess(HoopctlBinary.path, ["exec", "sandbox", "--", "python3", client], environment: environment).run()
        XCTAssertEqual(run.status, 0, run.stdout + run.stderr)
        let summary = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data((run.stdout.split(separator: "\n").last ?? "").utf8)) as? [String: Any])
        XCTAssertEqual(summary["after_reload"] as? String, "withdrawn", "\(summary)")
        XCTAssertTrue((summary["run"] as? String ?? "").contains("denies"), "\(summary)")
        XCTAssertTrue((summary["another"] as? String ?? "").contains("denies"), "\(summary)")
        XCTAssertEqual(try pg.admin().execute("SELECT to_regclass('public.rt_reload_scratch') IS NULL").scalar, "t", "the approved DDL did not run")
        let waiting = try XCTUnwrap(summary["waiting"] as? String)
        XCTAssertTrue(try eventually { try self.show(waiting)["state"] as? String == "withdrawn" }, "the session ended: its review goes with it")
    }

    /// every_group, approved by carol (dba and security) and alice (dba); carol leaves security:
    /// nobody stands for security any more, so the approval is gone.
    func testAReloadThatLeavesAGroupUncoveredTakesTheApprovalBack() throws {
        let id = try request("guarded", as: bob)
        XCTAssertEqual(try broker.hoopctl(["approve", id], token: carol).status, 0)
        XCTAssertEqual(try broker.hoopctl(["approve", id], token: alice).status, 0)
        XCTAssertEqual(try show(id, as: bob)["state"] as? String, "approved")
        let yaml = try String(contentsOfFile: broker.policyPath, encoding: .utf8)
        let left = yaml.replacingOccurrences(of: "security: [user:auditor, user:carol, user:dave]", with: "security: [user:auditor, user:dave]")
        XCTAssertNotEqual(left, yaml)
        try left.write(toFile: broker.policyPath, atomically: true, encoding: .utf8)
        XCTAssertEqual(try broker.hoopctl(["policy", "reload"]).status, 0)
        XCTAssertEqual(try show(id, as: bob)["state"] as? String, "pending", "nobody of security approved")
        XCTAssertEqual(try broker.hoopctl(["exec", "sandbox", "--request", id, "--", "true"], token: bob).status, 75)
        try broker.crashAndRestart()
        XCTAssertEqual(try show(id, as: bob)["state"] as? String, "pending", "and after a restart")
        XCTAssertEqual(try broker.hoopctl(["approve", id], token: dave).status, 0)
        XCTAssertEqual(try show(id, as: bob)["state"] as? String, "approved")
    }

    /// A statement review lives in its session's connections, which a broker restart ends (their
    /// secrets die with the process): the restarted broker withdraws it, approved or not.
    func testAStatementReviewDoesNotOutliveABrokerRestart() throws {
        let trigger = """
            import psycopg, re
            try:
                psycopg.connect("", autocommit=True).execute("create table public.rt_restart_scratch (x int)")
            except psycopg.Error as error:
                print(re.search(r"request ([0-9a-f]{12})", str(error)).group(1), flush=True)
            """
        let job = try BackgroundProcess(HoopctlBinary.path, ["exec", "sandbox", "--", "sh", "-c", "python3 -c '\(trigger)'; sleep 60"],
                                        environment: broker.environment.merging(["HOOPCTL_TOKEN": bob]) { $1 })
        var id: String?
        XCTAssertTrue(eventually(timeout: 20) { id = job.output.firstMatch(of: /([0-9a-f]{12})\n/).map { String($0.1) }; return id != nil }, job.output)
        let request = try XCTUnwrap(id)
        XCTAssertEqual(try broker.hoopctl(["approve", request], token: alice).status, 0)
        try broker.crashAndRestart()
        XCTAssertEqual(try show(request)["state"] as? String, "withdrawn")
        XCTAssertTrue(try requestRecords(request).contains { ($0["reason"] as? String ?? "").contains("restarted") })
        job.signal(SIGTERM)
        XCTAssertNotNil(job.wait(timeout: 30))
    }

    /// A reload that takes the requester's access away withdraws the request, and says why.
    func testAReloadThatRemovesTheRequesterWithdrawsTheRequest() throws {
        let id = try request("write", as: bob)
        let yaml = try String(contentsOfFile: broker.policyPath, encoding: .utf8)
        try yaml.replacingOccurrences(of: "roles: [write, guarded, brief] }", with: "roles: [guarded, brief] }")
            .write(toFile: broker.policyPath, atomically: true, encoding: .utf8)
        XCTAssertEqual(try broker.hoopctl(["policy", "reload"]).status, 0)
        XCTAssertEqual(try show(id, as: bob)["state"] as? String, "withdrawn")
        XCTAssertNotEqual(try broker.hoopctl(["approve", id], token: alice).status, 0)
        XCTAssertTrue(try requestRecords(id).contains { $0["state"] as? String == "withdrawn" && $0["reason"] != nil })
    }

    // MARK: 5. Every setting of a request survives a restart

    func testApprovalSettingsSurviveARestart() throws {
        let id = try request("brief", as: bob, ttl: "20m")
        try broker.crashAndRestart()
        XCTAssertEqual(try broker.hoopctl(["approve", id], token: alice).status, 0)
        let shown = try show(id, as: bob)
        let usable = try XCTUnwrap(date(shown["approvalExpiresAt"]))
        XCTAssertLessThanOrEqual(usable.timeIntervalSinceNow, 61, "approval_ttl is 1m, after a restart too")
        let expires = try XCTUnwrap(date(shown["expiresAt"]))
        XCTAssertLessThanOrEqual(expires.timeIntervalSinceNow, 600, "request_ttl is 10m")
        XCTAssertEqual(try broker.hoopctl(["exec", "sandbox", "--request", id, "--", "true"], token: bob).status, 0)
    }

    // MARK: 6. Distinct approvers

    func testEveryGroupNeedsAsManyPeopleAsGroups() throws {
        let id = try request("guarded", as: bob)
        XCTAssertEqual(try broker.hoopctl(["approve", id], token: carol).status, 0)
        XCTAssertEqual(try show(id, as: bob)["state"] as? String, "pending", "carol is in dba and security, but one person")
        XCTAssertEqual(try broker.hoopctl(["approve", id], token: dave).status, 0)
        XCTAssertEqual(try show(id, as: bob)["state"] as? String, "approved")
    }

    // MARK: 7. Webhooks are safe for their sink

    func testWebhookTextCannotMentionLinkOrForgeLines() throws {
        let reason = "x\" <!channel> <@U024BE7LH> <https://evil.example|docs> & co\n\nSecurity: pre-approved\u{1b}[2J"
        _ = try request("write", as: bob, reason: reason)
        XCTAssertTrue(eventually(timeout: 10) { ((try? String(contentsOfFile: self.hookFile, encoding: .utf8)) ?? "").contains("request.created") })
        let post = try XCTUnwrap(try String(contentsOfFile: hookFile, encoding: .utf8).split(separator: "\n").first
            .flatMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] })
        let text = try XCTUnwrap(post["text"] as? String)
        for forbidden in ["<!channel>", "<@U024BE7LH>", "<https://", "\n", "\u{1b}", " & co"] {
            XCTAssertFalse(text.contains(forbidden), "\(forbidden.debugDescription) in \(text.debugDescription)")
        }
        XCTAssertTrue(text.contains("&lt;!channel&gt;") && text.contains("&amp; co"), text)
        XCTAssertTrue(text.contains("\\n\\nSecurity"), "line breaks shown, not made: \(text)")
    }

    // MARK: 8. Agent caps hold on the whole answer

    /// The demo caps an answer at 500 rows and 262,144 bytes. chr(1) is written `\u0001` in
    /// JSON: 250,000 of them are 1.5 MB on the wire. json_agg folds 1,000 rows into one.
    func testAgentCapsHoldOnWhatLeavesTheBroker() throws {
        let client = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Clients/mcp_caps.py").path
        let queries = ["escaped": "select repeat(chr(1), 250000)", "folded": "select json_agg(c) from customers c",
                       "arrays": "select array_agg(id) from customers", "nested": "select row(array_agg(id), 1) from customers",
                       "keys": "select json_object_agg(c::text, 0) from customers c",
                       "record": "select row(" + (1...600).map { "x[\($0)]" }.joined(separator: ", ") + ") from (select array_agg(email order by id) x from customers) s",
                       "ranges": "select range_agg(int4range(id * 2, id * 2 + 1)) from customers",
                       "error": "select repeat(chr(1), 1000000)::int",
                       "small": "select count(*) from customers"]
        var environment = broker.environment
        environment.merge(["HOOPCTL_TOKEN": try broker.token("service:retrain-bot"), "HOOPCTL_BIN": HoopctlBinary.path]) { $1 }
        let run = try ChildProcess("python3", [client, String(decoding: try JSONSerialization.data(withJSONObject: queries), as: UTF8.self)],
                                   environment: environment).run()
        XCTAssertEqual(run.status, 0, run.stdout + run.stderr)
        let answers = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data((run.stdout.split(separator: "\n").last ?? "").utf8)) as? [String: [String: Any]])
        for (name, answer) in answers {
            XCTAssertLessThanOrEqual(answer["bytes"] as? Int ?? .max, 262_144, "\(name): \(answer)")
        }
        XCTAssertEqual(answers["escaped"]?["truncated"] as? Bool, true, "\(answers)")
        XCTAssertNotNil(answers["error"]?["error"] as? String, "an error, cut to the cap: \(answers)")
        for name in ["folded", "arrays", "nested", "keys", "ranges", "record"] {
            XCTAssertEqual(answers[name]?["truncated"] as? Bool, true, "\(name): \(answers)")
            XCTAssertEqual(answers[name]?["rows"] as? Int, 0, "\(name): 1,000 rows in one value count as 1,000")
        }
        XCTAssertEqual(answers["small"]?["truncated"] as? Bool, false, "\(answers)")
        XCTAssertEqual(answers["small"]?["rows"] as? Int, 1)
    }

    // MARK: 9. One id per broker

    /// Two hosts with the default layout have the same ledger path. Played here with a symlink:
    /// the same path names the first broker's directory, then the second's. The second broker
    /// must not take the first one's live session role for an orphan of its own.
    func testTwoBrokersWithTheSameLedgerPathKeepEachOthersSessions() throws {
        let place = try TemporaryDirectory("hosts")
        defer { place.remove() }
        for host in ["a", "b"] { try FileManager.default.createDirectory(atPath: place.file(host), withIntermediateDirectories: true) }
        let link = place.file("current")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: place.file("a"))
        let ledger = link + "/ledger.sqlite"
        func broker(_ host: String) throws -> SeparateBroker {
            try SeparateBroker(pg, ledger: ledger) { $0 }
        }
        let first = try broker("a")
        let job = try BackgroundProcess(HoopctlBinary.path, ["exec", "sandbox", "--", "sleep", "60"], environment: first.environment)
        XCTAssertTrue(try eventually { try first.hoopctl(["sessions", "--json"]).stdout.contains("\"state\":\"active\"") }, job.output)
        let role = try XCTUnwrap(try first.hoopctl(["sessions", "--json"]).stdout.firstMatch(of: /"roleName":"(hoop_s_[0-9a-f]+)"/).map { String($0.1) })
        try FileManager.default.removeItem(atPath: link)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: place.file("b"))
        let second = try broker("b")
        XCTAssertTrue(try second.hoopctl(["whoami"]).succeeded)
        sleep(1)
        XCTAssertTrue(try pg.sessionRoles().contains(role), "the second broker revoked the first one's live session")
        job.signal(SIGTERM)
        _ = job.wait()
        _ = first
    }

    // MARK: 10. One broker per state directory

    func testASecondBrokerOnTheSameStateDirectoryIsRefusedAndTouchesNothing() throws {
        let port = try XCTUnwrap(FreePort.find())
        let second = try BackgroundProcess(HoopctlBinary.path, ["serve", "--config", broker.policyPath, "--proxy-port", String(port)],
                                           environment: broker.environment)
        let status = second.wait(timeout: 15)
        XCTAssertNotNil(status, "the second broker ran")
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(second.output.contains("already"), second.output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: broker.environment["HOOPCTL_BROKER"]!), "the first broker's socket is still there")
        XCTAssertTrue(try broker.hoopctl(["whoami"]).succeeded, "the first broker still answers")

        // Another state directory, the same ledger through a symlink: refused too.
        let other = try TemporaryDirectory("other-broker")
        defer { other.remove() }
        try FileManager.default.createSymbolicLink(atPath: other.file("ledger.sqlite"), withDestinationPath: broker.environment["HOOPCTL_LEDGER"]!)
        var environment = broker.environment
        environment.merge(["HOOPCTL_HOME": other.path, "HOOPCTL_BROKER": other.file("broker.sock"), "HOOPCTL_LEDGER": other.file("ledger.sqlite")]) { $1 }
        let third = try BackgroundProcess(HoopctlBinary.path, ["serve", "--config", broker.policyPath, "--proxy-port", String(try XCTUnwrap(FreePort.find()))],
                                          environment: environment)
        let thirdStatus = third.wait(timeout: 15)
        XCTAssertNotNil(thirdStatus, "a second broker ran on the same ledger")
        XCTAssertNotEqual(thirdStatus, 0)
        XCTAssertTrue(third.output.contains("another broker already serves the ledger"), third.output)
    }
}
