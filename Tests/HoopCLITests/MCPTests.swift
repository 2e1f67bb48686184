import Foundation
import HoopCommon
import HoopTestSupport
import XCTest

/// `hoopctl mcp` driven by a real MCP client (the `mcp` package from PyPI): tools, resources,
/// masked rows, a review error for `drop table orders`, and its approved retry that runs once;
/// the ledger shows the agent's identity, its MCP client, and each statement. A sandbox of its
/// own: orders really goes.
final class MCPTests: XCTestCase {
    var pg: TestPostgres.Instance!
    var broker: SeparateBroker!
    static let client = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Clients/mcp_client.py").path

    override func setUpWithError() throws {
        pg = try TestPostgres.startPrivate()
        broker = try SeparateBroker(pg) { $0 }
    }

    override func tearDown() {
        broker = nil
        if let pg { TestPostgres.removePrivate(pg.home) }
    }

    func testAnAgentQueriesThroughTheProxyAndWaitsForAReview() throws {
        let bot = try broker.token("service:retrain-bot"), alice = try broker.token("user:alice")
        var environment = broker.environment
        environment.merge(["HOOPCTL_TOKEN": bot, "HOOPCTL_BIN": HoopctlBinary.path, "ALICE": alice]) { $1 }
        let run = try ChildProcess("python3", [Self.client], environment: environment).run()
        XCTAssertEqual(run.status, 0, run.stdout + run.stderr)
        let summary = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data((run.stdout.split(separator: "\n").last ?? "").utf8)) as? [String: Any])
        XCTAssertEqual(try pg.admin().execute("SELECT to_regclass('public.orders') IS NULL").scalar, "t", "the approved drop ran")

        let audit = try broker.hoopctl(["audit", "--json"])
        let records = audit.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let started = try XCTUnwrap(records.first { $0["kind"] as? String == "session" && ($0["body"] as? [String: Any])?["client"] as? String == "mcp" })
        XCTAssertEqual(started["identity"] as? String, "service:retrain-bot")
        XCTAssertEqual((started["body"] as? [String: Any])?["agent"] as? String, "hoop-test-agent 0.9.1")
        let session = try XCTUnwrap(started["session"] as? String)
        let statements = records.filter { $0["kind"] as? String == "statement" && $0["session"] as? String == session }
            .compactMap { ($0["body"] as? [String: Any]).map { ($0["sql"] as? String ?? "", $0["decision"] as? String ?? "") } }
        XCTAssertTrue(statements.contains { $0.0.hasPrefix("select id, email, notes from customers") && $0.1 == "allow" }, "\(statements)")
        XCTAssertEqual(statements.filter { $0.0 == "drop table orders" }.map(\.1), ["review", "approved", "review"], "\(statements)")
        XCTAssertTrue(records.contains { $0["kind"] as? String == "session" && $0["session"] as? String == session
                && ($0["body"] as? [String: Any])?["phase"] as? String == "ended" }, "the session ended with the client")
        let request = try XCTUnwrap(summary["orders_request"] as? String)
        let decided = records.filter { ($0["body"] as? [String: Any])?["requestID"] as? String == request }
        XCTAssertEqual(decided.compactMap { $0["kind"] as? String == "decision" ? $0["identity"] as? String : nil }, ["user:alice"])
    }
}
