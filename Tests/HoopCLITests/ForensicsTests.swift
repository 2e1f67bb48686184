import Foundation
import HoopCommon
import HoopTestSupport
import XCTest

/// What an auditor relies on (issue 16), and what the ledger must never keep: a command line's
/// secrets and personal data.
final class ForensicsTests: XCTestCase {
    var pg: TestPostgres.Instance!
    var broker: SeparateBroker!

    override func setUpWithError() throws {
        pg = try TestPostgres.shared()
        broker = try SeparateBroker(pg) { $0 }
    }

    override func tearDown() { broker = nil }

    /// With write access to the ledger file (what a compromised host gives), rows added to the
    /// lineage index appeared in `audit trace` and the report while `audit verify` passed.
    /// verify now recounts the index from the statement records.
    func testAForgedLineageRowFailsVerification() throws {
        let run = try broker.hoopctl(["exec", "sandbox", "--", "psql", "-XAtc", "select email from customers limit 1"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(try broker.hoopctl(["audit", "verify"]).status, 0)
        let ledger = broker.environment["HOOPCTL_LEDGER"]!
        let forge = try ChildProcess("python3", ["-c", """
            import sqlite3, sys
            db = sqlite3.connect(sys.argv[1], timeout=10)
            db.execute("INSERT INTO lineage (item, hour, session, fingerprint, access, masking, identity, target, job, statements, first, last) "
                       "VALUES ('public.customers.ssn', 0, 'x', 'f', 'read', 'clear', 'user:alice', 'sandbox', '', 42, 1, 2)")
            db.commit()
            """, ledger]).run()
        XCTAssertEqual(forge.status, 0, forge.stderr)
        for arguments in [["audit", "verify"], ["audit", "verify", "--ledger", ledger]] {
            let verify = try broker.hoopctl(arguments)
            XCTAssertEqual(verify.status, 3, "\(arguments): \(verify.stdout)")
            XCTAssertTrue(verify.stdout.contains("lineage row not borne out by any statement record: read public.customers.ssn clear by user:alice"),
                          verify.stdout)
        }
    }

    /// `hoopctl exec prod -- psql ... 'x@y.z'` used to put the email (and a password in a
    /// URI) into the session record, `sessions` and every statement's job name. Real values of
    /// the sandbox, then secret shapes: none reaches the ledger file's bytes, its WAL included.
    func testACommandLineIsMaskedBeforeItIsRecordedOrShown() throws {
        let admin = try pg.admin()
        let row = try XCTUnwrap(admin.execute("SELECT email, ssn, card_number FROM customers WHERE email IS NOT NULL AND ssn IS NOT NULL ORDER BY id LIMIT 1").rows.first)
        let values = row.compactMap { $0 }
        XCTAssertEqual(values.count, 3)
        let marker = String(UUID().uuidString.prefix(8))
        let secrets = ["uri-\(marker)", "env-\(marker)", "flag-\(marker)", "conn-\(marker)"]
        let run = try broker.hoopctl(["exec", "sandbox", "--", "sh", "-c", "psql -XAtc 'select 1' >/dev/null", "job",
                                      "postgres://app:\(secrets[0])@db.example/shop", "PGPASSWORD=\(secrets[1])", "--password", secrets[2],
                                      "host=db password=\(secrets[3])", "where email = '\(values[0])'", values[1], values[2]])
        XCTAssertEqual(run.status, 0, run.stderr)

        let shown = try broker.hoopctl(["sessions", "--json"]).stdout + (try broker.hoopctl(["audit", "--json"]).stdout)
        XCTAssertTrue(shown.contains("postgres://app:***@db.example/shop"), shown)
        var bytes = Data()
        for suffix in ["", "-wal"] {
            bytes.append(FileManager.default.contents(atPath: broker.environment["HOOPCTL_LEDGER"]! + suffix) ?? Data())
        }
        XCTAssertGreaterThan(bytes.count, 0)
        for value in values + secrets {
            XCTAssertFalse(shown.contains(value), "\(value) shown")
            XCTAssertNil(bytes.range(of: Data(value.utf8)), "\(value) in the ledger file")
        }
    }
}
