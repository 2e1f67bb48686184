import HoopSQL
import XCTest

/// The literals of a text, read by laying PostgreSQL's normalized text over it: putting them
/// back into the normalized text gives the text again, byte for byte, for every literal form.
final class LiteralExtractorTests: XCTestCase {
    static let texts = [
        "select 1",
        "select * from customers where email = 'a@b.c' and id = 17",
        "select 'it''s', E'a\\'b\\\\', $$dollar 'quoted'$$, $tag$x$tag$",
        "select -1, - 2.5, .5, 1e10, 1.5E-3, 42::bigint",
        "select 'con'\n  'tinued', interval '1 day', date '2026-01-01'",
        "select true, false, null, B'101', X'ff', N'national', U&'d\\0061t'",
        "select * from t where a = $1 and b = 'x' and c = $2",
        "/* lead */ select 1; -- between\nselect 'two' ; ",
        "select 'ünïcödé', 'emoji 🎉' from t where x in (1, 2, 3)",
        "update orders set amount = 0 where id = 17",
        "insert into customers (email, ssn) values ('x@y.z', '123-45-6789'), ('p@q.r', null)",
    ]

    func testLiteralsPutBackGiveTheTextAgain() throws {
        for text in Self.texts {
            let statements = try PostgresParser.split(text).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
            let normalized = try statements.map { try PostgresParser.normalize($0) }
            let literals = try XCTUnwrap(LiteralExtractor.literals(in: text, normalized: normalized), text)
            XCTAssertEqual(literals.count, statements.count)
            for (index, statement) in statements.enumerated() {
                let rebuilt = Placeholders.substitute(normalized[index]) { literals[index][$0]?.token }
                XCTAssertEqual(rebuilt, statement, text)
            }
        }
    }

    func testValuesAreWhatTheLiteralsHold() throws {
        let text = "select 'it''s', -1, 'a'\n'b', true, $1"
        let normalized = try PostgresParser.normalize(text)
        let literals = try XCTUnwrap(LiteralExtractor.literals(in: text, normalized: [normalized]))[0]
        XCTAssertEqual(literals.values.sorted { $0.token < $1.token }.map(\.value).sorted(), ["-1", "ab", "it's", "true"])
        XCTAssertEqual(literals.count, 4, "the client's own $1 is not a literal")
    }

    /// Red team (rt18): a multi-statement Parse is recorded as one text of joined normalized
    /// statements, whose numbers start again in each: laid over as one, `select 2; select 3`
    /// showed 3 twice in the preview. A number met twice names no value.
    func testJoinedStatementsAreNotOneStatementsShape() {
        XCTAssertNil(LiteralExtractor.literals(in: "select 2 as a; select 3 as b", normalized: ["select $1 as a; select $1 as b"]))
        XCTAssertEqual(LiteralExtractor.literals(in: "select 2 as a; select 3 as b", normalized: ["select $1 as a", "select $1 as b"])?
            .map { $0[1]?.token }, ["2", "3"])
    }

    /// What does not line up is never guessed at.
    func testWhatDoesNotLineUpIsNil() {
        XCTAssertNil(LiteralExtractor.literals(in: "select 'a'", normalized: ["select $1 + 1"]))
        XCTAssertNil(LiteralExtractor.literals(in: "select 'unterminated", normalized: ["select $1"]))
    }

    func testColumnsOfParameters() throws {
        func columns(_ sql: String) throws -> [Int: [String]] {
            try XCTUnwrap(ParameterColumns.of(normalized: PostgresParser.normalize(sql)))
        }
        XCTAssertEqual(try columns("select * from c where email = 'x' and 3 < id"), [1: ["email"], 2: ["id"]])
        XCTAssertEqual(try columns("update c set ssn = '1' where lower(email) like 'a%'"), [1: ["ssn"], 2: ["email"]])
        XCTAssertEqual(try columns("insert into c (email, ssn) values ('a', 'b')"), [1: ["email"], 2: ["ssn"]])
        XCTAssertEqual(try columns("insert into c values ('a', 'b')"), [1: ["*:c"], 2: ["*:c"]])
        XCTAssertEqual(try columns("select * from c where email in ('a', 'b')"), [1: ["email"], 2: ["email"]])
        XCTAssertEqual(try columns("select * from c where 'a' = any (select email from c)"), [1: ["email"]])
        XCTAssertEqual(try columns("select * from c where 'a' in (select lower(ssn) from c)"), [1: ["ssn"]])
        XCTAssertEqual(try columns("select 'a'"), [:])
    }
}
