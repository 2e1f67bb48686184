@testable import HoopSQL
import XCTest

final class StatementFactsTests: XCTestCase {
    func facts(_ sql: String) -> StatementFacts { SQLFacts.analyze(sql) }

    func testRelationsColumnsAndWritesAreAttributed() {
        let read = facts("select c.email, o.amount, name from customers c join public.orders o on o.customer_id = c.id")
        XCTAssertEqual(read.relations, ["customers", "public.orders"])
        XCTAssertEqual(read.columns, ["?.name", "customers.email", "customers.id", "public.orders.amount", "public.orders.customer_id"])
        XCTAssertEqual(read.writes, [])
        let single = facts("select email from customers where id = 1")
        XCTAssertEqual(single.columns, ["customers.email", "customers.id"])
        let cte = facts("with x as (delete from orders where id = 1 returning customer_id) select * from customers where id in (select customer_id from x)")
        XCTAssertEqual(cte.relations, ["customers", "orders"], "a CTE is not a relation")
        XCTAssertEqual(cte.writes, ["orders"])
        XCTAssertEqual(cte.statementClass, .write)
        XCTAssertEqual(cte.bounded, true)
    }

    func testBoundedMeansAWhereThatCanBeFalse() {
        XCTAssertEqual(facts("delete from orders where id = 1").bounded, true)
        XCTAssertEqual(facts("delete from orders").bounded, false)
        XCTAssertEqual(facts("update orders set amount = 1 where 1 = 1").bounded, false)
        XCTAssertEqual(facts("update orders set amount = 1 where 1 = 0").bounded, true)
        XCTAssertEqual(facts("delete from orders where id = 3 or true").bounded, false)
        XCTAssertEqual(facts("delete from orders where id = id").bounded, false)
        XCTAssertEqual(facts("delete from orders o where exists (select 1 from customers c where c.id = o.customer_id)").bounded, true)
        XCTAssertEqual(facts("delete from orders where exists (select 1 from customers)").bounded, false)
        XCTAssertNil(facts("insert into orders default values").bounded)
        XCTAssertNil(facts("select 1").bounded)
        XCTAssertEqual(facts("select 1; delete from orders where id = 1; delete from orders").bounded, false, "one unbounded write is enough")
    }

    func testFunctionsAndPrivilegedOnes() {
        let f = facts("select lower(name), pg_catalog.pg_read_file('/x'), hoop.mask_hash('1') from customers")
        XCTAssertEqual(f.functions, ["hoop.mask_hash", "lower", "pg_catalog.pg_read_file"])
        XCTAssertEqual(f.privilegedFunctions, ["hoop.mask_hash", "pg_catalog.pg_read_file"])
        XCTAssertEqual(f.statementClass, .admin)
        XCTAssertEqual(facts("select myschema.pg_read_file('/x')").statementClass, .read, "a function of another schema is not the built-in")
        XCTAssertEqual(facts("select set_config('search_path', 'x', false)").statementClass, .read)
        XCTAssertEqual(facts("select set_config('ROLE', 'x', false)").statementClass, .admin)
        XCTAssertTrue(facts("select set_config('search_path', 'x', false)").dependsOnLiterals)
    }

    func testInnerStatementsCountOnlyWhenTheyRun() {
        XCTAssertEqual(facts("explain delete from orders").statementClass, .read)
        XCTAssertNil(facts("explain delete from orders").bounded)
        XCTAssertEqual(facts("explain analyze delete from orders").bounded, false)
        let function = facts("create function f() returns void language plpgsql as $$ begin delete from orders; end $$")
        XCTAssertEqual(function.statementClass, .ddl)
        XCTAssertEqual(function.relations, ["orders"], "the body's relations are noted")
        XCTAssertNil(function.bounded, "but it does not run now")
        let block = facts("do $$ begin delete from orders where id = 1; perform pg_sleep(0); end $$")
        XCTAssertEqual(block.statementClass, .write)
        XCTAssertEqual(block.functions, ["pg_sleep"])
        XCTAssertEqual(facts("prepare p as delete from orders").prepares, "p")
        XCTAssertEqual(facts("execute p").executes, "p")
    }

