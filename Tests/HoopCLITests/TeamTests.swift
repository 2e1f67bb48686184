import Foundation
import HoopCommon
import HoopTestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The broker used by a team (issue 18): remote users on another OS account with HOMEs of
/// their own reach it only over TLS on 127.0.0.1, sign in with an OpenID Connect provider
/// built on authlib, and use every command from there.
final class TeamTests: XCTestCase {
    static let clients = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Clients")
    var pg: TestPostgres.Instance!
    var team: TeamFixture!

    override func setUpWithError() throws {
        pg = try TestPostgres.shared()
        team = try TeamFixture(pg, clients: Self.clients)
    }

    override func tearDown() {
        team = nil
    }

    func testDeviceLoginThenWhoamiWithProviderGroups() throws {
        let alice = try team.remoteUser("alice", email: "alice@example.com", groups: ["analysts", "staff"])
        let output = try alice.login()
        XCTAssertTrue(output.contains("signed in to \(team.url) as user:alice@example.com"), output)
        let login = try alice.storedLogin()
        let token = try XCTUnwrap(login["accessToken"] as? String)
        XCTAssertFalse(output.contains(token), "the token is never printed")

        let whoami = try alice.hoopctl(["whoami", "--json"])
        XCTAssertEqual(whoami.status, 0, whoami.stderr)
        let me = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(whoami.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(me["principal"] as? String, "user:alice@example.com")
        XCTAssertEqual(me["method"] as? String, "oidc")
        XCTAssertEqual(me["providerGroups"] as? [String], ["analysts", "staff"])
        XCTAssertEqual(me["groups"] as? [String], ["analysts"], "idpgroup:analysts makes her a policy analyst")
        XCTAssertEqual((me["access"] as? [String: [String]])?["sandbox"], ["read", "write"])

        // Kept private, per broker; nothing of it in the ledger.
        let brokers = alice.home + "/.config/hoopctl/brokers"
        XCTAssertEqual(mode(brokers), 0o700)
        for file in try FileManager.default.contentsOfDirectory(atPath: brokers) { XCTAssertEqual(mode(brokers + "/" + file), 0o600, file) }
        let ledger = try String(contentsOfFile: team.broker.directory.file("ledger.sqlite"), encoding: .isoLatin1)
            + ((try? String(contentsOfFile: team.broker.directory.file("ledger.sqlite-wal"), encoding: .isoLatin1)) ?? "")
        XCTAssertFalse(ledger.contains(String(token.suffix(40))), "the token is not in the ledger")
        // Without a sign-in, the network gets nothing but the way to sign in.
        let stranger = try team.remoteUser("mallory", email: "mallory@example.com", groups: [])
        let refused = try stranger.hoopctl(["whoami", "--broker", team.url])
        XCTAssertEqual(refused.status, 77, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("not signed in to \(team.url)"), refused.stderr)
    }

    func testRemoteExecRunsPsqlWithVerifyFullAndSeesMaskedRows() throws {
        let alice = try team.remoteUser("alice", email: "alice@example.com", groups: ["analysts"])
        try alice.login()
        let exec = try alice.hoopctl(["exec", "sandbox", "--role", "read", "--", "psql", "-XAtc",
                                      "select email, ssn, current_setting('ssl') is not null, inet_client_addr() from customers order by id limit 1"])
        XCTAssertEqual(exec.status, 0, exec.stderr)
        let row = exec.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "|").map(String.init)
        XCTAssertTrue(row.first?.contains("***@") == true, "masked email: \(exec.stdout)")
        XCTAssertEqual(row.dropFirst().first, "[redacted]")
        // The ledger says how she was known: the provider and its subject.
        let identities = try team.broker.records(kind: "identity")
        let identity = identities.compactMap { $0["body"] as? [String: Any] }.first { $0["principal"] as? String == "user:alice@example.com" }
        XCTAssertNotNil(identity, "\(identities)")
        XCTAssertEqual(identity?["method"] as? String, "oidc")
        XCTAssertEqual(identity?["provider"] as? String, team.provider.issuer)
        XCTAssertEqual(identity?["subject"] as? String, "alice")
        XCTAssertEqual(identity?["providerGroups"] as? [String], ["analysts"])

        let settings = try alice.hoopctl(["exec", "sandbox", "--role", "read", "--", "sh", "-c", "echo $PGHOST $PGPORT $PGSSLMODE $PGSSLROOTCERT"])
        XCTAssertEqual(settings.stdout.trimmingCharacters(in: .whitespacesAndNewlines),
                       "localhost \(team.proxyPort) verify-full \(alice.home)/.config/hoopctl/brokers/localhost_\(team.apiPort).ca.pem")

        // A wrong host name is refused by the client; no TLS, by the proxy.
        let wrongName = try ChildProcess("psql", ["host=wrong.example hostaddr=127.0.0.1 port=\(team.proxyPort) sslmode=verify-full sslrootcert=\(team.caFile) user=x dbname=shop",
                                                  "-XAtc", "select 1"]).run()
        XCTAssertNotEqual(wrongName.status, 0)
        XCTAssertTrue(wrongName.stderr.contains("does not match host name \"wrong.example\""), wrongName.stderr)
        let plain = try ChildProcess("psql", ["host=127.0.0.1 port=\(team.proxyPort) sslmode=disable user=x dbname=shop password=x", "-XAtc", "select 1"]).run()
        XCTAssertNotEqual(plain.status, 0)
        XCTAssertTrue(plain.stderr.contains("over TLS only"), plain.stderr)
    }

