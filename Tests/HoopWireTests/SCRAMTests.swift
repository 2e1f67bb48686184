import HoopWire
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
