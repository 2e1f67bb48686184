import Foundation
@testable import HoopOIDC
import XCTest

/// The claims a provider's token must carry, checked once its signature held (`claims(of:)` is
/// I/O-free: the signature is jwt-kit's, tested against a real provider in TeamTests).
final class TokenClaimsTests: XCTestCase {
    let settings = OIDCSettings(issuer: "https://login.example.com", audience: "hoopctl", usernameClaim: "email", groupsClaim: "groups", caFile: nil)
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func token(_ claims: [String: Any]) throws -> String {
        let payload = try JSONSerialization.data(withJSONObject: claims).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        return "header.\(payload).signature"
    }

    var good: [String: Any] {
        ["iss": "https://login.example.com", "aud": "hoopctl", "sub": "u-1", "email": "alice@example.com", "email_verified": true,
         "iat": 1_800_000_000 - 10, "exp": 1_800_000_000 + 300, "groups": ["analysts"]]
    }

    func check(_ change: (inout [String: Any]) -> Void) throws -> TokenRejection.Check? {
        var claims = good
        change(&claims)
        do {
            _ = try OIDCTokenVerifier(settings: settings).claims(of: try token(claims), now: now)
            return nil
        } catch {
            return (error as? TokenRejection)?.check
        }
    }

    func testAGoodTokenNamesItsUserAndGroups() throws {
        let verified = try OIDCTokenVerifier(settings: settings).claims(of: try token(good), now: now)
        XCTAssertEqual(verified.username, "alice@example.com")
        XCTAssertEqual(verified.subject, "u-1")
        XCTAssertEqual(verified.groups, ["analysts"])
    }

    func testEachClaimIsChecked() throws {
        XCTAssertEqual(try check { $0["iss"] = "https://login.example.com/" }, .issuer, "exact, a trailing slash included")
        XCTAssertEqual(try check { $0["iss"] = nil }, .issuer)
        XCTAssertEqual(try check { $0["aud"] = ["other", "hoopctl"] }, nil, "an audience list that holds ours")
        XCTAssertEqual(try check { $0["aud"] = ["other"] }, .audience)
        XCTAssertEqual(try check { $0["aud"] = nil }, .audience)
        XCTAssertEqual(try check { $0["exp"] = 1_800_000_000 - 61 }, .expired)
        XCTAssertEqual(try check { $0["exp"] = 1_800_000_000 - 30 }, nil, "within the skew")
        XCTAssertEqual(try check { $0["exp"] = nil }, .claims)
        XCTAssertEqual(try check { $0["exp"] = "tomorrow" }, .claims)
        XCTAssertEqual(try check { $0["nbf"] = 1_800_000_000 + 120 }, .notYetValid)
        XCTAssertEqual(try check { $0["iat"] = 1_800_000_000 + 120 }, .issuedInFuture)
        XCTAssertEqual(try check { $0["iat"] = nil }, .claims)
        XCTAssertEqual(try check { $0["sub"] = "" }, .claims)
        XCTAssertEqual(try check { $0["email"] = nil }, .claims)
        XCTAssertEqual(try check { $0["email_verified"] = false }, .claims)
        XCTAssertEqual(try check { $0["email_verified"] = "true" }, .claims, "a string is not a yes")
        XCTAssertEqual(try check { $0["email_verified"] = nil }, .claims)
        XCTAssertEqual(try check { $0["groups"] = ["analysts", 7] }, .claims, "groups are names")
        XCTAssertEqual(try check { $0["groups"] = 7 }, .claims)
        XCTAssertEqual(try check { $0["groups"] = nil }, nil, "no groups is none")
    }

    /// A single group as a string is that group, not its letters (red team rt22: "dba" became d, b, a).
    func testASingleGroupAsAStringIsOneGroup() throws {
        var claims = good
        claims["groups"] = "admins"
        XCTAssertEqual(try OIDCTokenVerifier(settings: settings).claims(of: try token(claims), now: now).groups, ["admins"])
    }

    func testNotAJWTIsMalformed() {
        XCTAssertThrowsError(try OIDCTokenVerifier(settings: settings).claims(of: "a.b", now: now)) { XCTAssertEqual(($0 as? TokenRejection)?.check, .malformed) }
    }
}
