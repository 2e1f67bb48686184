import Foundation
import HoopLedger
import HoopPolicy
@testable import HoopProxy
import HoopSQL
import HoopTestSupport
import HoopWire
import NIOCore
import XCTest

/// The relay's decisions without sockets: client messages, server bytes, commits, reviews and
/// timers go in; what it asks the handler to do comes out, in order.
final class RelayStateMachineTests: XCTestCase {
    typealias Action = RelayStateMachine.Action

    /// A clock the tests move.
    final class Clock: @unchecked Sendable {
        var now = NIODeadline.uptimeNanoseconds(1_000_000_000)
    }

    static let verifier = SCRAMVerifier.mock(for: "s1", secret: [1, 2, 3], iterations: 16)

    func machine(statementTimeout: TimeInterval? = nil, idleTimeout: TimeInterval? = nil, clock: Clock = Clock()) -> RelayStateMachine {
        var ticket = ProxyTicket(sessionID: "s1", identity: "alice", target: "prod", role: "hoop_s1", expiresAt: .distantFuture,
                                 verifier: Self.verifier,
                                 upstream: UpstreamEndpoint(host: "/tmp", port: 5432, database: "app", user: "hoop_s1", password: "x", sslMode: "disable"))
        ticket.statementTimeout = statementTimeout
        ticket.idleInTransactionTimeout = idleTimeout
        return RelayStateMachine(ticket: ticket, analyzer: StatementAnalyzer(), scanner: BackendScanner(),
                                 transactionStatus: UInt8(ascii: "I"), now: { clock.now })
    }

    /// The client's bytes as the proxy's decoder hands them over.
    func messages(_ bytes: ByteBuffer...) throws -> [FrontendMessage] {
        var decoder = FrontendDecoder()
        var startup = WireFixture.startup(user: "s1", database: "app")
        _ = try decoder.decode(buffer: &startup)
        var buffer = WireFixture.join(bytes)
        var result: [FrontendMessage] = []
        while let message = try decoder.decode(buffer: &buffer) { result.append(message) }
        return result
    }

    /// One client read: its messages, then its end.
    func read(_ relay: inout RelayStateMachine, _ bytes: ByteBuffer...) throws -> [Action] {
        for message in try messages(WireFixture.join(bytes)) { relay.clientMessage(message) }
        relay.clientReadComplete()
        return take(&relay)
    }

    /// A read whose large texts are analysed (off the loop, as the handler would) before it ends.
    func readAnalysed(_ relay: inout RelayStateMachine, _ bytes: ByteBuffer...) throws -> [Action] {
        var actions = try read(&relay, WireFixture.join(bytes))
        while let sql = actions.lazy.compactMap({ if case .analyse(let sql) = $0 { sql } else { nil } }).first {
            actions.removeAll { if case .analyse = $0 { true } else { false } }
            relay.analysed(sql, StatementAnalyzer().analyze(sql))
            actions += take(&relay)
        }
        return actions
    }

    func take(_ relay: inout RelayStateMachine) -> [Action] {
        defer { relay.actions.removeAll() }
        return relay.actions
    }

    // What the actions say, in short.

    func serverWrites(_ actions: [Action]) -> [ByteBuffer] {
        actions.compactMap { if case .writeServer(let bytes) = $0 { bytes } else { nil } }
    }

    func records(_ actions: [Action]) -> [([LedgerEntry], RelayStateMachine.PendingRecords)] {
        actions.compactMap { if case .record(let entries, let pending) = $0 { (entries, pending) } else { nil } }
    }

    func outcomes(_ actions: [Action]) -> [ResultBody.Outcome] {
        actions.compactMap { if case .outcome(let outcome) = $0 { outcome } else { nil } }
    }

    func statement(_ entry: LedgerEntry) throws -> StatementBody {
        try JSONDecoder().decode(StatementBody.self, from: Data(entry.body.utf8))
    }

    func text(ofQuery buffer: ByteBuffer) -> String {
        var buffer = buffer
        buffer.moveReaderIndex(forwardBy: 5)
        return buffer.readNullTerminatedString() ?? ""
    }