    func testARequestByOneRemoteUserIsApprovedByAnotherAndTheWaitingExecProceeds() throws {
        let alice = try team.remoteUser("alice", email: "alice@example.com", groups: ["analysts"])
        let carol = try team.remoteUser("carol", email: "carol@example.com", groups: ["dba"])
        try alice.login()
        try carol.login()
        let waiting = try alice.background(["exec", "sandbox", "--role", "write", "--reason", "fix order 3", "--",
                                            "psql", "-XAtc", "update orders set amount = amount where id = 3"])
        var id: String?
        XCTAssertTrue(eventually(timeout: 20) {
            id = waiting.output.components(separatedBy: "request ").dropFirst().first?.prefix { $0.isHexDigit }.description
            return waiting.output.contains("created") && id != nil
        }, waiting.output)
        let own = try alice.hoopctl(["approve", try XCTUnwrap(id)])
        XCTAssertEqual(own.status, 77, "nobody approves their own request: \(own.stderr)")
        let listed = try carol.hoopctl(["requests"])
        XCTAssertTrue(listed.stdout.contains(id!), listed.stdout + listed.stderr)
        let approve = try carol.hoopctl(["approve", id!])
        XCTAssertEqual(approve.status, 0, approve.stderr)
        XCTAssertEqual(waiting.wait(timeout: 30), 0, waiting.output)
        XCTAssertTrue(waiting.output.contains("approved by user:carol@example.com"), waiting.output)
        XCTAssertTrue(waiting.output.contains("UPDATE 1"), waiting.output)
    }

    func testARemoteAgentGoesThroughTheProxyOverTLS() throws {
        let alice = try team.remoteUser("alice", email: "alice@example.com", groups: ["analysts"])
        try alice.login()
        let (executable, arguments) = alice.commandLine(["mcp", "sandbox", "--role", "read", "--reason", "remote agent"])
        let command = String(decoding: try JSONSerialization.data(withJSONObject: [executable] + arguments), as: UTF8.self)
        let run = try ChildProcess("python3", [Self.clients.appendingPathComponent("mcp_remote.py").path], environment: ["MCP_COMMAND": command,
                                   "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]).run()
        XCTAssertEqual(run.status, 0, run.stdout + run.stderr)
        let summary = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data((run.stdout.split(separator: "\n").last ?? "").utf8)) as? [String: Any])
        XCTAssertTrue((summary["tables"] as? [String])?.contains("customers") == true, "\(summary)")
        XCTAssertTrue((summary["rows"] as? String)?.contains("***@") == true, "masked: \(summary)")
        let sessions = try team.broker.records(kind: "session").filter { ($0["body"] as? [String: Any])?["client"] as? String == "mcp" }
        XCTAssertEqual(sessions.first?["identity"] as? String, "user:alice@example.com")
    }

