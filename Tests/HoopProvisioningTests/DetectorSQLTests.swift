import HoopDetectors
import HoopPolicy
@testable import HoopProvisioning
import HoopSandbox
import HoopTestSupport
import XCTest

/// The database's copy of the detectors (for columns declared `detect`) against the in-flight
/// engine: the same output on many random texts built to hit their edges.
final class DetectorSQLTests: XCTestCase {
    /// Pieces a text is made of: what the detectors look for, near misses, words, non-ASCII.
    static let pieces: [String] = [
        "ann@example.com", "a.b+c@mail.example.co.uk", "x@localhost", "me@ex.c0m", ".lead@dots.org.", "user@@x.com", "@home", "a@b.c",
        "4111 1111 1111 1111", "4111111111111111", "4111-1111-1111-1112", "5500-0000-0000-0004", "3743 0693 1032 972", "41111111111111111111",
        "123-45-6789", "000-12-3456", "666-12-3456", "123-00-4567", "1123-45-6789", "123-45-67890",
        "GB82 WEST 1234 5698 7654 32", "DE89370400440532013000", "GB82 WEST 1234 5698 7654 33", "NL91ABNA0417164300",
        "(415) 555-0100", "415-555-0199", "+1 415.555.0123", "+44 20 7946 0958", "1-800-555-0199", "+1-312-555-1171", "555-0100", "++44 20 7946 0958",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "eyJabc.def.ghi",
        "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "AKIAIOSFODNN7EXAMPLE", "ghp_abcdefghijklmnopqrstuvwxyz0123456789", "sk_live_short",
        "EMP-123456", "EMP-12345", "xEMP-123456",
        "invoice", "paid", "exp 03/27", "2024-01-15", "v1.2.3", "ext. 141", "Café", "naïve", "漢字", "😀", "é@x.com", "José.x@mail.com",
        "12345", "007", "e", "A", "Z9", "_", "-", "+", "(", ")", ".", "@", "/",
        // Escape sequences as COPY and JSON write them: read as the separators they stand for.
        "\\n4111111111111111", "a\\tann@example.com", "\\u00014111 1111 1111 1111", "\\\\", "\\", "\\é", "x\\u004", "\\\\n(415) 555-0100",
        "\\4111111111111111", "\\(415) 555-0100", "\\\\\\\"ann@example.com", "\\\\u0001123-45-6789", "\\/", "\\u0040", "\\q",
    ]
    static let joins = [" ", " ", " ", "", "-", ".", ",", "\n", "@", "(", ")", "+", "_", "é", "1", "a", "A"]

    func randomText(_ random: inout SystemRandomNumberGenerator) -> String {
        var text = ""
        for index in 0..<Int.random(in: 1...8, using: &random) {
            if index > 0 { text += Self.joins.randomElement(using: &random)! }
            text += Self.pieces.randomElement(using: &random)!
        }
        return text
    }

    func testTheDatabaseMasksFreeTextExactlyAsTheDetectorsInFlight() throws {
        let pg = try TestPostgres.shared()
        let admin = try pg.admin()
        let policy = try XCTUnwrap(PolicyLoader.parse(yaml: DemoPolicy.yaml(user: "tester"), file: "policy.yaml", baseDirectory: "/nonexistent").policy)
        let detectors = try XCTUnwrap(policy.targets[DemoPolicy.targetName]?.detectors)
        let variants: [[Detector]] = [
            detectors,
            // Every built-in, partial, and the custom pattern first.
            [Detector(kind: .custom(name: "employee_id", pattern: "EMP-[0-9]{6}"), strategy: .redact)]
                + BuiltinDetector.allCases.map { Detector(kind: .builtin($0), strategy: .partial(4)) },
        ]
        try admin.execute("BEGIN")
        defer { _ = try? admin.execute("ROLLBACK") }
        try admin.execute(DetectorSQL.function(in: "pg_temp"))
        var random = SystemRandomNumberGenerator()
        var compared = 0, masked = 0
        for detectors in variants {
            let engine = try DetectorEngine(detectors: detectors)
            let call = "SELECT " + DetectorSQL.call(column: "$1", detectors: detectors, schema: "pg_temp")
            for _ in 0..<2500 {
                let text = randomText(&random)
                let expected = engine.mask(Array(text.utf8)).map { String(decoding: $0, as: UTF8.self) } ?? text
                let got = try admin.execute(call, [text]).scalar
                XCTAssertEqual(got, expected, "for \(text.debugDescription)")
                compared += 1
                if expected != text { masked += 1 }
            }
        }
        XCTAssertGreaterThan(masked, compared / 3, "the texts exercise the detectors")
    }
}
