import Foundation
import HoopLedger
import HoopPolicy
@testable import HoopProxy
import HoopSQL
import HoopTestSupport
import HoopWire
import Logging
import NIOCore
import NIOEmbedded
import Synchronization
import XCTest

/// The connection's channel handler on test channels: a client logs in with SCRAM, the proxy
/// logs in to a "server" the test plays, and statements go through a real ledger. Each test
/// follows one protocol path through the handler and its relay.
final class ClientConnectionTests: XCTestCase {
    var directory: TemporaryDirectory!
    var ledger: Ledger!
    var writer: LedgerWriter!

    override func setUpWithError() throws {
        directory = try TemporaryDirectory("connection")
        ledger = try Ledger(path: directory.file("ledger.sqlite"))
        // Slow commits: a statement that reached the server before its record would be seen there first.
        writer = LedgerWriter(ledger: ledger, commitDelay: .milliseconds(30))
        writer.start()
    }

    override func tearDown() {
        writer.stop()
        directory.remove()
    }

    /// The broker's side, played by the test.
    final class Directory: ProxyDirectory, @unchecked Sendable {
        let ticket: ProxyTicket
        let outcome: ReviewOutcome
        let asked = Mutex<[StatementUnderReview]>([])
        init(ticket: ProxyTicket, outcome: ReviewOutcome) {
            self.ticket = ticket
            self.outcome = outcome
        }
        func ticket(forSession id: String) async -> ProxyTicket? { id == ticket.sessionID ? ticket : nil }
        func review(_ statement: StatementUnderReview) async -> ReviewOutcome {
            asked.withLock { $0.append(statement) }
            return outcome
        }
    }

    /// Counts the flushes that reach a channel's socket.
    final class FlushCounter: ChannelOutboundHandler, @unchecked Sendable {
        typealias OutboundIn = ByteBuffer
        let count = Mutex(0)
        func flush(context: ChannelHandlerContext) {
            count.withLock { $0 += 1 }
            context.flush()
        }
    }

    /// A logged-in client, the server the proxy connected to for it, and what else it connected to.
    struct Connection {
        let client: NIOAsyncTestingChannel
        let server: NIOAsyncTestingChannel
        let serverFlushes: FlushCounter
        let opened: Opened
        let dependencies: ClientConnection.Dependencies
        /// The cancel key the proxy gave the client.
        let key: (processID: Int32, secretKey: Int32)
    }

    static let password = "one-time-secret"
    static let verifier = try! SCRAMVerifier(password: password, iterations: 64)

    func ticket() -> ProxyTicket {
        ProxyTicket(sessionID: "s-1", identity: "user:alice", target: "prod", role: "hoop_s1", expiresAt: .distantFuture, verifier: Self.verifier,
                    upstream: UpstreamEndpoint(host: "/nonexistent", port: 5432, database: "app", user: "hoop_s1", password: "db-secret",
                                               sslMode: "disable"))
    }

    final class Opened: @unchecked Sendable {
        let channels = Mutex<[NIOAsyncTestingChannel]>([])
        let flushes = FlushCounter()
    }

