import HoopDetectors
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
}
