@testable import HoopProxy
import HoopSQL
import XCTest

final class VisibleTablesTests: XCTestCase {
    let tables = VisibleTables([
        .init(base: "public.customers", view: "hoop_read_1.customers",
              columns: [.init("id", "integer", .clear), .init("email", "text", .view), .init("notes", "text", .detector)]),
        .init(base: "public.orders", view: "hoop_read_1.orders",
              columns: [.init("id", "integer", .clear), .init("customer_id", "integer", .clear), .init("amount", "numeric(10,2)", .clear)]),
        .init(base: "sales.orders", view: "hoop_read_1_sales.orders", columns: [.init("id", "integer", .clear), .init("total", "numeric", .clear)]),
    ], searchPath: ["hoop_read_1", "hoop_read_1_sales"],
       others: ["pg_catalog": ["pg_class", "pg_settings"], "public": ["customers", "orders", "audit_log"], "sales": ["orders"],
                "information_schema": ["tables"]])
    let analyzer = StatementAnalyzer()

    func lineage(_ sql: String, path: [String]? = ["hoop_read_1", "hoop_read_1_sales"], temporary: Set<String> = []) -> [String] {
        let analysis = analyzer.analyze(sql)[0]
        return tables.lineage(of: analysis.facts, fingerprint: analysis.fingerprint, path: path, temporary: temporary).summary
    }

    func testNamesResolveToBaseTablesAndColumns() {
        XCTAssertEqual(lineage("select * from customers"),
                       ["read public.customers", "read public.customers.email view", "read public.customers.id clear",
                        "read public.customers.notes detector"])
        XCTAssertEqual(lineage("select c.email from hoop_read_1.customers c join orders o on o.customer_id = c.id where amount > 1"),
                       ["read public.customers", "read public.customers.email view", "read public.customers.id clear", "read public.orders",
                        "read public.orders.amount clear", "read public.orders.customer_id clear"])
        // An unqualified column two tables have: each is named (may have been read).
        XCTAssertEqual(lineage("select id from customers, orders").filter { $0.hasSuffix(".id clear") },
                       ["read public.customers.id clear", "read public.orders.id clear"])
        XCTAssertEqual(lineage("update orders set amount = 0 where id = 1"),
                       ["write public.orders", "read public.orders.id clear"])
        XCTAssertEqual(lineage("select 1"), [])
        XCTAssertEqual(lineage("select x from elsewhere"), [], "tables the session cannot see are not guessed at")
        // A whole row, however it is asked for, reads every column.
        let everyColumn = ["read public.customers", "read public.customers.email view", "read public.customers.id clear",
                           "read public.customers.notes detector"]
        for sql in ["select c from customers c", "select row_to_json(c) from customers c", "select (customers).email from customers",
                    "select table_to_xml('customers', true, true, '')"] {
            XCTAssertEqual(lineage(sql), everyColumn, sql)
        }
    }

    func testNamesResolveThroughTheSessionsSearchPath() {
        let role = tables.searchPath
        XCTAssertEqual(tables.resolve("orders", path: role), "public.orders", "the first schema on the path that has it")
        XCTAssertEqual(tables.resolve("orders", path: ["hoop_read_1_sales", "hoop_read_1"]), "sales.orders")
        XCTAssertEqual(tables.resolve("pg_class", path: role), "pg_catalog.pg_class", "pg_catalog comes first unless placed")
        XCTAssertEqual(tables.resolve("audit_log", path: ["public"]), "public.audit_log")
        XCTAssertNil(tables.resolve("audit_log", path: role), "no schema on the path has it")
        XCTAssertNil(tables.resolve("orders", path: nil), "an unknown path resolves nothing")
        XCTAssertNil(tables.resolve("orders", path: role, temporary: ["orders"]), "a temporary table may hide it")
        XCTAssertEqual(tables.resolve("hoop_read_1_sales.orders", path: nil), "sales.orders", "a view names its base table")
        XCTAssertEqual(tables.resolve("elsewhere.thing", path: role), "elsewhere.thing", "qualified names stay as written")
        XCTAssertEqual(tables.resolve("tables", path: ["information_schema"]), "information_schema.tables")
        // The lineage follows the same path; when it cannot be told, every visible table of that name may have been read.
        XCTAssertEqual(lineage("select total from orders", path: ["hoop_read_1_sales", "hoop_read_1"]),
                       ["read sales.orders", "read sales.orders.total clear"])
        XCTAssertEqual(lineage("select 1 from orders", path: nil), ["read public.orders", "read sales.orders"])
        XCTAssertEqual(lineage("select 1 from orders", temporary: ["orders"]), ["read public.orders", "read sales.orders"])
    }
}

final class SearchPathTrackerTests: XCTestCase {
    let analyzer = StatementAnalyzer()
    let role = ["hoop_r_1"]
    let I = UInt8(ascii: "I"), T = UInt8(ascii: "T"), E = UInt8(ascii: "E")

    func facts(_ sql: String) -> StatementFacts { analyzer.analyze(sql)[0].facts }

    /// Runs statements as the server would answer them: `!` before a text fails it.
    func run(_ steps: [Any], from tracker: SearchPathTracker? = nil) -> SearchPathTracker.Path {
        var tracker = tracker ?? SearchPathTracker(roleDefault: role)
        for step in steps {
            if let status = step as? UInt8 { tracker.ready(status: status); continue }
            let sql = step as! String
            if sql.hasPrefix("!") { tracker.failed() } else { tracker.completed(facts(sql)) }
        }
        return tracker.current
    }