    func connect(review: ReviewOutcome = .refused("no reviewers")) async throws -> Connection {
        let loop = NIOAsyncTestingEventLoop()
        let opened = Opened()
        let connector = UpstreamConnector { _, loop, _, initializer in
            let channel = NIOAsyncTestingChannel(loop: loop as! NIOAsyncTestingEventLoop)
            opened.channels.withLock { $0.append(channel) }
            let ready = initializer.map { $0(channel) } ?? loop.makeSucceededVoidFuture()
            return ready.flatMapThrowing {
                if opened.channels.withLock({ $0.count }) == 1 { try channel.pipeline.syncOperations.addHandler(opened.flushes, position: .first) }
            }.flatMap { channel.connect(to: try! SocketAddress(unixDomainSocketPath: "/nonexistent/.s.PGSQL.5432")) }.map { channel }
        }
        var dependencies = ClientConnection.Dependencies(directory: Directory(ticket: ticket(), outcome: review), recorder: writer,
                                                         analyzer: StatementAnalyzer(), cancels: CancelRegistry(),
                                                         loginLimits: ConnectionLimits<ProxyCaller>(perCaller: 4, total: 8), logger: Logger(label: "test"))
        dependencies.connector = connector
        let client = try await Self.client(loop: loop, dependencies: dependencies)

        // The client's login: SCRAM-SHA-256 against the session's one-time secret.
        try await client.writeInbound(WireFixture.startup(user: "s-1", database: "app"))
        _ = try await Self.read(client, through: "R")
        var scram = SCRAMClient(password: Self.password)
        try await client.writeInbound(WireFixture.saslInitialResponse(scram.clientFirst))
        let serverFirst = try Self.authenticationData(try await Self.read(client, through: "R"))
        try await client.writeInbound(WireFixture.saslResponse(try scram.receiveServerFirst(serverFirst)))
        try scram.receiveServerFinal(try Self.authenticationData(try await Self.read(client, through: "R")))

        // The proxy's login to the server, as the session's role.
        let server = try await Self.eventually { opened.channels.withLock { $0.first } }
        let startup = try await Self.read(server, through: nil)
        XCTAssertTrue(String(buffer: startup).contains("hoop_s1"))
        try await server.writeInbound(WireFixture.join(WireFixture.authenticationOk(), WireFixture.parameterStatus("client_encoding", "UTF8"),
                                                       WireFixture.backendKeyData(processID: 4242, secretKey: 99), WireFixture.readyForQuery()))
        let greeting = try await Self.read(client, through: "Z")
        XCTAssertEqual(WireFixture.types(greeting), "RSKZ")
        let key = try XCTUnwrap(Self.messages(greeting).first { $0.type == "K" }).body
        var keyBody = key
        opened.flushes.count.withLock { $0 = 0 }
        return Connection(client: client, server: server, serverFlushes: opened.flushes, opened: opened, dependencies: dependencies,
                          key: (keyBody.readInteger()!, keyBody.readInteger()!))
    }

