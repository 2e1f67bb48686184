import HoopDetectors
import HoopPolicy
import XCTest

/// Command lines as the ledger may keep them: secret shapes masked whatever the policy says,
/// personal data masked by the target's detectors.
final class CommandLineMaskTests: XCTestCase {
    func mask(_ arguments: [String], detectors: DetectorEngine? = nil) -> [String] { CommandLineMask.mask(arguments, detectors: detectors) }

    func testSecretShapes() {
        XCTAssertEqual(mask(["psql", "postgres://app:s3cret@db.example:5432/shop?sslmode=require"]),
                       ["psql", "postgres://app:***@db.example:5432/shop?sslmode=require"])
        XCTAssertEqual(mask(["env", "PGPASSWORD=s3cret", "AWS_SECRET_ACCESS_KEY=abc/def", "PATH=/usr/bin", "psql"]),
                       ["env", "PGPASSWORD=***", "AWS_SECRET_ACCESS_KEY=***", "PATH=/usr/bin", "psql"])
        XCTAssertEqual(mask(["tool", "--password", "s3cret", "--user", "bob", "--token=abc.def", "--port", "5432"]),
                       ["tool", "--password", "***", "--user", "bob", "--token=***", "--port", "5432"])
        XCTAssertEqual(mask(["psql", "host=db user=app password='s3 cret' dbname=shop"]), ["psql", "host=db user=app password=*** dbname=shop"])
        XCTAssertEqual(mask(["curl", "-H", "Authorization: Bearer eyJabc.def", "https://x.example/?api_key=K123&q=1"]),
                       ["curl", "-H", "Authorization: Bearer ***", "https://x.example/?api_key=***&q=1"])
        XCTAssertEqual(mask(["sh", "-c", "HOOPCTL_TOKEN=hoop1.eyJpZCI6IjEifQ.c2ln hoopctl approve 1"]),
                       ["sh", "-c", "HOOPCTL_TOKEN=*** hoopctl approve 1"])
        XCTAssertEqual(mask(["echo", "hoop1.eyJpZCI6IjEifQ.c2ln", "hoop1.", "x"]), ["echo", "hoop1.***", "hoop1.", "x"])
        XCTAssertEqual(mask(["psql", "-XAtc", "select 1", "--port=5432", "https://example.com/a:b"]),
                       ["psql", "-XAtc", "select 1", "--port=5432", "https://example.com/a:b"], "nothing secret: unchanged")
    }

    func testTheDetectorsMaskPersonalData() throws {
        let engine = try DetectorEngine(detectors: [Detector(kind: .builtin(.email), strategy: .redact),
                                                    Detector(kind: .builtin(.creditCard), strategy: .redact)])
        let masked = mask(["psql", "-c", "select * from customers where email = 'jane.doe@example.com'", "4111 1111 1111 1111"], detectors: engine)
        XCTAssertFalse(masked.joined().contains("jane.doe@example.com"), "\(masked)")
        XCTAssertFalse(masked.joined().contains("4111 1111 1111 1111"), "\(masked)")
        XCTAssertTrue(masked[2].hasPrefix("select * from customers where email = '"), "\(masked)")
    }
}

extension CommandLineMaskTests {
    /// Values written so that no detector sees them (in pieces, escaped) are still values:
    /// quoted strings and long digit runs are hidden whatever the detectors say.
    func testValuesInPiecesOrEscapedAreHidden() {
        XCTAssertEqual(mask(["psql", "-c", "select 'ann' || '@' || 'x.com', E'ann\\x40x.com', 37736349 || 7872025, id = 17"]),
                       ["psql", "-c", "select '***' || '***' || '***', E'***', *** || ***, id = 17"])
        XCTAssertEqual(mask(["--port", "5432", "it''s 'open"]), ["--port", "5432", "it'***'s '***"])
    }
}
