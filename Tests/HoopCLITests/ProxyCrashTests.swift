import Foundation
import HoopCommon
import HoopTestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The promise of the guard proxy: a statement's record is committed before the statement is
/// forwarded. So after a `kill -9` of the broker under load, the database holds no row whose
/// INSERT the ledger lacks, and the ledger still verifies.
final class ProxyCrashTests: XCTestCase {
    func testKill9UnderAnEightClientInsertLoadLosesNoStatement() throws {
        let pg = try TestPostgres.shared()
        try pg.createLoadTestTable()
        let broker = try SeparateBroker(pg, edit: SeparateBroker.withLoaderRole)
        let directory = try TemporaryDirectory("crash")
        defer { directory.remove() }

        // Client k's INSERT adds k zeros, so its normalized text ($1 + $2 + ...) names the
        // client: the ledger's records and the table's rows can be compared client by client.
        let marker = "crash-\(UUID().uuidString.prefix(8))"
        let clients = 1...8
        for k in clients {
            let value = (["0"] + Array(repeating: "0", count: k)).joined(separator: " + ")
            let line = "insert into load_test (v, note) values (\(value), '\(marker)-\(k)');\n"
            try String(repeating: line, count: 20_000).write(toFile: directory.file("client\(k).sql"), atomically: true, encoding: .utf8)
        }
        let load = clients.map { "psql -X -q -f \(directory.file("client\($0).sql")) >/dev/null 2>&1 &" }.joined(separator: " ") + " wait"
        let exec = try BackgroundProcess(HoopctlBinary.path, ["exec", "sandbox", "--quiet", "--role", "loader", "--", "sh", "-c", load],
                                         environment: broker.environment)
        let admin = try pg.admin()
        func rows() throws -> [Int: Int] {
            var counts: [Int: Int] = [:]
            for row in try admin.execute("SELECT note, count(*) FROM loadtest.load_test WHERE note LIKE $1 GROUP BY note", [marker + "-%"]).rows {
                counts[Int(row[0]!.split(separator: "-").last!)!] = Int(row[1]!)!
            }
            return counts
        }
        // Crash once every client is well under way.
        let started = try eventually(timeout: 60) { let now = try rows(); return now.count == 8 && now.values.allSatisfy { $0 >= 300 } }
        XCTAssertTrue(started, "the load did not start: \(exec.output)")
        try broker.crashAndRestart()
        XCTAssertNotNil(exec.wait(timeout: 60), "the clients end when the proxy goes away")

        // Backends that had a statement in hand may still commit it: settle first.
        _ = try eventually(timeout: 10) { try admin.execute("SELECT count(*) FROM pg_stat_activity WHERE usename LIKE 'hoop\\_s\\_%'").scalar == "0" }
        let inDatabase = try rows()
        let audit = try broker.hoopctl(["audit", "--json", "--kind", "statement"])
        XCTAssertEqual(audit.status, 0, audit.stderr)
        var recorded: [Int: Int] = [:]
        for line in audit.stdout.split(separator: "\n") {
            let record = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            guard let sql = (record?["body"] as? [String: Any])?["sql"] as? String, sql.contains("load_test") else { continue }
            XCTAssertFalse(sql.contains(marker), "no literal in the ledger")
            recorded[sql.filter { $0 == "$" }.count - 2, default: 0] += 1
        }
        for k in clients {
            let stored = inDatabase[k] ?? 0, logged = recorded[k] ?? 0
            // psql waits for each result, so at most the one statement in flight at the crash is
            // recorded without having run.
            XCTAssertTrue(logged == stored || logged == stored + 1, "client \(k): \(stored) rows in the database, \(logged) INSERTs in the ledger")
        }
        XCTAssertGreaterThan(inDatabase.values.reduce(0, +), 2400)
        print("kill -9 under load: rows per client \(clients.map { inDatabase[$0] ?? 0 }), INSERT records \(clients.map { recorded[$0] ?? 0 })")
        let verify = try broker.hoopctl(["audit", "verify"])
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
        // The crashed broker's session role does not outlive the restart.
        let revoked = try eventually(timeout: 20) { try pg.sessionRoles().isEmpty }
        XCTAssertTrue(revoked, "a session role outlived the crashed broker")
    }
}
