import Foundation
@testable import HoopCommon
@testable import HoopControlStore
import HoopLedger
import HoopPostgres
import HoopTestSupport
import XCTest

/// The ledger in a real PostgreSQL control store (the sandbox cluster, a database of the
/// test's own): one chain for every writer, append-only by the database's own privileges,
/// the same answers as the SQLite ledger, and a migration that keeps every hash.
final class PostgresLedgerTests: XCTestCase {
    var store: ControlStoreFixture!
    var directory: TemporaryDirectory!

    override func setUpWithError() throws {
        store = try ControlStoreFixture(try TestPostgres.shared())
        directory = try TemporaryDirectory("pg-ledger")
    }

    override func tearDown() {
        store?.remove()
        directory?.remove()
    }

    func ledger() throws -> PostgresLedger { try PostgresLedger(address: try StoreAddress(dsnFile: store.brokerDSNFile)) }

    private func event(_ name: String, identity: String = "user:alice", target: String? = "prod", session: String? = nil,
                       time: Date? = nil) -> LedgerEntry {
        LedgerEntry(EventBody(name: name), identity: identity, target: target, session: session, time: time)
    }

    /// A statement with lineage, as the proxy records one.
    private func statement(_ n: Int, session: String, job: String? = nil, time: Date? = nil) -> LedgerEntry {
        Self.statement(n, session: session, job: job, time: time)
    }

    /// `job`: as the proxy gives it, from the session's `started` record (its correlation id).
    private static func statement(_ n: Int, session: String, job: String? = nil, identity: String = "user:bob", time: Date? = nil) -> LedgerEntry {
        var body = StatementBody(sql: "SELECT email FROM customers WHERE id = $1", fingerprint: "fp\(n % 3)", statementClass: "read",
                                 decision: n % 7 == 0 ? "deny" : "allow")
        body.lineage = ["read public.customers", "read public.customers.email \(n % 2 == 0 ? "view" : "clear")"]
        var entry = LedgerEntry(body, identity: identity, target: "prod", session: session, time: time)
        entry.lineage = StatementLineage(fingerprint: "fp\(n % 3)", items: [
            .init(item: "public.customers", access: .read),
            .init(item: "public.customers.email", access: .read, masking: n % 2 == 0 ? "view" : "clear"),
        ], job: job)
        return entry
    }

    func testAppendChainsAndReadsBackLikeTheSQLiteLedger() throws {
        let postgres = try ledger()
        let sqlite = try Ledger(path: directory.file("ledger.sqlite"))
        let now = Date()
        let entries: [LedgerEntry] = [
            event("old", time: now.addingTimeInterval(-7200)),
            event("bob", identity: "user:bob", time: now.addingTimeInterval(-60)),
            event("quote \" and back\\slash, ünïcödé", target: nil, time: now.addingTimeInterval(-30)),
            LedgerEntry(SessionBody(phase: .started, role: "read", correlation: "job-7"), identity: "user:bob", target: "prod", session: "s-42",
                        time: now.addingTimeInterval(-20)),
        ] + (1...20).map { statement($0, session: "s-42", job: "job-7", time: now.addingTimeInterval(-10)) }
        let appended = try postgres.append(entries)
        let copied = try sqlite.append(entries.map { var entry = $0; entry.time = entry.time ?? now; return entry })
        XCTAssertEqual(appended.map(\.id), Array(1...24))
        XCTAssertEqual(appended.first?.previousHash, HashChain.genesis)
        XCTAssertEqual(try postgres.records(), appended)

        let queries: [LedgerQuery] = [
            LedgerQuery(), LedgerQuery(since: now.addingTimeInterval(-3600)), LedgerQuery(identity: "user:bob"),
            LedgerQuery(session: "s-42", kinds: [.statement]), LedgerQuery(kinds: [.event, .session]), LedgerQuery(limit: 3),
            LedgerQuery(afterID: 20), { var query = LedgerQuery(); query.correlation = "job-7"; return query }(),
        ]
        for query in queries {
            XCTAssertEqual(try postgres.records(query).map(\.id), try sqlite.records(query).map(\.id), "\(query)")
        }
        XCTAssertEqual(try postgres.records(LedgerQuery(session: "s-42")).map(\.body), try sqlite.records(LedgerQuery(session: "s-42")).map(\.body))
        XCTAssertEqual(try postgres.count(), 24)
        XCTAssertEqual(try postgres.origin(), appended.first?.hash)
        XCTAssertEqual(try postgres.head()?.id, 24)

        // Lineage is written with its records: a trace reads it at once, and agrees with SQLite's.
        let trace = TraceQuery(items: ["public.customers.email"], since: nil, target: nil, by: .identity)
        XCTAssertEqual(try postgres.trace(trace), try sqlite.trace(trace))
        XCTAssertEqual(try postgres.trace(trace).first?.statements, 20)
        let report = try postgres.report(since: now.addingTimeInterval(-3600), until: now.addingTimeInterval(1))
        let expected = try sqlite.report(since: now.addingTimeInterval(-3600), until: now.addingTimeInterval(1))
        XCTAssertEqual(report.access, expected.access)
        XCTAssertEqual(report.sensitiveColumns, expected.sensitiveColumns)
        XCTAssertEqual(report.refusalCount, expected.refusalCount)
        XCTAssertEqual(report.refusalCount, 2)

        let verification = try postgres.verify()
        XCTAssertTrue(verification.passed, "\(verification)")
        XCTAssertEqual(verification.verified, 24)
        XCTAssertEqual(verification.lineageProblems, [])
        XCTAssertEqual(verification.schemaProblems, [])
    }