    func testTransactionsKeepOrUndoChanges() {
        XCTAssertEqual(run(["set search_path = a", I]), .known(["a"]))
        XCTAssertEqual(run(["set search_path = a", "!select 1/0", I]), .known(role), "an error ends an implicit transaction undone")
        XCTAssertEqual(run(["begin", "set search_path = a", "commit", I]), .known(["a"]))
        XCTAssertEqual(run(["begin", "set search_path = a", "rollback", I]), .known(role))
        XCTAssertEqual(run(["begin", "set search_path = a", T, "!x", E, "commit", I]), .known(role), "COMMIT of a failed block rolls back")
        XCTAssertEqual(run(["begin", "set local search_path = a", T]), .known(["a"]))
        XCTAssertEqual(run(["begin", "set local search_path = a", "commit", I]), .known(role), "LOCAL ends with the transaction")
        XCTAssertEqual(run(["begin", "savepoint s", "set search_path = a", "rollback to savepoint s", "commit", I]), .known(role))
        XCTAssertEqual(run(["begin", "set search_path = a", "savepoint s", "!x", "rollback to s", "commit", I]), .known(["a"]))
        XCTAssertEqual(run(["begin", "savepoint s", "set search_path = a", "release s", "commit", I]), .known(["a"]))
        XCTAssertEqual(run(["set search_path = a", I, "reset search_path", I]), .known(role))
        XCTAssertEqual(run(["select set_config('search_path', 'b', false)", I]), .known(["b"]))
        XCTAssertEqual(run(["begin", "select set_config('search_path', 'b', true)", "commit", I]), .known(role))
        XCTAssertEqual(run(["select set_config('search_path', 'b', false) where random() > 0.5", I]), .unknown,
                       "a set_config that may not run")
        XCTAssertEqual(run(["select set_config('search_path', 'b', false) where random() > 0.5", I, "set search_path = c", I]), .known(["c"]))
        XCTAssertEqual(run(["do $$ begin set search_path = a; end $$", I]), .unknown)
        XCTAssertEqual(run(["begin", "do $$ begin perform set_config('search_path', 'a', false); end $$", "rollback", I]), .unknown,
                       "what a DO block did cannot be told")
    }

    func testTheExpectedPathWaitsForEarlierBatches() {
        var names = NameResolution(roleDefault: role)
        XCTAssertNil(names.mustWait(readySent: 0, readyAnswered: 0))
        names.sending(facts("set search_path = a"), group: 1)
        XCTAssertEqual(names.path, ["a"], "later statements of the same batch run with it")
        XCTAssertNil(names.mustWait(readySent: 0, readyAnswered: 0), "still the same batch")
        XCTAssertEqual(names.mustWait(readySent: 1, readyAnswered: 0), 1, "a later batch waits for it")
        names.failed()
        names.ready(status: I, answered: 1)
        XCTAssertEqual(names.path, role, "it failed: the server's path is the expected one again")
        XCTAssertNil(names.mustWait(readySent: 1, readyAnswered: 1))
        names.sending(facts("create temp table orders (id int)"), group: 2)
        XCTAssertEqual(names.temporary, ["orders"])
        XCTAssertFalse(names.isRoleDefault)
    }

    func testStatementsSayWhatTheyDoToTheSession() {
        XCTAssertEqual(facts("set local search_path = a").searchPath, .set(["a"], local: true))
        XCTAssertEqual(facts("select pg_catalog.set_config('search_path', 'a', 't')").searchPath, .set(["a"], local: true))
        XCTAssertEqual(facts("select set_config('search_path', 'a', false), 1").searchPath, SearchPathChange(.unknown))
        XCTAssertEqual(facts("select * from (select set_config('search_path', 'a', false)) s").searchPath, SearchPathChange(.unknown))
        XCTAssertEqual(facts("select set_config('search_path', 'a', $1)").statementClass, .admin, "LOCAL or not cannot be told")
        XCTAssertEqual(facts("commit and chain").transaction, .commit(chain: true))
        XCTAssertEqual(facts("end").transaction, .commit(chain: false))
        XCTAssertEqual(facts("start transaction").transaction, .begin)
        XCTAssertEqual(facts("rollback to savepoint \"S 1\"").transaction, .rollbackTo("S 1"))
        XCTAssertEqual(facts("release s").transaction, .release("s"))
        XCTAssertEqual(facts("create temporary table t (a int)").temporaryRelations, ["t"])
        XCTAssertEqual(facts("create table pg_temp.t (a int)").temporaryRelations, ["t"])
        XCTAssertEqual(facts("create temp view v as select 1").temporaryRelations, ["v"])
        XCTAssertEqual(facts("select * from t").temporaryRelations, [])
        XCTAssertEqual(facts("create function f() returns void language plpgsql as $$ begin perform set_config('search_path', 'x', false); end $$")
                        .statementClass, .admin, "code that would move the session's names when called")
        XCTAssertEqual(facts("create function f() returns int language sql set search_path = x as 'select 1'").statementClass, .ddl)
        XCTAssertEqual(facts("select query_to_xml('select set_config(''search_path'', ''x'', false)', true, true, '')").searchPath,
                       SearchPathChange(.unknown))
    }
}
