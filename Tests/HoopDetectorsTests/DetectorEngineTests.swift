@testable import HoopDetectors
import HoopPolicy
import HoopSandbox
import XCTest

final class DetectorEngineTests: XCTestCase {
    func engine(_ kinds: [BuiltinDetector], strategy: DetectorStrategy = .redact) throws -> DetectorEngine {
        try DetectorEngine(detectors: kinds.map { Detector(kind: .builtin($0), strategy: strategy) })
    }

    func masked(_ engine: DetectorEngine, _ text: String) -> String {
        engine.mask(Array(text.utf8)).map { String(decoding: $0, as: UTF8.self) } ?? text
    }

    func found(_ kind: BuiltinDetector, _ text: String) throws -> [String] {
        let bytes = Array(text.utf8)
        return try engine([kind]).matches(in: bytes).map { String(decoding: bytes[$0.range], as: UTF8.self) }
    }

    func testEachBuiltInFindsItsKindAndLeavesLookAlikes() throws {
        XCTAssertEqual(try found(.email, "Send invoices to anna.b+x@mail.example.com. Thanks"), ["anna.b+x@mail.example.com"])
        XCTAssertEqual(try found(.email, "a@b, @home, x@localhost, me@ex.c0m, user@@x.com"), [])
        XCTAssertEqual(try found(.creditCard, "card 4111 1111 1111 1111, exp 03/27; 5500-0000-0000-0004 and 4012888888881881"),
                       ["4111 1111 1111 1111", "5500-0000-0000-0004", "4012888888881881"])
        XCTAssertEqual(try found(.creditCard, "order 4111111111111112, phone 4155550100, id 12345678901234567890123"), [], "Luhn and length")
        XCTAssertEqual(try found(.ssn, "ssn 123-45-6789; not 000-12-3456, 666-12-3456, 900-12-3456, 123-00-4567, 123-45-0000, 1123-45-6789"),
                       ["123-45-6789"])
        XCTAssertEqual(try found(.iban, "IBAN GB82 WEST 1234 5698 7654 32 or DE89370400440532013000; not GB82 WEST 1234 5698 7654 33"),
                       ["GB82 WEST 1234 5698 7654 32", "DE89370400440532013000"])
        XCTAssertEqual(try found(.phone, "office (415) 555-0100, cell 415-555-0199, +1 415.555.0123, +44 20 7946 0958"),
                       ["(415) 555-0100", "415-555-0199", "+1 415.555.0123", "+44 20 7946 0958"])
        XCTAssertEqual(try found(.phone, "on 2024-01-15 10:30, order 12345, v1.2.3, 415555"), [], "dates and plain numbers")
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
        XCTAssertEqual(try found(.jwt, "Authorization: Bearer \(jwt)"), [jwt])
        XCTAssertEqual(try found(.apiKey, "key=sk_live_4eC39HqLyjWDarjtT1zdp7dc and AKIAIOSFODNN7EXAMPLE, not sk_live_short"),
                       ["sk_live_4eC39HqLyjWDarjtT1zdp7dc", "AKIAIOSFODNN7EXAMPLE"])
    }

    func testStrategiesMatchTheDatabasesMasks() throws {
        XCTAssertEqual(masked(try engine([.email]), "write to ann@example.com now"), "write to [redacted] now")
        XCTAssertEqual(masked(try engine([.creditCard], strategy: .partial(4)), "card 4111 1111 1111 1111."), "card ***************1111.")
        XCTAssertNil(try engine([.email]).mask(Array("nothing to see".utf8)))
    }

    func testOverlapsAreResolvedLongestFirstAndCustomPatternsRun() throws {
        let engine = try DetectorEngine(detectors: [
            Detector(kind: .builtin(.phone), strategy: .redact), Detector(kind: .builtin(.creditCard), strategy: .partial(4)),
            Detector(kind: .custom(name: "employee_id", pattern: "EMP-[0-9]{6}"), strategy: .redact),
        ])
        XCTAssertEqual(masked(engine, "EMP-123456 paid with 4111-1111-1111-1111"), "[redacted] paid with ***************1111")
        XCTAssertEqual(DetectorEngine.literalPrefix("EMP-[0-9]{6}"), Array("EMP-".utf8))
        XCTAssertEqual(DetectorEngine.literalPrefix("ab?c"), Array("a".utf8))
        XCTAssertEqual(DetectorEngine.literalPrefix("x|y"), [])
        // A value a custom detector cannot read (not UTF-8) is withheld, never passed raw.
        XCTAssertEqual(engine.mask([0x45, 0x4d, 0x50, 0x2d, 0xff]), Array("[withheld]".utf8))
    }

    func testTheSandboxNotesAreCaught() throws {
        let policy = PolicyLoader.parse(yaml: DemoPolicy.yaml(user: "tester"), file: "policy.yaml", baseDirectory: "/nonexistent").policy!
        let engine = try DetectorEngine(detectors: policy.targets[DemoPolicy.targetName]!.detectors)
        let data = DemoData()
        var checked = 0
        for customer in data.customers {
            guard let notes = customer.notes, notes.contains("@") || notes.contains("card") || notes.contains("line") else { continue }
            let output = masked(engine, notes)
            XCTAssertFalse(output.contains("@"), output)
            XCTAssertNil(output.range(of: "[0-9]{4}[ -]?[0-9]{4}[ -]?[0-9]{4}", options: .regularExpression), output)
            XCTAssertNil(output.range(of: "555-[0-9]{4}", options: .regularExpression), output)
            checked += 1
        }
        XCTAssertGreaterThan(checked, 300)
    }
}

extension DetectorEngineTests {
    /// All detectors in one pass find what each finds alone, merged leftmost-longest: the pass
    /// skipping inside words and past matches loses nothing. Random text built from fragments
    /// that look like the detectors' shapes, and from their near misses.
    func testOnePassAgreesWithEachDetectorAlone() throws {
        let kinds = BuiltinDetector.allCases
        let all = try engine(kinds)
        let alone = try kinds.map { try engine([$0]) }
        let fragments = ["ann@example.com", "a.b@x.io", "@", "4111 1111 1111 1111", "4111-1111-1111-1111", "4012888888881881", "123-45-6789",
                         "GB82 WEST 1234 5698 7654 32", "DE89370400440532013000", "(415) 555-0100", "+1 415.555.0123", "+44 20 7946 0958",
                         "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abc", "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "AKIAIOSFODNN7EXAMPLE",
                         "2024-01-15", "12345", "x", "word", "_", "-", "+", "(", ".", " ", "\t", "1", "e", "A", "GB", "sk_", "4111"]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let text = (0..<Int.random(in: 1...8, using: &generator)).map { _ in fragments.randomElement(using: &generator)! }.joined()
            let bytes = Array(text.utf8)
            var union = alone.flatMap { $0.matches(in: bytes) }
            union.sort { $0.range.lowerBound != $1.range.lowerBound ? $0.range.lowerBound < $1.range.lowerBound : $0.range.count > $1.range.count }
            var expected: [DetectorEngine.Match] = []
            for match in union where expected.last.map({ match.range.lowerBound >= $0.range.upperBound }) ?? true { expected.append(match) }
            XCTAssertEqual(all.matches(in: bytes).map(\.range), expected.map(\.range), text)
        }
    }
}
