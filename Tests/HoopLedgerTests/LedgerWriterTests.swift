import Foundation
@testable import HoopLedger
import HoopTestSupport
import XCTest

/// The ledger's writer thread: group commit, riders, stopping, failure.
final class LedgerWriterTests: XCTestCase {
    var directory: TemporaryDirectory!
    var path: String { directory.file("ledger.sqlite") }

    override func setUpWithError() throws { directory = try TemporaryDirectory("writer") }
    override func tearDown() { directory.remove() }

    private static func statement(_ n: Int) -> LedgerEntry {
        LedgerEntry(StatementBody(sql: "select \(n)", fingerprint: "f\(n)", statementClass: "read", decision: "allow", via: "query"),
                    identity: "user:a", target: "prod", session: "s\(n % 4)")
    }

    /// Eight threads append at once: every caller is told its own records' ids, each id once,
    /// in a chain that verifies; outcomes written later name those ids.
    func testConcurrentAppendsAreEachToldTheirRecordsOnce() throws {
        let ledger = try Ledger(path: path, durability: .batched(interval: .milliseconds(20)))
        let writer = LedgerWriter(ledger: ledger)
        writer.start()
        let told = Told()
        let done = DispatchGroup()
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            for k in 0..<50 {
                let n = thread * 1000 + k
                done.enter()
                writer.append([Self.statement(n), Self.statement(n + 500)]) { result in
                    told.set(n, try? result.get())
                    done.leave()
                }
            }
        }
        XCTAssertEqual(done.wait(timeout: .now() + 30), .success)
        let ids = told.all
        XCTAssertEqual(ids.count, 400)
        let all = ids.values.flatMap { $0 }
        XCTAssertEqual(Set(all).count, 800, "each record id is told once")
        XCTAssertTrue(ids.values.allSatisfy { $0.count == 2 && $0[1] == $0[0] + 1 }, "a caller's entries are committed together, in order")
        // Each id holds what its caller appended.
        let records = Dictionary(uniqueKeysWithValues: try ledger.records().map { ($0.id, $0) })
        for (n, pair) in ids {
            XCTAssertEqual(records[pair[0]]?.decode(StatementBody.self)?.sql, "select \(n)")
            XCTAssertEqual(records[pair[1]]?.decode(StatementBody.self)?.sql, "select \(n + 500)")
        }
        writer.outcome(ResultBody.Outcome(statement: all[0], outcome: "completed", rows: 1, durationMicros: 5, sqlState: nil),
                       session: "s0", identity: "user:a", target: "prod")
        writer.stop()
        let results = try ledger.records(LedgerQuery(kinds: [.result]))
        XCTAssertEqual(results.count, 1, "an outcome queued before stop is written by it")
        XCTAssertEqual(results.first?.decode(ResultBody.self)?.results.first?.statement, all[0])
        XCTAssertTrue(try ledger.verify().passed)
    }

    /// The WAL is checkpointed between commits and starts over: it does not grow with the ledger
    /// (a checkpoint tried beside a busy writer never caught up, and the WAL reached 300 MB).
    func testTheWALStaysBoundedUnderASteadyStreamOfCommits() throws {
        let ledger = try Ledger(path: path, durability: .batched(interval: .milliseconds(20)))
        let writer = LedgerWriter(ledger: ledger)
        writer.start()
        let done = DispatchGroup()
        for n in 0..<40_000 {
            done.enter()
            writer.append([Self.statement(n)]) { _ in done.leave() }
            if n % 64 == 63 { done.wait() }
        }
        done.wait()
        writer.stop()
        XCTAssertEqual(try ledger.count(), 40_000)
        let wal = try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int)
        let file = try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        XCTAssertLessThan(wal, file / 2, "WAL \(wal) bytes beside a file of \(file)")
    }

    /// Riders alone (no statement to carry them) are written within moments.
    func testEventsAloneAreWrittenWithoutAStatementToCarryThem() throws {
        let ledger = try Ledger(path: path)
        let writer = LedgerWriter(ledger: ledger)
        writer.start()
        defer { writer.stop() }
        writer.event(LedgerEntry(EventBody(name: "proxy.refused"), identity: "user:a"))
        XCTAssertTrue(eventually(timeout: 5) { ((try? ledger.records(LedgerQuery(kinds: [.event])).count) ?? 0) == 1 })
    }

    /// After stop, appends are refused (the statement must not run), not lost.
    func testAppendsAfterStopFail() throws {
        let ledger = try Ledger(path: path)
        let writer = LedgerWriter(ledger: ledger)
        writer.start()
        writer.stop()
        let refused = expectation(description: "refused")
        writer.append([Self.statement(1)]) { result in
            if case .failure = result { refused.fulfill() }
        }
        wait(for: [refused], timeout: 5)
        XCTAssertEqual(try ledger.count(), 0)
    }

    /// A ledger whose SQLite cannot take the journal's records: what the journal committed stays
    /// committed, readable and verifiable, the failure is said once (not at each retry), and the
    /// records reach SQLite once it takes them again.
    func testAFailedCopyIntoSQLiteKeepsTheRecordsInTheJournal() throws {
        let ledger = try Ledger(path: path)
        let failures = LockedCounter()
        let writer = LedgerWriter(ledger: ledger) { _ in failures.add() }
        writer.start()
        defer { writer.stop() }
        // The records table refuses inserts, as a broken SQLite file would.
        try ledger.pool.write { try $0.execute(sql: "CREATE TRIGGER refuse BEFORE INSERT ON records BEGIN SELECT RAISE(ABORT, 'disk gone'); END") }
        for id in 1...3 {
            let committed = expectation(description: "committed \(id)")
            writer.append([Self.statement(id)]) { result in
                if case .success = result { committed.fulfill() }
            }
            wait(for: [committed], timeout: 5)
            Thread.sleep(forTimeInterval: 0.1)  // past Ledger.indexDelay: a copy is tried (and fails)
        }
        XCTAssertEqual(failures.value, 1, "said once")
        XCTAssertEqual(try ledger.records().map(\.id), [1, 2, 3], "read from the journal")
        XCTAssertTrue(try ledger.verify().passed)
        try ledger.pool.write { try $0.execute(sql: "DROP TRIGGER refuse") }
        XCTAssertTrue(eventually(timeout: 5) {
            (try? ledger.pool.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM records") }) == 3
        }, "copied once SQLite takes records again (within LedgerWriter.indexRetryDelay)")
    }

    /// Records that cannot reach SQLite are kept up to the journal's limit; past it, statements are refused.
    func testAFullJournalRefusesItsCallers() throws {
        let ledger = try Ledger(path: path, journalLimit: 4096)
        let failures = LockedCounter()
        let writer = LedgerWriter(ledger: ledger) { _ in failures.add() }
        writer.start()
        defer { writer.stop() }
        try ledger.pool.write { try $0.execute(sql: "CREATE TRIGGER refuse BEFORE INSERT ON records BEGIN SELECT RAISE(ABORT, 'disk gone'); END") }
        nonisolated(unsafe) var refused: LedgerError?
        for id in 1...100 where refused == nil {
            let answered = expectation(description: "answered \(id)")
            writer.append([Self.statement(id)]) { result in
                if case .failure(let error) = result { refused = error }
                answered.fulfill()
            }
            wait(for: [answered], timeout: 5)
        }
        XCTAssertTrue("\(String(describing: refused))".contains("the intake journal is full"), "\(String(describing: refused))")
        XCTAssertGreaterThan(try ledger.count(), 3)
    }

    /// The canonical JSON written by hand is JSONEncoder's, field for field (sorted keys, escapes).
    func testHandWrittenBodiesAreJSONEncodersBytes() throws {
        var body = StatementBody(sql: "select \"a\\b\"\n\t\u{1}é", fingerprint: "f", statementClass: "read", decision: "allow", via: "query",
                                 rows: 3, durationMicros: 12, sqlState: "42501", relations: ["public.a", "public.b/c"], request: "r1",
                                 lineage: ["read public.a.x view"])
        body.preview = "select 'x'"
        body.sealed = "k:e:c"
        XCTAssertEqual(body.canonicalJSON(), LedgerCoding.encode(body))
        XCTAssertEqual(StatementBody(sql: "", fingerprint: "", statementClass: "read", decision: "deny").canonicalJSON(),
                       LedgerCoding.encode(StatementBody(sql: "", fingerprint: "", statementClass: "read", decision: "deny")))
        let results = ResultBody(results: [
            .init(statement: 7, outcome: "completed", rows: 2, durationMicros: 40, sqlState: nil, columns: ["id", "e\"mail"]),
            .init(statement: 8, outcome: "failed", rows: nil, durationMicros: nil, sqlState: "57014"),
        ])
        XCTAssertEqual(results.canonicalJSON(), LedgerCoding.encode(results))
        // Every control character, and characters of two, three and four bytes.
        let awkward = String((0..<32).map { Character(UnicodeScalar(UInt8($0))) }) + "\u{7f}ü€𝄞\u{2028}\\\"/"
        let edge = StatementBody(sql: awkward, fingerprint: awkward, statementClass: "read", decision: "allow", relations: [awkward, ""])
        XCTAssertEqual(edge.canonicalJSON(), LedgerCoding.encode(edge))
    }
}

final class Told: @unchecked Sendable {
    private let lock = NSLock()
    private var ids: [Int: [Int64]] = [:]
    func set(_ n: Int, _ value: [Int64]?) { lock.withLock { ids[n] = value } }
    var all: [Int: [Int64]] { lock.withLock { ids } }
}

final class LockedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
