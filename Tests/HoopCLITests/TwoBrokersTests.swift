import Foundation
import Crypto
import HoopCommon
import HoopTestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Two brokers (separate processes, state directories, sockets and proxies) sharing one
/// PostgreSQL control store, as a team runs them behind one name.
final class TwoBrokersTests: XCTestCase {
    var store: ControlStoreFixture!
    var brokers: [SeparateBroker] = []

    override func setUpWithError() throws {
        let pg = try TestPostgres.shared()
        try pg.createLoadTestTable()
        store = try ControlStoreFixture(pg)
        brokers = try (0..<2).map { _ in
            try SeparateBroker(pg, serveArguments: ["--store-dsn-file", store.brokerDSNFile], edit: SeparateBroker.withLoaderRole)
        }
    }

    override func tearDown() {
        brokers.removeAll()
        store?.remove()
    }

    /// `clients` psql processes through the broker's proxy, each inserting `rows` rows whose
    /// normalized INSERT names the client (client k adds k zeros: `$1 + $2 + ...`).
    func load(_ broker: SeparateBroker, clients: ClosedRange<Int>, rows: Int, marker: String, in directory: TemporaryDirectory) throws -> BackgroundProcess {
        for k in clients {
            let value = (["0"] + Array(repeating: "0", count: k)).joined(separator: " + ")
            let line = "insert into load_test (v, note) values (\(value), '\(marker)-\(k)');\n"
            try String(repeating: line, count: rows).write(toFile: directory.file("client\(k).sql"), atomically: true, encoding: .utf8)
        }
        let script = clients.map { "psql -X -q -v ON_ERROR_STOP=1 -f \(directory.file("client\($0).sql")) >/dev/null &" }.joined(separator: " ") + " wait"
        return try BackgroundProcess(HoopctlBinary.path, ["exec", "sandbox", "--quiet", "--role", "loader", "--", "sh", "-c", script],
                                     environment: broker.environment)
    }

    /// Rows in the table per client, and INSERT records per client in the shared ledger (read through `broker`).
    func rowsAndRecords(marker: String, through broker: SeparateBroker) throws -> (rows: [Int: Int], records: [Int: Int]) {
        var rows: [Int: Int] = [:]
        for row in try store.pg.admin().execute("SELECT note, count(*) FROM loadtest.load_test WHERE note LIKE $1 GROUP BY note", [marker + "-%"]).rows {
            rows[Int(row[0]!.split(separator: "-").last!)!] = Int(row[1]!)!
        }
        var records: [Int: Int] = [:]
        for record in try broker.records(kind: "statement") {
            guard let sql = (record["body"] as? [String: Any])?["sql"] as? String, sql.contains("load_test") else { continue }
            XCTAssertFalse(sql.contains(marker), "no literal in the ledger")
            records[sql.filter { $0 == "$" }.count - 2, default: 0] += 1
        }
        return (rows, records)
    }

    func testBothBrokersAppendingAtOnceKeepOneChainThatEachVerifies() throws {
        let directory = try TemporaryDirectory("two-brokers")
        defer { directory.remove() }
        let marker = "both-\(UUID().uuidString.prefix(8))"
        // Four clients through each broker's proxy at once: clients 1-4 on A, 5-8 on B.
        let onA = try load(brokers[0], clients: 1...4, rows: 1_500, marker: marker, in: directory)
        let onB = try load(brokers[1], clients: 5...8, rows: 1_500, marker: marker, in: directory)
        XCTAssertEqual(onA.wait(timeout: 180), 0, onA.output)
        XCTAssertEqual(onB.wait(timeout: 180), 0, onB.output)

        // Every row has its record in the one ledger, whichever broker it is read through.
        for broker in brokers {
            let (rows, records) = try rowsAndRecords(marker: marker, through: broker)
            for k in 1...8 {
                XCTAssertEqual(rows[k], 1_500, "client \(k)")
                XCTAssertEqual(records[k], rows[k], "client \(k): rows and INSERT records")
            }
        }
        // Both brokers' records interleave in one chain, and each verifies it whole: the other's
        // checkpoints (signed with the other's key, kept in the same target database) included.
        for broker in brokers {
            let checkpoint = try broker.hoopctl(["audit", "checkpoint"])
            XCTAssertEqual(checkpoint.status, 0, checkpoint.stderr)
        }
        for broker in brokers {
            let verify = try broker.hoopctl(["audit", "verify", "--json"])
            XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
            let report = try JSONSerialization.jsonObject(with: Data(verify.stdout.utf8)) as? [String: Any]
            XCTAssertEqual(report?["problems"] as? [String], [], verify.stdout)
            XCTAssertGreaterThanOrEqual(report?["checkpoints"] as? Int ?? 0, 2, "both brokers' checkpoints count: \(verify.stdout)")
        }
        let sessions = try brokers[0].records(kind: "session").compactMap { ($0["body"] as? [String: Any])?["broker"] as? String }
        XCTAssertEqual(Set(sessions).count, 2, "sessions of both brokers are in the one ledger: \(sessions)")
    }

