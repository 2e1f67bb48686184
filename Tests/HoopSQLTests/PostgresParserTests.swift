import HoopSQL
import XCTest

final class PostgresParserTests: XCTestCase {
    func testNormalizeRemovesEveryLiteral() throws {
        let normalized = try PostgresParser.normalize("SELECT * FROM customers WHERE email = 'ann@example.com' AND id > 42")
        XCTAssertEqual(normalized, "SELECT * FROM customers WHERE email = $1 AND id > $2")
        XCTAssertFalse(try PostgresParser.normalize("select E'4111\\x20card'").contains("4111"))
    }

    func testFingerprintIgnoresLiteralsAndLayout() throws {
        let a = try PostgresParser.fingerprint("SELECT name FROM customers WHERE id = 1")
        let b = try PostgresParser.fingerprint("select name\n  from customers -- comment\n where id = 99")
        let c = try PostgresParser.fingerprint("SELECT email FROM customers WHERE id = 1")
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, c)
    }

    func testSplitKeepsSemicolonsInsideStringsAndBodies() throws {
        let sql = "select 'a;b'; select $$x;y$$; create function f() returns int as $f$ select 1; $f$ language sql"
        let parts = try PostgresParser.split(sql).map { $0.trimmingCharacters(in: .whitespaces) }
        XCTAssertEqual(parts, ["select 'a;b'", "select $$x;y$$",
                               "create function f() returns int as $f$ select 1; $f$ language sql"])
    }

    func testSyntaxErrorsCarryTheirPosition() {
        XCTAssertThrowsError(try PostgresParser.parseTreeJSON("select * form customers")) { error in
            let syntax = error as? SQLSyntaxError
            XCTAssertEqual(syntax?.message, "syntax error at or near \"form\"")
            XCTAssertEqual(syntax?.position, 10)
        }
    }

    func testParseTreeIsPostgresOwn() throws {
        let tree = try PostgresParser.parseTreeJSON("delete from orders")
        XCTAssertTrue(tree.contains("\"DeleteStmt\""), tree)
        XCTAssertFalse(tree.contains("whereClause"), "no WHERE: an unbounded write")
    }
}
