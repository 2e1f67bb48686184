import Foundation
@testable import HoopProxy
import HoopSQL
import HoopTestSupport
import HoopWire
import NIOCore
import XCTest

/// The client's login as a session and the proxy's login to the server, without sockets.
final class LoginStateMachineTests: XCTestCase {
    typealias Action = LoginStateMachine.Action

    static let password = "one-time-secret"
    static let verifier = try! SCRAMVerifier(password: password, iterations: 64)

    func ticket(host: String = "/run/postgresql", sslMode: String = "disable") -> ProxyTicket {
        ProxyTicket(sessionID: "s-1", identity: "user:alice", target: "prod", role: "hoop_s1", expiresAt: .distantFuture, verifier: Self.verifier,
                    upstream: UpstreamEndpoint(host: host, port: 5432, database: "app", user: "hoop_s1", password: "db-secret", sslMode: sslMode))
    }

    func message(_ bytes: ByteBuffer, startup: Bool = false) throws -> FrontendMessage {
        var decoder = FrontendDecoder()
        if !startup {
            var packet = WireFixture.startup(user: "x", database: "y")
            _ = try decoder.decode(buffer: &packet)
        }
        var bytes = bytes
        return try XCTUnwrap(try decoder.decode(buffer: &bytes))
    }

    func take(_ login: inout LoginStateMachine) -> [Action] {
        defer { login.actions.removeAll() }
        return login.actions
    }

    func clientWrites(_ actions: [Action]) -> ByteBuffer {
        WireFixture.join(actions.compactMap { if case .writeClient(let bytes, _) = $0 { bytes } else { nil } })
    }

    func serverWrites(_ actions: [Action]) -> [ByteBuffer] {
        actions.compactMap { if case .writeServer(let bytes) = $0 { bytes } else { nil } }
    }

    func failure(_ actions: [Action]) -> (code: String, message: String, event: String?)? {
        for action in actions { if case .fail(let code, let message, let event, _) = action { return (code, message, event) } }
        return nil
    }

    /// The SASL data of the last Authentication message written to the client.
    func saslData(_ actions: [Action]) -> String {
        var buffer = clientWrites(actions)
        var data = ""
        while let type = buffer.readInteger(as: UInt8.self), let length = buffer.readInteger(as: Int32.self), var body = buffer.readSlice(length: Int(length) - 4) {
            if type == UInt8(ascii: "R") {
                _ = body.readInteger(as: Int32.self)
                data = body.readString(length: body.readableBytes) ?? ""
            }
        }
        return data
    }

    /// A client's SCRAM exchange with `password`, for the session the broker answers with `ticket`.
    func logIn(_ login: inout LoginStateMachine, ticket: ProxyTicket?, password: String = password) throws -> [Action] {
        login.clientMessage(try message(WireFixture.startup(user: "s-1", database: "app"), startup: true))
        guard case .lookUpSession("s-1")? = take(&login).last else { XCTFail("the session is looked up"); return [] }
        login.sessionFound(ticket)
        XCTAssertEqual(WireFixture.types(clientWrites(take(&login))), "R")
        var scram = SCRAMClient(password: password)
        login.clientMessage(try message(WireFixture.saslInitialResponse(scram.clientFirst)))
        let serverFirst = saslData(take(&login))
        login.clientMessage(try message(WireFixture.saslResponse(try scram.receiveServerFirst(serverFirst))))
        return take(&login)
    }

    func machine() -> LoginStateMachine { LoginStateMachine(analyzer: StatementAnalyzer(), cancels: CancelRegistry()) }

    func testALoginConnectsAsTheSessionsRoleWithTheSettingsPinnedLast() throws {
        var login = machine()
        let afterAuth = try logIn(&login, ticket: ticket())
        XCTAssertNil(failure(afterAuth))
        XCTAssertTrue(afterAuth.contains { if case .loggedIn = $0 { true } else { false } })
        guard case .connectServer(let endpoint)? = afterAuth.last else { return XCTFail("\(afterAuth)") }
        XCTAssertEqual(endpoint.user, "hoop_s1")

        login.serverConnected()
        let startup = try XCTUnwrap(serverWrites(take(&login)).first)
        let text = String(buffer: startup)
        XCTAssertTrue(text.contains("user\0hoop_s1\0database\0app\0"))
        XCTAssertTrue(text.hasSuffix("client_encoding\0UTF8\0standard_conforming_strings\0on\0client_connection_check_interval\u{0}1000\0\0"), text)

        login.serverBytes(WireFixture.join(WireFixture.authenticationOk(), WireFixture.parameterStatus("client_encoding", "UTF8"),
                                           WireFixture.backendKeyData(processID: 4242, secretKey: 99), WireFixture.readyForQuery()))
        let ready = take(&login)
        XCTAssertEqual(WireFixture.types(clientWrites(ready)), "RSKZ")
        guard case .cancelKey(let processID, let secretKey)? = ready.first(where: { if case .cancelKey = $0 { true } else { false } }) else {
            return XCTFail("\(ready)")
        }
        XCTAssertFalse(processID == 4242 && secretKey == 99, "the client gets a key of the proxy's, never the server's")
        guard case .relay? = ready.last else { return XCTFail("relaying begins: \(ready)") }
    }