    /// The active sessions a broker lists (every broker's, sharing a store).
    func activeSessions(_ broker: SeparateBroker) throws -> [[String: Any]] {
        try broker.hoopctl(["sessions", "--json"]).stdout.split(separator: "\n").compactMap {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }.filter { $0["state"] as? String == "active" }
    }

    func testARevokeThroughBCutsTheSessionOpenedOnA() throws {
        let (a, b) = (brokers[0], brokers[1])
        let session = try OpenSession(a)
        let client = try session.loggedIn()
        XCTAssertTrue(client.send(RawPostgresClient.message("Q", Array("select 1\0".utf8))))
        var answer: [RawPostgresClient.Message] = []
        while let message = client.read(), message.type != UInt8(ascii: "Z") { answer.append(message) }
        XCTAssertTrue(answer.contains { $0.type == UInt8(ascii: "D") }, "the session works through A's proxy")
        // B lists the session A opened (one store of sessions).
        let listed = try XCTUnwrap(try activeSessions(b).first { $0["id"] as? String == session.sessionID })
        let role = try XCTUnwrap(listed["roleName"] as? String)
        XCTAssertEqual(try activeSessions(a).compactMap { $0["id"] as? String }, [session.sessionID])

        let revoke = try b.hoopctl(["revoke", session.sessionID])
        XCTAssertEqual(revoke.status, 0, revoke.stderr)
        // Its connection through A is cut, its role is gone, A forgets it and lets no one in with its secret.
        XCTAssertTrue(eventually(timeout: 10) { client.isClosed() }, "the connection through A's proxy was not cut")
        XCTAssertTrue(try store.pg.admin().execute("SELECT 1 FROM pg_roles WHERE rolname = $1", [role]).rows.isEmpty, "the role outlived the revoke")
        XCTAssertTrue(try eventually(timeout: 5) { try self.activeSessions(a).isEmpty }, "A still lists the session")
        XCTAssertThrowsError(try session.loggedIn(), "A's proxy still admits the revoked session")
        // One revocation, by B, in the one ledger.
        let ends = try a.records(kind: "session").filter {
            $0["session"] as? String == session.sessionID && ($0["body"] as? [String: Any])?["phase"] as? String == "ended"
        }
        XCTAssertEqual(ends.count, 1, "\(ends)")
        let bID = try String(contentsOfFile: b.directory.file("broker.id"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual((ends.first?["body"] as? [String: Any])?["broker"] as? String, bID)
        XCTAssertEqual((ends.first?["body"] as? [String: Any])?["endedBy"] as? String, "revoked")
    }

    func testKill9OfABrokerUnderLoadThenTheOtherReapsItsSessions() throws {
        let (a, b) = (brokers[0], brokers[1])
        let directory = try TemporaryDirectory("kill-a")
        defer { directory.remove() }
        let marker = "kill-\(UUID().uuidString.prefix(8))"
        for k in 1...8 {
            let value = (["0"] + Array(repeating: "0", count: k)).joined(separator: " + ")
            try String(repeating: "insert into load_test (v, note) values (\(value), '\(marker)-\(k)');\n", count: 20_000)
                .write(toFile: directory.file("client\(k).sql"), atomically: true, encoding: .utf8)
        }
        let script = (1...8).map { "psql -X -q -f \(directory.file("client\($0).sql")) >/dev/null 2>&1 &" }.joined(separator: " ") + " wait"
        let exec = try BackgroundProcess(HoopctlBinary.path, ["exec", "sandbox", "--quiet", "--role", "loader", "--ttl", "25s", "--", "sh", "-c", script],
                                         environment: a.environment)
        let admin = try store.pg.admin()
        func rows() throws -> [Int: Int] {
            var counts: [Int: Int] = [:]
            for row in try admin.execute("SELECT note, count(*) FROM loadtest.load_test WHERE note LIKE $1 GROUP BY note", [marker + "-%"]).rows {
                counts[Int(row[0]!.split(separator: "-").last!)!] = Int(row[1]!)!
            }
            return counts
        }
        XCTAssertTrue(try eventually(timeout: 60) { let now = try rows(); return now.count == 8 && now.values.allSatisfy { $0 >= 200 } },
                      "the load did not start: \(exec.output)")
        let session = try XCTUnwrap(try activeSessions(b).first)
        let id = try XCTUnwrap(session["id"] as? String), role = try XCTUnwrap(session["roleName"] as? String)
        a.signal(SIGKILL)
        XCTAssertNotNil(exec.wait(timeout: 60), "the clients end when A's proxy goes away")

        // B ends A's session at its TTL (A is dead by then: no heartbeat), and drops its role.
        let reaped = try eventually(timeout: 60) { try admin.execute("SELECT 1 FROM pg_roles WHERE rolname = $1", [role]).rows.isEmpty }
        XCTAssertTrue(reaped, "B did not reap the session of the dead broker")
        let ends = try b.records(kind: "session").filter { $0["session"] as? String == id && ($0["body"] as? [String: Any])?["phase"] as? String == "ended" }
        XCTAssertEqual(ends.count, 1, "\(ends)")
        XCTAssertEqual((ends.first?["body"] as? [String: Any])?["endedBy"] as? String, "ttl")
        XCTAssertEqual(try b.events("session.taken-over").filter { $0["session"] as? String == id }.count, 1)
        XCTAssertTrue(try activeSessions(b).isEmpty)

        // Every row has its statement record in the shared ledger (at most the statement in flight at the kill is recorded without its row).
        _ = try eventually(timeout: 10) { try admin.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = $1", [role]).scalar == "0" }
        let inDatabase = try rows()
        var recorded: [Int: Int] = [:]
        for record in try b.records(kind: "statement") {
            guard let sql = (record["body"] as? [String: Any])?["sql"] as? String, sql.contains("load_test"), record["session"] as? String == id else { continue }
            recorded[sql.filter { $0 == "$" }.count - 2, default: 0] += 1
        }
        for k in 1...8 {
            let stored = inDatabase[k] ?? 0, logged = recorded[k] ?? 0
            XCTAssertTrue(logged == stored || logged == stored + 1, "client \(k): \(stored) rows, \(logged) INSERT records")
        }
        let verify = try b.hoopctl(["audit", "verify"])
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
    }

    func testARequestMadeOnAIsApprovedOnBAndTheExecOnAProceedsWithinASecond() throws {
        let (a, b) = (brokers[0], brokers[1])
        // Tokens are each broker's own (bob signs in to A, alice to B).
        let bob = try a.token("user:bob"), alice = try b.token("user:alice")
        let directory = try TemporaryDirectory("approve-on-b")
        defer { directory.remove() }
        let ran = directory.file("ran")
        let exec = try BackgroundProcess(HoopctlBinary.path, ["exec", "sandbox", "--role", "write", "--reason", "fix order 3", "--",
                                                              "sh", "-c", "date +%s.%N > \(ran).tmp; mv \(ran).tmp \(ran)"],
                                         environment: a.environment.merging(["HOOPCTL_TOKEN": bob]) { $1 })
        var id: String?
        XCTAssertTrue(eventually { id = exec.output.firstMatch(of: /request ([0-9a-f]{12}) created/).map { String($0.1) }; return id != nil }, exec.output)
        let request = try XCTUnwrap(id)
        // B lists the request made through A (its `created` record, followed as it was appended).
        XCTAssertTrue(try eventually(timeout: 5) { try b.hoopctl(["requests"], token: alice).stdout.contains(request) }, "B does not list A's request")
        let approve = try b.hoopctl(["approve", request, "--comment", "from B"], token: alice)
        XCTAssertEqual(approve.status, 0, approve.stderr)
        let approvedAt = Date().timeIntervalSince1970
        XCTAssertEqual(exec.wait(timeout: 30), 0, exec.output)
        let ranAt = try XCTUnwrap(Double(try String(contentsOfFile: ran, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        // From the approval on B to the command running on A: the notification, the client's next look, the session's role.
        print("approved on B → command ran on A: \(String(format: "%.0f", (ranAt - approvedAt) * 1000)) ms")
        XCTAssertLessThan(ranAt - approvedAt, 1.0, "the exec on A did not proceed within a second of the approval on B")
        XCTAssertTrue(exec.output.contains("approved by user:alice"), exec.output)
        // The approval is used once: through B too it is used.
        let again = try b.hoopctl(["exec", "sandbox", "--request", request, "--", "true"], token: try b.token("user:bob"))
        XCTAssertEqual(again.status, 78, "an approval used on A was used again on B: \(again.stderr)")
        XCTAssertTrue(again.stderr.contains("used"), again.stderr)
    }

    func testATokenIssuedThroughAIsGoodAtBAndItsRevocationThroughBEndsItsSessionOnA() throws {
        let (a, b) = (brokers[0], brokers[1])
        // One signing key for both: a token issued through A is good at B.
        let token = try a.token("user:bob")
        let whoami = try b.hoopctl(["whoami", "--json"], token: token)
        XCTAssertEqual(whoami.status, 0, whoami.stderr)
        let tokenID = try XCTUnwrap(whoami.stdout.firstMatch(of: /"tokenID":"([0-9a-f]+)"/).map { String($0.1) })
        let session = try OpenSession(a, token: token)
        XCTAssertTrue(try eventually(timeout: 5) { try b.hoopctl(["token", "list"]).stdout.contains(tokenID) }, "B does not list A's token")

        let revoke = try b.hoopctl(["token", "revoke", tokenID])
        XCTAssertEqual(revoke.status, 0, revoke.stderr)
        // A learns of it: the token is refused there, and the session it opened there ends.
        XCTAssertTrue(try eventually(timeout: 5) { try a.hoopctl(["whoami"], token: token).status == 77 }, "A still accepts the revoked token")
        XCTAssertTrue(try eventually(timeout: 10) { try self.activeSessions(a).allSatisfy { $0["id"] as? String != session.sessionID } },
                      "the session the token opened on A did not end")
        let ends = try b.records(kind: "session").filter {
            $0["session"] as? String == session.sessionID && ($0["body"] as? [String: Any])?["phase"] as? String == "ended"
        }
        XCTAssertEqual(ends.count, 1)
        XCTAssertEqual((ends.first?["body"] as? [String: Any])?["endedBy"] as? String, "token-revoked")
    }

    /// Red team: the brokers' store role read the tokens' signing key from the store and minted
    /// an admin token nobody issued. The store now holds public keys only, and another broker's
    /// token counts only with its issue record in the ledger.
    func testNoTokenCanBeMintedFromWhatTheStoreHolds() throws {
        let (a, b) = (brokers[0], brokers[1])
        let broker = try store.asBroker()
        XCTAssertEqual(try broker.execute("SELECT count(*) FROM hoopctl.shared_secrets WHERE name LIKE '%token%'").scalar, "0",
                       "no token key is kept in the store")
        // A key planted in the roster, as a holder of the brokers' DSN could: its tokens are refused.
        let planted = Curve25519.Signing.PrivateKey()
        try broker.execute("""
            INSERT INTO hoopctl.brokers (id, host, pid, checkpoint_key, token_key, started, heartbeat)
            VALUES ('f00dfeedf00dfeed', 'nowhere', 1, $1, $1, 0, (extract(epoch from now()) * 1000000)::bigint)
            """, [planted.publicKey.rawRepresentation.base64EncodedString()])
        let forged = try ForgedToken.make(subject: "user:root", by: ["user:carol"], key: planted)
        for target in [a, b] {
            let whoami = try target.hoopctl(["whoami"], token: forged)
            XCTAssertEqual(whoami.status, 77, "a minted token was accepted: \(whoami.stdout)")
            XCTAssertTrue(whoami.stderr.contains("no issue record") || whoami.stderr.contains("not issued by this broker"), whoami.stderr)
        }
        // While a token issued through A (its issue in the ledger) is good at B.
        XCTAssertEqual(try b.hoopctl(["whoami"], token: try a.token("user:bob")).status, 0)
    }

    /// Red team: the brokers' role wrote a dead-looking heartbeat and an expired TTL for a live
    /// broker's session, and the other broker ended it at once "at its TTL". The store is held to
    /// what this broker saw and to the session's ledger record now.
    func testAStoreChangedBehindTheBrokersEndsNoSessionEarly() throws {
        let (a, b) = (brokers[0], brokers[1])
        let session = try OpenSession(a, arguments: ["--ttl", "10m"])
        let role = try XCTUnwrap(try activeSessions(b).first { $0["id"] as? String == session.sessionID }?["roleName"] as? String)
        let aID = try String(contentsOfFile: a.directory.file("broker.id"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let broker = try store.asBroker()
        let until = Date().addingTimeInterval(6)
        while Date() < until {
            try broker.execute("UPDATE hoopctl.brokers SET heartbeat = 0 WHERE id = $1", [aID])
            try broker.execute("UPDATE hoopctl.sessions SET expires = 0 WHERE id = $1 AND state = 'active'", [session.sessionID])
            Thread.sleep(forTimeInterval: 0.2)
        }
        XCTAssertFalse(try store.pg.admin().execute("SELECT 1 FROM pg_roles WHERE rolname = $1", [role]).rows.isEmpty, "the session's role was dropped early")
        XCTAssertTrue(try activeSessions(a).contains { $0["id"] as? String == session.sessionID }, "A no longer holds its session")
        let ends = try b.records(kind: "session").filter {
            $0["session"] as? String == session.sessionID && ($0["body"] as? [String: Any])?["phase"] as? String == "ended"
        }
        XCTAssertEqual(ends.count, 0, "the session was ended early: \(ends)")
    }
}
