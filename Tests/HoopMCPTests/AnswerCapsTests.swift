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
        XCTAssertEqual(AnswerCaps.items(in: #"{"(1,a)","(2,\"b,c\")"}"#), 6, "array_agg of rows: two elements of two fields")
        XCTAssertEqual(AnswerCaps.items(in: #"("{1,2,3}",x)"#), 5, "an array inside a record")
        XCTAssertEqual(AnswerCaps.items(in: "(a,b,c,d)"), 4, "row(x[1], ..., x[4]): its fields")
        XCTAssertEqual(AnswerCaps.items(in: #"("[{""a"": 1}, {""a"": 2}]",1)"#), 6, "JSON inside a record ('\"\"' is a quote)")
        XCTAssertEqual(AnswerCaps.items(in: #"{"(\"{4,5}\")"}"#), 4, "array → record → array")
        XCTAssertEqual(AnswerCaps.items(in: #"[{"a":1},{"a":2},{"a":3}]"#), 6, "json_agg: three elements of one member each")
        XCTAssertEqual(AnswerCaps.items(in: #"{"1":{"a":1},"2":{"a":2}}"#), 4, "json_object_agg of rows")
        XCTAssertEqual(AnswerCaps.items(in: #"{"(1,a)": 0, "(2,b)": 0, "(3,c)": 0}"#), 3, "rows packed in the keys")
        XCTAssertEqual(AnswerCaps.items(in: #"{"name":"x","email":"y"}"#), 2, "one row as JSON: its members")
        XCTAssertEqual(AnswerCaps.items(in: "{[2,3),[4,5),(7,9]}"), 5, "range_agg: a multirange (a range written '(7,9]' reads as a record of two: counted over, never under)")
        XCTAssertEqual(AnswerCaps.items(in: #"{{1,2},{3,4}}"#), 6)
        XCTAssertEqual(AnswerCaps.items(in: #"{"a}b",c}"#), 2, "a brace inside quotes")
        // Nesting past the limit is not read: it counts as more than any cap, and never overflows.
        XCTAssertGreaterThan(AnswerCaps.items(in: String(repeating: "{", count: 100_000) + String(repeating: "}", count: 100_000)), 1_000_000)
        XCTAssertEqual(AnswerCaps.items(in: String(repeating: "(", count: 100_000)), 0, "never closed: nothing packed")
    }

    /// Bytes as the MCP message carries them, and text cut to fit, at a character, saying so.
    func testBytesAreCountedAsSentAndTextIsCut() {
        XCTAssertEqual(AnswerCaps.wireSize(Array("ab".utf8)), 2)
        XCTAssertEqual(AnswerCaps.wireSize(Array("\"\\".utf8)), 4)
        XCTAssertEqual(AnswerCaps.wireSize(Array("\u{1}".utf8)), 6)
        let caps = AnswerCaps(maxRows: 10, maxBytes: 1_024)
        XCTAssertEqual(caps.cut("short"), "short")
        let long = "invalid input syntax for type integer: \"" + String(repeating: "\u{1}é\"", count: 5_000) + "\""
        let cut = caps.cut(long)
        XCTAssertLessThanOrEqual(AnswerCaps.wireSize(cut.utf8), 1_024)
        XCTAssertTrue(cut.hasPrefix("invalid input syntax"))
        XCTAssertTrue(cut.hasSuffix("(cut: hoopctl caps an answer at 1024 bytes)"), cut)
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
