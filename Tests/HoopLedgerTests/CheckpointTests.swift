import Foundation
import HoopLedger
import HoopTestSupport
import XCTest

/// The chain against checkpoints kept outside it: missing records are a range, a changed
/// record the first checkpoint it no longer holds.
final class CheckpointTests: XCTestCase {
    func testProblemsNameTheMissingRangeAndTheRewrittenRecord() throws {
        let directory = try TemporaryDirectory("checkpoints")
        defer { directory.remove() }
        let ledger = try Ledger(path: directory.file("ledger.sqlite"))
        for index in 0..<5 { try ledger.append(LedgerEntry(EventBody(name: "e\(index)"))) }
        let head = try XCTUnwrap(ledger.head())
        XCTAssertEqual(head.id, 5)
        func checkpoint(_ id: Int64, _ hash: String) -> LedgerCheckpoint {
            LedgerCheckpoint(broker: "b", origin: "o", recordID: id, hash: hash, timestamp: 1_000_000, signature: "", source: "target t")
        }
        XCTAssertEqual(try ledger.checkpointProblems([checkpoint(5, head.hash)]), [])
        XCTAssertEqual(try ledger.checkpointProblems([checkpoint(9, "x"), checkpoint(7, "y")]),
                       ["the checkpoint of 1970-01-01T00:00:01Z (kept in target t) names record #7, but the ledger ends at #5: records #6–#7 were cut off the end"])
        let problems = try ledger.checkpointProblems([checkpoint(3, String(repeating: "a", count: 64)), checkpoint(5, head.hash)])
        XCTAssertEqual(problems.count, 1)
        XCTAssertTrue(problems[0].hasPrefix("record #3 is not the one the checkpoint of 1970-01-01T00:00:01Z (kept in target t) signed"), problems[0])
        XCTAssertEqual(try ledger.recordedCheckpoints(), [])
    }
}