    static func client(loop: NIOAsyncTestingEventLoop, dependencies: ClientConnection.Dependencies) async throws -> NIOAsyncTestingChannel {
        let client = NIOAsyncTestingChannel(loop: loop)
        let gate = LoginGate()
        try await loop.executeInContext {
            try client.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrontendDecoder(gate: gate)))
            try client.pipeline.syncOperations.addHandler(ClientConnection(dependencies: dependencies, caller: .uid(1000), gate: gate))
        }
        try await client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 5000)).get()
        return client
    }

    // MARK: Reading what a side was sent

    /// Waits (at most 10 s) for something.
    static func eventually<T>(_ what: () async throws -> T?) async throws -> T {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if let value = try await what() { return value }
            try await Task.sleep(for: .milliseconds(2))
        }
        throw TestSetupError("timed out")
    }

    /// What the channel was sent (and flushed) until a message of type `last` (nil: the first write).
    static func read(_ channel: NIOAsyncTestingChannel, through last: Character?) async throws -> ByteBuffer {
        var all = ByteBuffer()
        _ = try await eventually { () -> ByteBuffer? in
            while var next = try await channel.readOutbound(as: ByteBuffer.self) { all.writeBuffer(&next) }
            guard all.readableBytes > 0 else { return nil }
            guard let last else { return all }
            return WireFixture.types(all).contains(last) ? all : nil
        }
        return all
    }

    static func messages(_ buffer: ByteBuffer) -> [(type: Character, body: ByteBuffer)] {
        var buffer = buffer, result: [(Character, ByteBuffer)] = []
        while let type = buffer.readInteger(as: UInt8.self), let length = buffer.readInteger(as: Int32.self),
              let body = buffer.readSlice(length: Int(length) - 4) {
            result.append((Character(UnicodeScalar(type)), body))
        }
        return result
    }

    /// The SASL data of the last Authentication message.
    static func authenticationData(_ buffer: ByteBuffer) throws -> String {
        var body = try XCTUnwrap(messages(buffer).last { $0.type == "R" }).body
        _ = body.readInteger(as: Int32.self)
        return body.readString(length: body.readableBytes) ?? ""
    }

    static func queryText(_ buffer: ByteBuffer) -> [String] {
        messages(buffer).filter { $0.type == "Q" }.map { message in
            var body = message.body
            return body.readNullTerminatedString() ?? ""
        }
    }

    func statements() throws -> [StatementBody] {
        try ledger.records().filter { $0.kind == RecordKind.statement.rawValue }.map {
            try JSONDecoder().decode(StatementBody.self, from: Data($0.body.utf8))
        }
    }

    // MARK: Paths

    func testASimpleQueryReachesTheServerOnlyRecordedAndItsRowsComeBack() async throws {
        let connection = try await connect()
        try await connection.client.writeInbound(WireFixture.query("SELECT name FROM customers WHERE id = 7"))
        let sent = try await Self.read(connection.server, through: "Q")
        // Its record was committed before the server saw it.
        XCTAssertEqual(try statements().map(\.via), ["query"])
        XCTAssertEqual(Self.queryText(sent), ["SELECT name FROM customers WHERE id = 7"])
        let answer = WireFixture.join(WireFixture.rowDescription(["name"]), WireFixture.dataRow(["Ada"]), WireFixture.commandComplete("SELECT 1"),
                                      WireFixture.readyForQuery())
        try await connection.server.writeInbound(answer)
        let relayed = try await Self.read(connection.client, through: "Z")
        XCTAssertEqual(relayed, answer)
    }

    func testAPipelinedBatchReachesTheServerInOneFlush() async throws {
        let connection = try await connect()
        let statement = { (id: String) in
            [WireFixture.parse("SELECT abalance FROM pgbench_accounts WHERE aid = $1"), WireFixture.bind([id]), WireFixture.describe(),
             WireFixture.execute(), WireFixture.sync()]
        }
        try await connection.client.writeInbound(WireFixture.join(statement("1") + statement("2") + statement("3")))
        let sent = try await Self.read(connection.server, through: "S")
        let all = try await Self.eventually { () -> ByteBuffer? in
            var all = sent
            while var next = try await connection.server.readOutbound(as: ByteBuffer.self) { all.writeBuffer(&next) }
            return WireFixture.types(all).count == 15 ? all : nil
        }
        XCTAssertEqual(WireFixture.types(all), "PBDESPBDESPBDES")
        XCTAssertEqual(connection.serverFlushes.count.withLock { $0 }, 1, "one flush for the client's read")
        XCTAssertEqual(try statements().map(\.via), ["execute", "execute", "execute"], "one record per statement, each before it went")
    }

    func testCopyInBothDirections() async throws {
        let connection = try await connect()
        try await connection.client.writeInbound(WireFixture.query("COPY accounts FROM STDIN"))
        _ = try await Self.read(connection.server, through: "Q")
        try await connection.server.writeInbound(WireFixture.copyResponse("G", columns: 2))
        _ = try await Self.read(connection.client, through: "G")
        let rows = WireFixture.join(WireFixture.copyData("1\tAda\n"), WireFixture.copyData("2\tGrace\n"), WireFixture.copyDone())
        try await connection.client.writeInbound(rows)
        let forwarded = try await Self.read(connection.server, through: "c")
        XCTAssertEqual(forwarded, rows)
        try await connection.server.writeInbound(WireFixture.join(WireFixture.commandComplete("COPY 2"), WireFixture.readyForQuery()))
        _ = try await Self.read(connection.client, through: "Z")

        try await connection.client.writeInbound(WireFixture.query("COPY accounts TO STDOUT"))
        _ = try await Self.read(connection.server, through: "Q")
        let out = WireFixture.join(WireFixture.copyResponse("H", columns: 1), WireFixture.copyData("Ada\n"), WireFixture.copyData("Grace\n"),
                                   WireFixture.copyDone(), WireFixture.commandComplete("COPY 2"), WireFixture.readyForQuery())
        try await connection.server.writeInbound(out)
        let copied = try await Self.read(connection.client, through: "Z")
        XCTAssertEqual(copied, out)
        XCTAssertEqual(try statements().map(\.statementClass), ["write", "read"])
    }

    func testACancelRequestReachesTheServerWithTheServersOwnKey() async throws {
        let connection = try await connect()
        XCTAssertNotEqual(connection.key.processID, 4242, "the client never sees the server's key")
        let canceller = try await Self.client(loop: connection.client.testingEventLoop, dependencies: connection.dependencies)
        try await canceller.writeInbound(WireFixture.cancelRequest(processID: connection.key.processID, secretKey: connection.key.secretKey))
        let cancel = try await Self.eventually { connection.opened.channels.withLock { $0.count == 2 ? $0[1] : nil } }
        var request = try await Self.read(cancel, through: nil)
        XCTAssertEqual(request.readInteger(as: Int32.self), 16)
        XCTAssertEqual(request.readInteger(as: Int32.self), 80877102)
        XCTAssertEqual(request.readInteger(as: Int32.self), 4242)
        XCTAssertEqual(request.readInteger(as: Int32.self), 99)
        try await canceller.closeFuture.get()

        // A key nobody was given reaches no server.
        let guesser = try await Self.client(loop: connection.client.testingEventLoop, dependencies: connection.dependencies)
        try await guesser.writeInbound(WireFixture.cancelRequest(processID: 4242, secretKey: 99))
        try await guesser.closeFuture.get()
        XCTAssertEqual(connection.opened.channels.withLock { $0.count }, 2)
    }

    func testAStatementUnderReviewAsksTheBrokerAndTheClientIsToldTheRequest() async throws {
        let connection = try await connect(review: .pending(request: "r-9", approvers: ["bob"]))
        try await connection.client.writeInbound(WireFixture.query("CREATE TABLE notes (id int)"))
        let sent = Self.queryText(try await Self.read(connection.server, through: "Q"))
        XCTAssertEqual(sent.count, 1)
        XCTAssertFalse(sent[0].hasPrefix("CREATE"), "the statement itself waits for a reviewer")
        XCTAssertTrue(sent[0].contains("approval required: request r-9"))
        let asked = (connection.dependencies.directory as! Directory).asked.withLock { $0 }
        XCTAssertEqual(asked.map(\.sql), ["CREATE TABLE notes (id int)"])
        XCTAssertEqual(try statements().map { "\($0.decision) \($0.request ?? "-")" }, ["review r-9"])
    }

    func testADeniedStatementReachesTheServerOnlyAsItsRefusal() async throws {
        let connection = try await connect()
        try await connection.client.writeInbound(WireFixture.query("SELECT pg_read_file('/etc/passwd')"))
        let sent = Self.queryText(try await Self.read(connection.server, through: "Q"))
        XCTAssertEqual(sent.count, 1)
        XCTAssertFalse(sent[0].contains("/etc/passwd"))
        XCTAssertTrue(sent[0].contains("ERRCODE = '42501'"))
        XCTAssertEqual(try statements().map(\.decision), ["deny"])
    }

    func testAServerThatChangesHowTextIsReadEndsTheConnection() async throws {
        let connection = try await connect()
        try await connection.server.writeInbound(WireFixture.parameterStatus("standard_conforming_strings", "off"))
        let error = try await Self.read(connection.client, through: "E")
        XCTAssertEqual(WireFixture.types(error), "E", "the report itself is not relayed")
        XCTAssertTrue(String(buffer: error).contains("0A000"))
        try await connection.client.closeFuture.get()
        try await connection.server.closeFuture.get()
        // Events ride with the ledger's next commit.
        _ = try await Self.eventually {
            try ledger.records().contains { $0.kind == RecordKind.event.rawValue && $0.body.contains("proxy.setting-changed") } ? true : nil
        }
    }

    func testASlowClientStopsTheServersReadsUntilItCatchesUp() async throws {
        let connection = try await connect()
        func serverAutoRead() -> Bool? {
            connection.server.options.last { $0.option is ChannelOptions.Types.AutoReadOption }?.value as? Bool
        }
        connection.client.isWritable = false
        try await connection.client.testingEventLoop.executeInContext { connection.client.pipeline.fireChannelWritabilityChanged() }
        _ = try await Self.eventually { serverAutoRead() == false ? true : nil }
        connection.client.isWritable = true
        try await connection.client.testingEventLoop.executeInContext { connection.client.pipeline.fireChannelWritabilityChanged() }
        _ = try await Self.eventually { serverAutoRead() == true ? true : nil }
    }
}