    func testWritersOnSeveralConnectionsKeepOneChain() throws {
        // Four writers with connections of their own (as four brokers; two broker processes are in TwoBrokersTests), appending at once.
        let writers = try (0..<4).map { _ in try ledger() }
        DispatchQueue.concurrentPerform(iterations: 4) { writer in
            for batch in 0..<25 {
                _ = try? writers[writer].append((0..<16).map { Self.statement(batch * 16 + $0, session: "w\(writer)") })
            }
        }
        let report = try ledger().verify()
        XCTAssertTrue(report.passed, "\(report)")
        XCTAssertEqual(report.verified, 4 * 25 * 16)
        XCTAssertEqual(report.lineageProblems, [])
        // Each writer's batches are whole (contiguous ids), in some order.
        let records = try ledger().records()
        var runs = 0
        for (previous, record) in zip(records, records.dropFirst()) where previous.session != record.session { runs += 1 }
        XCTAssertLessThanOrEqual(runs, 4 * 25 - 1)
    }

    func testVerifyWhileAnotherBrokerAppendsSeesOneConsistentChain() throws {
        // Pages are fetched on a second connection while the head, the records and the lineage
        // move on: without one snapshot for all of it, the head is past the records walked.
        let writer = try ledger()
        try writer.append((0..<64).map { statement($0, session: "w") })
        let stop = ManagedAtomicFlag()
        let appending = Thread {
            var n = 0
            while !stop.isSet {
                _ = try? writer.append((0..<16).map { Self.statement(n + $0, session: "w") })
                n += 16
            }
        }
        appending.start()
        defer { stop.set() }
        let verifier = try ledger()
        for _ in 0..<8 {
            let report = try verifier.verify()
            XCTAssertTrue(report.passed, "\(report.failure.map { "\($0)" } ?? "") \(report.lineageProblems ?? [])")
        }
    }

    func testTheBrokersRoleCannotChangeOrRemoveRecords() throws {
        let postgres = try ledger()
        try postgres.append((1...5).map { event("e\($0)") })
        let broker = try store.asBroker()
        // Every way to change what was recorded, as the brokers' role: the database refuses each.
        for attack in [
            "UPDATE hoopctl.records SET body = '{\"name\":\"nothing happened\"}' WHERE id = 3",
            "DELETE FROM hoopctl.records WHERE id = 5",
            "TRUNCATE hoopctl.records",
            "UPDATE hoopctl.chain_head SET id = 2",
            "DELETE FROM hoopctl.chain_head",
            "DELETE FROM hoopctl.lineage",
            "UPDATE hoopctl.store_schema SET version = 2",
            "ALTER TABLE hoopctl.records DISABLE TRIGGER records_continue_chain",
            "DROP TRIGGER records_append_only ON hoopctl.records",
            "DROP TABLE hoopctl.records",
            "CREATE TABLE hoopctl.shadow (id int)",
            "CREATE TABLE public.shadow (id int)",
        ] {
            XCTAssertThrowsError(try broker.execute(attack), attack) { error in
                XCTAssertEqual((error as? PostgresError)?.sqlState.map { ["42501", "42P01"].contains($0) }, true, "\(attack): \(error)")
            }
        }
        // Inserting past the head, or over it, or with a link that is not the head's hash: refused by the owner's trigger.
        let head = try XCTUnwrap(try postgres.head())
        func insert(id: Int64, previous: String) throws {
            try broker.execute("""
                INSERT INTO hoopctl.records (id, ts, kind, body, prev_hash, hash) VALUES ($1::bigint, 0, 'event', '{}', $2, $3)
                """, [String(id), previous, String(repeating: "a", count: 64)])
        }
        XCTAssertThrowsError(try insert(id: head.id + 2, previous: head.hash)) { XCTAssertTrue("\($0)".contains("continue the chain"), "\($0)") }
        XCTAssertThrowsError(try insert(id: head.id, previous: head.hash))
        XCTAssertThrowsError(try insert(id: head.id + 1, previous: String(repeating: "0", count: 64))) {
            XCTAssertTrue("\($0)".contains("hash of the record before"), "\($0)")
        }
        // Red team: a record that continues the links but whose hash is not its content's (garbage
        // that failed every verification after it): refused too.
        XCTAssertThrowsError(try insert(id: head.id + 1, previous: head.hash)) {
            XCTAssertTrue("\($0)".contains("hash of its content"), "\($0)")
        }
        XCTAssertTrue(try postgres.verify().passed)
    }