    /// A statement, its record committed as `id`: what went to the server.
    func commit(_ relay: inout RelayStateMachine, _ actions: [Action], ids: [Int64]) -> [Action] {
        guard let (_, pending) = records(actions).first else { XCTFail("nothing to record"); return [] }
        relay.recorded(pending, ids: ids)
        return take(&relay)
    }

    // MARK: Simple protocol

    func testASimpleQueryGoesOnlyOnceRecordedAndItsOutcomeIsReported() throws {
        var relay = machine()
        let asked = try read(&relay, WireFixture.query("SELECT name FROM customers WHERE id = 42"))
        XCTAssertTrue(serverWrites(asked).isEmpty, "nothing reaches the server before its record")
        let (entries, _) = try XCTUnwrap(records(asked).first)
        XCTAssertEqual(entries.count, 1)
        let body = try statement(entries[0])
        XCTAssertEqual(body.via, "query")
        XCTAssertEqual(body.decision, "allow")
        XCTAssertFalse(body.sql.contains("42"), "the record keeps the normalized text")

        let sent = commit(&relay, asked, ids: [7])
        XCTAssertEqual(serverWrites(sent).map(text(ofQuery:)), ["SELECT name FROM customers WHERE id = 42"])
        guard case .flushServer? = sent.last else { return XCTFail("the write is flushed: \(sent)") }

        let answer = WireFixture.join(WireFixture.rowDescription(["name"]), WireFixture.dataRow(["Ada"]), WireFixture.commandComplete("SELECT 1"),
                                      WireFixture.readyForQuery())
        relay.serverBytes(answer)
        let relayed = take(&relay)
        guard case .writeClient(let bytes)? = relayed.first(where: { if case .writeClient = $0 { true } else { false } }) else {
            return XCTFail("the answer goes to the client: \(relayed)")
        }
        XCTAssertEqual(bytes, answer)
        XCTAssertEqual(outcomes(relayed).map(\.statement), [7])
        XCTAssertEqual(outcomes(relayed).first?.outcome, "completed")
        XCTAssertEqual(outcomes(relayed).first?.rows, 1)
        XCTAssertEqual(outcomes(relayed).first?.columns, ["name"])
    }

    func testSeveralStatementsInOneQueryAreRecordedEachAndEndEach() throws {
        var relay = machine()
        let asked = try read(&relay, WireFixture.query("SELECT 1; SELECT 2"))
        XCTAssertEqual(records(asked).first?.0.count, 2)
        _ = commit(&relay, asked, ids: [1, 2])
        relay.serverBytes(WireFixture.join(WireFixture.rowDescription(["a"]), WireFixture.dataRow(["1"]), WireFixture.commandComplete("SELECT 1"),
                                           WireFixture.error("42P01", "no such table"), WireFixture.readyForQuery()))
        XCTAssertEqual(outcomes(take(&relay)).map { "\($0.statement) \($0.outcome) \($0.sqlState ?? "-")" }, ["1 completed -", "2 failed 42P01"])
    }

    /// Red team (rt18): a megabyte of `select 1;` in one Query made 555,643 records in 45 s.
    func testATextOfTooManyStatementsIsOneRefusedRecord() throws {
        var relay = machine()
        let many = String(repeating: "select 1;", count: RelayStateMachine.maxStatementsPerText + 1)
        let asked = try readAnalysed(&relay, WireFixture.query(many))
        let entries = try XCTUnwrap(records(asked).first).0
        XCTAssertEqual(entries.count, 1)
        let body = try statement(entries[0])
        XCTAssertEqual(body.decision, "deny")
        XCTAssertEqual(body.sql, "<a text of 1001 statements>")
        let sent = serverWrites(commit(&relay, asked, ids: [1])).map(text(ofQuery:))
        XCTAssertTrue(sent.count == 1 && sent[0].contains("at most 1000 are read in one message"), "\(sent)")
        // The limit itself passes.
        var limit = machine()
        let fits = try readAnalysed(&limit, WireFixture.query(String(repeating: "select 1;", count: RelayStateMachine.maxStatementsPerText)))
        XCTAssertEqual(records(fits).first?.0.count, RelayStateMachine.maxStatementsPerText)
    }