    func testForgedExpiredForeignAndUnverifiedTokensAreRefusedWith77SayingWhichCheck() throws {
        let alice = try team.remoteUser("alice", email: "alice@example.com", groups: ["analysts"])
        try alice.login()
        let cases: [(String, [String: Any], String)] = [
            ("forged", ["forged": true], "(signature)"),
            ("expired", ["exp_offset": -3600], "(expired)"),
            ("wrong audience", ["aud": "another-app"], "(audience)"),
            ("wrong issuer", ["iss": "https://login.evil.example"], "(issuer)"),
            ("issued in the future", ["iat_offset": 7200, "exp_offset": 9000], "(issued-in-the-future)"),
        ]
        for (name, changes, check) in cases {
            let token = try team.provider.mint("alice", changes)
            let result = try alice.hoopctl(["whoami"], extra: ["HOOPCTL_TOKEN": token])
            XCTAssertEqual(result.status, 77, "\(name): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(check), "\(name): \(result.stderr)")
            XCTAssertFalse(result.stderr.contains(token), "\(name): the token is not echoed")
        }
        // An address the provider did not verify names nobody.
        try team.provider.addUser("eve", email: "root@example.com", groups: ["dba"], verified: false)
        let unverified = try alice.hoopctl(["whoami"], extra: ["HOOPCTL_TOKEN": try team.provider.mint("eve", [:])])
        XCTAssertEqual(unverified.status, 77)
        XCTAssertTrue(unverified.stderr.contains("email_verified"), unverified.stderr)
        // The genuine one still works.
        XCTAssertEqual(try alice.hoopctl(["whoami"], extra: ["HOOPCTL_TOKEN": try team.provider.mint("alice", [:])]).status, 0)
    }

    func testKeyRotationAtTheProviderNeedsNoRestartAndTheOldKeysTokensStop() throws {
        let alice = try team.remoteUser("alice", email: "alice@example.com", groups: ["analysts"])
        try alice.login()
        let old = try team.provider.mint("alice", [:])
        XCTAssertEqual(try alice.hoopctl(["whoami"]).status, 0)
        let fetchesBefore = try team.provider.counts()["jwks"] ?? 0
        try team.provider.post("/test/rotate", ["retire": true])
        // A token of the new key: the broker fetches the key set again, once.
        let fresh = try team.provider.mint("alice", [:])
        let accepted = try alice.hoopctl(["whoami"], extra: ["HOOPCTL_TOKEN": fresh])
        XCTAssertEqual(accepted.status, 0, accepted.stderr)
        XCTAssertEqual(try team.provider.counts()["jwks"], fetchesBefore + 1)
        // The retired key's tokens are refused...
        let retired = try alice.hoopctl(["whoami"], extra: ["HOOPCTL_TOKEN": old])
        XCTAssertEqual(retired.status, 77)
        XCTAssertTrue(retired.stderr.contains("(unknown-key)"), retired.stderr)
        // ...and the signed-in client refreshes its own at once, unasked.
        let signedIn = try alice.hoopctl(["whoami"])
        XCTAssertEqual(signedIn.status, 0, signedIn.stderr)
        // A flood of made-up kids does not make the broker hammer the provider: they share a fetch.
        let fetches = try team.provider.counts()["jwks"] ?? 0
        let flood = try (0..<8).map { _ in try alice.background(["whoami"], extra: ["HOOPCTL_TOKEN": try team.provider.mint("alice", ["forged_kid": true])]) }
        for process in flood { XCTAssertEqual(process.wait(timeout: 30), 77, process.output) }
        XCTAssertLessThanOrEqual((try team.provider.counts()["jwks"] ?? 0) - fetches, 2)
    }

    func testSilentRefresh() throws {
        try team.provider.post("/test/settings", ["access_ttl": 30])
        let alice = try team.remoteUser("alice", email: "alice@example.com", groups: ["analysts"])
        try alice.login()
        let first = try XCTUnwrap(try alice.storedLogin()["accessToken"] as? String)
        let tokensBefore = try team.provider.counts()["token"] ?? 0
        // Under a minute left: the next command refreshes first, and says nothing of it.
        let whoami = try alice.hoopctl(["whoami"])
        XCTAssertEqual(whoami.status, 0, whoami.stderr)
        XCTAssertEqual(whoami.stderr, "")
        XCTAssertEqual(try team.provider.counts()["token"], tokensBefore + 1)
        let second = try XCTUnwrap(try alice.storedLogin()["accessToken"] as? String)
        XCTAssertNotEqual(first, second)
        // Two commands at once spend the refresh token once between them (the provider rotates it).
        let both = try (0..<2).map { _ in try alice.background(["whoami"]) }
        for process in both { XCTAssertEqual(process.wait(timeout: 30), 0, process.output) }
    }

    func testLogoutRevokesTheSignInAndForgetsIt() throws {
        let alice = try team.remoteUser("alice", email: "alice@example.com", groups: ["analysts"])
        try alice.login()
        let refreshToken = try XCTUnwrap(try alice.storedLogin()["refreshToken"] as? String)
        let logout = try alice.hoopctl(["logout"])
        XCTAssertEqual(logout.status, 0, logout.stderr)
        XCTAssertTrue(logout.stderr.contains("the provider revoked the sign-in"), logout.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: alice.home + "/.config/hoopctl/brokers").filter { !$0.hasSuffix(".lock") }, [])
        let reuse = try ChildProcess("curl", ["-s", "-X", "POST", "-d", "grant_type=refresh_token&client_id=hoopctl&refresh_token=\(refreshToken)",
                                              team.provider.issuer + "/token"]).run()
        XCTAssertTrue(reuse.stdout.contains("invalid_grant"), "the provider no longer honours it: \(reuse.stdout)")
        let after = try alice.hoopctl(["whoami", "--broker", team.url])
        XCTAssertEqual(after.status, 77, after.stderr)
    }

