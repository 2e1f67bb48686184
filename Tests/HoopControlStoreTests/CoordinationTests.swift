import Foundation
import HoopBrokerAPI
@testable import HoopControlStore
import HoopTestSupport
import XCTest

/// What brokers sharing a control store decide once for all of them: who ends a session, who
/// takes over a dead broker's, who reconciles a target, which session uses an approval, which
/// keys they all use. Each raced from several connections at once, as brokers race.
final class CoordinationTests: XCTestCase {
    var fixture: ControlStoreFixture!

    override func setUpWithError() throws { fixture = try ControlStoreFixture(try TestPostgres.shared()) }
    override func tearDown() { fixture?.remove() }

    /// `count` stores, each on connections of its own (as `count` brokers).
    func stores(_ count: Int) throws -> [ControlStore] {
        try (0..<count).map { _ in try ControlStore(address: try StoreAddress(dsnFile: fixture.brokerDSNFile)) }
    }

    func session(_ id: String, expires: Date, broker: String) -> StoredSession {
        StoredSession(info: SessionInfo(id: id, identity: "user:bob", target: "sandbox", role: "read", roleName: "hoop_s_\(id)", reason: nil,
                                        startedAt: Date(), expiresAt: expires, state: .active), broker: broker)
    }

    /// Runs `body` on every store at once; returns what each answered.
    func race<T: Sendable>(_ stores: [ControlStore], _ body: @escaping @Sendable (Int, ControlStore) throws -> T) -> [T?] {
        let results = Results<T>(count: stores.count)
        DispatchQueue.concurrentPerform(iterations: stores.count) { index in results.set(index, try? body(index, stores[index])) }
        return results.values
    }

    func testOneBrokerEndsASessionHoweverManyTryAtOnce() throws {
        let brokers = try stores(4)
        try brokers[0].sessions.opening(session("aaaaaaaaaaaa", expires: Date().addingTimeInterval(3600), broker: "b0"))
        let claimed = race(brokers) { index, store in try store.sessions.claim("aaaaaaaaaaaa", for: "b\(index)") }
        XCTAssertEqual(claimed.filter { $0 == true }.count, 1, "\(claimed)")
        let winner = claimed.firstIndex { $0 == true }!
        XCTAssertTrue(try brokers[winner].sessions.claim("aaaaaaaaaaaa", for: "b\(winner)"), "the claimant keeps its claim (a retried revocation)")
        XCTAssertFalse(try brokers[(winner + 1) % 4].sessions.claim("aaaaaaaaaaaa", for: "b\((winner + 1) % 4)"))
    }

    func testADeadBrokersSessionsAreTakenOverOnceEachAtTheirTTLAndNoneBefore() throws {
        let brokers = try stores(3)
        let now = Date()
        for n in 0..<30 {
            let id = String(format: "%012x", n)
            try brokers[0].sessions.opening(session(id, expires: now.addingTimeInterval(n < 20 ? -1 : 3600), broker: "dead"))
        }
        try brokers[0].sessions.opening(session("live00000001", expires: now.addingTimeInterval(-1), broker: "b1"))
        let taken = race(brokers) { index, store in
            try store.sessions.claimOrphans(for: "b\(index)", liveBrokers: ["b0", "b1", "b2"], now: now, limit: 8).map(\.info.id)
        }
        // Again, as the next reap would: what is left of the 20 expired.
        let again = race(brokers) { index, store in
            try store.sessions.claimOrphans(for: "b\(index)", liveBrokers: ["b0", "b1", "b2"], now: now, limit: 32).map(\.info.id)
        }
        let all = (taken + again).compactMap { $0 }.flatMap { $0 }
        XCTAssertEqual(all.count, 20, "each expired session of the dead broker once: \(all.sorted())")
        XCTAssertEqual(Set(all).count, 20)
        XCTAssertFalse(all.contains("live00000001"), "a live broker's session is its own to end")
        XCTAssertTrue(all.allSatisfy { Int($0, radix: 16)! < 20 }, "nothing before its TTL")
    }

    func testAReconcileLeaseIsHeldByOneBrokerUntilItLapses() throws {
        let brokers = try stores(3)
        let held = race(brokers) { index, store in try store.roster.lease("reconcile:sandbox", for: "b\(index)", seconds: 1) }
        XCTAssertEqual(held.filter { $0 == true }.count, 1, "\(held)")
        let holder = held.firstIndex { $0 == true }!, other = (holder + 1) % 3
        XCTAssertTrue(try brokers[holder].roster.lease("reconcile:sandbox", for: "b\(holder)", seconds: 1), "the holder renews it")
        XCTAssertFalse(try brokers[other].roster.lease("reconcile:sandbox", for: "b\(other)", seconds: 1))
        Thread.sleep(forTimeInterval: 1.2)
        XCTAssertTrue(try brokers[other].roster.lease("reconcile:sandbox", for: "b\(other)", seconds: 1), "a lapsed lease goes to another")
    }

    func testAnApprovalIsUsedByOneSessionWhicheverBrokerAsks() throws {
        let brokers = try stores(4)
        let used = race(brokers) { index, store in try store.requests.claimApproval("7f3a00000000", session: "s\(index)") }
        XCTAssertEqual(used.filter { $0 == true }.count, 1, "\(used)")
        let session = "s\(used.firstIndex { $0 == true }!)"
        try brokers[0].requests.releaseApproval("7f3a00000000", session: "someone-else")
        XCTAssertFalse(try brokers[0].requests.claimApproval("7f3a00000000", session: "s9"), "only its session gives it back")
        try brokers[0].requests.releaseApproval("7f3a00000000", session: session)
        XCTAssertTrue(try brokers[1].requests.claimApproval("7f3a00000000", session: "s9"), "given back, it is usable again")
    }

    func testEveryBrokerAgreesOnTheFirstKeyOfferedAndNoBrokerCanChangeIt() throws {
        let brokers = try stores(4)
        let agreed = race(brokers) { index, store in try store.secrets.agree(on: "target-hash-key:sandbox", offering: "key-of-b\(index)") }
        XCTAssertEqual(Set(agreed.compactMap { $0 }).count, 1, "\(agreed)")
        XCTAssertEqual(try brokers[0].secrets.agree(on: "target-hash-key:sandbox", offering: "another"), agreed[0])
        let broker = try fixture.asBroker()
        XCTAssertThrowsError(try broker.execute("UPDATE hoopctl.shared_secrets SET value = 'mine'"), "the brokers' role cannot change a key")
        XCTAssertThrowsError(try broker.execute("DELETE FROM hoopctl.shared_secrets"), "nor remove one, to offer its own next")
    }
}

final class Results<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [T?]
    init(count: Int) { stored = Array(repeating: nil, count: count) }
    func set(_ index: Int, _ value: T?) { lock.withLock { stored[index] = value } }
    var values: [T?] { lock.withLock { stored } }
}
