import Crypto
import Foundation
import HoopDetectors
import HoopGuardrails
import HoopLedger
import HoopPolicy
import HoopSQL
import HoopWire
import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// One client of the proxy, from its startup packet to its last byte: it logs in as a session
/// (SCRAM-SHA-256 against the session's one-time secret), gets connected to the database as the
/// session's role, and from then on every statement is recorded in the ledger before it is
/// forwarded. Lives on one event loop with its upstream channel.
final class ClientConnection: ChannelInboundHandler {
    typealias InboundIn = FrontendMessage
    typealias OutboundOut = ByteBuffer

    struct Dependencies: Sendable {
        let directory: any ProxyDirectory
        let recorder: LedgerWriter
        let analyzer: StatementAnalyzer
        let cancels: CancelRegistry
        let loginLimits: ConnectionLimits
        let logger: Logger
    }

    private enum Phase {
        case startup
        case authenticating(ProxyTicket?, parameters: [String: String], scram: SCRAMServer)
        case connecting(ProxyTicket, parameters: [String: String])
        /// Boxed: the hot path takes the ticket out of the phase on every message, and a box is
        /// one retain where the struct is one per field.
        case relaying(Relaying)
        case closed
    }

    private final class Relaying {
        let ticket: ProxyTicket
        init(_ ticket: ProxyTicket) { self.ticket = ticket }
    }

    private enum UpstreamPhase {
        case none
        case negotiatingTLS(required: Bool)
        /// TLS is being set up: nothing is sent until the server's certificate has been checked.
        case handshaking
        case startingUp(SCRAMClient?)
        case relaying
    }

    /// A client message waiting its turn to go upstream (behind the ledger, and in order).
    private struct Queued {
        var raw: ByteBuffer
        var ready: Bool
        var tokens: [ResponseTracker.Token]
        var terminate = false
    }

    private struct Execution {
        var recordID: Int64?
        var started: NIODeadline?
        /// What the statement does to the session's search_path, told to `resolution` when it completes.
        var facts: StatementFacts?
        /// Where the names of the columns it returned come from.
        var columns: ResultColumns.Source?
    }

    static let loginTimeout = TimeAmount.seconds(15)
    /// Messages, and bytes, a connection may have waiting for the server (or for a review)
    /// before the proxy stops reading from its client; one message more (at most the
    /// decoder's 64 MiB) can arrive while reads stop.
    static let maxQueued = 256
    static let maxBufferedBytes = 8 << 20

    private let dependencies: Dependencies
    private var context: ChannelHandlerContext!
    private var phase = Phase.startup
    private var upstream: Channel?
    private var upstreamPhase = UpstreamPhase.none
    private var scanner = BackendScanner()
    /// Masks text values in flight when the target has detectors.
    private var masker: ResultMasker?
    /// The portal the client's last message described (its next Execute needs no Describe of ours).
    private var describedPortal: String?
    /// The names of the columns each statement returned, for the ledger.
    private var resultColumns = ResultColumns()
    private var scrubbedTexts: [String: String] = [:]
    private var tracker = ResponseTracker()
    private var queue: [Queued] = []
    /// Client messages held while the upstream connects, a statement waits for the broker's
    /// word on its review or for its analysis, or a text waits for the server to settle (see
    /// `settled(for:)`); relayed in order afterwards.
    private var held: [FrontendMessage] = []
    private var paused = false
    /// Paused until this many ReadyForQuery have come (see `readyAnswered`).
    private var resumeAt: Int?
    /// A large text's analysis, made off the event loop, waiting for its message to be relayed again.
    private var analysed: (sql: String, analyses: [StatementAnalysis])?
    /// The transaction status of the last ReadyForQuery (`I`, `T` or `E`).
    private var transactionStatus = UInt8(ascii: "I")
    private var executions: [ResponseTracker.Token: Execution] = [:]
    private var nextToken = 0
    /// Prepared statements and portals of the extended protocol, with their decisions, by the
    /// client's names and the proxy's names for them upstream.
    private var names = StatementNames<Judged>()
    /// Lineage by what it is made of (a statement's names, not its text: two texts of one
    /// fingerprint can name different tables inside their literals).
    private var lineages: [LineageKey: (lineage: StatementLineage, summary: [String])] = [:]
    private struct LineageKey: Hashable {
        let fingerprint: String, relations: [String], columns: [String], writes: [String]
    }
    /// The session's search_path and temporary names, which resolve its statements' names
    /// (nil when the session has no masking views to resolve to).
    private var resolution: NameResolution?
    /// Statements prepared with SQL `PREPARE name AS ...`, so `EXECUTE name` is not opaque.
    private var sqlPrepared: [String: StatementFacts] = [:]
    /// A PREPARE sent and not yet answered, by its statement's token: taken back if it did not complete.
    private var sqlPending: [ResponseTracker.Token: String] = [:]

    /// Messages that end in a ReadyForQuery (Query, Sync, FunctionCall) sent, and the
    /// ReadyForQuery received: what was sent before the n-th such message is settled once
    /// `readyAnswered >= n`.
    private var readySent = 0, readyAnswered = 0
    /// Name changes of the extended protocol the server has not answered, in order, with a
    /// marker for each message that ends in ReadyForQuery. An error in an extended step makes
    /// the server skip the rest up to Sync: those changes are taken back.
    private enum PendingName {
        case change(StatementNames<Judged>.Undo, group: Int)
        /// A message that ends in ReadyForQuery: a Sync, or a Query or FunctionCall (which the
        /// server skips, with no ReadyForQuery, when an error in an extended step came before).
        case ready(sync: Bool)
    }
    private var pendingNames: [PendingName] = []
    /// An extended-protocol message was sent since the last Sync: the server is in that batch's transaction.
    private var extendedSinceSync = false
    private var cancelKey: (processID: Int32, secretKey: Int32)?
    private var clientReadsPaused = false

    /// Bytes of client messages held or queued.
    private var bufferedBytes = 0
    /// The uid of the caller (or ConnectionLimits.network), counted among those not logged in until it is.
    private let caller: UInt32
    private var countedBeforeLogin = false
    private let gate: LoginGate

    init(dependencies: Dependencies, caller: UInt32, gate: LoginGate) {
        self.dependencies = dependencies
        self.caller = caller
        self.gate = gate
    }

