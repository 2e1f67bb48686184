import Foundation
@testable import HoopBroker
import HoopBrokerAPI
import HoopCommon
import HoopTestSupport
import XCTest

/// Tokens as bytes: signed by this broker's key, unexpired, untampered — or refused.
final class TokenAuthorityTests: XCTestCase {
    var directory: TemporaryDirectory!
    override func setUpWithError() throws { directory = try TemporaryDirectory("tokens") }
    override func tearDown() { directory.remove() }

    func claims(expiresIn seconds: Int64) -> TokenAuthority.Claims {
        let now = Int64(Date().timeIntervalSince1970)
        return .init(id: "abc123", sub: "service:bot", iat: now, exp: now + seconds, by: ["user:root"], via: [])
    }

    func refusal(_ body: () throws -> Void) -> String? {
        do { try body(); return nil } catch { return (error as? BrokerFailure)?.message }
    }

    func testRoundTripAndTheKeyPersists() throws {
        let authority = try TokenAuthority(stateDirectory: directory.path)
        let token = try authority.issue(claims(expiresIn: 60))
        XCTAssertTrue(token.hasPrefix("hoop1."))
        XCTAssertEqual(try authority.verify(token).claims.sub, "service:bot")
        let again = try TokenAuthority(stateDirectory: directory.path)
        XCTAssertEqual(try again.verify(token).claims.id, "abc123", "the same key after a restart")
        let mode = try FileManager.default.attributesOfItem(atPath: directory.file("token-signing.key"))[.posixPermissions] as? Int
        XCTAssertEqual(mode, 0o600)
    }

    func testForgedExpiredAndForeignTokensAreRefused() throws {
        let authority = try TokenAuthority(stateDirectory: directory.path)
        let token = try authority.issue(claims(expiresIn: 60))
        let parts = token.split(separator: ".").map(String.init)
        var raised = claims(expiresIn: 60)
        raised.sub = "user:root"
        let swapped = parts[0] + "." + Base64URL.encode(try JSONEncoder().encode(raised)) + "." + parts[2]
        XCTAssertEqual(refusal { _ = try authority.verify(swapped) }, "the token was not issued by this broker")
        XCTAssertEqual(refusal { _ = try authority.verify(try authority.issue(claims(expiresIn: -1))) }, "token abc123 expired")
        let other = try TemporaryDirectory("tokens")
        defer { other.remove() }
        let foreign = try TokenAuthority(stateDirectory: other.path).issue(claims(expiresIn: 60))
        XCTAssertEqual(refusal { _ = try authority.verify(foreign) }, "the token was not issued by this broker")
        // Brokers sharing a store check each other's tokens with their public keys only.
        let peer = try TokenAuthority(stateDirectory: other.path)
        XCTAssertEqual(try authority.verify(foreign, peers: [peer.publicKey]).byPeer, true)
        XCTAssertEqual(try authority.verify(try authority.issue(claims(expiresIn: 60)), peers: [peer.publicKey]).byPeer, false)
        var unsaid = claims(expiresIn: 60)
        unsaid.by = nil
        XCTAssertEqual(refusal { _ = try authority.verify(try authority.issue(unsaid)) },
                       "token abc123 does not say who issued it (it predates hoopctl 0.3): issue a new one")
        for garbage in ["", "hoop1", "hoop1..", "hoop2.\(parts[1]).\(parts[2])", "hoop1.!!!.\(parts[2])"] {
            XCTAssertEqual(refusal { _ = try authority.verify(garbage) }, "the token is malformed", garbage)
        }
    }
}
