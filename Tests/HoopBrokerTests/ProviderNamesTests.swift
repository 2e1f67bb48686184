import Foundation
@testable import HoopBroker
import HoopOIDC
import XCTest

/// A provider's user names never equal this host's users or the broker's own token subjects:
/// they always hold an @ (the class the red team broke with an email claim of "root").
final class ProviderNamesTests: XCTestCase {
    func name(_ value: String, claim: String = "email") -> String? {
        let verified = VerifiedToken(issuer: "https://login.example.com", subject: "s", username: value, groups: [], expiresAt: .distantFuture)
        return try? Broker.providerUserName(verified, claim: claim, issuer: "https://login.example.com")
    }

    func testAnEmailMustBeAnAddress() {
        XCTAssertEqual(name("alice@example.com"), "alice@example.com")
        for bad in ["root", "alice", "@example.com", "alice@", "a@b@example.com", "admin@localhost", "alice@example.", "alice@.com",
                    "alice @example.com", "alice@example.com\n", "ａlice@example.com"] {
            XCTAssertNil(name(bad), bad)
        }
    }

    func testAnotherClaimGetsTheIssuersHost() {
        XCTAssertEqual(name("root", claim: "preferred_username"), "root@login.example.com")
        XCTAssertEqual(name("alice", claim: "sub"), "alice@login.example.com")
        XCTAssertEqual(name("alice@corp.example", claim: "upn"), "alice@corp.example", "already an address: kept")
        XCTAssertNil(name("al ice", claim: "preferred_username"), "still a valid name")
    }
}
