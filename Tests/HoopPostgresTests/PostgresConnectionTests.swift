import HoopPostgres
import HoopTestSupport
import XCTest

/// libpq against the real sandbox PostgreSQL.
final class PostgresConnectionTests: XCTestCase {
    func testParametersAreValuesNeverSQL() throws {
        let db = try TestPostgres.shared().admin()
        let hostile = "x'); DROP TABLE customers; --"
        let result = try db.execute("SELECT $1::text AS value, $2::int + 1 AS next, $3::text IS NULL AS missing", [hostile, "41", nil])
        XCTAssertEqual(result.columns, ["value", "next", "missing"])
        XCTAssertEqual(result.rows, [[hostile, "42", "t"]])
        XCTAssertEqual(try db.execute("SELECT count(*) FROM customers").scalar.flatMap(Int.init) ?? 0 >= 1000, true)
    }

    func testIdentifiersAreQuotedByLibpq() throws {
        let db = try TestPostgres.shared().admin()
        let name = #"we"ird; name"#
        let quoted = try db.quoteIdentifier(name)
        XCTAssertEqual(quoted, #""we""ird; name""#)
        try db.transaction { db in
            try db.execute("CREATE TEMP TABLE \(quoted) (v int)")
            try db.execute("INSERT INTO \(quoted) VALUES ($1)", ["7"])
            XCTAssertEqual(try db.execute("SELECT v FROM \(quoted)").scalar, "7")
            XCTAssertEqual(try db.quoteQualified("pg_temp", name), #""pg_temp"."we""ird; name""#)
        }
    }

    func testErrorsCarrySQLStateButKeepRowValuesOutOfTheDescription() throws {
        let db = try TestPostgres.shared().admin()
        let email = try XCTUnwrap(db.execute("SELECT email FROM customers WHERE id = 1").scalar)
        XCTAssertThrowsError(try db.execute("INSERT INTO customers (id, name, email, created_at) VALUES (1, 'x', $1, now())", [email])) { error in
            let postgres = error as? PostgresError
            XCTAssertEqual(postgres?.sqlState, "23505")
            XCTAssertTrue(postgres?.detail?.contains("(id)=(1)") ?? false, "the detail is kept apart")
            XCTAssertFalse("\(error)".contains("(id)=(1)"), "\(error)")
        }
    }

    func testATransactionThatThrowsIsRolledBack() throws {
        let db = try TestPostgres.shared().admin()
        try db.execute("CREATE TEMP TABLE rollback_probe (v int)")
        struct Abort: Error {}
        XCTAssertThrowsError(try db.transaction { db in
            try db.execute("INSERT INTO rollback_probe VALUES (1)")
            throw Abort()
        })
        XCTAssertEqual(try db.execute("SELECT count(*) FROM rollback_probe").scalar, "0")
    }

    func testAFailedLoginNeverShowsThePassword() throws {
        let state = try TestPostgres.shared().state
        let conninfo = ConnectionString.make(["host": state.socketDirectory, "port": String(state.port),
                                              "user": state.adminUser, "dbname": "shop", "password": "not-the-password-Zq9"])
        XCTAssertThrowsError(try PostgresConnection(conninfo: conninfo)) { error in
            XCTAssertTrue("\(error)".contains("password authentication failed"), "\(error)")
            XCTAssertFalse("\(error)".contains("Zq9"))
        }
    }

    func testConnectionStringsQuoteEveryValue() {
        XCTAssertEqual(ConnectionString.make(["host": "/tmp/a b", "password": #"it's\"#, "sslmode": nil]),
                       #"host='/tmp/a b' password='it\'s\\'"#)
    }
}
