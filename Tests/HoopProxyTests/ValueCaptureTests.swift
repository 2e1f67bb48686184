import Foundation
import HoopDetectors
import HoopLedger
import HoopPolicy
@testable import HoopProxy
import HoopSQL
import XCTest

/// The preview's rules, I/O-free: a value is masked by the column it meets, by the detectors
/// when it meets unmasked columns only, and redacted when it meets none (short numbers aside);
/// a literal in clear is its token as written.
final class ValueCaptureTests: XCTestCase {
    let capture = ValueCapture(policy: { var p = CapturePolicy(); p.maxValueBytes = 16; return p }(), values: .preview,
                               masking: [ColumnName(schema: "public", table: "customers", column: "email"): .email,
                                         ColumnName(schema: "public", table: "customers", column: "ssn"): .redact,
                                         ColumnName(schema: "public", table: "customers", column: "card_number"): .partial(4)],
                               detectors: try! DetectorEngine(detectors: BuiltinDetector.allCases.map { Detector(kind: .builtin($0), strategy: .redact) }),
                               sealer: nil)

    func preview(_ sql: String) throws -> String {
        let normalized = try PostgresParser.normalize(sql)
        let literals = try XCTUnwrap(LiteralExtractor.literals(in: sql, normalized: [normalized]))[0]
        let columns = ParameterColumns.of(normalized: normalized)
        return capture.capture(normalized: normalized, columns: columns, input: .init(literals: literals), context: "s").preview ?? normalized
    }

    func testValuesAreMaskedByTheColumnTheyMeet() throws {
        XCTAssertEqual(try preview("select * from customers where email = 'ann@x.com' and ssn = '078-05-1120' and id = 17"),
                       "select * from customers where email = 'a***@x.com' and ssn = '[redacted]' and id = 17")
        XCTAssertEqual(try preview("update customers set card_number = '4111111111111111' where id = 3"),
                       "update customers set card_number = '************1111' where id = 3")
    }

    func testValuesMeetingNoColumnAreRedactedButShortNumbers() throws {
        XCTAssertEqual(try preview("select 'ann' || '@' || 'x.com', 5 < 6, 123456789"),
                       "select '[redacted]' || '[redacted]' || '[redacted]', 5 < 6, '[redacted]'")
    }

    func testAClearLiteralIsItsTokenAndLongOnesAreCut() throws {
        XCTAssertEqual(try preview("select * from t where name <> E'\\' -- ' or true"), "select * from t where name <> E'\\' -- ' or true")
        XCTAssertEqual(try preview("select * from t where note = 'éééééééééééé'"), "select * from t where note = 'éééééééé…'")
    }

    /// However many values a statement binds, its preview and its sealed copy stay within 16 times
    /// max_value_bytes (red team rt20: 7,500 values of 4,200 bytes made a 72.8 MB record, and a
    /// 60 MiB text refused as unparseable an 84 MB one, and every session's statements waited
    /// behind their writing). Past the budget a sealed value keeps its length and SHA-256.
    func testAStatementsValuesAreCutToOneBudgetTogether() throws {
        let (file, publicKey) = try AuditorKeyFile.generate(passphrase: nil)
        var policy = CapturePolicy()
        policy.maxValueBytes = 16
        let sealing = ValueCapture(policy: policy, values: .sealed, masking: [:],
                                   detectors: try DetectorEngine(detectors: []), sealer: try ValueSealer(to: publicKey))
        let opener = ValueOpener(try file.privateKey(passphrase: nil))
        let count = 200
        let normalized = "select * from t where x in (" + (1...count).map { "$\($0)" }.joined(separator: ", ") + ")"
        let value = Array(String(repeating: "v", count: 40).utf8)
        let input = ValueCapture.Input(literals: nil, text: nil, types: [],
                                       parameters: Array(repeating: .init(binary: false, bytes: value, type: 0), count: count))
        let captured = sealing.capture(normalized: normalized, columns: nil, input: input, context: "s")
        let budget = 16 * 16
        let preview = try XCTUnwrap(captured.preview)
        XCTAssertLessThan(preview.utf8.count, normalized.utf8.count + budget + 3 * count, "values past the budget show as …")
        XCTAssertTrue(preview.hasSuffix("…, …)"), preview)
        let opened = try JSONDecoder().decode(CapturedValues.self, from: opener.open(try XCTUnwrap(captured.sealed), context: "s"))
        XCTAssertEqual(opened.values.reduce(0) { $0 + ($1.value?.utf8.count ?? 0) }, budget)
        XCTAssertEqual(opened.values.count, 16, "values up to the budget (the last one cut)")
        XCTAssertEqual(opened.values.last?.length, 40)
        let omitted = try XCTUnwrap(opened.omitted, "the rest summed up once")
        XCTAssertEqual(omitted.first, 17)
        XCTAssertEqual(omitted.count, count - 16, "every value is accounted for")
        XCTAssertEqual(omitted.bytes, 40 * (count - 16))
        // The record does not grow with the number of values: ten times as many seal to about as much.
        let many = ValueCapture.Input(literals: nil, text: nil, types: [],
                                      parameters: Array(repeating: .init(binary: false, bytes: value, type: 0), count: count * 10))
        let more = try XCTUnwrap(sealing.capture(normalized: normalized, columns: nil, input: many, context: "s").sealed)
        XCTAssertLessThan(more.utf8.count, try XCTUnwrap(captured.sealed).utf8.count + 64)

        // A budget left smaller than a character: the value it cuts still spends it, and the rest are summed up.
        let ascii = ValueCapture.Bound(binary: false, bytes: Array(String(repeating: "a", count: 15).utf8), type: 0)
        let wide = ValueCapture.Bound(binary: false, bytes: Array(String(repeating: "é", count: 20).utf8), type: 0)
        let edge = ValueCapture.Input(literals: nil, text: nil, types: [], parameters: Array(repeating: ascii, count: 17) + Array(repeating: wide, count: 50))
        let edged = try JSONDecoder().decode(CapturedValues.self, from: opener.open(
            try XCTUnwrap(sealing.capture(normalized: normalized, columns: nil, input: edge, context: "s").sealed), context: "s"))
        XCTAssertEqual(edged.values.count, 18, "17 whole, one cut to nothing")
        XCTAssertEqual(edged.omitted?.count, 49)

        let text = String(repeating: "select 'x' ", count: 1000)
        let whole = sealing.capture(normalized: "<unparseable>", columns: nil, input: .init(literals: nil, text: text), context: "s")
        let cut = try JSONDecoder().decode(CapturedValues.self, from: opener.open(try XCTUnwrap(whole.sealed), context: "s"))
        XCTAssertEqual(cut.text?.utf8.count, budget)
        XCTAssertEqual(cut.textLength, text.utf8.count)
        XCTAssertNotNil(cut.textSHA256)
    }
}
