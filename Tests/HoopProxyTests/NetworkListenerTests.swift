import Foundation
@testable import HoopProxy
import HoopSQL
import HoopTestSupport
import HoopWire
import NIOCore
import XCTest

/// The proxy's network listener at login (TLS required), and the rate limits per address.
final class NetworkLoginTests: XCTestCase {
    func machine() -> LoginStateMachine {
        LoginStateMachine(analyzer: StatementAnalyzer(), cancels: CancelRegistry(), requiresTLS: true)
    }

    func failure(_ actions: [LoginStateMachine.Action]) -> (code: String, message: String)? {
        for action in actions { if case .fail(let code, let message, _, _) = action { return (code, message) } }
        return nil
    }

    func testAStartupWithoutTLSIsRefused() {
        var login = machine()
        login.clientMessage(.startup(major: 3, minor: 0, parameters: ["user": "s-1"]))
        XCTAssertEqual(failure(login.actions)?.code, "28000")
        XCTAssertTrue(failure(login.actions)?.message.contains("over TLS only") == true)
        XCTAssertFalse(login.actions.contains { if case .lookUpSession = $0 { true } else { false } }, "no session is looked up")
    }

    func testACancelWithoutTLSIsRefused() {
        var login = machine()
        login.clientMessage(.cancel(processID: 1, secretKey: 2))
        XCTAssertNotNil(failure(login.actions))
        XCTAssertFalse(login.actions.contains { if case .cancel = $0 { true } else { false } }, "its key crossed in the clear")
    }

    func testSSLRequestStartsTLSThenTheStartupGoesOn() {
        var login = machine()
        login.clientMessage(.sslRequest)
        XCTAssertEqual(login.actions.count, 1)
        guard case .startClientTLS = login.actions.first else { return XCTFail("\(login.actions)") }
        login.actions.removeAll()
        login.clientMessage(.startup(major: 3, minor: 0, parameters: ["user": "s-1"]))
        XCTAssertNil(failure(login.actions))
        XCTAssertTrue(login.actions.contains { if case .lookUpSession("s-1") = $0 { true } else { false } })
    }

    func testASecondSSLRequestIsAProtocolViolation() {
        var login = machine()
        login.clientMessage(.sslRequest)
        login.actions.removeAll()
        login.clientMessage(.sslRequest)
        XCTAssertEqual(failure(login.actions)?.code, "08P01")
    }

    func testGSSEncryptionIsDeclinedNotRefused() {
        var login = machine()
        login.clientMessage(.gssEncRequest)
        XCTAssertNil(failure(login.actions))
        guard case .writeClient(let bytes, _) = login.actions.first else { return XCTFail("\(login.actions)") }
        XCTAssertEqual(bytes.getInteger(at: 0, as: UInt8.self), UInt8(ascii: "N"))
    }

    func testTheLoopbackListenerStillDeclinesTLS() {
        var login = LoginStateMachine(analyzer: StatementAnalyzer(), cancels: CancelRegistry())
        login.clientMessage(.sslRequest)
        guard case .writeClient(let bytes, _) = login.actions.first else { return XCTFail("\(login.actions)") }
        XCTAssertEqual(bytes.getInteger(at: 0, as: UInt8.self), UInt8(ascii: "N"))
    }
}

final class SourceRateLimiterTests: XCTestCase {
    final class Clock: @unchecked Sendable {
        var now: TimeInterval = 1000
    }

    func limiter(_ clock: Clock) -> SourceRateLimiter {
        var settings = SourceRateLimiter.Settings()
        settings.connectionBurst = 5
        settings.connectionsPerSecond = 1
        settings.failureBurst = 3
        settings.failureRefill = 10
        settings.maxSources = 4
        return SourceRateLimiter(settings: settings, clock: { clock.now })
    }

    func testConnectionsPastTheBurstWaitForTheRefill() {
        let clock = Clock()
        let limits = limiter(clock)
        for _ in 0..<5 { XCTAssertEqual(limits.connection(from: "10.0.0.1"), .allowed) }
        XCTAssertEqual(limits.connection(from: "10.0.0.1"), .refused(reason: "too many connections", firstTime: true))
        XCTAssertEqual(limits.connection(from: "10.0.0.1"), .refused(reason: "too many connections", firstTime: false), "reported once")
        XCTAssertEqual(limits.connection(from: "10.0.0.2"), .allowed, "another address is not held back")
        clock.now += 1
        XCTAssertEqual(limits.connection(from: "10.0.0.1"), .allowed)
    }

    func testFailuresCloseTheAddressUntilOneComesBack() {
        let clock = Clock()
        let limits = limiter(clock)
        for _ in 0..<3 { limits.failure(from: "10.0.0.1") }
        XCTAssertEqual(limits.connection(from: "10.0.0.1"), .refused(reason: "too many failed sign-ins", firstTime: true))
        clock.now += 100  // connections refilled long ago; failures: one back every 10 s
        XCTAssertEqual(limits.connection(from: "10.0.0.1"), .allowed)
        limits.failure(from: "10.0.0.1")
        limits.failure(from: "10.0.0.1")
        limits.failure(from: "10.0.0.1")
        XCTAssertNotEqual(limits.connection(from: "10.0.0.1"), .allowed, "the refill is capped at the burst")
    }

    func testManyAddressesAreBoundedAndAPunishedOneIsNotForgotten() {
        let clock = Clock()
        let limits = limiter(clock)
        for _ in 0..<3 { limits.failure(from: "10.0.0.66") }
        for index in 0..<50 { _ = limits.connection(from: "10.1.0.\(index)"); clock.now += 0.1 }
        XCTAssertNotEqual(limits.connection(from: "10.0.0.66"), .allowed, "the idle ones went first")
    }
}
