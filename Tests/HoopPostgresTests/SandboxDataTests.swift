import HoopSandbox
import HoopTestSupport
import XCTest

/// The sandbox's demo data, as loaded into the real database.
final class SandboxDataTests: XCTestCase {
    func testTheShopHoldsRealisticPersonalData() throws {
        let db = try TestPostgres.shared().admin()
        XCTAssertGreaterThanOrEqual(Int(try db.execute("SELECT count(*) FROM customers").scalar ?? "0") ?? 0, 1000)
        XCTAssertGreaterThan(Int(try db.execute("SELECT count(*) FROM orders").scalar ?? "0") ?? 0, 1000)
        let columns = try db.execute("""
            SELECT column_name FROM information_schema.columns
            WHERE table_schema = 'public' AND table_name = 'customers' ORDER BY ordinal_position
            """).rows.map { $0[0] ?? "" }
        XCTAssertEqual(columns, ["id", "name", "email", "phone", "ssn", "card_number", "notes", "created_at"])
        XCTAssertEqual(try db.execute("SELECT count(*) FROM customers WHERE notes ~ '[a-z.]+@[a-z-]+\\.[a-z]+'").scalar.flatMap(Int.init) ?? 0 > 50, true,
                       "free-text notes carry emails")
        XCTAssertEqual(try db.execute("SELECT count(*) FROM customers WHERE notes ~ '[0-9]{4} [0-9]{4} [0-9]{4}'").scalar.flatMap(Int.init) ?? 0 > 20, true,
                       "free-text notes carry card numbers")
        XCTAssertEqual(try db.execute("SELECT count(*) FROM orders o LEFT JOIN customers c ON c.id = o.customer_id WHERE c.id IS NULL").scalar, "0")
    }

    func testDemoDataIsDeterministicAndCardNumbersPassLuhn() {
        let a = DemoData(), b = DemoData()
        XCTAssertEqual(a.customers, b.customers)
        XCTAssertEqual(a.orders, b.orders)
        XCTAssertEqual(a.customers.count, 1000)
        for customer in a.customers {
            XCTAssertTrue(luhn(customer.cardNumber), customer.cardNumber)
            XCTAssertTrue(customer.ssn.range(of: #"^[1-6][0-9]{2}-[0-9]{2}-[0-9]{4}$"#, options: .regularExpression) != nil)
            XCTAssertFalse(customer.ssn.hasPrefix("000") || customer.ssn.hasPrefix("666"))
        }
        XCTAssertEqual(Set(a.customers.map(\.email)).count, a.customers.count, "one email per customer")
    }

    private func luhn(_ digits: String) -> Bool {
        let sum = digits.reversed().enumerated().reduce(0) { sum, pair in
            var value = pair.element.wholeNumberValue!
            if pair.offset % 2 == 1 { value *= 2; if value > 9 { value -= 9 } }
            return sum + value
        }
        return sum % 10 == 0
    }
}