    // MARK: Client events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let loop = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(in: Self.loginTimeout) {
            guard case .relaying = loop.value.phase else { return loop.value.fail(code: "08006", "login timed out", event: nil) }
        }
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        switch dependencies.loginLimits.admit(caller) {
        case .admitted:
            countedBeforeLogin = true
        case .refused(let limit, let firstTime):
            let who = caller == ConnectionLimits.network ? "TCP clients of unknown uid" : "uid \(caller)"
            return fail(code: "53300", "too many connections waiting to log in from \(who) (\(limit))",
                        event: firstTime ? "proxy.connection-limit" : nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let message = unwrapInboundIn(data)
        readBurst = true
        switch phase {
        case .startup: startup(message)
        case .authenticating(let ticket, let parameters, let scram): authenticate(message, ticket: ticket, parameters: parameters, scram: scram)
        case .connecting:
            if case .terminate = message { return close() }
            hold(message)
        case .relaying(let relaying):
            guard paused || !held.isEmpty else { return relay(message, ticket: relaying.ticket) }
            // A client that keeps sending while a reviewed statement runs is paused, not buffered without end.
            hold(message)
        case .closed: break
        }
    }

    private func hold(_ message: FrontendMessage) {
        held.append(message)
        buffered(message.raw?.readableBytes ?? 0)
    }

    /// Counts bytes waiting (negative: gone upstream or dropped); stops reading the client past
    /// the limits and reads again once under half of them.
    private func buffered(_ delta: Int) {
        bufferedBytes += delta
        let over = bufferedBytes > Self.maxBufferedBytes || queue.count + held.count > Self.maxQueued
        if over, !clientReadsPaused {
            clientReadsPaused = true
            context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
        } else if !over, clientReadsPaused, bufferedBytes < Self.maxBufferedBytes / 2, queue.count + held.count < Self.maxQueued / 2 {
            clientReadsPaused = false
            context.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
        }
    }

    /// Logged in (or gone): no longer among the connections waiting to log in.
    private func leaveLogin() {
        guard countedBeforeLogin else { return }
        countedBeforeLogin = false
        dependencies.loginLimits.release(caller)
    }

    /// The end of a read burst: what its messages queued goes upstream, in one write.
    func channelReadComplete(context: ChannelHandlerContext) {
        readBurst = false
        recordUnrecorded()
        drain()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        let reason = (error as? WireError)?.description ?? "\(error)"
        fail(code: "08P01", "protocol violation: \(reason)", event: "proxy.protocol-violation")
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        // A slow client: stop reading the server until it catches up.
        upstream?.setOption(ChannelOptions.autoRead, value: context.channel.isWritable).whenFailure { _ in }
        context.fireChannelWritabilityChanged()
    }

    // MARK: Startup and authentication

    private func startup(_ message: FrontendMessage) {
        switch message {
        case .sslRequest, .gssEncRequest:
            // No encryption here: loopback or a unix socket, and the password never crosses (SCRAM).
            context.writeAndFlush(wrapOutboundOut(MessageWriter.noEncryption()), promise: nil)
        case .cancel(let processID, let secretKey):
            cancel(processID: processID, secretKey: secretKey)
        case .startup(_, let minor, let parameters):
            guard parameters["replication"] == nil || parameters["replication"] == "false" || parameters["replication"] == "0" else {
                return fail(code: "28000", "replication connections are not proxied", event: "proxy.refused")
            }
            guard let user = parameters["user"], !user.isEmpty else {
                return fail(code: "28000", "no user given: connect with the session id as the user", event: "proxy.refused")
            }
            if let refusal = StartupSettings.refusal(of: parameters) {
                return fail(code: "0A000", refusal, event: "proxy.refused")
            }
            // Protocol 3.0 and no protocol options: say so, as PostgreSQL does, before anything else.
            let options = parameters.keys.filter { $0.hasPrefix("_pq_.") }.sorted()
            if minor > 0 || !options.isEmpty {
                context.writeAndFlush(wrapOutboundOut(MessageWriter.negotiateProtocolVersion(newestMinor: 0, unrecognized: options)), promise: nil)
            }
            let loop = NIOLoopBound(self, eventLoop: context.eventLoop)
            let directory = dependencies.directory
            Task {
                let ticket = await directory.ticket(forSession: user)
                loop.eventLoop.execute { loop.value.begin(ticket, parameters: parameters) }
            }
        default:
            fail(code: "08P01", "protocol violation: expected a startup packet", event: "proxy.protocol-violation")
        }
    }

    /// An unknown session goes through the same exchange with a verifier nobody knows, and
    /// fails at the same place: the proxy does not say which sessions exist.
    private func begin(_ ticket: ProxyTicket?, parameters: [String: String]) {
        guard case .startup = phase else { return }
        // An unknown id gets a salt of its own, stable for the broker's life, as PostgreSQL mocks unknown users.
        let verifier = ticket?.verifier ?? SCRAMVerifier.mock(for: parameters["user"] ?? "", secret: Self.mockSecret)
        phase = .authenticating(ticket, parameters: parameters, scram: SCRAMServer(verifier: verifier))
        context.writeAndFlush(wrapOutboundOut(MessageWriter.authenticationSASL(mechanisms: [SCRAM.mechanism])), promise: nil)
    }

    private static let mockSecret: [UInt8] = {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in generator.next() as UInt8 }
    }()

    private func authenticate(_ message: FrontendMessage, ticket: ProxyTicket?, parameters: [String: String], scram: SCRAMServer) {
        guard case .authentication(var body) = message else {
            return fail(code: "08P01", "protocol violation: expected a SASL response", event: "proxy.protocol-violation")
        }
        var scram = scram
        let user = parameters["user"] ?? ""
        do {
            if scram.awaitingClientFirst {
                guard let mechanism = body.readNullTerminatedString(), mechanism == SCRAM.mechanism,
                      let length = body.readInteger(as: Int32.self), length >= 0, let data = body.readString(length: Int(length)) else {
                    return fail(code: "28000", "only SCRAM-SHA-256 is accepted", event: "proxy.auth-failed")
                }
                let serverFirst = try scram.receiveClientFirst(data)
                phase = .authenticating(ticket, parameters: parameters, scram: scram)
                context.writeAndFlush(wrapOutboundOut(MessageWriter.authenticationSASLContinue(serverFirst)), promise: nil)
            } else {
                let data = body.readString(length: body.readableBytes) ?? ""
                let serverFinal = try scram.receiveClientFinal(data)
                guard let ticket else { throw SCRAM.Failure("no such session") }
                context.writeAndFlush(wrapOutboundOut(MessageWriter.authenticationSASLFinal(serverFinal)), promise: nil)
                phase = .connecting(ticket, parameters: parameters)
                gate.loggedIn = true
                leaveLogin()
                connectUpstream(ticket, parameters: parameters)
            }
        } catch {
            dependencies.logger.notice("proxy login refused", metadata: ["user": "\(user.prefix(64))"])
            fail(code: "28P01", "password authentication failed for user \"\(user.prefix(64))\"", event: "proxy.auth-failed")
        }
    }

    // MARK: Upstream

    private func connectUpstream(_ ticket: ProxyTicket, parameters: [String: String]) {
        let endpoint = ticket.upstream
        let bootstrap = ClientBootstrap(group: context.eventLoop)
            .channelOption(ChannelOptions.socketOption(.so_keepalive), value: 1)
            .connectTimeout(.seconds(10))
            .channelInitializer { [loop = NIOLoopBound(self, eventLoop: context.eventLoop)] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(UpstreamHandler(client: loop.value))
                }
            }
        let connecting = endpoint.isUnixSocket
            ? bootstrap.connect(unixDomainSocketPath: "\(endpoint.host)/.s.PGSQL.\(endpoint.port)")
            : bootstrap.connect(host: endpoint.host, port: endpoint.port)
        let loop = NIOLoopBound(self, eventLoop: context.eventLoop)
        connecting.whenComplete { result in
            let connection = loop.value
            switch result {
            case .success(let channel):
                guard case .connecting = connection.phase else { return channel.close(promise: nil) }
                connection.upstream = channel
                let mode = endpoint.sslMode
                if endpoint.isUnixSocket || mode == "disable" || mode == "allow" {
                    connection.sendStartup(ticket, parameters: parameters)
                } else {
                    connection.upstreamPhase = .negotiatingTLS(required: mode != "prefer")
                    channel.writeAndFlush(MessageWriter.sslRequest(), promise: nil)
                }
            case .failure:
                connection.fail(code: "08006", "the database of target '\(ticket.target)' cannot be reached", event: "proxy.upstream-failed")
            }
        }
    }

    // MARK: Settings that decide how SQL text is read

    /// The proxy parses SQL as UTF-8 with standard conforming strings; the server must read it
    /// the same way, or a string literal could hide a statement from the analysis (a backslash
    /// inside a multibyte SJIS character, `\'` with standard_conforming_strings off). So the
    /// upstream session gets these values after anything the client sent (`options` included),
    /// and a server report of another value closes the connection.
    static let pinned = ["client_encoding": "UTF8", "standard_conforming_strings": "on"]
    /// Also set upstream, after the client's own: a backend whose client the proxy dropped
    /// notices within a second, even while it runs (PostgreSQL 14+), so closing the connection
    /// ends a statement that ignores cancels.
    static let alsoSet = ["client_connection_check_interval": "1000"]

    /// Whether a value the server reports for a pinned setting keeps SQL text unambiguous.
    static func keepsPinned(_ name: String, _ value: String) -> Bool {
        guard let expected = pinned[name] else { return true }
        return value.caseInsensitiveCompare(expected) == .orderedSame
    }

    private func sendStartup(_ ticket: ProxyTicket, parameters: [String: String]) {
        var startup: [(String, String)] = [("user", ticket.upstream.user), ("database", ticket.upstream.database)]
        for (name, value) in parameters.sorted(by: { $0.key < $1.key })
        where !["user", "database", "replication"].contains(name) && Self.pinned[name] == nil && !name.hasPrefix("_pq_.") {
            startup.append((name, value))
        }
        if parameters["application_name"] == nil { startup.append(("application_name", "hoopctl")) }
        // Named parameters are applied after `options`, so these win over any `-c` in it.
        startup += Self.pinned.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        startup += Self.alsoSet.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        upstreamPhase = .startingUp(nil)
        upstream?.writeAndFlush(MessageWriter.startup(parameters: startup), promise: nil)
    }

    func upstreamRead(_ buffer: ByteBuffer) {
        switch upstreamPhase {
        case .negotiatingTLS(let required):
            guard case .connecting(let ticket, let parameters) = phase, buffer.readableBytes == 1,
                  let answer = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else {
                return fail(code: "08006", "the database answered the TLS request oddly", event: "proxy.upstream-failed")
            }
            if answer == UInt8(ascii: "S") {
                do {
                    upstreamPhase = .handshaking
                    try startTLS(ticket.upstream)
                    return  // the startup message goes once the certificate is checked (upstreamTLSEstablished)
                } catch {
                    return fail(code: "08006", "TLS to the database of target '\(ticket.target)' failed: \(error)", event: "proxy.upstream-failed")
                }
            } else if required {
                return fail(code: "08006", "the database of target '\(ticket.target)' does not offer TLS, which its sslmode requires",
                            event: "proxy.upstream-failed")
            }
            sendStartup(ticket, parameters: parameters)
        case .startingUp(let scram):
            guard case .connecting(let ticket, _) = phase else { return }
            do {
                for event in try scanner.scan(buffer) { try startupEvent(event, ticket: ticket, scram: scram) }
            } catch let failure as UpstreamFailure {
                fail(code: failure.code, failure.message, event: "proxy.upstream-failed")
            } catch {
                fail(code: "08006", "the database of target '\(ticket.target)' broke the protocol: \(error)", event: "proxy.upstream-failed")
            }
        case .relaying:
            guard case .relaying(let relaying) = phase else { return }
            let ticket = relaying.ticket
            let buffer = masker?.process(buffer) ?? buffer
            do {
                for event in try scanner.scan(buffer) {
                    if case .parameterStatus(let name, let value) = event, !Self.keepsPinned(name, value) {
                        return settingChanged(name, value)
                    }
                    settleNames(event)
                    if case .error = event { resolution?.failed() }
                    if case .rowDescription(let columns) = event { described(columns) } else if case .noData = event { described([]) }
                    for completion in tracker.received(event) { report(completion, ticket: ticket) }
                    if case .readyForQuery(let status) = event {
                        resultColumns.ready(answered: readyAnswered)
                        transactionStatus = status
                        resolution?.ready(status: status, answered: readyAnswered)
                        timeIdleness()
                    }
                }
            } catch {
                return fail(code: "08006", "the database broke the protocol: \(error)", event: "proxy.upstream-failed")
            }
            context.write(wrapOutboundOut(buffer), promise: nil)
            if let count = resumeAt, readyAnswered >= count {
                resumeAt = nil
                paused = false
                relayHeld(ticket)
            }
        case .handshaking, .none:
            break  // NIOSSL decrypts; nothing comes before the startup message is sent
        }
    }

    func upstreamReadComplete() {
        context.flush()
        if !context.channel.isWritable {
            upstream?.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
        }
    }

    func upstreamWritabilityChanged(_ writable: Bool) {
        if writable { drain() }
    }

    func upstreamClosed(error: Error?) {
        switch phase {
        case .connecting(let ticket, _):
            if let error, case .startingUp = upstreamPhase, ticket.upstream.sslMode != "disable", !ticket.upstream.isUnixSocket {
                // During the TLS handshake: the certificate, or TLS itself, is what failed.
                fail(code: "08006", "TLS to the database of target '\(ticket.target)' failed: \(error)", event: "proxy.upstream-failed")
            } else {
                fail(code: "08006", "the database of target '\(ticket.target)' closed the connection", event: nil)
            }
        case .relaying:
            // The server ended it (revocation, TTL, a FATAL error it already sent): so do we.
            close()
        default:
            break
        }
    }

    /// The server now reads SQL differently from the proxy: nothing more may pass.
    private func settingChanged(_ name: String, _ value: String) {
        fail(code: "0A000", "the session changed \(name) to \(value.prefix(32)), which hoopctl cannot analyse; the connection is closed",
             event: "proxy.setting-changed")
    }

    private struct UpstreamFailure: Error {
        let code: String
        let message: String
    }

    private func startupEvent(_ event: BackendEvent, ticket: ProxyTicket, scram: SCRAMClient?) throws {
        let endpoint = ticket.upstream
        switch event {
        case .authentication(let code, var data):
            switch code {
            case 0:
                context.write(wrapOutboundOut(MessageWriter.authenticationOk()), promise: nil)
            case 3, 5 where !endpoint.passwordMaySeeTheWire:
                // A server that asks for the password itself over a connection no one verified
                // may not be the server: the session's password never goes to it.
                throw UpstreamFailure(code: "28000", message: "the database asks for the password \(code == 3 ? "in clear" : "as MD5") over a connection "
                                      + "that is not TLS verifying the server (sslmode \(endpoint.sslMode)); use SCRAM, or sslmode=verify-full")
            case 3:
                upstream?.writeAndFlush(MessageWriter.password(endpoint.password), promise: nil)
            case 5:
                guard let salt = data.readBytes(length: 4) else { throw UpstreamFailure(code: "08006", message: "a malformed MD5 request") }
                upstream?.writeAndFlush(MessageWriter.password(Self.md5Password(endpoint, salt: salt)), promise: nil)
            case 10:
                var mechanisms: [String] = []
                while let name = data.readNullTerminatedString(), !name.isEmpty { mechanisms.append(name) }
                guard mechanisms.contains(SCRAM.mechanism) else {
                    throw UpstreamFailure(code: "28000", message: "the database offers no SASL mechanism the proxy speaks")
                }
                let client = SCRAMClient(password: endpoint.password, binding: channelBinding(offered: mechanisms))
                upstreamPhase = .startingUp(client)
                upstream?.writeAndFlush(MessageWriter.saslInitialResponse(mechanism: client.mechanism, data: client.clientFirst), promise: nil)
            case 11:
                guard var client = scram, let message = data.readString(length: data.readableBytes) else {
                    throw UpstreamFailure(code: "08006", message: "an unexpected SASL message")
                }
                let final = try client.receiveServerFirst(message)
                upstreamPhase = .startingUp(client)
                upstream?.writeAndFlush(MessageWriter.saslResponse(final), promise: nil)
            case 12:
                guard let client = scram, let message = data.readString(length: data.readableBytes) else {
                    throw UpstreamFailure(code: "08006", message: "an unexpected SASL message")
                }
                try client.receiveServerFinal(message)
            default:
                throw UpstreamFailure(code: "28000", message: "the database asks for an authentication method the proxy does not speak (\(code))")
            }
        case .parameterStatus(let name, let value):
            guard Self.keepsPinned(name, value) else { return settingChanged(name, value) }
            context.write(wrapOutboundOut(MessageWriter.parameterStatus(name, value)), promise: nil)
        case .backendKeyData(let processID, let secretKey):
            let key = dependencies.cancels.register(.init(endpoint: endpoint, processID: processID, secretKey: secretKey))
            cancelKey = key
            context.write(wrapOutboundOut(MessageWriter.backendKeyData(processID: key.processID, secretKey: key.secretKey)), promise: nil)
        case .error(let fields):
            // The server's own words (too many connections, role expired, ...), as a fatal error.
            throw UpstreamFailure(code: fields[UInt8(ascii: "C")] ?? "08006", message: fields[UInt8(ascii: "M")] ?? "the database refused the connection")
        case .readyForQuery(let status):
            context.writeAndFlush(wrapOutboundOut(MessageWriter.readyForQuery(status)), promise: nil)
            phase = .relaying(Relaying(ticket))
            limits = (ticket.statementTimeout, ticket.idleInTransactionTimeout)
            resolution = ticket.visibleTables.map { NameResolution(roleDefault: $0.searchPath) }
            upstreamPhase = .relaying
            if let engine = ticket.detectors, !engine.isEmpty { masker = ResultMasker(engine: engine) }
            relayHeld(ticket)
        default:
            break
        }
    }

    /// The TLS handshake is done (the chain checked by NIOSSL under verify-ca and verify-full):
    /// under verify-full the certificate must name the host as libpq would have it, and only
    /// then does anything, the user name included, go to the server.
    func upstreamTLSEstablished() {
        guard case .handshaking = upstreamPhase, case .connecting(let ticket, let parameters) = phase else { return }
        if ticket.upstream.sslMode == "verify-full" {
            let tls = try? upstream?.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self)
            guard let certificate = tls?.peerCertificate, Self.names(ticket.upstream.host, in: certificate) else {
                return fail(code: "08006", "TLS to the database of target '\(ticket.target)' failed: its certificate does not name "
                            + "\(ticket.upstream.host)", event: "proxy.upstream-failed")
            }
        }
        sendStartup(ticket, parameters: parameters)
    }

    static func names(_ host: String, in certificate: NIOSSLCertificate) -> Bool {
        var dnsNames: [String] = [], addresses: [[UInt8]] = []
        for name in certificate._subjectAlternativeNames() {
            if name.nameType == .dnsName { dnsNames.append(String(decoding: Array(name.contents), as: UTF8.self)) }
            if name.nameType == .ipAddress { addresses.append(Array(name.contents)) }
        }
        let commonName = (try? certificate.toDERBytes()).flatMap { ServerIdentity.commonName(certificateDER: $0) }
        return ServerIdentity.matches(host: host, dnsNames: dnsNames, ipAddresses: addresses, commonName: commonName)
    }

    /// Over TLS, SCRAM is bound to the certificate this connection saw when the server offers
    /// it (as libpq's channel_binding=prefer): a man in the middle that terminates TLS with a
    /// certificate of its own cannot pass the server's check, whatever the sslmode.
    private func channelBinding(offered mechanisms: [String]) -> SCRAMClient.Binding {
        guard let tls = try? upstream?.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self) else { return .none }
        guard mechanisms.contains(SCRAM.channelBoundMechanism) else { return .unsupportedByServer }
        guard let der = try? tls.peerCertificate?.toDERBytes(), let hash = ChannelBinding.tlsServerEndPoint(certificateDER: der) else {
            return .none  // a signature algorithm without a defined hash: neither side can bind
        }
        return .tlsServerEndPoint(hash)
    }

    private func startTLS(_ endpoint: UpstreamEndpoint) throws {
        var configuration = TLSConfiguration.makeClientConfiguration()
        switch endpoint.sslMode {
        // The chain here; the host name (verify-full) in upstreamTLSEstablished, as libpq checks it
        // (NIOSSL would also take an IP address in the certificate for a host name).
        case "verify-full", "verify-ca": configuration.certificateVerification = .noHostnameVerification
        default: configuration.certificateVerification = .none  // require / prefer: encrypted, not authenticated (as libpq)
        }
        if let root = endpoint.rootCertificate { configuration.trustRoots = .file(root) }
        if let certificate = endpoint.clientCertificate, let key = endpoint.clientKey {
            configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
            configuration.privateKey = .file(key)
        }
        let context = try NIOSSLContext(configuration: configuration)
        // The host name for SNI (an IP address is not sent).
        let hostname = ServerIdentity.ipAddress(endpoint.host) == nil ? endpoint.host : nil
        let handler = try NIOSSLClientHandler(context: context, serverHostname: hostname)
        try upstream?.pipeline.syncOperations.addHandler(handler, position: .first)
    }

    /// libpq's MD5: "md5" + md5hex(md5hex(password + user) + salt).
    static func md5Password(_ endpoint: UpstreamEndpoint, salt: [UInt8]) -> String {
        func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
        let inner = hex(Array(Insecure.MD5.hash(data: Array((endpoint.password + endpoint.user).utf8))))
        return "md5" + hex(Array(Insecure.MD5.hash(data: Array(inner.utf8) + salt)))
    }

    // MARK: Relaying

    /// A statement's analysis with the guardrails' decision on it.
    struct Judged {
        var analysis: StatementAnalysis
        var decision: StatementDecision
        /// After a review: what the ledger records instead of the guardrails' decision, and the request.
        var reviewed: (decision: String, request: String?)?
        /// Its values, for the ledger's preview and sealed copy (nil: not captured).
        var values: ValueCapture.Input?
    }

    /// How a text under review reached the proxy, so its outcome goes back the same way.
    private enum Delivery {
        case query(ByteBuffer)
        case parse(name: String, raw: ByteBuffer)
    }

    private func relay(_ message: FrontendMessage, ticket: ProxyTicket) {
        let describedBefore = describedPortal
        if case .flush = message {} else { describedPortal = nil }
        switch message {
        case .query(let sql, let raw):
            guard settled(for: sql, message), let analyses = analyses(of: sql, message, ticket: ticket) else { return }
            // PREPARE, EXECUTE or DEALLOCATE of a name whose PREPARE the server has not answered yet: wait for it.
            let touched = Set(analyses.flatMap { [$0.facts.prepares, $0.facts.executes, $0.facts.deallocates].compactMap { $0 } })
            if !touched.isEmpty, !sqlPending.isEmpty, !touched.isDisjoint(with: sqlPending.values) || touched.contains("*") {
                return wait(until: readySent, message)
            }
            if let count = resolution?.mustWait(readySent: readySent, readyAnswered: readyAnswered) { return wait(until: count, message) }
            let judged = withValues(judge(analyses, ticket: ticket), sql: sql, ticket: ticket)
            if let deciding = judged.first(where: { $0.decision.decision == .review }), !judged.contains(where: { $0.decision.decision == .deny }) {
                return review(sql: sql, delivery: .query(raw), judged: judged, deciding: deciding, ticket: ticket)
            }
            let tokens = judged.map { _ in newToken() }
            let (entries, resolved) = entries(judged, via: "query", ticket: ticket)
            if let refusal = Self.refusal(of: judged, target: ticket.target) {
                sendInstead(refusal, judged: judged, tokens: tokens, entries: entries)
            } else {
                sending(judged, tokens: tokens, resolution: resolved)
                remember(judged, tokens: tokens)
                sent(.query(tokens))
                enqueue(raw, tokens: tokens, entries: entries)
            }
        case .parse(let name, let sql, let raw):
            resultColumns.parse(name)
            guard settled(for: sql, message), let analyses = analyses(of: sql, message, ticket: ticket) else { return }
            var analysis = analyses.first ?? StatementAnalysis(normalized: "", fingerprint: "", facts: StatementFacts())
            if analyses.count > 1 {
                // The server refuses it too, but only after the proxy would have judged its first statement alone.
                analysis = StatementAnalysis(normalized: analyses.map(\.normalized).joined(separator: "; "), statementClass: .unparseable,
                                             note: "a Parse message holds \(analyses.count) statements; a prepared statement is one")
            }
            var judged = judge([analysis], ticket: ticket)[0]
            if ticket.capture?.values ?? .none != .none {
                judged = withValues([judged], sql: sql, ticket: ticket)[0]
                judged.values?.types = Self.parameterTypes(ofParse: raw)
            }
            // DDL and DCL under review run as the owner when approved, so they can come this way
            // (migration tools send everything with the extended protocol); they take no parameters.
            if judged.decision.decision == .review, [.ddl, .dcl].contains(analysis.facts.statementClass) {
                return review(sql: sql, delivery: .parse(name: name, raw: raw), judged: [judged], deciding: judged, ticket: ticket)
            }
            sent(.parse)
            let undo = names.undoing(statement: name)
            guard let upstreamName = names.parse(name, judged) else { return enqueue(Self.tooManyStatements) }
            changing(undo)
            if let refusal = Self.refusal(of: [judged], target: ticket.target) {
                // Prepared as a statement that fails when executed, with the client's parameter types.
                enqueue(MessageWriter.parse(name: upstreamName, sql: refusal, parameterTypes: Self.parameterTypes(ofParse: raw)))
            } else {
                // The server parses and checks it (names, privileges, the catalog): that is
                // reaching the database, so it waits for a record too.
                enqueue(upstreamName == name ? raw : MessageWriter.renaming(raw, to: [upstreamName]),
                        entries: [parseEntry(judged, ticket: ticket)], parsed: name)
            }
        case .bind(let portal, let statement, let raw):
            if let count = unsettled("S:" + statement) { return wait(until: count, message) }
            // (Only while a Parse of this read waits for its record: nothing else on the path.)
            if !unrecordedParses.isEmpty { unrecordedPortals[portal] = unrecordedParses[statement] }
            let undo = names.undoing(portal: portal)
            let upstream = names.bind(portal: portal, statement: statement)
            resultColumns.bind(portal: portal, statement: statement)
            if upstream.value?.values != nil, let parameters = BindParameters.decode(bind: raw) {
                names.update(portal: portal) { judged in
                    let types = judged.values?.types ?? []
                    judged.values?.parameters = parameters.enumerated().map { index, parameter in
                        ValueCapture.Bound(binary: parameter.binary, bytes: parameter.bytes, type: index < types.count ? types[index] : 0)
                    }
                }
            }
            changing(undo)
            sent(.bind)
            enqueue(upstream.portal == portal && upstream.statement == statement ? raw : MessageWriter.renaming(raw, to: [upstream.portal, upstream.statement]))
        case .execute(let portal, _, let raw):
            if let count = unsettled("P:" + portal) { return wait(until: count, message) }
            if let count = resolution?.mustWait(readySent: readySent, readyAnswered: readyAnswered) { return wait(until: count, message) }
            let token = newToken()
            let bound = names.portal(portal)
            let judged = bound.value ?? judge([StatementAnalysis(normalized: "<unknown portal>", statementClass: .opaque,
                                                                 note: "an Execute of a portal the proxy did not see bound")], ticket: ticket)[0]
            let (entries, resolved) = entries([judged], via: "execute", ticket: ticket)
            sending([judged], tokens: [token], resolution: resolved)
            if masker != nil, describedBefore != portal {
                // Rows are masked by their own description, which the client may not have asked for.
                masker?.expect(.describe(forwarded: false))
                enqueue(MessageWriter.describePortal(bound.upstream))
            }
            sent(.execute(token))
            executions[token]?.columns = resultColumns.execute(portal: portal)
            // Its record names what the Parse prepared, and commits with the Parse's: one record for both.
            if !unrecordedParses.isEmpty, let parse = unrecordedPortals[portal] ?? nil, parse < unrecorded.count, unrecorded[parse].parse {
                unrecorded[parse].entries = []
                unrecorded[parse].parse = false
            }
            enqueue(bound.upstream == portal ? raw : MessageWriter.renaming(raw, to: [bound.upstream]), tokens: [token], entries: entries)
        case .describe(let kind, let name, let raw):
            let upstream = kind == UInt8(ascii: "S") ? names.describe(statement: name) : names.describe(portal: name)
            sent(.describe(statement: kind == UInt8(ascii: "S")))
            resultColumns.describe(statement: kind == UInt8(ascii: "S"), name: name, group: readySent)
            if kind == UInt8(ascii: "P") { describedPortal = name }
            enqueue(upstream == name ? raw : MessageWriter.renaming(raw, to: [upstream]))
        case .close(let kind, let name, let raw):
            let undo = kind == UInt8(ascii: "S") ? names.undoing(statement: name) : names.undoing(portal: name)
            let upstream = kind == UInt8(ascii: "S") ? names.close(statement: name) : names.close(portal: name)
            changing(undo)
            sent(.close)
            enqueue(upstream == name ? raw : MessageWriter.renaming(raw, to: [upstream]))
        case .sync(let raw):
            sent(.sync)
            enqueue(raw)
        case .flush(let raw), .copyData(let raw), .copyDone(let raw), .copyFail(let raw):
            enqueue(raw)
        case .functionCall(let oid, let raw):
            let token = newToken()
            var analysis = StatementAnalysis(normalized: "<function call \(oid)>", statementClass: .opaque, note: "a function call by oid")
            // It could be set_config: what it leaves the search_path cannot be told.
            analysis.facts.searchPath = SearchPathChange(.unknown)
            let judged = judge([analysis], ticket: ticket)
            let (entries, resolved) = entries(judged, via: "function", ticket: ticket)
            sent(.functionCall(token))
            if let refusal = Self.refusal(of: judged, target: ticket.target) {
                // A refused call ends as a failed call does: ErrorResponse, then ReadyForQuery.
                enqueue(MessageWriter.query(refusal), tokens: [token], entries: entries)
            } else {
                sending(judged, tokens: [token], resolution: resolved)
                enqueue(raw, tokens: [token], entries: entries)
            }
        case .terminate(let raw):
            queue.append(Queued(raw: raw, ready: true, tokens: [], terminate: true))
            bufferedBytes += raw.readableBytes
            drain()
        default:
            fail(code: "08P01", "protocol violation: unexpected message after startup", event: "proxy.protocol-violation")
        }
    }

    /// A server-side stand-in for a text that must not run as sent: the server answers in order
    /// with its error (or notice), then ReadyForQuery. Every statement is recorded; only the
    /// deciding one gets an outcome.
    private func sendInstead(_ standIn: String, judged: [Judged], tokens: [ResponseTracker.Token], entries: [LedgerEntry]) {
        let deciding = judged.firstIndex { $0.decision.decision == .deny } ?? judged.firstIndex { $0.decision.decision != .allow } ?? 0
        sent(.query([tokens[deciding]]))
        for (index, token) in tokens.enumerated() where index != deciding { executions[token] = nil }
        enqueue(MessageWriter.query(standIn), tokens: tokens, entries: entries)
    }

    /// A text under review: the broker says whether it waits for reviewers (the client is refused
    /// with the request's id), runs once in the session, or ran as the owner. Later client
    /// messages wait, in order, until the broker has answered.
    private func review(sql: String, delivery: Delivery, judged: [Judged], deciding: Judged, ticket: ProxyTicket) {
        paused = true
        let relations = Array(Set(judged.flatMap(\.analysis.facts.relations))).sorted()
        let statementClass = judged.map(\.analysis.facts.statementClass).max() ?? .read
        let ask = StatementUnderReview(
            sessionID: ticket.sessionID, identity: ticket.identity, target: ticket.target, role: ticket.role, sql: sql,
            normalized: judged.map(\.analysis.normalized).joined(separator: "; "), fingerprint: deciding.analysis.fingerprint,
            statementClass: StatementClass(rawValue: statementClass.rawValue) ?? .opaque, relations: relations,
            rule: deciding.decision.rule, reason: deciding.decision.reason,
            inTransaction: transactionStatus != UInt8(ascii: "I") || !tracker.isIdle || !queue.isEmpty,
            facts: judged.map(\.analysis.facts))
        let directory = dependencies.directory
        let promise = context.eventLoop.makePromise(of: ReviewOutcome.self)
        promise.completeWithTask { await directory.review(ask) }
        let loop = NIOLoopBound(self, eventLoop: context.eventLoop)
        promise.futureResult.whenSuccess { outcome in
            let connection = loop.value
            guard case .relaying(let relaying) = connection.phase else { return }
            let ticket = relaying.ticket
            connection.reviewed(outcome, delivery: delivery, judged: judged, deciding: deciding.decision, ticket: ticket)
            connection.paused = false
            connection.relayHeld(ticket)
        }
    }

    private func reviewed(_ outcome: ReviewOutcome, delivery: Delivery, judged: [Judged], deciding: StatementDecision, ticket: ProxyTicket) {
        // What goes to the server in the text's place (nil: the text itself), and what is recorded.
        let standIn: String?, decision: String, request: String?
        switch outcome {
        case .pending(let id, let approvers):
            standIn = Self.serverSide(code: "42501", message: "hoopctl: this statement needs a review on target '\(ticket.target)' (\(deciding.rule)): "
                                          + "\(deciding.reason); approval required: request \(id)",
                                      hint: "A reviewer (\(approvers.joined(separator: ", "))) approves it with: hoopctl approve \(id). "
                                          + "Then send the same text again in this session: it runs once.")
            (decision, request) = ("review", id)
        case .refused(let reason):
            standIn = Self.serverSide(code: "42501", message: "hoopctl: \(reason)", hint: nil)
            (decision, request) = ("review", nil)
        case .runInSession(let id):
            standIn = nil
            (decision, request) = ("approved", id)
        case .ranAsOwner(let id, let role, let tag):
            standIn = Self.serverSide(code: nil, message: "hoopctl: ran as \(role) after review \(id): \(tag)", hint: nil)
            (decision, request) = ("approved", id)
        case .failedAsOwner(let id, let role, let sqlState, let message):
            standIn = Self.serverSide(code: sqlState, message: message, hint: "hoopctl ran it as \(role) after review \(id).")
            (decision, request) = ("approved", id)
        }
        let judged = judged.map { item in
            var item = item
            item.reviewed = (decision, request)
            return item
        }
        switch delivery {
        case .query(let raw):
            let tokens = judged.map { _ in newToken() }
            let (entries, resolved) = entries(judged, via: "query", ticket: ticket)
            if let standIn {
                sendInstead(standIn, judged: judged, tokens: tokens, entries: entries)
            } else {
                sending(judged, tokens: tokens, resolution: resolved)
                remember(judged, tokens: tokens)
                sent(.query(tokens))
                enqueue(raw, tokens: tokens, entries: entries)
            }
        case .parse(let name, let raw):
            // Recorded at Execute, as every prepared statement; the stand-in is what gets executed.
            sent(.parse)
            let undo = names.undoing(statement: name)
            guard let upstreamName = names.parse(name, judged[0]) else { return enqueue(Self.tooManyStatements) }
            changing(undo)
            if let standIn {
                enqueue(MessageWriter.parse(name: upstreamName, sql: standIn, parameterTypes: Self.parameterTypes(ofParse: raw)))
            } else {
                enqueue(upstreamName == name ? raw : MessageWriter.renaming(raw, to: [upstreamName]),
                        entries: [parseEntry(judged[0], ticket: ticket)], parsed: name)
            }
        }
    }

    /// A Parse refused for want of room: prepared under a name no Bind of the client's can reach,
    /// as a statement that fails when executed.
    static let tooManyStatements = MessageWriter.parse(name: StatementNames<Judged>.refused, sql: serverSide(
        code: "54000", message: "hoopctl: this connection holds \(StatementNames<Judged>.capacity) prepared statements; close some first",
        hint: nil), parameterTypes: [])

    /// Whether `sql` may go to the server now. A text with a backslash is read differently under
    /// another standard_conforming_strings, backslash_quote or client_encoding; the analysis
    /// refuses every statement that changes those, and as a second line such a text waits until
    /// everything sent before it has finished, so a ParameterStatus reporting a changed setting
    /// (sent with ReadyForQuery) always arrives, and closes the connection, before the text
    /// could run. Inside an extended-protocol batch that has executed something and not yet
    /// synced, waiting could never end, so the text is refused. Texts without a backslash read
    /// the same under every setting and never wait.
    private func settled(for sql: String, _ message: FrontendMessage) -> Bool {
        guard sql.utf8.contains(UInt8(ascii: "\\")) else { return true }
        if tracker.executedSinceSync {
            fail(code: "0A000", "a text with a backslash sent after an Execute in the same batch, before its Sync; send Sync first",
                 event: "proxy.refused")
            return false
        }
        guard readyAnswered < readySent else { return true }
        wait(until: readySent, message)
        return false
    }

    /// The analyses of `sql`: at once for small texts and known ones; a large new text is
    /// analysed off the event loop (the connection waits, others go on), and nil is returned
    /// until its message is relayed again with the result.
    private func analyses(of sql: String, _ message: FrontendMessage, ticket: ProxyTicket) -> [StatementAnalysis]? {
        if let done = analysed, done.sql == sql {
            analysed = nil
            return done.analyses
        }
        guard sql.utf8.count > ParserLimits.inlineBytes else { return dependencies.analyzer.analyze(sql) }
        holdAgain(message)
        let analyzer = dependencies.analyzer
        let promise = context.eventLoop.makePromise(of: [StatementAnalysis].self)
        DispatchQueue.global().async { promise.succeed(analyzer.analyze(sql)) }
        let loop = NIOLoopBound(self, eventLoop: context.eventLoop)
        promise.futureResult.whenSuccess { analyses in
            let connection = loop.value
            guard case .relaying(let relaying) = connection.phase else { return }
            let ticket = relaying.ticket
            connection.analysed = (sql, analyses)
            connection.paused = false
            connection.relayHeld(ticket)
        }
        return nil
    }

    /// Relays what was held back, until a statement waits for a review again.
    private func relayHeld(_ ticket: ProxyTicket) {
        while !paused, !held.isEmpty, case .relaying = phase {
            let message = held.removeFirst()
            bufferedBytes -= message.raw?.readableBytes ?? 0
            relay(message, ticket: ticket)
        }
        // Reads resume once the queue has room (see drain()).
        if held.isEmpty { drain() }
    }

    /// The guardrails' decision on each statement; `EXECUTE name` is judged as what `name` was prepared as.
    /// In order, so `PREPARE p AS ...; EXECUTE p` in one text judges the EXECUTE as what it runs.
    private func judge(_ analyses: [StatementAnalysis], ticket: ProxyTicket) -> [Judged] {
        var prepared = sqlPrepared
        return analyses.map { analysis in
            var analysis = analysis
            if let name = analysis.facts.executes, let facts = prepared[name] {
                analysis.facts = facts
                analysis.facts.executes = name
            }
            Self.apply(analysis.facts, to: &prepared)
            return Judged(analysis: analysis, decision: GuardrailJudge.decide(analysis.facts, guardrails: ticket.guardrails,
                                                                               detectorsOn: ticket.detectors.map { !$0.isEmpty } ?? false))
        }
    }

    /// What a statement does to the SQL-level prepared statements, as the server does it: a
    /// PREPARE of a name that exists fails, DEALLOCATE and DISCARD ALL drop.
    static func apply(_ facts: StatementFacts, to prepared: inout [String: StatementFacts]) {
        if let name = facts.prepares, prepared[name] == nil { prepared[name] = facts }
        switch facts.deallocates {
        case .some("*"): prepared.removeAll()
        case .some(let name): prepared[name] = nil
        case .none: break
        }
    }

    /// Keeps what allowed SQL-level PREPAREs prepared (and forgets what DEALLOCATE drops); a
    /// PREPARE that turns out not to have run (an error before it in the text) is taken back
    /// when its outcome comes. A DEALLOCATE that did not run leaves the proxy knowing less than
    /// the server: an EXECUTE of that name is then opaque, which fails closed.
    private func remember(_ judged: [Judged], tokens: [ResponseTracker.Token]) {
        for (item, token) in zip(judged, tokens) {
            if let name = item.analysis.facts.prepares, sqlPrepared[name] == nil { sqlPending[token] = name }
            Self.apply(item.analysis.facts, to: &sqlPrepared)
            if item.analysis.facts.deallocates == "*" { names.discardStatements() }
        }
    }

    /// A statement that makes the server refuse in the client's place, when the decision is
    /// deny (or review, where reviews cannot be asked for): its error (SQLSTATE 42501) comes back
    /// in order with everything else.
    static func refusal(of judged: [Judged], target: String) -> String? {
        guard let deciding = (judged.first { $0.decision.decision == .deny } ?? judged.first { $0.decision.decision != .allow })?.decision
        else { return nil }
        switch deciding.decision {
        case .review:
            // A write with parameters (extended protocol) is not reviewed: reviewers approve what they can read, values included.
            return serverSide(code: "42501", message: "hoopctl: this statement needs a review on target '\(target)' (\(deciding.rule)): \(deciding.reason)",
                              hint: "Statements with parameters cannot be reviewed: send it with its values inline (the simple query protocol), "
                                  + "then a reviewer approves that exact text.")
        default:
            return serverSide(code: "42501", message: "hoopctl: denied on target '\(target)' by \(deciding.rule): \(deciding.reason)",
                              hint: "hoopctl policy explain --target \(target) --sql '...' shows each statement's decision.")
        }
    }

    /// A DO block that raises the error `code` (or, without one, a notice) with message and hint.
    static func serverSide(code: String?, message: String, hint: String?) -> String {
        func literal(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }
        let level = code == nil ? "NOTICE" : "EXCEPTION"
        var options = ["MESSAGE = \(literal(message))"]
        if let code { options.insert("ERRCODE = \(literal(code))", at: 0) }
        if let hint { options.append("HINT = \(literal(hint))") }
        let body = "BEGIN RAISE \(level) USING \(options.joined(separator: ", ")); END"
        var tag = "hoop"
        while body.contains("$\(tag)$") { tag += "_" }
        return "DO $\(tag)$\(body)$\(tag)$"
    }

    /// The parameter types a Parse message declared (its raw bytes: type, length, name, query, types).
    static func parameterTypes(ofParse raw: ByteBuffer) -> [Int32] {
        var buffer = raw
        buffer.moveReaderIndex(forwardBy: 5)
        guard buffer.readNullTerminatedString() != nil, buffer.readNullTerminatedString() != nil,
              let count = buffer.readInteger(as: Int16.self), count > 0 else { return [] }
        return (0..<Int(count)).compactMap { _ in buffer.readInteger(as: Int32.self) }
    }

    /// Tells the tracker and the masker, and counts the messages that end in ReadyForQuery.
    private func sent(_ request: ResponseTracker.Request) {
        tracker.sent(request)
        switch request {
        case .query, .functionCall:
            masker?.expect(.query)
            readySent += 1
            pendingNames.append(.ready(sync: false))
        case .sync:
            masker?.expect(.sync)
            readySent += 1
            pendingNames.append(.ready(sync: true))
            extendedSinceSync = false
        case .describe:
            masker?.expect(.describe(forwarded: true))
            extendedSinceSync = true
        case .parse, .bind, .close, .execute:
            masker?.expect(.step)
            extendedSinceSync = true
        }
    }

    /// Notes a name change the server has yet to answer.
    private func changing(_ undo: StatementNames<Judged>.Undo) {
        pendingNames.append(.change(undo, group: readySent))
    }

    /// When `key`'s latest unanswered change was sent before a message that ends in
    /// ReadyForQuery that has not come yet, the number of ReadyForQuery that settles it. (A
    /// change in the same batch needs no wait: if it was skipped, so is what uses it.)
    private func unsettled(_ key: String) -> Int? {
        for pending in pendingNames.reversed() {
            guard case .change(let undo, let group) = pending, undo.key == key else { continue }
            return group < readySent ? group + 1 : nil
        }
        return nil
    }

    /// Holds `message` (at the front) until `count` ReadyForQuery have come.
    private func wait(until count: Int, _ message: FrontendMessage) {
        resumeAt = count
        holdAgain(message)
    }

    /// Puts a message being relayed back at the front of what is held, and pauses relaying.
    private func holdAgain(_ message: FrontendMessage) {
        paused = true
        held.insert(message, at: 0)
        bufferedBytes += message.raw?.readableBytes ?? 0
    }

    /// The server's answers settle name changes: a completion keeps the first, an error in an
    /// extended step takes back everything up to the next ReadyForQuery, a ReadyForQuery ends its group.
    private func settleNames(_ event: BackendEvent) {
        switch event {
        case .parseComplete, .bindComplete, .closeComplete:
            if let index = pendingNames.firstIndex(where: { if case .change = $0 { return true } else { return false } }) {
                pendingNames.remove(at: index)
            }
        case .error where tracker.answersExtendedStep:
            // The server skips everything up to the next Sync, Queries and FunctionCalls included
            // (their ReadyForQuery never comes, so they count as answered).
            let end = pendingNames.firstIndex { if case .ready(sync: true) = $0 { return true } else { return false } } ?? pendingNames.count
            for pending in pendingNames[..<end].reversed() {
                switch pending {
                case .change(let undo, _):
                    // A later batch, sent before this error came, may have changed the name again:
                    // it keeps its change, which now undoes to what this one undid to.
                    if let later = pendingNames[end...].firstIndex(where: { if case .change(let next, _) = $0 { next.key == undo.key } else { false } }),
                       case .change(let next, let group) = pendingNames[later] {
                        pendingNames[later] = .change(names.carrying(undo, into: next), group: group)
                    } else {
                        names.undo(undo)
                    }
                case .ready: readyAnswered += 1
                }
            }
            pendingNames.removeSubrange(..<end)
        case .readyForQuery:
            readyAnswered += 1
            if let end = pendingNames.firstIndex(where: { if case .ready = $0 { return true } else { return false } }) {
                pendingNames.removeSubrange(...end)
            }
        default:
            break
        }
    }

    /// A normalized text (what the normalizer keeps: comments, quoted identifiers, utility
    /// statements' constants), or a result column's name, through the detectors, once per text.
    private func scrubbed(_ normalized: String, ticket: ProxyTicket) -> String {
        guard let capture = ticket.capture else { return normalized }
        if let known = scrubbedTexts[normalized] { return known }
        let text = capture.scrub(normalized)
        if scrubbedTexts.count >= 1024 { scrubbedTexts.removeAll(keepingCapacity: true) }
        scrubbedTexts[normalized] = text
        return text
    }

    /// Each statement of a text with its values, when the session captures them.
    private func withValues(_ judged: [Judged], sql: String, ticket: ProxyTicket) -> [Judged] {
        guard let capture = ticket.capture, capture.values != .none else { return judged }
        let literals = LiteralExtractor.literals(in: sql, normalized: judged.map(\.analysis.normalized))
        return judged.enumerated().map { index, item in
            var item = item
            item.values = ValueCapture.Input(literals: literals?[index], text: literals == nil ? sql : nil)
            return item
        }
    }

    /// A RowDescription (or NoData) arrived: it names the columns of a Describe's statement or
    /// portal, or of the statement of a Query now running.
    private func described(_ columns: [String]) {
        switch tracker.describing {
        case .describe?: resultColumns.described(columns)
        case .statement(let token)?: executions[token]?.columns = .known(columns)
        case nil: break
        }
    }

    private func newToken() -> ResponseTracker.Token {
        nextToken += 1
        executions[nextToken] = Execution()
        return nextToken
    }

    /// The records of statements about to be sent in one message, in order, each with its
    /// names resolved as it will run; and the name resolution as it will be once they have run
    /// (to keep if they are sent). A statement's search_path change is noted on its execution.
    private func entries(_ judged: [Judged], via: String, ticket: ProxyTicket)
        -> (entries: [LedgerEntry], resolution: NameResolution?) {
        var resolution = self.resolution
        var entries: [LedgerEntry] = []
        for item in judged {
            // A statement that itself changes the path in a way the proxy cannot follow (inside
            // a DO block, a set_config beside a FROM) resolves its own names with an unknown path.
            var own = resolution
            if item.analysis.facts.searchPath?.value == .unknown { own?.sending(item.analysis.facts, group: readySent + 1) }
            entries.append(entry(item, via: via, ticket: ticket, resolution: own))
            resolution?.sending(item.analysis.facts, group: readySent + 1)
        }
        return (entries, resolution)
    }

    /// The statements are sent: the name resolution is as they leave it, and each change to
    /// the search_path is told to the server's side of it when its statement completes.
    private func sending(_ judged: [Judged], tokens: [ResponseTracker.Token], resolution resolved: NameResolution?) {
        resolution = resolved
        for (item, token) in zip(judged, tokens) where SearchPathTracker.matters(item.analysis.facts) {
            executions[token]?.facts = item.analysis.facts
        }
    }

    /// What a statement record holds that the statement's analysis alone decides (with the
    /// session's ticket and the role's default search_path), kept by the analysis's serial:
    /// resolving, scrubbing and sorting once per statement shape rather than per statement.
    private struct EntryTemplate {
        let sql: String
        let relations: [String]?
        let lineage: (lineage: StatementLineage, summary: [String])?
    }
    private var templates: [Int: EntryTemplate] = [:]

    private func entry(_ judged: Judged, via: String, ticket: ProxyTicket, resolution: NameResolution?, prepareOnly: Bool = false) -> LedgerEntry {
        let analysis = judged.analysis
        // Only what runs touches data: a refused statement, one waiting for review, or one only
        // prepared, has no lineage (nor values: an Execute has them).
        let runs = !prepareOnly && (judged.reviewed.map { $0.decision == "approved" } ?? (judged.decision.decision == .allow))
        // EXECUTE name carries what `name` prepared, not what its analysis says; another path resolves other tables.
        let cacheable = analysis.serial != 0 && analysis.facts.executes == nil && resolution?.isRoleDefault ?? true
        let key = analysis.serial * 2 + (runs ? 1 : 0)
        let template: EntryTemplate
        if cacheable, let known = templates[key] {
            template = known
        } else {
            // Names as the server resolves them (`public.customers` for the view a session reads);
            // one that cannot be told stays as written.
            let relations = analysis.facts.relations.map { written in
                ticket.visibleTables?.resolve(written, path: resolution?.path, temporary: resolution?.temporary ?? []) ?? written
            }
            template = EntryTemplate(sql: scrubbed(analysis.normalized, ticket: ticket),
                                     relations: relations.isEmpty ? nil : Array(Set(relations)).sorted(),
                                     lineage: runs ? lineage(of: analysis, ticket: ticket, resolution: resolution) : nil)
            if cacheable {
                if templates.count >= 1024 { templates.removeAll(keepingCapacity: true) }
                templates[key] = template
            }
        }
        var body = StatementBody(sql: template.sql, fingerprint: analysis.fingerprint, statementClass: analysis.statementClass,
                                 decision: judged.reviewed?.decision ?? judged.decision.decision.rawValue, via: via,
                                 relations: template.relations, request: judged.reviewed?.request)
        if let lineage = template.lineage, !lineage.lineage.items.isEmpty { body.lineage = lineage.summary }
        if !prepareOnly, let capture = ticket.capture, let values = judged.values {
            let captured = capture.capture(normalized: analysis.normalized, columns: analysis.parameterColumns, input: values, context: ticket.sessionID)
            body.preview = captured.preview == body.sql ? nil : captured.preview
            body.sealed = captured.sealed
        }
        var entry = LedgerEntry(body, identity: ticket.identity, target: ticket.target, session: ticket.sessionID)
        entry.lineage = template.lineage?.lineage
        return entry
    }

    /// Resolved once per statement shape (the fingerprint) for the connection's lifetime, with
    /// the lines the statement record keeps.
    private func lineage(of analysis: StatementAnalysis, ticket: ProxyTicket, resolution: NameResolution?)
        -> (lineage: StatementLineage, summary: [String])? {
        guard let tables = ticket.visibleTables, let resolution else { return nil }
        // EXECUTE name carries what `name` prepared, which its own text does not show; another
        // search_path resolves the same text to other tables.
        let cacheable = analysis.facts.executes == nil && resolution.isRoleDefault
        let key = LineageKey(fingerprint: analysis.fingerprint, relations: analysis.facts.relations, columns: analysis.facts.columns,
                             writes: analysis.facts.writes)
        if cacheable, let known = lineages[key] { return known }
        let lineage = tables.lineage(of: analysis.facts, fingerprint: analysis.fingerprint, job: ticket.job, path: resolution.path,
                                     temporary: resolution.temporary)
        let resolved = (lineage, lineage.summary)
        if cacheable, lineages.count < 1024 { lineages[key] = resolved }
        return resolved
    }

    /// Queues a message for the server; with entries, it waits until they are committed. Within
    /// a read burst the records are asked for when it ends, all in one append (one commit for a
    /// pipeline's statements); `parsed` names the statement a Parse prepares, whose record an
    /// Execute of it in the same read stands for.
    private func enqueue(_ raw: ByteBuffer, tokens: [ResponseTracker.Token] = [], entries: [LedgerEntry] = [], parsed: String? = nil) {
        queue.append(Queued(raw: raw, ready: entries.isEmpty, tokens: tokens))
        if !entries.isEmpty {
            if let parsed { unrecordedParses[parsed] = unrecorded.count }
            unrecorded.append(Unrecorded(index: queue.count - 1 + queueBase, tokens: tokens, entries: entries, parse: parsed != nil))
        }
        buffered(raw.readableBytes)
        // Within a read burst, the burst's end drains (one write for all its messages).
        if !readBurst {
            recordUnrecorded()
            drain()
        }
    }

    /// Inside channelRead: messages are queued, and sent when the burst ends.
    private var readBurst = false

    /// Queued messages whose records have not been asked for yet (see `enqueue`).
    private struct Unrecorded {
        let index: Int
        let tokens: [ResponseTracker.Token]
        var entries: [LedgerEntry]
        var parse: Bool
    }
    private var unrecorded: [Unrecorded] = []
    /// Of `unrecorded`, the Parse of each statement name; and the Parse each portal bound in this read uses.
    private var unrecordedParses: [String: Int] = [:]
    private var unrecordedPortals: [String: Int?] = [:]

    /// Asks the ledger for the records of everything queued since the last time, in one append;
    /// the messages go once it has committed (or the connection does, if it cannot).
    private func recordUnrecorded() {
        guard !unrecorded.isEmpty else { return }
        let items = unrecorded
        unrecorded.removeAll(keepingCapacity: true)
        unrecordedParses.removeAll(keepingCapacity: true)
        unrecordedPortals.removeAll(keepingCapacity: true)
        let entries = items.flatMap(\.entries)
        let loop = NIOLoopBound(self, eventLoop: context.eventLoop)
        dependencies.recorder.record(entries, on: context.eventLoop).whenComplete { result in
            let connection = loop.value
            switch result {
            case .success(let ids):
                var offset = 0
                for item in items {
                    for (token, id) in zip(item.tokens, ids[offset...]) { connection.executions[token]?.recordID = id }
                    offset += item.entries.count
                }
                connection.markReady(items.map(\.index))
            case .failure:
                connection.fail(code: "58000", "the ledger cannot record this statement, so it was not run", event: nil)
            }
        }
    }

    /// The record of a Parse: the statement prepared (it runs, and is recorded again, at each Execute).
    private func parseEntry(_ judged: Judged, ticket: ProxyTicket) -> LedgerEntry {
        entry(judged, via: "parse", ticket: ticket, resolution: resolution, prepareOnly: true)
    }

    /// Queue positions are counted from the first message ever queued.
    private var queueBase = 0

    private func markReady(_ indices: [Int]) {
        for index in indices {
            let position = index - queueBase
            guard position >= 0, position < queue.count else { continue }
            queue[position].ready = true
        }
        drain()
    }

    private func drain() {
        guard let upstream, upstream.isWritable || queue.first?.terminate == true else { return }
        var wrote = false, terminate = false
        let now = NIODeadline.now()
        while let first = queue.first, first.ready {
            queue.removeFirst()
            queueBase += 1
            bufferedBytes -= first.raw.readableBytes
            for token in first.tokens { executions[token]?.started = now }
            upstream.write(first.raw, promise: nil)
            wrote = true
            if first.terminate { terminate = true; break }
            if !upstream.isWritable { break }
        }
        // Stopped at a message waiting for its record: its commit drains again and flushes
        // everything at once (a commit always ends, in success or in closing the connection).
        let waitingForRecord = queue.first.map { !$0.ready } ?? false
        if wrote, !waitingForRecord || !upstream.isWritable || terminate { upstream.flush() }
        if wrote {
            timeStatements(now: now)
            timeIdleness()
        }
        if terminate { return close() }
        buffered(0)
    }

    // MARK: The policy's time limits

    /// Armed while statements run: it fires at `timedFrom` plus the policy's statement_timeout
    /// plus a second, and then cancels the statement, or arms again for a later `timedFrom`.
    /// Statements move `timedFrom` and leave the timer alone: arming and cancelling a timer per
    /// statement was a measurable share of the proxy's cost.
    private var statementDeadline: Scheduled<Void>?
    /// When the statement running now started, or the one before it finished (a timer is never
    /// reset by later messages: pipelining cannot stretch a statement's time); nil when none runs.
    private var timedFrom: NIODeadline?
    /// After a cancel for time: the connection goes unless the statement ends.
    private var cancelGraceDeadline: Scheduled<Void>?
    /// Set while the session sits idle in a transaction.
    private var idleDeadline: Scheduled<Void>?
    static let timeoutGrace: TimeInterval = 1
    /// The session's limits, kept from its ticket at login (the hot path does not copy the ticket).
    private var limits: (statement: TimeInterval?, idleInTransaction: TimeInterval?) = (nil, nil)

    private var statementsRunning: Bool { executions.values.contains { $0.started != nil } }

    /// A statement started (`now`) or one ended: times the one running, if any.
    private func timeStatements(ended: Bool = false, now: NIODeadline = .now()) {
        guard limits.statement != nil else { return }
        if !statementsRunning {
            timedFrom = nil
        } else if ended || timedFrom == nil {
            timedFrom = now
        }
        armStatementTimer()
    }

    private func armStatementTimer() {
        guard statementDeadline == nil, let limit = limits.statement, let from = timedFrom else { return }
        let loop = NIOLoopBound(self, eventLoop: context.eventLoop)
        statementDeadline = context.eventLoop.scheduleTask(deadline: from + .milliseconds(Int64((limit + Self.timeoutGrace) * 1000))) {
            loop.value.statementTimerFired()
        }
    }

    private func statementTimerFired() {
        statementDeadline = nil
        guard let limit = limits.statement, let from = timedFrom else { return }
        if NIODeadline.now() >= from + .milliseconds(Int64((limit + Self.timeoutGrace) * 1000)) {
            timedFrom = nil
            statementTimedOut()
        } else {
            armStatementTimer()
        }
    }

    /// Past the policy's limit (a SET statement_timeout or set_config lifted the server's own):
    /// the server cancels the statement, as its own timeout would have.
    private func statementTimedOut() {
        guard case .relaying(let relaying) = phase, case let ticket = relaying.ticket, let key = cancelKey, let backend = dependencies.cancels.backend(processID: key.processID, secretKey: key.secretKey) else { return }
        dependencies.recorder.event(LedgerEntry(EventBody(name: "proxy.statement-timeout",
                                                          message: "a statement ran past the policy's statement_timeout and was cancelled"),
                                                identity: ticket.identity, target: ticket.target, session: ticket.sessionID))
        sendCancel(to: backend)
        // A statement can catch the cancel (PL/pgSQL's EXCEPTION WHEN query_canceled) and go on:
        // if it has not ended a few seconds later, the connection goes, and the server ends it.
        let loop = NIOLoopBound(self, eventLoop: context.eventLoop)
        cancelGraceDeadline = context.eventLoop.scheduleTask(in: Self.cancelGrace) {
            loop.value.fail(code: "57014", "the statement ran past the policy's statement_timeout and did not stop when cancelled; "
                            + "the connection is closed", event: "proxy.statement-timeout")
        }
    }

    static let cancelGrace = TimeAmount.seconds(5)

    /// Idle in a transaction: in a transaction block, or in an extended-protocol batch not yet
    /// synced, with no statement running and nothing waiting to go. Then the idle timer runs,
    /// and only a statement that starts stops it: a Flush, a Describe or a Parse does not, nor
    /// does asking again (a running timer is never reset).
    private func timeIdleness() {
        let running = executions.values.contains { $0.started != nil }
        let idle = (transactionStatus != UInt8(ascii: "I") || extendedSinceSync) && !running && queue.isEmpty && held.isEmpty
        guard idle else {
            idleDeadline?.cancel()
            idleDeadline = nil
            return
        }
        guard idleDeadline == nil, let limit = limits.idleInTransaction else { return }
        let loop = NIOLoopBound(self, eventLoop: context.eventLoop)
        idleDeadline = context.eventLoop.scheduleTask(in: .milliseconds(Int64((limit + Self.timeoutGrace) * 1000))) {
            loop.value.fail(code: "25P03", "terminating connection: idle in a transaction past the policy's idle_in_transaction_timeout",
                            event: "proxy.idle-timeout")
        }
    }

    private func report(_ completion: ResponseTracker.Completion, ticket: ProxyTicket) {
        // The next statement, if any, is timed from now.
        cancelGraceDeadline?.cancel()
        cancelGraceDeadline = nil
        defer { timeStatements(ended: true) }
        if let name = sqlPending.removeValue(forKey: completion.token), completion.outcome != .completed { sqlPrepared[name] = nil }
        defer { timeIdleness() }
        guard let execution = executions.removeValue(forKey: completion.token) else { return }
        // A suspended portal has run (a set_config in its first row has taken effect).
        if [.completed, .suspended].contains(completion.outcome), let facts = execution.facts { resolution?.completed(facts) }
        guard let recordID = execution.recordID else { return }
        let duration = execution.started.map { Int((NIODeadline.now() - $0).nanoseconds / 1000) }
        dependencies.recorder.outcome(ResultBody.Outcome(statement: recordID, outcome: completion.outcome.rawValue, rows: completion.rows,
                                                         durationMicros: duration, sqlState: completion.sqlState,
                                                         columns: resultColumns.columns(execution.columns).flatMap { $0.isEmpty ? nil : $0 }
                                                            .map { $0.map { scrubbed($0, ticket: ticket) } }),
                                      session: ticket.sessionID, identity: ticket.identity, target: ticket.target)
    }

    // MARK: Cancel and the end

    private func cancel(processID: Int32, secretKey: Int32) {
        defer { close() }
        guard let backend = dependencies.cancels.backend(processID: processID, secretKey: secretKey) else { return }
        sendCancel(to: backend)
    }

    /// A CancelRequest to the server for one of its backends, on a connection of its own.
    private func sendCancel(to backend: CancelRegistry.Backend) {
        let endpoint = backend.endpoint
        let bootstrap = ClientBootstrap(group: context.eventLoop).connectTimeout(.seconds(5))
        let connecting = endpoint.isUnixSocket
            ? bootstrap.connect(unixDomainSocketPath: "\(endpoint.host)/.s.PGSQL.\(endpoint.port)")
            : bootstrap.connect(host: endpoint.host, port: endpoint.port)
        connecting.whenSuccess { channel in
            channel.writeAndFlush(MessageWriter.cancelRequest(processID: backend.processID, secretKey: backend.secretKey)).whenComplete { _ in
                channel.close(promise: nil)
            }
        }
    }

    /// Refuses with a FATAL error the client can show, records why (when it is worth a record),
    /// and closes both sides.
    private func fail(code: String, _ message: String, event: String?) {
        guard context != nil else { return }
        if case .closed = phase { return }
        if let event {
            var details = ["sqlstate": code, "reason": message]
            var session: String?
            var identity: String?
            switch phase {
            case .authenticating(let ticket, let parameters, _):
                details["user"] = String((parameters["user"] ?? "").prefix(64))
                session = ticket?.sessionID
                identity = ticket?.identity
            case .connecting(let ticket, _):
                session = ticket.sessionID
                identity = ticket.identity
            case .relaying(let relaying):
                session = relaying.ticket.sessionID
                identity = relaying.ticket.identity
            default:
                break
            }
            if let address = context.channel.remoteAddress?.description { details["peer"] = address }
            dependencies.recorder.event(LedgerEntry(EventBody(name: event, message: message, details: details),
                                                    identity: identity, session: session))
        }
        context.writeAndFlush(wrapOutboundOut(MessageWriter.errorResponse(code: code, message: message)), promise: nil)
        close()
    }

    private func close() {
        guard context != nil else { return }
        if case .closed = phase { return }
        finish()
        phase = .closed
        context.close(promise: nil)
    }

    /// Whatever was still running ends as interrupted; the cancel key goes.
    private func finish() {
        leaveLogin()
        if case .relaying(let relaying) = phase {
            let ticket = relaying.ticket
            for completion in tracker.interruptAll() { report(completion, ticket: ticket) }
        }
        statementDeadline?.cancel()
        statementDeadline = nil
        cancelGraceDeadline?.cancel()
        cancelGraceDeadline = nil
        idleDeadline?.cancel()
        idleDeadline = nil
        if let key = cancelKey {
            dependencies.cancels.remove(processID: key.processID, secretKey: key.secretKey)
            cancelKey = nil
        }
        upstream?.close(promise: nil)
        upstream = nil
        phase = .closed
    }
}