    /// The device flow polls no faster than the provider says, and five seconds slower after
    /// each slow_down (RFC 8628 3.5).
    func testDeviceLoginHonoursSlowDown() throws {
        try team.provider.post("/test/settings", ["slow_down_below": 3])
        let alice = try team.remoteUser("alice", email: "alice@example.com", groups: ["analysts"])
        let process = try alice.background(["login", team.url, "--ca-file", alice.home + "/ca.pem"])
        XCTAssertTrue(eventually(timeout: 30) {
            ((try? team.provider.get("/test/polls"))?["slow_down"] as? Int ?? 0) >= 1
        }, process.output)
        Thread.sleep(forTimeInterval: 7)  // one more poll at the slower pace
        let polls = try team.provider.get("/test/polls")
        let gaps = try XCTUnwrap(polls["gaps"] as? [Double])
        XCTAssertEqual(polls["slow_down"] as? Int, 1, "one slow_down was enough: \(polls)")
        XCTAssertFalse(gaps.isEmpty, "\(polls)")
        XCTAssertTrue(gaps.allSatisfy { $0 >= 5.9 }, "every poll after it waited interval + 5 s: \(gaps)")
        let code = try XCTUnwrap(process.output.components(separatedBy: "enter the code ").dropFirst().first?.prefix { $0 != "\n" })
        try team.provider.post("/test/approve", ["user_code": String(code), "user": "alice"])
        XCTAssertEqual(process.wait(timeout: 30), 0, process.output)
    }

    /// A provider's names never reach this host's users or another account's name (red team
    /// rt22: an account whose email claim was "root" became the admin; one whose email was
    /// "alice" a reviewer; a second account with alice's address was alice).
    func testAProviderAccountCannotTakeALocalNameOrAnotherAccounts() throws {
        let alice = try team.remoteUser("alice", email: "alice@example.com", groups: ["analysts"])
        try alice.login()
        for (account, email) in [("m_root", "root"), ("m_alice", "alice"), ("m_dotless", "admin@localhost")] {
            try team.provider.addUser(account, email: email, groups: ["dba"])
            let result = try alice.hoopctl(["whoami"], extra: ["HOOPCTL_TOKEN": try team.provider.mint(account, [:])])
            XCTAssertEqual(result.status, 77, "\(email): \(result.stdout)")
            XCTAssertTrue(result.stderr.contains("not an address"), result.stderr)
        }
        // alice@example.com is bound to her account (subject alice) once she has used it.
        XCTAssertEqual(try alice.hoopctl(["whoami"]).status, 0)
        try team.provider.addUser("alice_dup", email: "alice@example.com", groups: ["dba"])
        let impostor = try alice.hoopctl(["whoami"], extra: ["HOOPCTL_TOKEN": try team.provider.mint("alice_dup", [:])])
        XCTAssertEqual(impostor.status, 77, impostor.stdout)
        XCTAssertTrue(impostor.stderr.contains("belongs to another account at the provider; this one (subject alice_dup)"), impostor.stderr)
        // And after a restart: the binding is in the ledger.
        try team.broker.crashAndRestart()
        let again = try alice.hoopctl(["whoami"], extra: ["HOOPCTL_TOKEN": try team.provider.mint("alice_dup", [:])])
        XCTAssertEqual(again.status, 77, again.stderr)
        XCTAssertEqual(try alice.hoopctl(["whoami"]).status, 0, "alice herself still is")
    }

