@testable import HoopWire
import Foundation
import XCTest

final class SCRAMTests: XCTestCase {
    func testClientAndServerAgreeOnTheRightPassword() throws {
        let verifier = try SCRAMVerifier(password: "correct horse")
        var server = SCRAMServer(verifier: verifier)
        var client = SCRAMClient(password: "correct horse")
        XCTAssertTrue(server.awaitingClientFirst)
        let serverFirst = try server.receiveClientFirst(client.clientFirst)
        XCTAssertFalse(server.awaitingClientFirst)
        let clientFinal = try client.receiveServerFirst(serverFirst)
        let serverFinal = try server.receiveClientFinal(clientFinal)
        XCTAssertNoThrow(try client.receiveServerFinal(serverFinal))
    }

    func testAWrongPasswordFailsAndAForgedServerIsNoticed() throws {
        var server = SCRAMServer(verifier: try SCRAMVerifier(password: "right"))
        var client = SCRAMClient(password: "wrong")
        let clientFinal = try client.receiveServerFirst(try server.receiveClientFirst(client.clientFirst))
        XCTAssertThrowsError(try server.receiveClientFinal(clientFinal)) {
            XCTAssertEqual("\($0)", "password authentication failed")
        }
        var honest = SCRAMClient(password: "right")
        var other = SCRAMServer(verifier: try SCRAMVerifier(password: "right"))
        _ = try honest.receiveServerFirst(try other.receiveClientFirst(honest.clientFirst))
        XCTAssertThrowsError(try honest.receiveServerFinal("v=AAAA"))
    }

    func testMalformedMessagesAreRefused() throws {
        var server = SCRAMServer(verifier: try SCRAMVerifier(password: "x"))
        for message in ["", "p=tls-server-end-point,,n=,r=abc", "n,a=bob,n=,r=abc", "n,,r=abc", "n,,n=,r="] {
            XCTAssertThrowsError(try server.receiveClientFirst(message), message)
        }
        var client = SCRAMClient(password: "x")
        _ = try server.receiveClientFirst(client.clientFirst)
        XCTAssertThrowsError(try server.receiveClientFinal("c=biws,r=notthenonce,p=AAAA"))
        XCTAssertThrowsError(try client.receiveServerFirst("r=othernonce,s=AAAA,i=4096"), "the server must extend our nonce")
        XCTAssertThrowsError(try client.receiveServerFirst("r=\(client.clientFirst.dropFirst(7))x,s=AAAA,i=0"))
    }
}

final class SCRAMStrictnessTests: XCTestCase {
    /// RFC 5802 §5.1: c= is the base64 of the gs2 header the client sent first; y,, with c=biws
    /// (the n,, header) or n,, with c=eSws must not log in, even with the right proof.
    func testTheChannelBindingMustRepeatTheGS2Header() throws {
        let verifier = try SCRAMVerifier(password: "pw")
        for (header, binding, accepted) in [("n,,", "biws", true), ("y,,", "eSws", true), ("y,,", "biws", false), ("n,,", "eSws", false)] {
            var server = SCRAMServer(verifier: verifier)
            var client = SCRAMClient(password: "pw")
            let bare = String(client.clientFirst.dropFirst(3))
            let first = try server.receiveClientFirst(header + bare)
            // The honest client's final, with its own c= replaced (the proof is over what is sent).
            var final = try client.receiveServerFirst(first)
            final = final.replacingOccurrences(of: "c=biws", with: "c=\(binding)")
            if binding != "biws" {
                // Recompute the proof for the changed c= so only the header disagreement is tested.
                let attributes = SCRAM.attributes(Substring(first))
                let salted = try SCRAM.saltedPassword("pw", salt: Array(Data(base64Encoded: String(attributes["s"]!))!), iterations: 4096)
                let clientKey = SCRAM.hmac(salted, "Client Key")
                let withoutProof = "c=\(binding),r=\(attributes["r"]!)"
                let proof = zip(clientKey, SCRAM.hmac(SCRAM.sha256(clientKey), "\(bare),\(first),\(withoutProof)")).map { $0 ^ $1 }
                final = "\(withoutProof),p=\(Data(proof).base64EncodedString())"
            }
            if accepted {
                XCTAssertNoThrow(try server.receiveClientFinal(final), "\(header) c=\(binding)")
            } else {
                XCTAssertThrowsError(try server.receiveClientFinal(final), "\(header) c=\(binding)")
            }
        }
    }

    func testMockVerifiersHaveASaltPerUserAndNoPassword() throws {
        let secret = Array("broker secret".utf8)
        XCTAssertEqual(SCRAMVerifier.mock(for: "a", secret: secret).salt, SCRAMVerifier.mock(for: "a", secret: secret).salt)
        XCTAssertNotEqual(SCRAMVerifier.mock(for: "a", secret: secret).salt, SCRAMVerifier.mock(for: "b", secret: secret).salt)
        XCTAssertNotEqual(SCRAMVerifier.mock(for: "a", secret: secret).salt, SCRAMVerifier.mock(for: "a", secret: Array("other".utf8)).salt)
        for password in ["", "a", "broker secret"] {
            var server = SCRAMServer(verifier: SCRAMVerifier.mock(for: "a", secret: secret))
            var client = SCRAMClient(password: password)
            let final = try client.receiveServerFirst(try server.receiveClientFirst(client.clientFirst))
            XCTAssertThrowsError(try server.receiveClientFinal(final))
        }
    }
}