    /// Red team: one open transaction holding the chain's lock stalled every broker's records
    /// (and so their statements) without end. Appends now wait a bounded time and fail closed.
    func testAHeldChainLockFailsAppendsInBoundedTime() throws {
        let postgres = try ledger()
        try postgres.append(event("before"))
        let holder = try store.asBroker()
        try holder.executeScript("BEGIN; SELECT pg_advisory_xact_lock(\(StoreSchema.chainLock))")
        let started = Date()
        XCTAssertThrowsError(try postgres.append(event("stalled")))
        let waited = Date().timeIntervalSince(started)
        XCTAssertLessThan(waited, Double(PostgresLedger.chainLockWait) + 3, "the append waited \(waited) s")
        try holder.execute("ROLLBACK")
        try postgres.append(event("after"))
        XCTAssertEqual(try postgres.count(), 2)
        XCTAssertTrue(try postgres.verify().passed)
    }

    func testTheOwnersEditsAreCaughtByVerify() throws {
        let postgres = try ledger()
        try postgres.append((1...10).map { event("e\($0)") })
        let owner = try store.asOwner()
        // Even the owner is stopped by the append-only trigger until it drops it; then verify names the edit.
        XCTAssertThrowsError(try owner.execute("UPDATE hoopctl.records SET body = '{\"name\":\"x\"}' WHERE id = 4"))
        try owner.execute("ALTER TABLE hoopctl.records DISABLE TRIGGER records_append_only")
        try owner.execute("UPDATE hoopctl.records SET body = '{\"name\":\"x\"}' WHERE id = 4")
        let report = try postgres.verify()
        XCTAssertEqual(report.failure?.recordID, 4)
        XCTAssertEqual(report.failure?.reason, .edited)
        XCTAssertTrue(report.schemaProblems.contains { $0.contains("records_append_only") }, "\(report.schemaProblems)")
        // Records cut off the end: the head kept apart says so.
        try owner.execute("DELETE FROM hoopctl.records WHERE id >= 4")
        let cut = try postgres.verify()
        XCTAssertEqual(cut.failure?.reason, .truncated(recordedHeadID: 10))
    }

    func testARecordThatPostgreSQLCannotHoldIsRefusedWhole() throws {
        let postgres = try ledger()
        try postgres.append(event("before"))
        XCTAssertThrowsError(try postgres.append([event("fine"), event("nul \u{0} inside")]))
        XCTAssertEqual(try postgres.count(), 1, "nothing of the batch was appended")
        try postgres.append(event("after"))
        XCTAssertTrue(try postgres.verify().passed)
    }

    func testAStoreOfAnotherSchemaVersionIsRefused() throws {
        let owner = try store.asOwner()
        try owner.execute("UPDATE hoopctl.store_schema SET version = 99")
        XCTAssertThrowsError(try ledger()) { XCTAssertTrue("\($0)".contains("newer hoopctl"), "\($0)") }
        try owner.execute("UPDATE hoopctl.store_schema SET version = 0")
        XCTAssertThrowsError(try ledger()) { XCTAssertTrue("\($0)".contains("store init"), "\($0)") }
        try owner.execute("DROP SCHEMA hoopctl CASCADE")
        XCTAssertThrowsError(try ledger()) { XCTAssertTrue("\($0)".contains("no hoopctl control store"), "\($0)") }
    }

    func testADSNFileOthersCanReadIsRefusedAndNeverQuoted() throws {
        chmod(store.brokerDSNFile, 0o644)
        XCTAssertThrowsError(try StoreAddress(dsnFile: store.brokerDSNFile)) { XCTAssertTrue("\($0)".contains("chmod 600"), "\($0)") }
        chmod(store.brokerDSNFile, 0o600)
        let dsn = try String(contentsOfFile: store.brokerDSNFile, encoding: .utf8)
        let password = try XCTUnwrap(dsn.split(separator: " ").first { $0.hasPrefix("password=") }).dropFirst("password=".count)
        try (dsn.replacingOccurrences(of: String(password), with: "wrong" + password) + "\n").write(toFile: store.brokerDSNFile, atomically: true, encoding: .utf8)
        chmod(store.brokerDSNFile, 0o600)
        XCTAssertThrowsError(try ledger()) { error in
            XCTAssertTrue("\(error)".contains("cannot connect to the control store"), "\(error)")
            XCTAssertFalse("\(error)".contains(String(password)), "the password must not be in the error")
        }
    }

