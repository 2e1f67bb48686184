@testable import HoopSQL
import XCTest

final class SQLShapeTests: XCTestCase {
    func testQueriesThatDifferOnlyInLiteralsShareAShape() throws {
        let a = try XCTUnwrap(SQLShape("SELECT abalance FROM pgbench_accounts WHERE aid = 17;"))
        let b = try XCTUnwrap(SQLShape("SELECT abalance FROM pgbench_accounts WHERE aid = 90210;"))
        XCTAssertEqual(a, b)
        XCTAssertEqual(a.literals, 1)
        XCTAssertEqual(SQLShape("select * from \"Odd 'name\" where x = 'it''s' and y > 1.5e3"),
                       SQLShape("select * from \"Odd 'name\" where x = 'other' and y > 2"))
        XCTAssertNotEqual(SQLShape("select * from t1 where a = 1"), SQLShape("select * from t2 where a = 1"))
        XCTAssertNotEqual(SQLShape("select 'a'\n'b'"), SQLShape("select 'a' 'b'"), "whitespace between literals is kept")
    }

    func testAnythingItDoesNotLexExactlyHasNoShape() {
        for sql in ["select E'it\\'s'", "select e'x'", "select B'101'", "select X'ff'", "select N'x'", "select U&'d\\0061t'",
                    "select $$x$$", "select $1", "select 1 -- 2", "select /* 'x */ 1", "select 'open", "select \"open",
                    "select 1e", "select 123abc", "select .5", "select 1..2", "select a\\b", "select \u{1}s = 1",
                    "select * from t where a = b"] {
            XCTAssertNil(SQLShape(sql), sql)
        }
    }

    func testTheAnalyzerSharesOnlyWhenEveryLiteralWasNormalizedAway() {
        let analyzer = StatementAnalyzer()
        let first = analyzer.analyze("select name from customers where id = 1")
        let second = analyzer.analyze("select name from customers where id = 2")
        XCTAssertEqual(first, second)
        XCTAssertEqual(first.first?.normalized, "select name from customers where id = $1")
        // A literal the normalizer keeps (a type modifier) must not leak into other texts' records.
        let ten = analyzer.analyze("select 'x'::varchar(10)")
        let twenty = analyzer.analyze("select 'x'::varchar(20)")
        XCTAssertNotEqual(ten.first?.normalized, twenty.first?.normalized)
        XCTAssertTrue(twenty.first?.normalized.contains("20") ?? false, "\(twenty)")
        // Several statements, one shape.
        XCTAssertEqual(analyzer.analyze("select 1; delete from orders where id = 5").map(\.statementClass), ["read", "write"])
        XCTAssertEqual(analyzer.analyze("select 7; delete from orders where id = 8").map(\.normalized),
                       ["select $1", "delete from orders where id = $1"])
    }
}
