import HoopCommon
@testable import HoopPolicy
import XCTest

final class PolicyVocabularyTests: XCTestCase {
    func testTimeSpans() throws {
        XCTAssertEqual(try TimeSpan(parsing: "30s").seconds, 30)
        XCTAssertEqual(try TimeSpan(parsing: "15m").seconds, 900)
        XCTAssertEqual(try TimeSpan(parsing: "1h30m").seconds, 5400)
        XCTAssertEqual(try TimeSpan(parsing: "2d").seconds, 172_800)
        XCTAssertEqual(TimeSpan(seconds: 5400).description, "1h30m")
        XCTAssertEqual(TimeSpan(seconds: 0).description, "0s")
        XCTAssertThrowsError(try TimeSpan(parsing: "90")) { XCTAssertEqual($0 as? TimeSpan.ParseError, .missingUnit("90")) }
        XCTAssertThrowsError(try TimeSpan(parsing: "1w")) { XCTAssertEqual($0 as? TimeSpan.ParseError, .unknownUnit("w")) }
        XCTAssertThrowsError(try TimeSpan(parsing: "30m1h"), "units largest first")
        XCTAssertThrowsError(try TimeSpan(parsing: "h"))
        XCTAssertThrowsError(try TimeSpan(parsing: ""))
        XCTAssertThrowsError(try TimeSpan(parsing: "99999999999999d")) { XCTAssertEqual($0 as? TimeSpan.ParseError, .tooLarge) }
    }

    func testPrincipals() throws {
        XCTAssertEqual(try Principal(parsing: "user:alice"), Principal(kind: .user, name: "alice"))
        XCTAssertEqual(try Principal(parsing: "service:retrain-bot").description, "service:retrain-bot")
        XCTAssertThrowsError(try Principal(parsing: "alice"))
        XCTAssertThrowsError(try Principal(parsing: "team:x"))
        XCTAssertThrowsError(try Principal(parsing: "user:"))
        XCTAssertThrowsError(try Principal(parsing: "user:a b"))
    }

    func testTablePatterns() throws {
        let all = try XCTUnwrap(TablePattern("public.*"))
        XCTAssertTrue(all.matches(schema: "public", table: "customers"))
        XCTAssertFalse(all.matches(schema: "private", table: "customers"))
        let prefix = try XCTUnwrap(TablePattern("sales.order_*"))
        XCTAssertTrue(prefix.matches(schema: "sales", table: "order_items"))
        XCTAssertFalse(prefix.matches(schema: "sales", table: "orders"))
        XCTAssertNil(TablePattern("customers"))
        XCTAssertNil(TablePattern("a.b.c"))
        XCTAssertNil(TablePattern("public."))
        XCTAssertNil(TablePattern("public.cust;omers"))
    }

    func testInlinePasswordsAreRecognised() {
        XCTAssertTrue(PolicyBuilder.looksLikeInlinePassword("host=db password=x"))
        XCTAssertTrue(PolicyBuilder.looksLikeInlinePassword("postgresql://admin:pw@db/shop"))
        XCTAssertFalse(PolicyBuilder.looksLikeInlinePassword("postgresql://admin@db/shop"))
        XCTAssertFalse(PolicyBuilder.looksLikeInlinePassword("/etc/hoopctl/password-files/prod.dsn"))
    }

    func testSuggestionsOnlyWhenClose() {
        XCTAssertEqual(closestMatch(to: "max_tll", in: PolicyBuilder.roleKeys), "max_ttl")
        XCTAssertEqual(closestMatch(to: "acess", in: PolicyBuilder.topLevelKeys), "access")
        XCTAssertNil(closestMatch(to: "colour", in: PolicyBuilder.topLevelKeys))
    }

    /// Custom patterns of targets with declared free text run in PostgreSQL too: only the
    /// constructs both engines read alike pass.
    func testPortablePatternsAreTheSubsetBothEnginesReadAlike() {
        for pattern in ["EMP-[0-9]{6}", "[A-Z]{2}-[0-9]{4,}", "(ab)+c?", "x\\.y", "(?:ab){2}[^ ]*"] {
            XCTAssertNil(PortablePattern.unportable(pattern), pattern)
        }
        let refused = ["a|b": "alternation", "\\d{4}": "escape", "^EMP": "anchor", "a+?": "lazy", "(?=x)": "group", "[[:digit:]]": "nested",
                       "é": "ASCII", "a{x}": "brace", "[abc": "unclosed"]
        for (pattern, reason) in refused {
            XCTAssertTrue(PortablePattern.unportable(pattern)?.contains(reason) ?? false, "\(pattern): \(PortablePattern.unportable(pattern) ?? "nil")")
        }
    }
}
