import Foundation
import HoopCommon
import HoopTestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Access requests end to end, several people played with broker-issued tokens: bob asks,
/// alice and carol (group dba) decide. A broker of the test's own with a policy that adds a
/// role needing two approvals, one whose requests expire fast, one allowing self-approval,
/// and a webhook.
final class ApprovalTests: XCTestCase {
    var pg: TestPostgres.Instance!
    var broker: SeparateBroker!
    var hook: BackgroundProcess!
    var hookFile: String { broker.directory.file("webhook.jsonl") }
    var bob = "", alice = "", carol = ""

    /// Appends each POSTed body to a file; answers 500 to the first request, 200 after.
    static let listener = """
        import http.server, sys
        seen = 0
        class Hook(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                global seen
                body = self.rfile.read(int(self.headers['Content-Length']))
                seen += 1
                if seen == 1:
                    self.send_response(500); self.end_headers(); return
                with open(sys.argv[1], 'ab') as out: out.write(body + b'\\n')
                self.send_response(200); self.end_headers()
            def log_message(self, *args): pass
        http.server.HTTPServer(('127.0.0.1', int(sys.argv[2])), Hook).serve_forever()
        """

    override func setUpWithError() throws {
        pg = try TestPostgres.shared()
        let port = try XCTUnwrap(FreePort.find())
        let roles = """
                  bulk:
                    tables: ["public.orders"]
                    privileges: [update]
                    max_ttl: 1h
                    approval: { from: [group:dba], count: 2 }
                  quick:
                    tables: ["public.orders"]
                    max_ttl: 1h
                    approval: { from: [group:dba], request_ttl: 2s }
                  selfserve:
                    tables: ["public.orders"]
                    max_ttl: 1h
                    approval: { from: [group:dba], allow_self_approval: [group:dba] }
                  write:
            """
        broker = try SeparateBroker(pg) { yaml in
            yaml.replacingOccurrences(of: "      write:\n", with: roles + "\n")
                .replacingOccurrences(of: "- { who: group:analysts, target: sandbox, roles: [write] }",
                                      with: "- { who: group:analysts, target: sandbox, roles: [write, bulk, quick] }\n  - { who: group:dba, target: sandbox, roles: [selfserve] }")
                .replacingOccurrences(of: "  - webhook_env: HOOPCTL_WEBHOOK_URL   # e.g. a Slack incoming webhook; the URL is a secret",
                                      with: "  - webhook: http://127.0.0.1:\(port)/hook")
        }
        hook = try BackgroundProcess("python3", ["-c", Self.listener, hookFile, String(port)])
        bob = try broker.token("user:bob")
        alice = try broker.token("user:alice")
        carol = try broker.token("user:carol")
    }

    override func tearDown() {
        hook = nil
        broker = nil
    }

    /// bob's `exec` on a role that needs approval, in the background; returns it once its request exists.
    private func bobWaits(_ arguments: [String]) throws -> (BackgroundProcess, String) {
        let client = try BackgroundProcess(HoopctlBinary.path, arguments, environment: broker.environment.merging(["HOOPCTL_TOKEN": bob]) { $1 })
        var id: String?
        XCTAssertTrue(eventually {
            id = client.output.firstMatch(of: /request ([0-9a-f]{12}) created/).map { String($0.1) }
            return id != nil
        }, client.output)
        return (client, id ?? "none")
    }