    func testALedgerThatCannotRecordClosesTheConnectionAndNothingRuns() throws {
        var relay = machine()
        _ = try read(&relay, WireFixture.query("SELECT 1"))
        relay.recordFailed()
        let actions = take(&relay)
        XCTAssertTrue(serverWrites(actions).isEmpty)
        guard case .fail(let code, _, _)? = actions.first else { return XCTFail("\(actions)") }
        XCTAssertEqual(code, "58000")
        // Nothing after the end.
        XCTAssertTrue(try read(&relay, WireFixture.query("SELECT 2")).isEmpty)
    }

    // MARK: Extended protocol

    func testAPipelinedBatchTakesOneAppendAndOneWrite() throws {
        var relay = machine()
        // pgbench's extended mode, two statements in one read: Parse, Bind, Describe, Execute, Sync each.
        let pgbench = { (id: String) in
            [WireFixture.parse("SELECT abalance FROM pgbench_accounts WHERE aid = $1"), WireFixture.bind([id]), WireFixture.describe(),
             WireFixture.execute(), WireFixture.sync()]
        }
        let asked = try read(&relay, WireFixture.join(pgbench("1") + pgbench("2")))
        XCTAssertTrue(serverWrites(asked).isEmpty)
        let appends = records(asked)
        XCTAssertEqual(appends.count, 1, "one append for the read")
        // Each Execute stands for the Parse of its statement in the same read: one record per statement.
        XCTAssertEqual(try appends[0].0.map { try statement($0).via }, ["execute", "execute"])

        let sent = commit(&relay, asked, ids: [11, 12])
        XCTAssertEqual(serverWrites(sent).map(WireFixture.types).joined(), "PBDESPBDES")
        XCTAssertEqual(sent.filter { if case .flushServer = $0 { true } else { false } }.count, 1, "one flush for the read")

        let answer = { (aid: String) in
            [WireFixture.parseComplete(), WireFixture.bindComplete(), WireFixture.rowDescription(["abalance"]), WireFixture.dataRow([aid]),
             WireFixture.commandComplete("SELECT 1"), WireFixture.readyForQuery()]
        }
        relay.serverBytes(WireFixture.join(answer("1") + answer("2")))
        XCTAssertEqual(outcomes(take(&relay)).map { "\($0.statement) \($0.outcome) \($0.rows ?? -1)" }, ["11 completed 1", "12 completed 1"])
    }

    func testAParseAloneWaitsForARecordOfItsOwn() throws {
        var relay = machine()
        // A Parse and a Describe with no Execute: the server checks the text, so it is recorded.
        let asked = try read(&relay, WireFixture.parse("SELECT secret FROM pg_authid", name: "S1"),
                             WireFixture.message("D") { $0.writeInteger(UInt8(ascii: "S")); $0.writeNullTerminatedString("S1") }, WireFixture.sync())
        XCTAssertTrue(serverWrites(asked).isEmpty)
        let entries = try XCTUnwrap(records(asked).first).0
        XCTAssertEqual(try entries.map { try statement($0).via }, ["parse"])
        XCTAssertEqual(serverWrites(commit(&relay, asked, ids: [3])).map(WireFixture.types).joined(), "PDS")
    }

    /// Red team (rt18): an Execute stands for a Parse of its read only when it runs what that
    /// Parse prepared; a Close in between (or another name) leaves the Parse its own record.
    func testAnExecuteStandsForAParseOnlyWhenItRunsWhatThatParsePrepared() throws {
        let closeStatement = { (name: String) in WireFixture.message("C") { $0.writeInteger(UInt8(ascii: "S")); $0.writeNullTerminatedString(name) } }
        let closePortal = WireFixture.message("C") { $0.writeInteger(UInt8(ascii: "P")); $0.writeNullTerminatedString("") }
        var relay = machine()
        var asked = try read(&relay, WireFixture.parse("SELECT * FROM customers", name: "k1"), closeStatement("k1"),
                             WireFixture.bind(statement: "k1"), WireFixture.execute(), WireFixture.sync())
        XCTAssertEqual(try records(asked).flatMap { try $0.0.map { try statement($0).via } }, ["parse", "execute"])

        relay = machine()
        asked = try read(&relay, WireFixture.parse("SELECT id FROM customers WHERE id = 5"), WireFixture.bind(), closeStatement(""), closePortal,
                         WireFixture.execute(), WireFixture.sync())
        XCTAssertEqual(try records(asked).flatMap { try $0.0.map { try statement($0).via } }, ["parse", "execute"])

        // Two Parses of one name: the Execute runs the second, so the first keeps its record.
        relay = machine()
        asked = try read(&relay, WireFixture.parse("SELECT 1", name: "k2"), WireFixture.sync(), WireFixture.parse("SELECT 2", name: "k2"),
                         WireFixture.bind(statement: "k2"), WireFixture.execute(), WireFixture.sync())
        XCTAssertEqual(try records(asked).flatMap { try $0.0.map { "\(try statement($0).via ?? "") \(try statement($0).sql)" } },
                       ["parse SELECT $1", "execute SELECT $1"])
    }

