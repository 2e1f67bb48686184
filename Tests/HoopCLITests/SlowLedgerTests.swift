import Foundation
import HoopCommon
import HoopTestSupport
import XCTest

/// The ledger commits on a thread of its own: with every commit 50 ms slower (a test hook, as
/// a slow disk), only the statements waiting for their records wait. Other connections' COPY
/// data, results and cancels go on at their pace.
final class SlowLedgerTests: XCTestCase {
    func testASlowLedgerDelaysOnlyTheStatementsWaitingForIt() throws {
        let pg = try TestPostgres.shared()
        let broker = try SeparateBroker(pg, extraEnvironment: ["HOOPCTL_TEST_LEDGER_COMMIT_DELAY_MS": "50"]) { yaml in
            yaml.replacingOccurrences(of: "connection_limit: 5", with: "connection_limit: 20")
        }
        let client = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Clients/slow_ledger.py").path
        let result = try broker.hoopctl(["exec", "sandbox", "--quiet", "--", "python3", client])
        XCTAssertEqual(result.status, 0, result.stderr + result.stdout)
        let line = try XCTUnwrap(result.stdout.split(separator: "\n").last, result.stdout)
        let timings = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Double], String(line))
        print("slow ledger: \(timings)")
        let alone = try XCTUnwrap(timings["copy_alone"]), busy = try XCTUnwrap(timings["copy_busy"])
        // The hook is on: every statement waits for a commit that takes 50 ms more.
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(timings["busy_min"]), 0.045)
        XCTAssertGreaterThan(try XCTUnwrap(timings["busy_count"]), 10)
        // Commits on the event loops would stall the COPY's loop 50 ms per statement of the others.
        XCTAssertLessThan(busy, alone * 2 + 1, "the COPY slowed from \(alone) s to \(busy) s while others waited for the ledger")
        XCTAssertLessThan(try XCTUnwrap(timings["cancel"]), 1.0, "a cancel goes through while others wait for the ledger")
    }
}
