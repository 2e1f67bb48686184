import Foundation
import HoopLedger
import HoopSQL
import HoopWire
import Logging
import NIOCore
import NIOSSL

/// One client of the proxy, from its startup packet to its last byte: a thin channel handler
/// over two I/O-free state machines, `LoginStateMachine` (the client's SCRAM login as a
/// session, then the proxy's own login to the database as the session's role) and
/// `RelayStateMachine` (every statement recorded in the ledger before it is forwarded). It
/// feeds them events and performs their actions. Lives on one event loop with its upstream channel.
final class ClientConnection: ChannelInboundHandler {
    typealias InboundIn = FrontendMessage
    typealias OutboundOut = ByteBuffer

    struct Dependencies: Sendable {
        let directory: any ProxyDirectory
        let recorder: LedgerWriter
        let analyzer: StatementAnalyzer
        let cancels: CancelRegistry
        let loginLimits: ConnectionLimits<ProxyCaller>
        let logger: Logger
        var connector = UpstreamConnector.network
        /// Large texts' analyses, shared fairly between identities.
        var analysis = FairAnalysis()
        /// Rate limits per address of the network listener (nil without one).
        var networkLimiter: SourceRateLimiter?
        /// Connections from the network waiting to log in: a budget apart, so that the network
        /// cannot use up the local users' (`loginLimits`).
        var networkLoginLimits = ConnectionLimits<ProxyCaller>(perCaller: ProxyServer.networkLoginLimits.perCaller,
                                                               total: ProxyServer.networkLoginLimits.total)
    }

    private enum Phase {
        case login
        case relaying
        case closed
    }

    static let loginTimeout = TimeAmount.seconds(15)
    /// After a cancel for time: how long a statement has to stop before the connection goes.
    static let cancelGrace = TimeAmount.seconds(5)

    private let dependencies: Dependencies
    private var context: ChannelHandlerContext!
    private var phase = Phase.login
    private var login: LoginStateMachine
    /// Everything once logged in.
    private var relay: RelayStateMachine?
    /// The relay's actions being performed (swapped with its own array: no allocation per event).
    private var performing: [RelayStateMachine.Action] = []
    private var isPerforming = false
    private var upstream: Channel?
    private var cancelKey: (processID: Int32, secretKey: Int32)?
    private var statementDeadline: Scheduled<Void>?
    private var cancelGraceDeadline: Scheduled<Void>?
    private var idleDeadline: Scheduled<Void>?

    /// Who calls, counted among those not logged in until it is.
    private let caller: ProxyCaller
    private var countedBeforeLogin = false
    private let gate: LoginGate

    /// The budget of connections waiting to log in that this one counts in.
    private var loginLimits: ConnectionLimits<ProxyCaller> {
        if case .address = caller { dependencies.networkLoginLimits } else { dependencies.loginLimits }
    }

    /// The certificate to answer SSLRequest with, on the network listener (which requires TLS).
    private let tls: ServerTLS?

    init(dependencies: Dependencies, caller: ProxyCaller, gate: LoginGate, tls: ServerTLS? = nil) {
        self.dependencies = dependencies
        self.caller = caller
        self.gate = gate
        self.tls = tls
        login = LoginStateMachine(analyzer: dependencies.analyzer, cancels: dependencies.cancels, requiresTLS: tls != nil)
    }

