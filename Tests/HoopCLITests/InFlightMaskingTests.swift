import Foundation
import HoopCommon
import HoopSandbox
import HoopTestSupport
import XCTest

/// Masking in flight: the sandbox's `notes` (free text the masking views leave alone) come back
/// through the proxy with the emails, card numbers and phone numbers in them masked.
final class InFlightMaskingTests: XCTestCase {
    func testFreeTextPIIComesBackMasked() throws {
        let pg = try TestPostgres.shared()
        let raw = try pg.admin().execute("SELECT notes FROM customers WHERE notes ~ '@|card|line' ORDER BY id").rows.compactMap { $0[0] ?? nil }
        XCTAssertGreaterThan(raw.count, 300)
        func hoopctl(_ arguments: [String]) throws -> ChildProcess.Result {
            try HoopctlBinary.run(arguments, environment: pg.environment)
        }
        let query = "select notes from customers where notes ~ '@|card|line' order by id"
        let rows = try hoopctl(["exec", "sandbox", "--quiet", "--", "psql", "-XAtc", query])
        XCTAssertEqual(rows.status, 0, rows.stderr)
        let copied = try hoopctl(["exec", "sandbox", "--quiet", "--", "psql", "-XAtc", "copy (\(query)) to stdout with (format csv)"])
        XCTAssertEqual(copied.status, 0, copied.stderr)
        for output in [rows.stdout, copied.stdout] {
            let lines = output.split(separator: "\n")
            XCTAssertEqual(lines.count, raw.count)
            XCTAssertFalse(output.contains("@"), "no address survives: \(lines.first { $0.contains("@") } ?? "")")
            XCTAssertNil(output.range(of: "[0-9]{4}[ -][0-9]{4}[ -][0-9]{4}", options: .regularExpression), "no card survives")
            XCTAssertNil(output.range(of: "\\([0-9]{3}\\) 555-[0-9]{4}", options: .regularExpression), "no phone survives")
            XCTAssertTrue(output.contains("[redacted]") && output.contains("exp 0"), "the rest of the text is there")
        }
        // What the detectors cannot read is refused, not passed.
        let binary = try hoopctl(["exec", "sandbox", "--quiet", "--", "psql", "-XAtc", "copy (select notes from customers) to stdout with (format binary)"])
        XCTAssertNotEqual(binary.status, 0)
        XCTAssertTrue(binary.stderr.contains("in-flight detectors"), binary.stderr)
        // Extended protocol, binary results: the same.
        let script = """
            import psycopg
            conn = psycopg.connect("")
            rows = conn.cursor(binary=True).execute("select notes from customers where notes like %s", ("%@%",)).fetchall()
            assert rows and not any("@" in r[0] for r in rows), rows[:3]
            print(len(rows))
            """
        let extended = try hoopctl(["exec", "sandbox", "--quiet", "--", "python3", "-c", script])
        XCTAssertEqual(extended.status, 0, extended.stderr)
        // Errors quote values: a cast that fails must not hand a note back raw.
        let cast = try hoopctl(["exec", "sandbox", "--quiet", "--", "psql", "-XAtc",
                                "select notes::int from customers where notes like '%@%' order by id limit 1"])
        XCTAssertTrue(cast.stderr.contains("invalid input syntax for type integer") && cast.stderr.contains("[redacted]"), cast.stderr)
        XCTAssertFalse(cast.stderr.contains("@"), cast.stderr)
    }
}