    func testAnErrorInABatchTakesBackWhatTheServerSkipped() throws {
        var relay = machine()
        _ = commit(&relay, try read(&relay, WireFixture.parse("SELECT 1", name: "p1"), WireFixture.sync()), ids: [1])
        // The server refuses the Parse: the name p1 is not prepared, so a Bind of it later is the server's to refuse,
        // and an Execute of a portal bound from it is judged as unknown.
        relay.serverBytes(WireFixture.join(WireFixture.error("42601", "syntax"), WireFixture.readyForQuery()))
        _ = take(&relay)
        let asked = try read(&relay, WireFixture.bind(statement: "p1"), WireFixture.execute(), WireFixture.sync())
        let body = try statement(XCTUnwrap(records(asked).first).0[0])
        XCTAssertEqual(body.decision, "deny", "an Execute of what the proxy did not see prepared fails closed")
        XCTAssertEqual(body.statementClass, "opaque")
    }

    // MARK: COPY

    func testCopyFromTheClientGoesThroughInOrderUnrecorded() throws {
        var relay = machine()
        let asked = try read(&relay, WireFixture.query("COPY accounts FROM STDIN"))
        XCTAssertEqual(try statement(XCTUnwrap(records(asked).first).0[0]).statementClass, "write")
        _ = commit(&relay, asked, ids: [5])
        relay.serverBytes(WireFixture.copyResponse("G", columns: 2))
        _ = take(&relay)
        let rows = try read(&relay, WireFixture.copyData("1\tAda\n"), WireFixture.copyData("2\tGrace\n"), WireFixture.copyDone())
        XCTAssertTrue(records(rows).isEmpty, "data rows are not statements")
        XCTAssertEqual(serverWrites(rows).map(WireFixture.types).joined(), "ddc")
        relay.serverBytes(WireFixture.join(WireFixture.commandComplete("COPY 2"), WireFixture.readyForQuery()))
        XCTAssertEqual(outcomes(take(&relay)).map { "\($0.statement) \($0.rows ?? -1)" }, ["5 2"])
    }

    func testCopyToTheClientIsRelayedAsTheServerSentIt() throws {
        var relay = machine()
        _ = commit(&relay, try read(&relay, WireFixture.query("COPY accounts TO STDOUT")), ids: [6])
        let answer = WireFixture.join(WireFixture.copyResponse("H", columns: 1), WireFixture.copyData("Ada\n"), WireFixture.copyData("Grace\n"),
                                      WireFixture.copyDone(), WireFixture.commandComplete("COPY 2"), WireFixture.readyForQuery())
        relay.serverBytes(answer)
        let relayed = take(&relay)
        XCTAssertEqual(relayed.compactMap { if case .writeClient(let bytes) = $0 { bytes } else { nil } }, [answer])
        XCTAssertEqual(outcomes(relayed).map { "\($0.statement) \($0.rows ?? -1)" }, ["6 2"])
    }

    // MARK: Refusals and reviews

    func testADeniedStatementIsRecordedAndTheServerRefusesInItsPlace() throws {
        var relay = machine()
        let asked = try read(&relay, WireFixture.query("SELECT pg_read_file('/etc/passwd')"))
        let body = try statement(XCTUnwrap(records(asked).first).0[0])
        XCTAssertEqual(body.decision, "deny")
        XCTAssertNil(body.lineage)
        let sent = serverWrites(commit(&relay, asked, ids: [9])).map(text(ofQuery:))
        XCTAssertEqual(sent.count, 1)
        XCTAssertFalse(sent[0].contains("pg_read_file('/etc"), "the text itself never reaches the server")
        XCTAssertTrue(sent[0].hasPrefix("DO $hoop$BEGIN RAISE EXCEPTION USING ERRCODE = '42501'"), sent[0])
    }