    // MARK: Client events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let loop = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(in: Self.loginTimeout) {
            guard case .login = loop.value.phase else { return }
            loop.value.fail(code: "08006", "login timed out", event: nil)
        }
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        switch loginLimits.admit(caller) {
        case .admitted:
            countedBeforeLogin = true
        case .refused(let limit, let firstTime):
            return fail(code: "53300", "too many connections waiting to log in from \(caller) (\(limit))",
                        event: firstTime ? "proxy.connection-limit" : nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let message = unwrapInboundIn(data)
        switch phase {
        case .login:
            login.clientMessage(message)
            performLogin()
        case .relaying:
            relay!.clientMessage(message)
            perform()
        case .closed:
            break
        }
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

    /// Logged in (or gone): no longer among the connections waiting to log in.
    private func leaveLogin() {
        guard countedBeforeLogin else { return }
        countedBeforeLogin = false
        loginLimits.release(caller)
    }

    // MARK: Server events (from UpstreamHandler)

    func upstreamRead(_ buffer: ByteBuffer) {
        switch phase {
        case .login:
            login.serverBytes(buffer)
            performLogin()
        case .relaying:
            relay!.serverBytes(buffer)
            perform()
        case .closed:
            break
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

    /// The TLS handshake is done: the login checks the certificate's names and binds SCRAM to it.
    func upstreamTLSEstablished() {
        guard case .login = phase else { return }
        let host = login.tlsHost
        let certificate = (try? upstream?.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self))?.peerCertificate
        login.tlsEstablished(certificateDER: try? certificate?.toDERBytes(), namesHost: certificate.map { Self.names(host ?? "", in: $0) } ?? false)
        performLogin()
    }

    func upstreamClosed(error: Error?) {
        switch phase {
        case .login:
            login.serverClosed(error: error)
            performLogin()
        case .relaying:
            // The server ended it (revocation, TTL, a FATAL error it already sent): so do we.
            close()
        case .closed:
            break
        }
    }

    // MARK: Logging in: the login's actions

    private func performLogin() {
        while !login.actions.isEmpty {
            let actions = login.actions
            login.actions.removeAll()
            for action in actions {
                guard case .login = phase else { return }
                perform(action)
            }
        }
    }

    private func perform(_ action: LoginStateMachine.Action) {
        let loop = NIOLoopBound(self, eventLoop: context.eventLoop)
        switch action {
        case .startClientTLS:
            guard let tls else { return fail(code: "08P01", "no TLS on this listener", event: nil) }
            context.writeAndFlush(wrapOutboundOut(MessageWriter.willEncrypt()), promise: nil)
            // Bytes read from now on are the handshake's: the decoder refused any that came before.
            do {
                try context.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls.context), position: .first)
            } catch {
                fail(code: "08006", "cannot start TLS", event: nil)
            }
        case .writeClient(let bytes, let flush):
            flush ? context.writeAndFlush(wrapOutboundOut(bytes), promise: nil) : context.write(wrapOutboundOut(bytes), promise: nil)
        case .lookUpSession(let id):
            let directory = dependencies.directory
            Task {
                let ticket = await directory.ticket(forSession: id)
                loop.eventLoop.execute {
                    let connection = loop.value
                    guard case .login = connection.phase else { return }
                    connection.login.sessionFound(ticket)
                    connection.performLogin()
                }
            }
        case .loggedIn:
            gate.loggedIn = true
            leaveLogin()
        case .connectServer(let endpoint):
            dependencies.connector.connect(endpoint, context.eventLoop, .seconds(10)) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(UpstreamHandler(client: loop.value))
                }
            }.whenComplete { result in
                let connection = loop.value
                switch result {
                case .success(let channel):
                    guard case .login = connection.phase else { return channel.close(promise: nil) }
                    connection.upstream = channel
                    connection.login.serverConnected()
                case .failure:
                    connection.login.serverUnreachable()
                }
                connection.performLogin()
            }
        case .writeServer(let bytes):
            upstream?.writeAndFlush(bytes, promise: nil)
        case .startTLS(let endpoint):
            do {
                try startTLS(endpoint)
            } catch {
                login.tlsFailed(error)
            }
        case .cancelKey(let processID, let secretKey):
            cancelKey = (processID, secretKey)
        case .cancel(let processID, let secretKey):
            if let backend = dependencies.cancels.backend(processID: processID, secretKey: secretKey) { sendCancel(to: backend) }
            close()
        case .stopReadingClient:
            context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
        case .relay(let relay):
            self.relay = relay
            phase = .relaying
            perform()
        case .fail(let code, let message, let event, let who):
            if event == "proxy.auth-failed" {
                dependencies.logger.notice("proxy login refused", metadata: ["user": "\(who.user ?? "")"])
            }
            fail(code: code, message, event: event, who: who)
        case .close:
            close()
        }
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

    // MARK: Relaying: the relay's actions

    /// This connection, for callbacks that come back to its event loop.
    private var bound: NIOLoopBound<ClientConnection> { NIOLoopBound(self, eventLoop: context.eventLoop) }

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
            // Straight back onto the loop (no promise and future per statement).
            let loop = bound
            dependencies.recorder.append(entries) { result in
                loop.eventLoop.execute {
                    let connection = loop.value
                    guard case .relaying = connection.phase else { return }
                    switch result {
                    case .success(let ids): connection.relay!.recorded(pending, ids: ids)
                    case .failure: connection.relay!.recordFailed()
                    }
                    connection.perform()
                }
            }
        case .outcome:
            break
        case .askReview(let ask, let pending):
            let loop = bound, directory = dependencies.directory
            let promise = context.eventLoop.makePromise(of: ReviewOutcome.self)
            promise.completeWithTask { await directory.review(ask) }
            promise.futureResult.whenSuccess { outcome in
                let connection = loop.value
                guard case .relaying = connection.phase else { return }
                connection.relay!.reviewDecided(outcome, for: pending)
                connection.perform()
            }
        case .analyse(let sql):
            let loop = bound, analyzer = dependencies.analyzer
            let promise = context.eventLoop.makePromise(of: [StatementAnalysis].self)
            dependencies.analysis.submit(identity: relay!.ticket.identity, bytes: sql.utf8.count) { promise.succeed(analyzer.analyze(sql)) }
            promise.futureResult.whenSuccess { analyses in
                let connection = loop.value
                guard case .relaying = connection.phase else { return }
                connection.relay!.analysed(sql, analyses)
                connection.perform()
            }
        case .readClient(let on):
            context.channel.setOption(ChannelOptions.autoRead, value: on).whenFailure { _ in }
        case .armStatementTimer(let deadline):
            let loop = bound
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
            let loop = bound
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
    private func fail(code: String, _ message: String, event: String?, who: LoginStateMachine.Who? = nil) {
        guard context != nil else { return }
        if case .closed = phase { return }
        // From the network, a failed or refused login counts against its address.
        if case .address(let address) = caller, case .login = phase, event == "proxy.auth-failed" || event == "proxy.refused"
            || event == "proxy.protocol-violation" {
            dependencies.networkLimiter?.failure(from: address)
        }
        if let event {
            var details = ["sqlstate": code, "reason": message]
            var who = who ?? LoginStateMachine.Who()
            if relay != nil {
                who.session = relay!.ticket.sessionID
                who.identity = relay!.ticket.identity
            }
            if let user = who.user { details["user"] = user }
            if let address = context.channel.remoteAddress?.description { details["peer"] = address }
            dependencies.recorder.event(LedgerEntry(EventBody(name: event, message: message, details: details),
                                                    identity: who.identity, session: who.session))
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
