import Foundation
import HoopCommon
import HoopTestSupport
import XCTest

/// Two brokers (separate processes, state directories, sockets and proxies) sharing one
/// PostgreSQL control store, as a team runs them behind one name.
final class TwoBrokersTests: XCTestCase {
    var store: ControlStoreFixture!
    var brokers: [SeparateBroker] = []

    static func loaderPolicy(_ yaml: String) -> String {
        yaml.replacingOccurrences(of: "      write:\n", with: """
                  loader:
                    tables: ["loadtest.*"]
                    privileges: [insert]
                    connection_limit: 20
                    max_ttl: 1h
                  write:

            """)
            .replacingOccurrences(of: "- { who: group:analysts, target: sandbox, roles: [write] }",
                                  with: "- { who: group:analysts, target: sandbox, roles: [write, loader] }")
    }

    override func setUpWithError() throws {
        let pg = try TestPostgres.shared()
        try pg.createLoadTestTable()
        store = try ControlStoreFixture(pg)
        brokers = try (0..<2).map { _ in
            try SeparateBroker(pg, serveArguments: ["--store-dsn-file", store.brokerDSNFile], edit: Self.loaderPolicy)
        }
    }

    override func tearDown() {
        brokers.removeAll()
        store?.remove()
    }

    /// `clients` psql processes through the broker's proxy, each inserting `rows` rows whose
    /// normalized INSERT names the client (client k adds k zeros: `$1 + $2 + ...`).
    func load(_ broker: SeparateBroker, clients: ClosedRange<Int>, rows: Int, marker: String, in directory: TemporaryDirectory) throws -> BackgroundProcess {
        for k in clients {
            let value = (["0"] + Array(repeating: "0", count: k)).joined(separator: " + ")
            let line = "insert into load_test (v, note) values (\(value), '\(marker)-\(k)');\n"
            try String(repeating: line, count: rows).write(toFile: directory.file("client\(k).sql"), atomically: true, encoding: .utf8)
        }
        let script = clients.map { "psql -X -q -v ON_ERROR_STOP=1 -f \(directory.file("client\($0).sql")) >/dev/null &" }.joined(separator: " ") + " wait"
        return try BackgroundProcess(HoopctlBinary.path, ["exec", "sandbox", "--quiet", "--role", "loader", "--", "sh", "-c", script],
                                     environment: broker.environment)
    }

    /// Rows in the table per client, and INSERT records per client in the shared ledger (read through `broker`).
    func rowsAndRecords(marker: String, through broker: SeparateBroker) throws -> (rows: [Int: Int], records: [Int: Int]) {
        var rows: [Int: Int] = [:]
        for row in try store.pg.admin().execute("SELECT note, count(*) FROM loadtest.load_test WHERE note LIKE $1 GROUP BY note", [marker + "-%"]).rows {
            rows[Int(row[0]!.split(separator: "-").last!)!] = Int(row[1]!)!
        }
        var records: [Int: Int] = [:]
        for record in try broker.records(kind: "statement") {
            guard let sql = (record["body"] as? [String: Any])?["sql"] as? String, sql.contains("load_test") else { continue }
            XCTAssertFalse(sql.contains(marker), "no literal in the ledger")
            records[sql.filter { $0 == "$" }.count - 2, default: 0] += 1
        }
        return (rows, records)
    }

    func testBothBrokersAppendingAtOnceKeepOneChainThatEachVerifies() throws {
        let directory = try TemporaryDirectory("two-brokers")
        defer { directory.remove() }
        let marker = "both-\(UUID().uuidString.prefix(8))"
        // Four clients through each broker's proxy at once: clients 1-4 on A, 5-8 on B.
        let onA = try load(brokers[0], clients: 1...4, rows: 1_500, marker: marker, in: directory)
        let onB = try load(brokers[1], clients: 5...8, rows: 1_500, marker: marker, in: directory)
        XCTAssertEqual(onA.wait(timeout: 180), 0, onA.output)
        XCTAssertEqual(onB.wait(timeout: 180), 0, onB.output)

        // Every row has its record in the one ledger, whichever broker it is read through.
        for broker in brokers {
            let (rows, records) = try rowsAndRecords(marker: marker, through: broker)
            for k in 1...8 {
                XCTAssertEqual(rows[k], 1_500, "client \(k)")
                XCTAssertEqual(records[k], rows[k], "client \(k): rows and INSERT records")
            }
        }
        // Both brokers' records interleave in one chain, and each verifies it whole: the other's
        // checkpoints (signed with the other's key, kept in the same target database) included.
        for broker in brokers {
            let checkpoint = try broker.hoopctl(["audit", "checkpoint"])
            XCTAssertEqual(checkpoint.status, 0, checkpoint.stderr)
        }
        for broker in brokers {
            let verify = try broker.hoopctl(["audit", "verify", "--json"])
            XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
            let report = try JSONSerialization.jsonObject(with: Data(verify.stdout.utf8)) as? [String: Any]
            XCTAssertEqual(report?["problems"] as? [String], [], verify.stdout)
            XCTAssertGreaterThanOrEqual(report?["checkpoints"] as? Int ?? 0, 2, "both brokers' checkpoints count: \(verify.stdout)")
        }
        let sessions = try brokers[0].records(kind: "session").compactMap { ($0["body"] as? [String: Any])?["broker"] as? String }
        XCTAssertEqual(Set(sessions).count, 2, "sessions of both brokers are in the one ledger: \(sessions)")
    }
}