    func testAnUnknownSessionFailsWhereAWrongPasswordFails() throws {
        var unknown = machine()
        let a = try XCTUnwrap(failure(try logIn(&unknown, ticket: nil)))
        var wrong = machine()
        let b = try XCTUnwrap(failure(try logIn(&wrong, ticket: ticket(), password: "guess")))
        XCTAssertEqual(a.code, "28P01")
        XCTAssertEqual(a.code, b.code)
        XCTAssertEqual(a.message, b.message)
        XCTAssertEqual(a.event, "proxy.auth-failed")
    }

    func testStartupSettingsThatWouldUndoThePolicyAreRefused() throws {
        var login = machine()
        var packet = ByteBuffer()
        packet.writeInteger(Int32(0))
        packet.writeInteger(Int32(196608))
        for (name, value) in [("user", "s-1"), ("options", "-c statement_timeout=0")] {
            packet.writeNullTerminatedString(name)
            packet.writeNullTerminatedString(value)
        }
        packet.writeInteger(UInt8(0))
        packet.setInteger(Int32(packet.writerIndex), at: 0)
        login.clientMessage(try message(packet, startup: true))
        let refused = try XCTUnwrap(failure(take(&login)))
        XCTAssertEqual(refused.code, "0A000")
        XCTAssertTrue(refused.message.contains("statement_timeout"))
    }

    func testAServerAskingForThePasswordOverAConnectionNobodyVerifiedNeverGetsIt() throws {
        for request in [WireFixture.message("R") { $0.writeInteger(Int32(3)) },
                        WireFixture.message("R") { $0.writeInteger(Int32(5)); $0.writeBytes([1, 2, 3, 4]) }] {
            var login = machine()
            _ = try logIn(&login, ticket: ticket(host: "db.internal", sslMode: "prefer"))
            login.serverConnected()
            XCTAssertEqual(serverWrites(take(&login)).map { $0.getInteger(at: 4, as: Int32.self) }, [80877103], "an SSLRequest first")
            login.serverBytes(ByteBuffer(string: "N"))  // no TLS, which prefer accepts
            _ = take(&login)
            login.serverBytes(request)
            let actions = take(&login)
            XCTAssertTrue(serverWrites(actions).isEmpty, "no password goes out")
            XCTAssertEqual(failure(actions)?.code, "28000")
        }
    }

    func testVerifyFullNeedsTLSAndACertificateThatNamesTheHost() throws {
        var plain = machine()
        _ = try logIn(&plain, ticket: ticket(host: "db.internal", sslMode: "verify-full"))
        plain.serverConnected()
        _ = take(&plain)
        plain.serverBytes(ByteBuffer(string: "N"))
        XCTAssertTrue(failure(take(&plain))?.message.contains("does not offer TLS") ?? false)

        var misnamed = machine()
        _ = try logIn(&misnamed, ticket: ticket(host: "db.internal", sslMode: "verify-full"))
        misnamed.serverConnected()
        _ = take(&misnamed)
        misnamed.serverBytes(ByteBuffer(string: "S"))
        guard case .startTLS? = take(&misnamed).last else { return XCTFail("TLS starts") }
        XCTAssertEqual(misnamed.tlsHost, "db.internal")
        misnamed.tlsEstablished(certificateDER: nil, namesHost: false)
        let refused = take(&misnamed)
        XCTAssertTrue(serverWrites(refused).isEmpty, "not even the user name goes to a server of another name")
        XCTAssertTrue(failure(refused)?.message.contains("does not name db.internal") ?? false)

        var named = machine()
        _ = try logIn(&named, ticket: ticket(host: "db.internal", sslMode: "verify-full"))
        named.serverConnected()
        named.serverBytes(ByteBuffer(string: "S"))
        _ = take(&named)
        named.tlsEstablished(certificateDER: nil, namesHost: true)
        XCTAssertTrue(String(buffer: try XCTUnwrap(serverWrites(take(&named)).first)).contains("hoop_s1"))
    }

    func testAServerThatReadsTextDifferentlyIsRefusedAtLogin() throws {
        var login = machine()
        _ = try logIn(&login, ticket: ticket())
        login.serverConnected()
        _ = take(&login)
        login.serverBytes(WireFixture.join(WireFixture.authenticationOk(), WireFixture.parameterStatus("standard_conforming_strings", "off")))
        let actions = take(&login)
        XCTAssertEqual(failure(actions)?.event, "proxy.setting-changed")
        XCTAssertFalse(String(buffer: clientWrites(actions)).contains("standard_conforming_strings"))
    }

    func testWhatTheClientSendsDuringTheServersLoginWaitsForTheRelay() throws {
        var login = machine()
        _ = try logIn(&login, ticket: ticket())
        login.clientMessage(try message(WireFixture.query("SELECT 1")))
        login.serverConnected()
        _ = take(&login)
        login.serverBytes(WireFixture.join(WireFixture.authenticationOk(), WireFixture.readyForQuery()))
        guard case .relay(var relay)? = take(&login).last else { return XCTFail("relaying begins") }
        relay.clientReadComplete()
        XCTAssertTrue(relay.actions.contains { if case .record = $0 { true } else { false } }, "the held query is recorded, then sent")
    }

    func testTerminateDuringTheServersLoginCloses() throws {
        var login = machine()
        _ = try logIn(&login, ticket: ticket())
        login.clientMessage(try message(WireFixture.terminate()))
        guard case .close? = take(&login).last else { return XCTFail("closed") }
    }
}