    /// Tokens travel over TLS only: no http:// broker, and a sign-in's tokens never go to
    /// another scheme of the same host and port (red team rt22).
    func testABrokerIsReachedOverHTTPSOnly() throws {
        let alice = try team.remoteUser("alice", email: "alice@example.com", groups: ["analysts"])
        try alice.login()
        let plain = "http://localhost:\(team.apiPort)"
        let login = try alice.hoopctl(["login", plain])
        XCTAssertEqual(login.status, 64, login.stderr)
        XCTAssertTrue(login.stderr.contains("over https only"), login.stderr)
        for command in [["whoami", "--broker", plain], ["whoami"]] {
            let result = try alice.hoopctl(command, extra: command.count == 1 ? ["HOOPCTL_BROKER": plain] : [:])
            XCTAssertEqual(result.status, 64, "\(command): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains("over https only"), result.stderr)
        }
    }

    /// A session opened from the network lives while its client renews it with a valid sign-in:
    /// a killed client, or a sign-out, ends it within the lease (red team rt22: it lived to its TTL).
    func testARemoteSessionEndsWhenItsClientOrSignInDoes() throws {
        team = nil
        team = try TeamFixture(pg, clients: Self.clients, brokerEnvironment: ["HOOPCTL_TEST_REMOTE_LEASE_SECONDS": "3"])
        // Access tokens of 20 s: every renewal carries a fresh one (the provider's groups as they are now).
        try team.provider.post("/test/settings", ["access_ttl": 20])
        let alice = try team.remoteUser("alice", email: "alice@example.com", groups: ["analysts"])
        try alice.login()
        func endedBy(_ marker: String) throws -> String? {
            let list = try team.broker.hoopctl(["sessions", "--json"])
            return list.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                .first { ($0["reason"] as? String) == marker }?["endedBy"] as? String
        }
        // Renewed while the client runs: it outlives several leases.
        let kept = try alice.background(["exec", "sandbox", "--role", "read", "--reason", "kept", "--", "sleep", "8"])
        XCTAssertEqual(kept.wait(timeout: 30), 0, kept.output)
        XCTAssertEqual(try endedBy("kept"), "exit")

        // kill -9 of the client: nothing renews it.
        let killed = try alice.background(["exec", "sandbox", "--role", "read", "--reason", "killed", "--", "sleep", "60"])
        XCTAssertTrue(eventually(timeout: 20) { killed.output.contains("session ") })
        _ = try ChildProcess("pkill", ["-KILL", "-f", "reason killed -- sleep"]).run()
        XCTAssertTrue(eventually(timeout: 15) { (try? endedBy("killed")) == "lease-expired" }, (try? endedBy("killed")) ?? "still active")

        // Taken out of the provider's group that gave the role: the next renewal, with a fresh
        // token, ends it (red team rt23: it renewed on to the TTL).
        let demoted = try alice.background(["exec", "sandbox", "--role", "read", "--reason", "demoted", "--", "sleep", "60"])
        XCTAssertTrue(eventually(timeout: 20) { demoted.output.contains("session ") })
        try team.provider.addUser("alice", email: "alice@example.com", groups: [])
        XCTAssertTrue(eventually(timeout: 15) { (try? endedBy("demoted")) == "access-removed" }, (try? endedBy("demoted")) ?? "still active")
        _ = try ChildProcess("pkill", ["-KILL", "-f", "reason demoted -- sleep"]).run()
        try team.provider.addUser("alice", email: "alice@example.com", groups: ["analysts"])

        // A sign-out: the running client can no longer renew in its name.
        let signedOut = try alice.background(["exec", "sandbox", "--role", "read", "--reason", "signed-out", "--", "sleep", "60"])
        XCTAssertTrue(eventually(timeout: 20) { signedOut.output.contains("session ") })
        XCTAssertEqual(try alice.hoopctl(["logout"]).status, 0)
        XCTAssertTrue(eventually(timeout: 15) { (try? endedBy("signed-out")) == "lease-expired" }, (try? endedBy("signed-out")) ?? "still active")
        _ = try ChildProcess("pkill", ["-KILL", "-f", "reason signed-out -- sleep"]).run()
    }

    /// ES256 keys as well as RS256.
    func testAnES256ProvidersTokensAreAccepted() throws {
        team = nil
        team = try TeamFixture(pg, clients: Self.clients, alg: "ES256")
        let alice = try team.remoteUser("alice", email: "alice@example.com", groups: ["analysts"])
        try alice.login()
        let whoami = try alice.hoopctl(["whoami"])
        XCTAssertEqual(whoami.status, 0, whoami.stderr)
        let forged = try alice.hoopctl(["whoami"], extra: ["HOOPCTL_TOKEN": try team.provider.mint("alice", ["forged": true])])
        XCTAssertEqual(forged.status, 77)
        XCTAssertTrue(forged.stderr.contains("(signature)"), forged.stderr)
    }

    /// The other commands, remotely: an admin and an auditor from the provider's groups.
    func testEveryCommandWorksRemotely() throws {
        let alice = try team.remoteUser("alice", email: "alice@example.com", groups: ["analysts"])
        let dave = try team.remoteUser("dave", email: "dave@example.com", groups: ["admins"])
        try alice.login()
        try dave.login()
        // No way in but TLS: the broker's socket is out of reach (of another OS user: as the
        // broker's own user, without root, the tests cannot play one).
        if alice.osUser != nil {
            let socket = try alice.hoopctl(["whoami", "--broker", team.broker.directory.file("broker.sock")])
            XCTAssertEqual(socket.status, 69, socket.stderr)
        }

        let asked = try alice.hoopctl(["request", "sandbox", "--role", "write", "--reason", "look at order 9"])
        XCTAssertEqual(asked.status, 0, asked.stderr)
        let request = asked.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let mine = try alice.hoopctl(["requests", "--mine"])
        XCTAssertTrue(mine.stdout.contains(request), mine.stdout + mine.stderr)
        let denied = try dave.hoopctl(["deny", request, "--reason", "not today"])
        XCTAssertEqual(denied.status, 77, "dave is an admin, not a reviewer of write: \(denied.stderr)")

        let session = try alice.background(["exec", "sandbox", "--role", "read", "--", "sleep", "4"])
        var id: String?
        XCTAssertTrue(eventually(timeout: 20) {
            id = session.output.components(separatedBy: "session ").dropFirst().first?.prefix { $0.isHexDigit }.description
            return id?.count == 12
        }, session.output)
        let listed = try alice.hoopctl(["sessions", "--active"])
        XCTAssertTrue(listed.stdout.contains(id!), listed.stdout + listed.stderr)
        let everyone = try dave.hoopctl(["sessions", "--active"])
        XCTAssertTrue(everyone.stdout.contains(id!), "an admin sees everyone's: \(everyone.stdout)")
        let revoked = try dave.hoopctl(["revoke", id!])
        XCTAssertEqual(revoked.status, 0, revoked.stderr)
        XCTAssertNotNil(session.wait(timeout: 30))
        let ended = try alice.hoopctl(["sessions", "--json"])
        XCTAssertTrue(ended.stdout.contains("\"endedBy\":\"revoked-by-admin\""), ended.stdout)

        let audit = try dave.hoopctl(["audit", "--since", "1h", "--json", "--kind", "session"])
        XCTAssertEqual(audit.status, 0, audit.stderr)
        XCTAssertTrue(audit.stdout.contains(id!), audit.stdout)
        XCTAssertEqual(try alice.hoopctl(["audit", "--since", "1h"]).status, 77, "an analyst does not read the ledger")
        let issued = try dave.hoopctl(["token", "issue", "--subject", "service:nightly", "--ttl", "1h"])
        XCTAssertEqual(issued.status, 0, issued.stderr)
        let token = issued.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let asService = try alice.hoopctl(["whoami", "--json"], extra: ["HOOPCTL_TOKEN": token])
        XCTAssertTrue(asService.stdout.contains("service:nightly"), asService.stdout + asService.stderr)
        let providers = try dave.hoopctl(["token", "issue", "--subject", "user:alice@example.com", "--ttl", "1h"])
        XCTAssertEqual(providers.status, 64, "a provider's name is not a token's (red team rt23): \(providers.stderr)")
        let tokens = try dave.hoopctl(["token", "list"])
        XCTAssertTrue(tokens.stdout.contains("service:nightly"), tokens.stdout)
        XCTAssertFalse(tokens.stdout.contains(token), "a token is shown once, when issued")
    }

    func testBrowserLoginWithPKCEAndALoopbackRedirect() throws {
        let alice = try team.remoteUser("alice", email: "alice@example.com", groups: ["analysts"])
        try team.provider.post("/test/browser-user", ["user": "alice"])
        // The "browser": follows the provider's redirect back to hoopctl's loopback port. But
        // first someone on this host answers that port with a state of their own: the sign-in
        // is neither ended nor taken over (red team rt22: it ended).
        let browser = alice.home + "/browser.sh"
        try "#!/bin/sh\nport=$(echo \"$1\" | sed -n 's/.*127.0.0.1%3A\\([0-9]*\\).*/\\1/p')\ncurl -s -o /dev/null \"http://127.0.0.1:$port/callback?code=stolen&state=guess\"\nexec curl -s -L -o /dev/null \"$1\"\n"
            .write(toFile: browser, atomically: true, encoding: .utf8)
        chmod(browser, 0o755)
        if let user = alice.osUser { _ = try ChildProcess("chown", [user, browser]).run() }
        let login = try alice.hoopctl(["login", team.url, "--ca-file", alice.home + "/ca.pem", "--browser"], extra: ["BROWSER": browser])
        XCTAssertEqual(login.status, 0, login.stderr)
        XCTAssertTrue(login.stderr.contains("signed in to \(team.url) as user:alice@example.com"), login.stderr)
        XCTAssertEqual(try alice.hoopctl(["whoami"]).status, 0)
    }

    /// A certificate that does not name --public-host, or a key others can read, stops the start.
    func testServeRefusesACertificateWithoutItsNameOrAKeyOthersCanRead() throws {
        let home = try TemporaryDirectory("serve")
        defer { home.remove() }
        let environment = ["HOOPCTL_HOME": home.path, "HOOPCTL_BROKER": home.file("broker.sock"), "HOOPCTL_LEDGER": home.file("ledger.sqlite"),
                           "HOOPCTL_POLICY": "", "HOOPCTL_TOKEN": ""]
        func serve(_ host: String) throws -> ChildProcess.Result {
            guard let port = FreePort.find(), let proxy = FreePort.find() else { throw TestSetupError("no port") }
            return try HoopctlBinary.run(["serve", "--config", team.broker.policyPath, "--proxy-port", String(proxy), "--listen", "127.0.0.1:\(port)",
                                          "--tls-cert", team.directory.file("server.pem"), "--tls-key", team.directory.file("server.key"),
                                          "--public-host", host], environment: environment)
        }
        let wrongName = try serve("db.example.org")
        XCTAssertNotEqual(wrongName.status, 0)
        XCTAssertTrue(wrongName.stderr.contains("does not name db.example.org"), wrongName.stderr)
        chmod(team.directory.file("server.key"), 0o644)
        defer { chmod(team.directory.file("server.key"), 0o600) }
        let readable = try serve("localhost")
        XCTAssertNotEqual(readable.status, 0)
        XCTAssertTrue(readable.stderr.contains("may be read by others"), readable.stderr)
    }

    // MARK: The listeners under attack

    func attack(_ arguments: [String]) throws -> [String: Any] {
        let result = try ChildProcess("python3", [Self.clients.appendingPathComponent("network_attacks.py").path] + arguments).run()
        XCTAssertEqual(result.status, 0, result.stderr)
        return (try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]) ?? [:]
    }