    func testLiteralDependentAnalysesAreNotSharedByShape() {
        let analyzer = StatementAnalyzer()
        XCTAssertEqual(analyzer.analyze("select set_config('search_path', 'public', false)").first?.statementClass, "read")
        XCTAssertEqual(analyzer.analyze("select set_config('role', 'postgres', false)").first?.statementClass, "admin")
        XCTAssertEqual(analyzer.analyze("delete from orders where 1 = 0").first?.facts.bounded, true)
        XCTAssertEqual(analyzer.analyze("delete from orders where 1 = 1").first?.facts.bounded, false)
    }

    /// Texts of one shape (equal but for their literals), the harmless one first: each later
    /// text must get its own analysis, whatever its statement kind reads from a literal.
    func testNoShapeIsSharedBetweenTextsThatMeanDifferentThings() {
        let pairs = [
            ("SET search_path = 'information_schema'", "SET search_path = 'hoop'"),
            ("SET LOCAL search_path = 'public'", "SET LOCAL search_path = 'hoop'"),
            ("do $$ begin perform 1; end $$", "do $$ begin perform pg_sleep(1); end $$"),
            ("do 'begin perform 1; end'", "do 'begin execute ''set role postgres''; end'"),
            ("create function f() returns int language sql as 'select 1'", "create function f() returns int language sql as 'select pg_sleep(1)'"),
            ("explain (analyze 'off') delete from orders", "explain (analyze 'on') delete from orders"),
            ("select query_to_xml('select 1', true, true, '')", "select query_to_xml('select email from customers', true, true, '')"),
            ("copy orders to stdout (format 'text')", "copy orders to stdout (format 'binary')"),
            ("comment on table orders is 'a'", "comment on table orders is 'b'"),
        ]
        for (harmless, other) in pairs {
            let analyzer = StatementAnalyzer()
            _ = analyzer.analyze(harmless)
            let shared = analyzer.analyze(other).map(\.facts), fresh = StatementAnalyzer.analyzeUncached(other).map(\.facts)
            XCTAssertEqual(shared.map(\.statementClass), fresh.map(\.statementClass), other)
            XCTAssertEqual(shared.map(\.searchPath), fresh.map(\.searchPath), other)
            XCTAssertEqual(shared.map(\.functions), fresh.map(\.functions), other)
            XCTAssertEqual(shared.map(\.relations), fresh.map(\.relations), other)
            XCTAssertEqual(shared.map(\.copyOutUnreadable), fresh.map(\.copyOutUnreadable), other)
        }
    }
}

final class CommonTableExpressionScopeTests: XCTestCase {
    func relations(_ sql: String) -> [String] { SQLFacts.analyze(sql).relations }

    /// A CTE hides a relation of its name only where the server lets it.
    func testACTEsOwnBodyAndThoseBeforeItReadTheRelation() {
        XCTAssertEqual(relations("with customers as (select email from customers) select * from customers"), ["customers"])
        XCTAssertEqual(relations("with a as (select email from customers), customers as (select 1) select * from a"), ["customers"])
        XCTAssertEqual(relations("with orders as (select * from orders) select count(*) from orders"), ["orders"])
        XCTAssertEqual(relations("with c as (select 1) select * from c"), [])
        XCTAssertEqual(relations("with a as (select 1), b as (select * from a) select * from b"), [])
        XCTAssertEqual(relations("with recursive t(n) as (select 1 union all select n + 1 from t where n < 3) select * from t"), [])
        XCTAssertEqual(relations("select * from (with customers as (select 1) select * from customers) s, customers"), ["customers"])
        XCTAssertEqual(relations("with x as (select 1) insert into orders select * from x"), ["orders"])
    }
}
