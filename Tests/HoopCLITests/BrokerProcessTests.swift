import Foundation
import HoopCommon
import HoopTestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// `hoopctl serve` as a process: SIGHUP and `policy reload` swap the policy whole or not at all,
/// SIGTERM stops it cleanly. A broker of its own, beside the sandbox's, on the same database.
final class BrokerProcessTests: XCTestCase {
    var pg: TestPostgres.Instance!
    var separate: SeparateBroker!
    var broker: BackgroundProcess { separate.process }
    var environment: [String: String] { separate.environment }
    var policy: String { separate.policyPath }
    var directory: TemporaryDirectory { separate.directory }

    override func setUpWithError() throws {
        pg = try TestPostgres.shared()
        separate = try SeparateBroker(pg)
    }

    override func tearDown() { separate = nil }

    private func events() throws -> [String] {
        let audit = try HoopctlBinary.run(["audit", "--kind", "event", "--json"], environment: environment)
        return audit.stdout.split(separator: "\n").compactMap {
            ((try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]).flatMap { ($0["body"] as? [String: Any])?["name"] as? String }
        }
    }

    func testSIGHUPReloadsThePolicyWholeOrNotAtAll() throws {
        let good = try String(contentsOfFile: policy, encoding: .utf8)
        try good.replacingOccurrences(of: "max_ttl: 8h", with: "max_ttl: 8 hours").write(toFile: policy, atomically: true, encoding: .utf8)
        broker.signal(SIGHUP)
        XCTAssertTrue(try eventually { try events().contains("policy.rejected") })
        XCTAssertTrue(broker.output.contains("policy reload rejected"))
        let still = try HoopctlBinary.run(["exec", "sandbox", "--quiet", "--", "true"], environment: environment)
        XCTAssertEqual(still.status, 0, "the old policy still serves: \(still.stderr)")

        try good.replacingOccurrences(of: "- { who: group:analysts, target: sandbox, roles: [read] }", with: "")
            .replacingOccurrences(of: "- { who: group:analysts, target: sandbox, roles: [write] }", with: "")
            .write(toFile: policy, atomically: true, encoding: .utf8)
        broker.signal(SIGHUP)
        XCTAssertTrue(try eventually { try events().contains("policy.reloaded") })
        let denied = try HoopctlBinary.run(["exec", "sandbox", "--quiet", "--", "true"], environment: environment)
        XCTAssertEqual(denied.status, 77, "the new policy, whole: \(denied.stderr)")
    }

    func testPolicyReloadPrintsEveryErrorAndExitsTwo() throws {
        let good = try String(contentsOfFile: policy, encoding: .utf8)
        try good.replacingOccurrences(of: "max_ttl: 8h", with: "max_ttl: 8 hours").replacingOccurrences(of: "count: 1", with: "count: 0")
            .write(toFile: policy, atomically: true, encoding: .utf8)
        let rejected = try HoopctlBinary.run(["policy", "reload"], environment: environment)
        XCTAssertEqual(rejected.status, 2)
        // Three problems (the count of the write role's approval and of the statement reviews'), each named.
        XCTAssertEqual(rejected.stdout.split(separator: "\n").filter { $0.contains(": error: ") }.count, 3, rejected.stdout)
        XCTAssertTrue(rejected.stdout.hasSuffix("rejected; the broker keeps its previous policy\n"), rejected.stdout)
        try good.write(toFile: policy, atomically: true, encoding: .utf8)
        let applied = try HoopctlBinary.run(["policy", "reload"], environment: environment)
        XCTAssertEqual(applied.status, 0, applied.stdout + applied.stderr)
    }

    func testSIGTERMStopsTheBrokerGracefully() throws {
        broker.signal(SIGTERM)
        XCTAssertEqual(broker.wait(timeout: 10), 0, broker.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.file("broker.sock")), "the socket is removed")
        let gone = try HoopctlBinary.run(["whoami"], environment: environment)
        XCTAssertEqual(gone.status, 69)
    }
}
