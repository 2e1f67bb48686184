import Foundation
import HoopLedger
import HoopTestSupport
import XCTest

/// `hoopctl audit` over a ledger written through the ledger API.
final class AuditCommandTests: XCTestCase {
    var directory: TemporaryDirectory!
    var ledgerPath: String { directory.file("ledger.sqlite") }

    override func setUpWithError() throws {
        directory = try TemporaryDirectory("audit")
        let ledger = try Ledger(path: ledgerPath)
        let now = Date()
        try ledger.append([
            LedgerEntry(EventBody(name: "old", message: "two days ago"), identity: "user:alice", target: "prod",
                        time: now.addingTimeInterval(-2 * 86400)),
            LedgerEntry(SessionBody(phase: .started, role: "read", reason: "quarterly, \"numbers\"", ttlSeconds: 3600,
                                    process: CallerProcess(pid: 42, uid: 1000, executable: "/usr/bin/python3", arguments: ["train.py"])),
                        identity: "user:bob", target: "prod", session: "s-1", time: now.addingTimeInterval(-600)),
            LedgerEntry(StatementBody(sql: "SELECT * FROM customers WHERE id = $1", fingerprint: "abc", statementClass: "read",
                                      decision: "allow", rows: 1), identity: "user:bob", target: "prod", session: "s-1",
                        time: now.addingTimeInterval(-500)),
            LedgerEntry(EventBody(name: "other"), identity: "service:bot", target: "staging", time: now.addingTimeInterval(-60)),
        ])
    }

    override func tearDown() { directory.remove() }

    private func audit(_ arguments: String...) throws -> (Int32, String, String) {
        let result = try HoopctlBinary.run(["audit"] + arguments + ["--ledger", ledgerPath])
        return (result.status, result.stdout, result.stderr)
    }

    func testTableShowsReadableSummaries() throws {
        let (status, out, _) = try audit("--since", "1h")
        XCTAssertEqual(status, 0)
        let lines = out.split(separator: "\n")
        XCTAssertEqual(lines.count, 4, out)
        XCTAssertTrue(lines[0].hasPrefix("ID  TIME"), out)
        XCTAssertTrue(lines[1].contains("started role=read ttl=3600s process=/usr/bin/python3 reason=\"quarterly, \"numbers\"\""), out)
        XCTAssertTrue(lines[2].contains("allow read: SELECT * FROM customers WHERE id = $1 (1 rows)"), out)
    }

    func testFiltersCombine() throws {
        func ids(_ arguments: [String]) throws -> [Int] {
            let result = try HoopctlBinary.run(["audit", "--json", "--ledger", ledgerPath] + arguments)
            XCTAssertEqual(result.status, 0, result.stderr)
            return try result.stdout.split(separator: "\n").map {
                try XCTUnwrap((JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["id"] as? Int)
            }
        }
        XCTAssertEqual(try ids([]), [1, 2, 3, 4])
        XCTAssertEqual(try ids(["--user", "bob"]), [2, 3])
        XCTAssertEqual(try ids(["--user", "service:bot"]), [4])
        XCTAssertEqual(try ids(["--target", "prod", "--since", "1d"]), [2, 3])
        XCTAssertEqual(try ids(["--session", "s-1", "--kind", "statement"]), [3])
        XCTAssertEqual(try ids(["--kind", "event", "--kind", "session"]), [1, 2, 4])
        XCTAssertEqual(try ids(["--until", "1h"]), [1])
        XCTAssertEqual(try ids(["--limit", "2"]), [3, 4])
        XCTAssertEqual(try ids(["--since", "2020-01-01", "--until", "2100-01-01T00:00:00Z"]), [1, 2, 3, 4])
    }

    func testJSONLinesCarryTheBodyAndTheChain() throws {
        let (status, out, _) = try audit("--json", "--session", "s-1", "--kind", "session")
        XCTAssertEqual(status, 0)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        XCTAssertEqual(object["kind"] as? String, "session")
        XCTAssertEqual(object["identity"] as? String, "user:bob")
        XCTAssertEqual((object["body"] as? [String: Any])?["reason"] as? String, "quarterly, \"numbers\"")
        XCTAssertEqual(((object["body"] as? [String: Any])?["process"] as? [String: Any])?["arguments"] as? [String], ["train.py"])
        XCTAssertEqual((object["hash"] as? String)?.count, 64)
        XCTAssertEqual((object["prev_hash"] as? String)?.count, 64)
        XCTAssertTrue((object["time"] as? String)?.hasSuffix("Z") ?? false)
    }

    func testCSVQuotesWhatNeedsQuoting() throws {
        let (status, out, _) = try audit("--csv", "--kind", "session")
        XCTAssertEqual(status, 0)
        let lines = out.split(separator: "\n")
        XCTAssertEqual(lines[0], "id,time,kind,identity,target,session,summary,body,prev_hash,hash")
        XCTAssertTrue(lines[1].contains(#","started role=read ttl=3600s process=/usr/bin/python3 reason=""quarterly, ""numbers""""","#), String(lines[1]))
    }

    func testBadFlagsAreUsageErrors() throws {
        for arguments in [["--json", "--csv"], ["--since", "yesterday-ish"], ["--limit", "0"], ["--kind", "gossip"],
                          ["--since", "1h", "--until", "2h"]] {
            let result = try HoopctlBinary.run(["audit", "--ledger", ledgerPath] + arguments)
            XCTAssertEqual(result.status, 64, "\(arguments): \(result.stderr)")
            XCTAssertFalse(result.stderr.isEmpty)
        }
    }

    func testAMissingLedgerIsAnErrorForLogAndTamperingForVerify() throws {
        let missing = directory.file("missing.sqlite")
        let log = try HoopctlBinary.run(["audit", "--ledger", missing])
        XCTAssertEqual(log.status, 1)
        XCTAssertEqual(log.stderr, "hoopctl: error: no ledger at \(missing)\n")
        let verify = try HoopctlBinary.run(["audit", "verify", "--ledger", missing])
        XCTAssertEqual(verify.status, 3)
        XCTAssertFalse(FileManager.default.fileExists(atPath: missing), "reading never creates a ledger")
    }

    func testVerifyReportsCountAndHead() throws {
        let result = try HoopctlBinary.run(["audit", "verify", "--ledger", ledgerPath])
        XCTAssertEqual(result.status, 0)
        let head = try Ledger(path: ledgerPath, mode: .readOnly).records(LedgerQuery(limit: 1))[0]
        XCTAssertEqual(result.stdout, "ok: verified 4 records · head #4 sha256:\(head.hash)\n"
                       + "  checkpoints not checked (read by hand: only the broker reaches the target databases that keep them)\n")
    }
}
