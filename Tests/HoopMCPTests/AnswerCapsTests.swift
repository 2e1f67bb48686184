import Foundation
@testable import HoopMCP
import XCTest

/// The agent's caps as a pure function: rows counted however they are packed, bytes counted
/// as the agent receives them.
final class AnswerCapsTests: XCTestCase {
    func testItemsPackedInValues() {
        XCTAssertEqual(AnswerCaps.items(in: "plain text"), 0)
        XCTAssertEqual(AnswerCaps.items(in: "{1,2,3}"), 3)
        XCTAssertEqual(AnswerCaps.items(in: "{}"), 0)
        XCTAssertEqual(AnswerCaps.items(in: "[1:3]={1,2,3}"), 3)
        XCTAssertEqual(AnswerCaps.items(in: #"{"(1,a)","(2,\"b,c\")"}"#), 2, "array_agg of rows")
        XCTAssertEqual(AnswerCaps.items(in: #"("{1,2,3}",x)"#), 3, "an array inside a record")
        XCTAssertEqual(AnswerCaps.items(in: #"("[{""a"": 1}, {""a"": 2}]",1)"#), 2, "JSON inside a record ('\"\"' is a quote)")
        XCTAssertEqual(AnswerCaps.items(in: #"{"(\"{4,5}\")"}"#), 3, "array → record → array")
        XCTAssertEqual(AnswerCaps.items(in: #"[{"a":1},{"a":2},{"a":3}]"#), 3, "json_agg")
        XCTAssertEqual(AnswerCaps.items(in: #"{"1":{"a":1},"2":{"a":2}}"#), 2, "json_object_agg of rows")
        XCTAssertEqual(AnswerCaps.items(in: #"{"name":"x","email":"y"}"#), 0, "one row as JSON")
        XCTAssertEqual(AnswerCaps.items(in: #"{{1,2},{3,4}}"#), 6)
        XCTAssertEqual(AnswerCaps.items(in: #"{"a}b",c}"#), 2, "a brace inside quotes")
        // Nesting past the limit is not read: it counts as more than any cap, and never overflows.
        XCTAssertGreaterThan(AnswerCaps.items(in: String(repeating: "{", count: 100_000) + String(repeating: "}", count: 100_000)), 1_000_000)
        XCTAssertEqual(AnswerCaps.items(in: String(repeating: "(", count: 100_000)), 0, "never closed: nothing packed")
    }

    func testRowsStopAtEitherCapOnWhatIsSent() throws {
        func answer(_ rows: [[String?]], caps: AnswerCaps) throws -> (data: Data, rows: Int, truncated: Bool) {
            var kept = 0, cut = false
            let data = try caps.answer(rows: rows) { rows, truncated, _ in
                kept = rows.count
                cut = truncated
                return ["rows": rows, "truncated": truncated]
            }
            return (data, kept, cut)
        }
        let control = try answer([[String(repeating: "\u{1}", count: 5_000)]], caps: AnswerCaps(maxRows: 10, maxBytes: 4_096))
        XCTAssertLessThanOrEqual(control.data.count, 4_096)
        XCTAssertEqual(control.rows, 0, "5,000 bytes that JSON writes as 30,000")
        XCTAssertTrue(control.truncated)

        let folded = try answer([["[" + Array(repeating: "1", count: 20).joined(separator: ",") + "]"]], caps: AnswerCaps(maxRows: 10, maxBytes: 1 << 20))
        XCTAssertEqual(folded.rows, 0)
        XCTAssertTrue(folded.truncated)

        let plain = try answer((1...20).map { [String($0)] }, caps: AnswerCaps(maxRows: 10, maxBytes: 1 << 20))
        XCTAssertEqual(plain.rows, 10)
        XCTAssertTrue(plain.truncated)
        let all = try answer((1...5).map { [String($0), nil] }, caps: AnswerCaps(maxRows: 10, maxBytes: 1 << 20))
        XCTAssertEqual(all.rows, 5)
        XCTAssertFalse(all.truncated)
    }
}