    private func ledger() throws -> [[String: Any]] {
        let audit = try broker.hoopctl(["audit", "--json"])
        XCTAssertEqual(audit.status, 0, audit.stderr)
        return audit.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    func testBobWritesOnceAliceApproves() throws {
        let (client, id) = try bobWaits(["exec", "sandbox", "--role", "write", "--reason", "fix order 2", "--",
                                         "psql", "-XAtc", "update orders set amount = amount where id = 2"])
        let own = try broker.hoopctl(["approve", id], token: bob)
        XCTAssertEqual(own.status, 77)
        XCTAssertTrue(own.stderr.contains("nobody approves their own request"), own.stderr)
        let approve = try broker.hoopctl(["approve", String(id.prefix(6)), "--comment", "go ahead"], token: alice)
        XCTAssertEqual(approve.status, 0, approve.stderr)
        XCTAssertEqual(client.wait(), 0, client.output + "\nbroker:\n" + broker.process.output)
        XCTAssertTrue(client.output.contains("UPDATE 1"), client.output)
        XCTAssertTrue(client.output.contains("approved by user:alice"), client.output)

        let records = try ledger()
        func find(_ kind: String, _ body: (([String: Any]) -> Bool)) -> [String: Any]? {
            records.first { $0["kind"] as? String == kind && body(($0["body"] as? [String: Any]) ?? [:]) }
        }
        let created = try XCTUnwrap(find("request") { $0["requestID"] as? String == id && $0["state"] as? String == "created" })
        XCTAssertEqual(created["identity"] as? String, "user:bob")
        XCTAssertEqual((created["body"] as? [String: Any])?["reason"] as? String, "fix order 2")
        let vote = try XCTUnwrap(find("decision") { $0["requestID"] as? String == id })
        XCTAssertEqual(vote["identity"] as? String, "user:alice")
        XCTAssertEqual((vote["body"] as? [String: Any])?["comment"] as? String, "go ahead")
        let approved = try XCTUnwrap(find("request") { $0["requestID"] as? String == id && $0["state"] as? String == "approved" })
        XCTAssertEqual(approved["identity"] as? String, "user:alice")
        let used = try XCTUnwrap(find("request") { $0["requestID"] as? String == id && $0["state"] as? String == "used" })
        XCTAssertEqual(used["identity"] as? String, "user:bob")
        let session = try XCTUnwrap(used["session"] as? String)
        let started = try XCTUnwrap(find("session") { $0["phase"] as? String == "started" && $0["role"] as? String == "write" })
        XCTAssertEqual(started["session"] as? String, session)
        XCTAssertEqual(started["identity"] as? String, "user:bob")
        XCTAssertNotNil(find("identity") { $0["principal"] as? String == "user:alice" && $0["method"] as? String == "token" })

        // The webhook heard of the request and of the decision, after one retry.
        XCTAssertTrue(eventually(timeout: 10) { ((try? String(contentsOfFile: hookFile, encoding: .utf8)) ?? "").split(separator: "\n").count >= 2 })
        let posts = try String(contentsOfFile: hookFile, encoding: .utf8).split(separator: "\n")
            .compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        XCTAssertEqual(Set(posts.compactMap { $0["event"] as? String }), ["request.created", "request.decided"])
        XCTAssertTrue(posts.contains { ($0["text"] as? String)?.contains("hoopctl approve \(id)") ?? false })
        XCTAssertTrue(posts.allSatisfy { ($0["request"] as? [String: Any])?["id"] as? String == id })
        let notices = try ledger().compactMap { ($0["body"] as? [String: Any])?["name"] as? String }.filter { $0.hasPrefix("notify.") }
        XCTAssertTrue(notices.contains("notify.failed") && notices.contains("notify.sent"), "\(notices)")
    }

    func testADeniedRequestEndsTheWaitWithItsCode() throws {
        let (client, id) = try bobWaits(["exec", "sandbox", "--role", "write", "--reason", "delete everything", "--", "true"])
        let refused = try broker.hoopctl(["deny", id, "--reason", "no"], token: carol)
        XCTAssertEqual(refused.status, 0, refused.stderr)
        XCTAssertEqual(client.wait(), 76, client.output)
        XCTAssertTrue(client.output.contains("was denied by user:carol: no"), client.output)
        XCTAssertEqual(try broker.hoopctl(["approve", id], token: alice).status, 64, "decided already")
    }

    func testAnExpiredRequestEndsTheWaitWithItsCode() throws {
        let (client, id) = try bobWaits(["exec", "sandbox", "--role", "quick", "--reason", "soon", "--", "true"])
        XCTAssertEqual(client.wait(timeout: 15), 78, client.output)
        let late = try broker.hoopctl(["approve", id], token: alice)
        XCTAssertEqual(late.status, 78, "an expired request cannot be approved: \(late.stderr)")
    }

    func testAnApprovalIsBoundToWhatWasAskedAndUsedOnce() throws {
        let asked = try broker.hoopctl(["request", "sandbox", "--role", "write", "--reason", "short fix", "--ttl", "10m"], token: bob)
        XCTAssertEqual(asked.status, 0, asked.stderr)
        let id = asked.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(try broker.hoopctl(["approve", id], token: alice).status, 0)
        let longer = try broker.hoopctl(["exec", "sandbox", "--request", id, "--ttl", "1h", "--", "true"], token: bob)
        XCTAssertEqual(longer.status, 64)
        XCTAssertTrue(longer.stderr.contains("was approved for --ttl 10m"), longer.stderr)
        let other = try broker.hoopctl(["exec", "sandbox", "--request", id, "--", "true"], token: alice)
        XCTAssertEqual(other.status, 77, "only bob may use bob's approval: \(other.stderr)")
        let used = try broker.hoopctl(["exec", "sandbox", "--request", id, "--", "sh", "-c",
                                       "psql -XAtc \"select extract(epoch from rolvaliduntil - now())::int from pg_roles where rolname = current_user\""], token: bob)
        XCTAssertEqual(used.status, 0, used.stderr)
        let seconds = try XCTUnwrap(Int(used.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        XCTAssertTrue((590...600).contains(seconds), "a 10-minute session, not longer: \(seconds)")
        let again = try broker.hoopctl(["exec", "sandbox", "--request", id, "--", "true"], token: bob)
        XCTAssertEqual(again.status, 78, "used once: \(again.stderr)")
    }

    func testTwoApprovalsMeanTwoPeople() throws {
        let asked = try broker.hoopctl(["request", "sandbox", "--role", "bulk", "--reason", "reprice"], token: bob)
        let id = asked.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let first = try broker.hoopctl(["approve", id], token: alice)
        XCTAssertTrue(first.stdout.contains("1 of 2"), first.stdout)
        let twice = try broker.hoopctl(["approve", id], token: alice)
        XCTAssertEqual(twice.status, 64)
        XCTAssertTrue(twice.stderr.contains("one vote per identity"), twice.stderr)
        let pending = try broker.hoopctl(["exec", "sandbox", "--request", id, "--", "true"], token: bob)
        XCTAssertEqual(pending.status, 75, "one approval is not enough: \(pending.stderr)")
        let second = try broker.hoopctl(["approve", id], token: carol)
        XCTAssertTrue(second.stdout.hasPrefix("approved request"), second.stdout)
        XCTAssertEqual(try broker.hoopctl(["exec", "sandbox", "--request", id, "--", "true"], token: bob).status, 0)
    }

    func testSelfApprovalOnlyWhereThePolicyAllowsItAndTheLedgerSaysSo() throws {
        let asked = try broker.hoopctl(["request", "sandbox", "--role", "selfserve", "--reason", "on call"], token: alice)
        let id = asked.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let approve = try broker.hoopctl(["approve", id], token: alice)
        XCTAssertEqual(approve.status, 0, approve.stderr)
        let show = try broker.hoopctl(["requests", "show", id], token: alice)
        XCTAssertTrue(show.stdout.contains("(self-approval)"), show.stdout)
        let vote = try ledger().first { $0["kind"] as? String == "decision" && ($0["body"] as? [String: Any])?["requestID"] as? String == id }
        XCTAssertEqual((vote?["body"] as? [String: Any])?["selfApproval"] as? Bool, true)
    }

    func testNoWaitWaitLimitAndCtrlC() throws {
        let noWait = try broker.hoopctl(["exec", "sandbox", "--role", "write", "--reason", "later", "--no-wait", "--", "true"], token: bob)
        XCTAssertEqual(noWait.status, 75)
        let id = noWait.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(id.count, 12)
        let shortWait = try broker.hoopctl(["exec", "sandbox", "--role", "write", "--reason", "briefly", "--wait", "1s", "--", "true"], token: bob)
        XCTAssertEqual(shortWait.status, 75)
        XCTAssertTrue(shortWait.stderr.contains("stays pending"), shortWait.stderr)

        let (client, waiting) = try bobWaits(["exec", "sandbox", "--role", "write", "--reason", "interrupt me", "--", "true"])
        client.signal(SIGINT)
        XCTAssertEqual(client.wait(), 130, client.output)
        let show = try broker.hoopctl(["requests", "show", waiting, "--json"], token: bob)
        XCTAssertTrue(show.stdout.contains("\"state\":\"withdrawn\""), show.stdout)
        let mine = try broker.hoopctl(["requests", "--mine"], token: bob)
        XCTAssertEqual(mine.stdout.split(separator: "\n").count, 4, "header and three requests: \(mine.stdout)")
        let pending = try broker.hoopctl(["requests"], token: alice)
        XCTAssertEqual(pending.stdout.split(separator: "\n").count, 3, "alice sees what waits on her: \(pending.stdout)")
    }

    func testTokensAreCheckedEveryTime() throws {
        let me = try broker.hoopctl(["whoami", "--json"], token: bob)
        XCTAssertTrue(me.stdout.contains("\"principal\":\"user:bob\""), me.stdout)
        XCTAssertTrue(me.stdout.contains("\"method\":\"token\""))
        XCTAssertEqual(try broker.hoopctl(["token", "issue", "--subject", "user:root"], token: bob).status, 77, "admins only")

        var forged = Array(bob)
        forged[forged.count / 2] = forged[forged.count / 2] == "A" ? "B" : "A"
        let bad = try broker.hoopctl(["whoami"], token: String(forged))
        XCTAssertEqual(bad.status, 77)
        XCTAssertFalse(bad.stderr.contains(String(forged)), "a token is never echoed")
        XCTAssertEqual(try broker.hoopctl(["whoami"], token: "not a token").status, 77)

        let short = try broker.token("service:nightly", ttl: "1s")
        sleep(2)
        let expired = try broker.hoopctl(["whoami"], token: short)
        XCTAssertEqual(expired.status, 77)
        XCTAssertTrue(expired.stderr.contains("expired"), expired.stderr)

        let id = try XCTUnwrap((try broker.hoopctl(["whoami", "--json"], token: carol)).stdout.firstMatch(of: /"tokenID":"([0-9a-f]+)"/).map { String($0.1) })
        XCTAssertEqual(try broker.hoopctl(["token", "revoke", id]).status, 0)
        let revoked = try broker.hoopctl(["whoami"], token: carol)
        XCTAssertEqual(revoked.status, 77)
        XCTAssertTrue(revoked.stderr.contains("was revoked"), revoked.stderr)
        let file = broker.directory.file("bob.token")
        try bob.write(toFile: file, atomically: true, encoding: .utf8)
        let viaFile = try broker.hoopctl(["whoami", "--token-file", file])
        XCTAssertTrue(viaFile.stdout.hasPrefix("user:bob"), viaFile.stdout)
        XCTAssertFalse(try ledger().description.contains(bob), "the ledger never holds a token")
    }
}
