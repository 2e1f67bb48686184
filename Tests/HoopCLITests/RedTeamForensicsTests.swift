import Foundation
import HoopCommon
import HoopTestSupport
import XCTest

/// The red team's attacks on issue 16's forensics, kept as tests: values that reached the
/// ledger outside the literals the capture looked at, a preview that said something else than
/// what ran, output that forged entries, checkpoints a swapped state file hid.
final class RedTeamForensicsTests: XCTestCase {
    var pg: TestPostgres.Instance!
    var broker: SeparateBroker!
    var keys: TemporaryDirectory!

    override func setUpWithError() throws {
        pg = try TestPostgres.shared()
        (broker, keys) = try ForensicsTests.sealingBroker(pg)
    }

    override func tearDown() {
        broker = nil
        keys.remove()
    }

    func ledgerBytes() -> Data { ForensicsTests.ledgerBytes(broker) }

    func psql(_ sql: String, _ extra: [String] = []) throws -> ChildProcess.Result {
        try broker.hoopctl(["exec", "sandbox"] + extra + ["--", "psql", "-X", "-c", sql])
    }

    /// Comments, quoted identifiers, utility statements the normalizer leaves alone, a number
    /// written as three (an SSN), a value in pieces, an escaped E'' string, a free-text reason:
    /// each carried a real value into the ledger in clear.
    func testNoRealValueReachesTheLedgerOutsideTheLiteralsEither() throws {
        let row = try XCTUnwrap(pg.admin().execute("SELECT email, ssn, card_number FROM customers WHERE email IS NOT NULL AND ssn IS NOT NULL "
                                                   + "AND card_number IS NOT NULL ORDER BY id DESC OFFSET 3 LIMIT 1").rows.first)
        let (email, ssn, card) = (row[0]!, row[1]!, row[2]!)
        let at = email.firstIndex(of: "@")!
        let (user, domain) = (String(email[..<at]), String(email[email.index(after: at)...]))
        let ssnParts = ssn.split(separator: "-")
        let statements = [
            "select 1 -- \(email) \(ssn)",
            "select 1 /* \(card) */",
            "select 1 as \"\(email)\"",
            "notify hoop_channel, '\(email)'",
            "prepare q(text) as select $1; execute q('\(card)')",
            "select \(ssnParts.joined(separator: "-"))",
            "select '\(user)' || '@' || '\(domain)'",
            "select '\(card.prefix(8))' || '\(card.dropFirst(8))'",
            "select E'\(user)\\x40\(domain)'",
            "select \(card.filter(\.isNumber))e0",
        ]
        for sql in statements { _ = try psql(sql) }
        let reason = try psql("select 1", ["--reason", "ticket for \(email) ssn \(ssn)"])
        XCTAssertEqual(reason.status, 0, reason.stderr)
        let job = try psql("select 1", ["--correlation-id", ssn])
        XCTAssertNotEqual(job.status, 0, "a job id that is personal data is refused")
        XCTAssertTrue(job.stderr.contains("looks like personal data"), job.stderr)

        let bytes = ledgerBytes()
        let shown = try broker.hoopctl(["audit", "--json"]).stdout + (try broker.hoopctl(["audit", "report", "--since", "1h"]).stdout)
        for value in [email, ssn, card, card.filter(\.isNumber), "'\(user)' || '@' || '\(domain)'", "\(user)\\x40\(domain)"] {
            XCTAssertNil(bytes.range(of: Data(value.utf8)), "\(value) in the ledger file")
            XCTAssertFalse(shown.contains(value), "\(value) shown")
        }
    }

    /// `E'\' -- ' or true` is a string and `or true`; shown as `'\'' -- ' or true` it read as a
    /// string and a comment. A literal shown in clear is its token as written.
    func testThePreviewSaysWhatRan() throws {
        let sql = "select count(*) from customers where id = 17 and name <> E'\\' -- ' or true"
        let run = try psql(sql)
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("1000"), run.stdout)
        let record = try XCTUnwrap(broker.records(kind: "statement").last?["body"] as? [String: Any])
        XCTAssertEqual(record["preview"] as? String, sql)
    }

    /// A newline in a comment printed a whole forged entry in `audit replay`; `<!--` in a
    /// refused statement hid the rest of the Markdown report, its reveals included.
    func testRecordedTextCannotForgeReplayLinesOrHideReportSections() throws {
        let forged = "2026-01-01T00:00:00.000000Z  revealed    user:auditor revealed values: nothing to see"
        _ = try psql("select 1 -- \n\(forged)\n")
        let session = try XCTUnwrap(broker.records(kind: "statement").last?["session"] as? String)
        let replay = try broker.hoopctl(["audit", "replay", session])
        XCTAssertEqual(replay.status, 0, replay.stderr)
        XCTAssertFalse(replay.stdout.split(separator: "\n").contains { $0.hasPrefix("2026-01-01") }, replay.stdout)

        _ = try psql("drop table orders -- <!--")
        let report = try broker.hoopctl(["audit", "report", "--since", "1h"]).stdout
        XCTAssertFalse(report.contains("<!--"), report)
        XCTAssertTrue(report.contains("&lt;!--"), report)
    }

    /// Whoever can rewrite the ledger can also replace `broker.id` beside it: checkpoints kept
    /// under the old id still name this ledger (its key, its first record), and hold it.
    func testASwappedBrokerIDDoesNotHideTheCheckpoints() throws {
        XCTAssertEqual(try psql("select 42").status, 0)
        XCTAssertEqual(try broker.hoopctl(["audit", "checkpoint"]).status, 0)
        let statement = try XCTUnwrap(broker.records(kind: "statement").last?["id"] as? Int)
        broker.process.signal(SIGKILL)
        _ = broker.process.wait(timeout: 10)
        try "0123456789abcdef\n".write(toFile: broker.directory.file("broker.id"), atomically: true, encoding: .utf8)
        let script = ProxyClientTests.clients.appendingPathComponent("ledger_rewrite.py").path
        let cut = try ChildProcess("python3", [script, broker.environment["HOOPCTL_LEDGER"]!, "truncate", String(statement)]).run()
        XCTAssertEqual(cut.status, 0, cut.stderr)
        try broker.crashAndRestart()
        let verify = try broker.hoopctl(["audit", "verify"])
        XCTAssertEqual(verify.status, 3, verify.stdout)
        XCTAssertTrue(verify.stdout.contains("were cut off the end") || verify.stdout.contains("was cut off the end"), verify.stdout)
        XCTAssertTrue(verify.stderr.contains("broker.id was replaced"), verify.stderr)
        // The restart says the ledger did not end at a clean stop's checkpoint.
        XCTAssertFalse(try broker.events("broker.unclean-stop").isEmpty)
    }
}
