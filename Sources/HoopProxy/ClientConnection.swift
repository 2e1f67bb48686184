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
import NIOSSL

/// One client of the proxy, from its startup packet to its last byte: it logs in as a session
/// (SCRAM-SHA-256 against the session's one-time secret), gets connected to the database as the
/// session's role, and from then on relays through a `RelayStateMachine`, which decides
/// everything (every statement recorded in the ledger before it is forwarded); this handler
/// performs its actions. Lives on one event loop with its upstream channel.
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
        var connector = UpstreamConnector.network
    }

    private enum Phase {
        case startup
        case authenticating(ProxyTicket?, parameters: [String: String], scram: SCRAMServer)
        case connecting(ProxyTicket, parameters: [String: String])
        /// `relay` holds the session.
        case relaying
        case closed
    }

    private enum UpstreamPhase {
        case none
        case negotiatingTLS(required: Bool)
        /// TLS is being set up: nothing is sent until the server's certificate has been checked.
        case handshaking
        case startingUp(SCRAMClient?)
        case relaying
    }

    static let loginTimeout = TimeAmount.seconds(15)
    /// After a cancel for time: how long a statement has to stop before the connection goes.
    static let cancelGrace = TimeAmount.seconds(5)

    private let dependencies: Dependencies
    private var context: ChannelHandlerContext!
    private var phase = Phase.startup
    private var upstream: Channel?
    private var upstreamPhase = UpstreamPhase.none
    /// Frames the server's messages during the login (the relay carries on with it).
    private var scanner = BackendScanner()
    /// Everything once logged in.
    private var relay: RelayStateMachine?
    /// The relay's actions being performed (swapped with its own array: no allocation per event).
    private var performing: [RelayStateMachine.Action] = []
    private var isPerforming = false
    /// Client messages that came while the proxy logged in to the server, and their bytes.
    private var heldAtLogin: [FrontendMessage] = []
    private var heldAtLoginBytes = 0
    private var readsPausedAtLogin = false
    private var cancelKey: (processID: Int32, secretKey: Int32)?
    private var statementDeadline: Scheduled<Void>?
    private var cancelGraceDeadline: Scheduled<Void>?
    private var idleDeadline: Scheduled<Void>?

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
        switch phase {
        case .startup: startup(message)
        case .authenticating(let ticket, let parameters, let scram): authenticate(message, ticket: ticket, parameters: parameters, scram: scram)
        case .connecting:
            if case .terminate = message { return close() }
            heldAtLogin.append(message)
            heldAtLoginBytes += message.raw?.readableBytes ?? 0
            if !readsPausedAtLogin, heldAtLogin.count > RelayStateMachine.maxQueued || heldAtLoginBytes > RelayStateMachine.maxBufferedBytes {
                readsPausedAtLogin = true
                context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
            }
        case .relaying:
            relay!.clientMessage(message)
            perform()
        case .closed: break
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
        if case .relaying = phase {
            relay!.clientReadComplete()
            perform()
        }
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
        let loop = NIOLoopBound(self, eventLoop: context.eventLoop)
        let connecting = dependencies.connector.connect(endpoint, context.eventLoop, .seconds(10)) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(UpstreamHandler(client: loop.value))
            }
        }
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

    private func sendStartup(_ ticket: ProxyTicket, parameters: [String: String]) {
        var startup: [(String, String)] = [("user", ticket.upstream.user), ("database", ticket.upstream.database)]
        for (name, value) in parameters.sorted(by: { $0.key < $1.key })
        where !["user", "database", "replication"].contains(name) && StartupSettings.pinned[name] == nil && !name.hasPrefix("_pq_.") {
            startup.append((name, value))
        }
        if parameters["application_name"] == nil { startup.append(("application_name", "hoopctl")) }
        // Named parameters are applied after `options`, so these win over any `-c` in it.
        startup += StartupSettings.pinned.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        startup += StartupSettings.alsoSet.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
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
            guard case .relaying = phase else { return }
            relay!.serverBytes(buffer)
            perform()
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
        guard case .relaying = phase else { return }
        relay!.serverWritabilityChanged(writable)
        perform()
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

    /// The server would read SQL differently from the proxy: nothing may pass.
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
            guard StartupSettings.keepsPinned(name, value) else { return settingChanged(name, value) }
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
            phase = .relaying
            upstreamPhase = .relaying
            relay = RelayStateMachine(ticket: ticket, analyzer: dependencies.analyzer, scanner: scanner, transactionStatus: status)
            let held = heldAtLogin
            heldAtLogin = []
            relay!.heldAtLogin(held, readsPaused: readsPausedAtLogin)
            perform()
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

    // MARK: Relaying: the state machine's actions

    /// Performs what the relay asked for, in order; events that arrive meanwhile (a write that
    /// changes writability, a synchronous answer) add actions that this same loop performs.
    private func perform() {
        guard !isPerforming else { return }
        isPerforming = true
        defer { isPerforming = false }
        while relay?.actions.isEmpty == false {
            swap(&relay!.actions, &performing)
            for action in performing { perform(action) }
            performing.removeAll(keepingCapacity: true)
        }
    }

    private func perform(_ action: RelayStateMachine.Action) {
        switch action {
        case .outcome(let outcome):
            // Recorded even after the end (statements interrupted by it).
            dependencies.recorder.outcome(outcome, session: relay!.ticket.sessionID, identity: relay!.ticket.identity, target: relay!.ticket.target)
            return
        default:
            break
        }
        guard case .relaying = phase else { return }
        let loop = NIOLoopBound(self, eventLoop: context.eventLoop)
        switch action {
        case .writeClient(let bytes):
            context.write(wrapOutboundOut(bytes), promise: nil)
        case .writeServer(let bytes):
            guard let upstream else { return }
            upstream.write(bytes, promise: nil)
            // Bytes that made the socket unwritable must go, or writability never returns.
            if !upstream.isWritable { upstream.flush() }
        case .flushServer:
            upstream?.flush()
        case .record(let entries, let pending):
            dependencies.recorder.record(entries, on: context.eventLoop).whenComplete { result in
                let connection = loop.value
                guard case .relaying = connection.phase else { return }
                switch result {
                case .success(let ids): connection.relay!.recorded(pending, ids: ids)
                case .failure: connection.relay!.recordFailed()
                }
                connection.perform()
            }
        case .outcome:
            break
        case .askReview(let ask, let pending):
            let directory = dependencies.directory
            let promise = context.eventLoop.makePromise(of: ReviewOutcome.self)
            promise.completeWithTask { await directory.review(ask) }
            promise.futureResult.whenSuccess { outcome in
                let connection = loop.value
                guard case .relaying = connection.phase else { return }
                connection.relay!.reviewDecided(outcome, for: pending)
                connection.perform()
            }
        case .analyse(let sql):
            let analyzer = dependencies.analyzer
            let promise = context.eventLoop.makePromise(of: [StatementAnalysis].self)
            DispatchQueue.global().async { promise.succeed(analyzer.analyze(sql)) }
            promise.futureResult.whenSuccess { analyses in
                let connection = loop.value
                guard case .relaying = connection.phase else { return }
                connection.relay!.analysed(sql, analyses)
                connection.perform()
            }
        case .readClient(let on):
            context.channel.setOption(ChannelOptions.autoRead, value: on).whenFailure { _ in }
        case .armStatementTimer(let deadline):
            statementDeadline = context.eventLoop.scheduleTask(deadline: deadline) {
                let connection = loop.value
                connection.statementDeadline = nil
                guard case .relaying = connection.phase else { return }
                connection.relay!.statementTimerFired()
                connection.perform()
            }
        case .cancelForTime:
            cancelForTime(relay!.ticket)
        case .disarmCancelGrace:
            cancelGraceDeadline?.cancel()
            cancelGraceDeadline = nil
        case .armIdleTimer(let amount):
            idleDeadline = context.eventLoop.scheduleTask(in: amount) {
                loop.value.fail(code: "25P03", "terminating connection: idle in a transaction past the policy's idle_in_transaction_timeout",
                                event: "proxy.idle-timeout")
            }
        case .disarmIdleTimer:
            idleDeadline?.cancel()
            idleDeadline = nil
        case .fail(let code, let message, let event):
            fail(code: code, message, event: event)
        case .close:
            close()
        }
    }

    /// A statement ran past the policy's statement_timeout: the server cancels it, as its own
    /// timeout would have. A statement can catch the cancel (PL/pgSQL's EXCEPTION WHEN
    /// query_canceled) and go on: if it has not ended a few seconds later, the connection goes,
    /// and the server ends it.
    private func cancelForTime(_ ticket: ProxyTicket) {
        guard let key = cancelKey, let backend = dependencies.cancels.backend(processID: key.processID, secretKey: key.secretKey) else { return }
        dependencies.recorder.event(LedgerEntry(EventBody(name: "proxy.statement-timeout",
                                                          message: "a statement ran past the policy's statement_timeout and was cancelled"),
                                                identity: ticket.identity, target: ticket.target, session: ticket.sessionID))
        sendCancel(to: backend)
        let loop = NIOLoopBound(self, eventLoop: context.eventLoop)
        cancelGraceDeadline = context.eventLoop.scheduleTask(in: Self.cancelGrace) {
            loop.value.fail(code: "57014", "the statement ran past the policy's statement_timeout and did not stop when cancelled; "
                            + "the connection is closed", event: "proxy.statement-timeout")
        }
    }

    // MARK: Cancel and the end

    private func cancel(processID: Int32, secretKey: Int32) {
        defer { close() }
        guard let backend = dependencies.cancels.backend(processID: processID, secretKey: secretKey) else { return }
        sendCancel(to: backend)
    }

    /// A CancelRequest to the server for one of its backends, on a connection of its own.
    private func sendCancel(to backend: CancelRegistry.Backend) {
        dependencies.connector.connect(backend.endpoint, context.eventLoop, .seconds(5), nil).whenSuccess { channel in
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
            case .relaying:
                session = relay?.ticket.sessionID
                identity = relay?.ticket.identity
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
        if relay != nil {
            relay!.finish()
            phase = .closed
            perform()  // the outcomes of statements it interrupted
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