    func testMigrationKeepsEveryIdAndHash() throws {
        let path = directory.file("ledger.sqlite")
        let sqlite = try Ledger(path: path)
        try sqlite.append((1...30).map { event("e\($0)", session: $0 % 2 == 0 ? "s1" : nil) })
        try sqlite.append(LedgerEntry(SessionBody(phase: .started, role: "read", correlation: "job-1"), identity: "user:bob", target: "prod", session: "s9"))
        try sqlite.append((1...40).map { statement($0, session: "s9", job: "job-1") })
        sqlite.flushPendingLineage()
        let sourceHead = try XCTUnwrap(try sqlite.head())

        let migrate = try HoopctlBinary.run(["store", "migrate", "--dsn-file", store.brokerDSNFile, "--from", path])
        XCTAssertEqual(migrate.status, 0, migrate.stderr + migrate.stdout)
        XCTAssertTrue(migrate.stdout.contains("the heads are the same"), migrate.stdout)
        XCTAssertTrue(migrate.stdout.contains(sourceHead.hash), migrate.stdout)

        let postgres = try ledger()
        XCTAssertEqual(try postgres.records(), try sqlite.records())
        XCTAssertEqual(try postgres.head()?.hash, sourceHead.hash)
        let trace = TraceQuery(items: ["public.customers.email"], since: nil, target: nil, by: .job)
        XCTAssertEqual(try postgres.trace(trace), try sqlite.trace(trace))
        let report = try postgres.verify()
        XCTAssertTrue(report.passed, "\(report)")
        XCTAssertEqual(report.lineageProblems, [])
        // The broker's `audit verify --store-dsn-file` reads it by hand too, and says the same head.
        let verify = try HoopctlBinary.run(["audit", "verify", "--store-dsn-file", store.brokerDSNFile])
        XCTAssertEqual(verify.status, 0, verify.stderr)
        XCTAssertTrue(verify.stdout.contains("head #\(sourceHead.id) sha256:\(sourceHead.hash)"), verify.stdout)

        // Appends continue the migrated chain; a second migration into a store that holds records is refused, nothing added.
        try postgres.append(event("after the move"))
        let again = try HoopctlBinary.run(["store", "migrate", "--dsn-file", store.brokerDSNFile, "--from", path])
        XCTAssertNotEqual(again.status, 0)
        XCTAssertTrue(again.stderr.contains("empty store"), again.stderr)
        XCTAssertEqual(try postgres.count(), 72)
        XCTAssertTrue(try postgres.verify().passed)
    }

    func testALedgerThatDoesNotVerifyIsNotMigrated() throws {
        let path = directory.file("ledger.sqlite")
        try Ledger(path: path).append((1...5).map { event("e\($0)") })
        // Edited behind the ledger's back (its guard dropped first), as an intruder on the broker's host would.
        _ = try ChildProcess("sqlite3", [path, "DROP TRIGGER records_append_only_update; UPDATE records SET body = '{}' WHERE id = 3"]).check()
        let migrate = try HoopctlBinary.run(["store", "migrate", "--dsn-file", store.brokerDSNFile, "--from", path])
        XCTAssertNotEqual(migrate.status, 0)
        XCTAssertTrue(migrate.stderr.contains("does not verify"), migrate.stderr)
        XCTAssertEqual(try ledger().count(), 0)
    }

    func testInitIsRefusedForABrokerRoleThatCouldDoAnything() throws {
        let fresh = try ControlStoreFixture(store.pg, initialize: false)
        defer { fresh.remove() }
        let asSelf = try HoopctlBinary.run(["store", "init", "--dsn-file", fresh.ownerDSNFile, "--broker-role", fresh.ownerRole])
        XCTAssertNotEqual(asSelf.status, 0)
        XCTAssertTrue(asSelf.stderr.contains("must not own the store"), asSelf.stderr)
        let missing = try HoopctlBinary.run(["store", "init", "--dsn-file", fresh.ownerDSNFile, "--broker-role", "nobody_at_all"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("no role nobody_at_all"), missing.stderr)
        XCTAssertNil(try StoreSchema.installedVersion(try fresh.asOwner()), "nothing was created")
        let first = try HoopctlBinary.run(["store", "init", "--dsn-file", fresh.ownerDSNFile, "--broker-role", fresh.brokerRole])
        XCTAssertEqual(first.status, 0, first.stderr)
        let second = try HoopctlBinary.run(["store", "init", "--dsn-file", fresh.ownerDSNFile, "--broker-role", fresh.brokerRole])
        XCTAssertEqual(second.status, 0, second.stderr)
        XCTAssertTrue(second.stdout.contains("already"), second.stdout)
    }
}

/// A flag set once, read from another thread.
final class ManagedAtomicFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}