    func testAStatementUnderReviewWaitsAndWhatFollowsWaitsBehindIt() throws {
        var relay = machine()
        let asked = try read(&relay, WireFixture.query("CREATE TABLE notes (id int)"), WireFixture.query("SELECT 1"))
        XCTAssertTrue(records(asked).isEmpty, "nothing is recorded before the broker's word")
        guard case .askReview(let ask, let pending)? = asked.first(where: { if case .askReview = $0 { true } else { false } }) else {
            return XCTFail("a review is asked for: \(asked)")
        }
        XCTAssertEqual(ask.sql, "CREATE TABLE notes (id int)")
        XCTAssertEqual(ask.statementClass, .ddl)
        XCTAssertFalse(ask.inTransaction)

        relay.reviewDecided(.pending(request: "r-1", approvers: ["bob"]), for: pending)
        let after = take(&relay)
        // The stand-in that tells the client, then the SELECT behind it, each with its record.
        let appends = records(after)
        XCTAssertEqual(try appends.map { try $0.0.map { try statement($0).decision } }, [["review"], ["allow"]])
        XCTAssertEqual(try statement(appends[0].0[0]).request, "r-1")
        XCTAssertTrue(serverWrites(after).isEmpty)
        relay.recorded(appends[0].1, ids: [20])
        let sent = serverWrites(take(&relay))
        XCTAssertEqual(sent.count, 1, "the SELECT waits for its own record")
        XCTAssertTrue(text(ofQuery: sent[0]).contains("approval required: request r-1"))
        relay.recorded(appends[1].1, ids: [21])
        XCTAssertEqual(serverWrites(take(&relay)).map(text(ofQuery:)), ["SELECT 1"])
    }

    func testAnApprovedStatementRunsOnceAsSent() throws {
        var relay = machine()
        let asked = try read(&relay, WireFixture.query("CREATE TABLE notes (id int)"))
        guard case .askReview(_, let pending)? = asked.first else { return XCTFail("\(asked)") }
        relay.reviewDecided(.runInSession(request: "r-2"), for: pending)
        let after = take(&relay)
        XCTAssertEqual(try statement(XCTUnwrap(records(after).first).0[0]).decision, "approved")
        XCTAssertEqual(serverWrites(commit(&relay, after, ids: [21])).map(text(ofQuery:)), ["CREATE TABLE notes (id int)"])
    }

    // MARK: Settings, time, back-pressure

    func testAServerReportOfAnotherEncodingEndsTheConnectionBeforeItsBytesPass() throws {
        var relay = machine()
        _ = commit(&relay, try read(&relay, WireFixture.query("SELECT 1")), ids: [1])
        relay.serverBytes(WireFixture.join(WireFixture.parameterStatus("client_encoding", "SJIS"), WireFixture.readyForQuery()))
        let actions = take(&relay)
        XCTAssertFalse(actions.contains { if case .writeClient = $0 { true } else { false } })
        guard case .fail(let code, let message, let event)? = actions.first else { return XCTFail("\(actions)") }
        XCTAssertEqual(code, "0A000")
        XCTAssertTrue(message.contains("client_encoding"))
        XCTAssertEqual(event, "proxy.setting-changed")
        // Other settings pass.
        var other = machine()
        other.serverBytes(WireFixture.parameterStatus("application_name", "psql"))
        XCTAssertTrue(take(&other).contains { if case .writeClient = $0 { true } else { false } })
    }