    func testPlaintextSentAfterSSLRequestIsNotReadAsIfEncrypted() throws {
        let answer = try attack(["plaintext-after-ssl", String(team.proxyPort)])
        XCTAssertNotEqual(answer["answer"] as? String, "S", "no TLS is started over bytes already sent in the clear")
        XCTAssertTrue((answer["text"] as? String)?.contains("unencrypted data after an SSLRequest") == true, "\(answer)")
    }

    func testAFloodFromOneAddressIsCutWhileOthersAreServed() throws {
        let alice = try team.remoteUser("alice", email: "alice@example.com", groups: ["analysts"])
        try alice.login()
        // Requests without a token from 127.0.0.2: a few are answered 401, then the address is refused before TLS.
        let statuses = try attack(["unauthenticated", "127.0.0.2", String(team.apiPort), "30"])
        XCTAssertEqual(statuses["401"] as? Int, 10, "\(statuses)")
        XCTAssertEqual(statuses["refused"] as? Int, 20, "\(statuses)")
        XCTAssertEqual(try attack(["refused", "127.0.0.2", String(team.apiPort)])["refused"] as? Bool, true)
        XCTAssertEqual(try attack(["refused", "127.0.0.2", String(team.proxyPort)])["refused"] as? Bool, true, "the proxy shares the count")
        // A refused address that keeps sending is closed, unread, and the broker lives on (red team rt22: it crashed).
        XCTAssertEqual(try attack(["burst", "127.0.0.2", String(team.apiPort), "50"])["closed"] as? Int, 50)
        XCTAssertEqual(try attack(["burst", "127.0.0.2", String(team.proxyPort), "50"])["closed"] as? Int, 50)
        XCTAssertEqual(try team.broker.hoopctl(["whoami"]).status, 0, "the broker is alive")
        // Failures on a connection kept alive count too: it is closed once they are spent (red
        // team rt23: one connection sent 1,000 failed sign-ins).
        XCTAssertEqual(try attack(["keepalive-failures", "127.0.0.4", String(team.apiPort), "100"])["answered"] as? Int, 10)
        let cut = try team.broker.events("broker.connection-limit")
        XCTAssertTrue(cut.contains { ($0["body"] as? [String: Any])?["message"] as? String == "127.0.0.2 reached too many failed sign-ins" }, "\(cut)")

        // TLS handshakes from 127.0.0.3 as fast as eight threads go: alice, elsewhere, is served all along.
        let flood = try BackgroundProcess("python3", [Self.clients.appendingPathComponent("network_attacks.py").path, "handshakes", "127.0.0.3",
                                                      String(team.apiPort), "6"])
        Thread.sleep(forTimeInterval: 1)
        for _ in 0..<3 {
            let started = Date()
            let whoami = try alice.hoopctl(["whoami"])
            XCTAssertEqual(whoami.status, 0, whoami.stderr)
            XCTAssertLessThan(Date().timeIntervalSince(started), 3, "served promptly during the flood")
        }
        XCTAssertEqual(flood.wait(timeout: 30), 0)
        let counts = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(flood.output.split(separator: "\n").last.map(String.init)?.utf8 ?? "".utf8))
                                   as? [String: Int])
        // What one address can make the broker do: a burst of 40 handshakes, then 20 a second.
        XCTAssertLessThanOrEqual(counts["handshakes"] ?? 0, 40 + 20 * 8, "\(counts)")
    }

    func testSIGHUPReloadsTheCertificateAndABrokenOneKeepsTheCurrent() throws {
        let first = try XCTUnwrap(try attack(["serial", String(team.apiPort), team.caFile])["serial"] as? String)
        try TestCertificates.make(in: team.directory.path, names: ["DNS:localhost", "IP:127.0.0.1"])
        team.broker.signal(SIGHUP)
        var second: String?
        XCTAssertTrue(eventually(timeout: 10) {
            second = try? attack(["serial", String(team.apiPort), team.caFile])["serial"] as? String
            return second != nil && second != first
        }, "the renewed certificate is served")
        try "not a key".write(toFile: team.directory.file("server.key"), atomically: true, encoding: .utf8)
        chmod(team.directory.file("server.key"), 0o600)
        team.broker.signal(SIGHUP)
        XCTAssertTrue(eventually(timeout: 10) { ((try? team.broker.events("tls.reload-failed")) ?? []).count == 1 })
        XCTAssertEqual(try attack(["serial", String(team.apiPort), team.caFile])["serial"] as? String, second, "the current pair stays")
    }

    private func mode(_ path: String) -> UInt32? {
        var status = stat()
        guard lstat(path, &status) == 0 else { return nil }
        return UInt32(status.st_mode & 0o777)
    }
}
