@testable import HoopSQL
import XCTest

/// libpg_query has no depth guard: texts that nest deep must come back `unparseable`, with
/// the limit named, and never take the process down.
final class ParserLimitsTests: XCTestCase {
    private func only(_ sql: String) -> StatementAnalysis {
        let analyses = StatementAnalyzer().analyze(sql)
        XCTAssertEqual(analyses.count, 1)
        return analyses[0]
    }

    func testDeepTextsAreRefusedNotCrashed() {
        // 40,000 terms crashed the broker (SIGSEGV in libpg_query on an 8 MiB stack); 400,000 is 800 KB.
        for terms in [40_000, 400_000] {
            let analysis = only("SELECT 1" + String(repeating: "+1", count: terms))
            XCTAssertEqual(analysis.facts.statementClass, .unparseable)
            XCTAssertTrue(analysis.facts.notes.first?.contains("levels of parse tree") == true, "\(analysis.facts.notes)")
        }
        for deep in ["SELECT " + String(repeating: "f(", count: 30_000) + "1" + String(repeating: ")", count: 30_000),
                     "SELECT 1" + String(repeating: "::t", count: 30_000),
                     "SELECT " + String(repeating: "NOT ", count: 30_000) + "true",
                     "SELECT " + String(repeating: "(select ", count: 10_000) + "1" + String(repeating: ")", count: 10_000)] {
            XCTAssertEqual(only(deep).facts.statementClass, .unparseable, String(deep.prefix(40)))
        }
        // The same through the facts of a text of its own (what DO bodies and SQL arguments use).
        XCTAssertEqual(SQLFacts.analyze("SELECT 1" + String(repeating: "+1", count: 40_000)).statementClass, .unparseable)
    }

    /// Red team (rt18): every text over 1 KiB took turns with every other, so one client
    /// pipelining megabyte texts (seconds each) held up every user's ordinary ones. Only texts
    /// past `sharedBytes` take turns now.
    func testOrdinaryTextsDoNotWaitBehindALargeOne() {
        ParserLimits.largeParses.wait()  // a large text being parsed
        let ordinary = "select 1 /*" + String(repeating: "y", count: 2048) + "*/"
        let analysed = expectation(description: "a 2 KiB text")
        DispatchQueue.global().async {
            XCTAssertEqual(StatementAnalyzer().analyze(ordinary).first?.statementClass, "read")
            analysed.fulfill()
        }
        wait(for: [analysed], timeout: 10)
        let large = "select 2 /*" + String(repeating: "z", count: ParserLimits.sharedBytes) + "*/"
        let waited = expectation(description: "another large text")
        waited.isInverted = true
        let after = expectation(description: "its turn")
        DispatchQueue.global().async {
            _ = StatementAnalyzer().analyze(large)
            waited.fulfill()
            after.fulfill()
        }
        wait(for: [waited], timeout: 0.5)
        ParserLimits.largeParses.signal()
        wait(for: [after], timeout: 10)
    }

    func testTextsPastTheSizeLimitAreNotParsed() {
        let big = "SELECT '" + String(repeating: "x", count: ParserLimits.maxBytes) + "'"
        let analysis = only(big)
        XCTAssertEqual(analysis.facts.statementClass, .unparseable)
        XCTAssertTrue(analysis.facts.notes.first?.contains("bytes the analysis reads") == true, "\(analysis.facts.notes)")
    }

    func testRealGeneratedSQLFitsTheLimits() {
        // An ORM's IN list of 50,000 ids, a 2,000-condition OR of ANDs, a 100-term expression.
        let ids = (1...50_000).map(String.init).joined(separator: ", ")
        XCTAssertEqual(only("SELECT * FROM orders WHERE id IN (\(ids))").facts.statementClass, .read)
        let ors = (1...2_000).map { "(customer_id = \($0) AND amount > \($0))" }.joined(separator: " OR ")
        XCTAssertEqual(only("SELECT * FROM orders WHERE \(ors)").facts.statementClass, .read)
        XCTAssertEqual(only("SELECT 1" + String(repeating: " + amount", count: 100) + " FROM orders").facts.statementClass, .read)
        let values = (1...5_000).map { "(\($0), 'note \($0)')" }.joined(separator: ", ")
        XCTAssertEqual(only("INSERT INTO orders (customer_id, note) VALUES \(values)").facts.statementClass, .write)
    }

    func testSearchPathChangesAreRead() {
        func path(_ sql: String) -> SearchPathChange? { SQLFacts.analyze(sql).searchPath }
        XCTAssertEqual(path("set search_path = a, \"B c\", public"), .set(["a", "B c", "public"]))
        XCTAssertEqual(path("select set_config('search_path', '\"$user\", Public, \"Odd\"\"Name\"', false)"), .set(["$user", "public", "Odd\"Name"]))
        XCTAssertEqual(path("reset search_path"), .reset)
        XCTAssertEqual(path("discard all"), .reset)
        XCTAssertEqual(path("set local search_path to default"), SearchPathChange(.roleDefault, local: true))
        XCTAssertNil(path("alter role current_user set search_path = a"), "a role's default is not this session's path")
        XCTAssertNil(path("create function f() returns int language sql set search_path = a as 'select 1'"))
        XCTAssertEqual(SQLFacts.analyze("select set_config('search_path', 'a,,b', false)").statementClass, .admin, "unreadable: fails closed")
        XCTAssertEqual(ParseTreeWalker.relationName("Public.\"Orders\""), "public.Orders")
        XCTAssertNil(ParseTreeWalker.relationName("a.b.c.d"))
    }
}