    func testAStatementPastThePolicysTimeoutIsCancelled() throws {
        let clock = Clock()
        var relay = machine(statementTimeout: 2, clock: clock)
        let sent = commit(&relay, try read(&relay, WireFixture.query("SELECT pg_sleep(60)")), ids: [1])
        guard case .armStatementTimer(let deadline)? = sent.first(where: { if case .armStatementTimer = $0 { true } else { false } }) else {
            return XCTFail("a running statement is timed: \(sent)")
        }
        XCTAssertEqual(deadline, clock.now + .seconds(3), "the policy's limit and a second's grace")
        clock.now = deadline
        relay.statementTimerFired()
        guard case .cancelForTime? = take(&relay).first else { return XCTFail("cancelled at the deadline") }
        relay.serverBytes(WireFixture.join(WireFixture.error("57014", "canceling statement due to user request"), WireFixture.readyForQuery()))
        let ended = take(&relay)
        XCTAssertTrue(ended.contains { if case .disarmCancelGrace = $0 { true } else { false } }, "it stopped: the connection stays")
        XCTAssertEqual(outcomes(ended).first?.sqlState, "57014")
    }

    func testATimerThatFiresForAnEarlierStatementArmsAgainForTheOneRunning() throws {
        let clock = Clock()
        var relay = machine(statementTimeout: 2, clock: clock)
        _ = commit(&relay, try read(&relay, WireFixture.query("SELECT 1")), ids: [1])
        clock.now = clock.now + .milliseconds(1500)
        relay.serverBytes(WireFixture.join(WireFixture.commandComplete("SELECT 1"), WireFixture.readyForQuery()))
        _ = take(&relay)
        _ = commit(&relay, try read(&relay, WireFixture.query("SELECT pg_sleep(60)")), ids: [2])
        clock.now = clock.now + .milliseconds(1500)
        relay.statementTimerFired()
        guard case .armStatementTimer(let again)? = take(&relay).first else { return XCTFail("armed again") }
        XCTAssertEqual(again, clock.now + .milliseconds(1500))
    }

    func testIdleInATransactionArmsTheIdleTimerAndAStatementDisarmsIt() throws {
        var relay = machine(idleTimeout: 5)
        _ = commit(&relay, try read(&relay, WireFixture.query("BEGIN")), ids: [1])
        relay.serverBytes(WireFixture.join(WireFixture.commandComplete("BEGIN"), WireFixture.readyForQuery("T")))
        guard case .armIdleTimer(let amount)? = take(&relay).first(where: { if case .armIdleTimer = $0 { true } else { false } }) else {
            return XCTFail("idle in a transaction is timed")
        }
        XCTAssertEqual(amount, .seconds(6))
        let sent = commit(&relay, try read(&relay, WireFixture.query("SELECT 1")), ids: [2])
        XCTAssertTrue(sent.contains { if case .disarmIdleTimer = $0 { true } else { false } })
    }

    func testAClientThatSendsFasterThanTheLedgerCommitsIsStoppedAndResumed() throws {
        var relay = machine()
        var actions: [Action] = []
        for _ in 0...RelayStateMachine.maxQueued {
            actions += try read(&relay, WireFixture.query("SELECT 1"))
        }
        XCTAssertTrue(actions.contains { if case .readClient(false) = $0 { true } else { false } }, "reads stop past the limit")
        for (_, pending) in records(actions) { relay.recorded(pending, ids: [1]) }
        let after = take(&relay)
        XCTAssertEqual(serverWrites(after).count, RelayStateMachine.maxQueued + 1)
        XCTAssertTrue(after.contains { if case .readClient(true) = $0 { true } else { false } }, "and resume once they have gone")
    }

    func testTerminateGoesAfterWhatWasQueuedAndCloses() throws {
        var relay = machine()
        let asked = try read(&relay, WireFixture.query("SELECT 1"), WireFixture.terminate())
        XCTAssertTrue(serverWrites(asked).isEmpty, "Terminate waits behind the statement")
        let sent = commit(&relay, asked, ids: [1])
        XCTAssertEqual(serverWrites(sent).map(WireFixture.types).joined(), "QX")
        guard case .close? = sent.last else { return XCTFail("\(sent)") }
    }

    func testTheEndReportsWhatWasRunningAsInterrupted() throws {
        var relay = machine()
        _ = commit(&relay, try read(&relay, WireFixture.query("SELECT pg_sleep(60)")), ids: [4])
        relay.finish()
        XCTAssertEqual(outcomes(take(&relay)).map { "\($0.statement) \($0.outcome)" }, ["4 interrupted"])
    }
}
