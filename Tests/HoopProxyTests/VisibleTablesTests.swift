@testable import HoopProxy
import HoopSQL
import XCTest

final class VisibleTablesTests: XCTestCase {
    let tables = VisibleTables([
        .init(base: "public.customers", names: ["customers", "public.customers", "hoop_read_1.customers"],
              columns: [.init("id", "integer", .clear), .init("email", "text", .view), .init("notes", "text", .detector)]),
        .init(base: "public.orders", names: ["orders", "public.orders", "hoop_read_1.orders"],
              columns: [.init("id", "integer", .clear), .init("customer_id", "integer", .clear), .init("amount", "numeric(10,2)", .clear)]),
    ])
    let analyzer = StatementAnalyzer()

    func lineage(_ sql: String) -> [String] {
        let analysis = analyzer.analyze(sql)[0]
        return tables.lineage(of: analysis.facts, fingerprint: analysis.fingerprint).summary
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
    }
}
