import Crypto
import Foundation
import HoopSQL
import HoopWire
import NIOCore

/// A client's login and the proxy's own login to the server, I/O-free: the client logs in as a
/// session (SCRAM-SHA-256 against its one-time secret), then the proxy connects to the database
/// as the session's role (TLS as the target's sslmode says, SCRAM bound to the certificate, or
/// the password only where no one can read it) and hands the connection to a
/// `RelayStateMachine` at the server's first ReadyForQuery. Events in, `actions` out, as the relay.
struct LoginStateMachine {
    enum Action {
        case writeClient(ByteBuffer, flush: Bool)
        /// Answer the client's SSLRequest with 'S' and start TLS on its connection.
        case startClientTLS
        /// Ask the broker for the session: answer with `sessionFound(_:)`.
        case lookUpSession(String)
        /// The client has logged in: it no longer counts among those waiting to.
        case loggedIn
        /// Connect to the server: answer with `serverConnected()` or `serverUnreachable()`.
        case connectServer(UpstreamEndpoint)
        case writeServer(ByteBuffer)
        /// Start TLS on the server's connection: answer with `tlsEstablished(...)` or `tlsFailed(_:)`.
        case startTLS(UpstreamEndpoint)
        /// The cancel key the client was given for this connection (forget it at the end).
        case cancelKey(processID: Int32, secretKey: Int32)
        /// A CancelRequest: cancel that backend if the key is known, and close.
        case cancel(processID: Int32, secretKey: Int32)
        /// Logged in on both sides: relay from now on.
        case relay(RelayStateMachine)
        /// Stop reading the client (the relay resumes it): it sent too much while the proxy logged in.
        case stopReadingClient
        /// A FATAL error to the client, recorded as `event` (with whom it concerns) when there is one; then close.
        case fail(code: String, message: String, event: String?, who: Who)
        /// The client said Terminate before the login ended.
        case close
    }

    /// Whom a failure concerns, for its record.
    struct Who {
        var user: String?
        var session: String?
        var identity: String?
    }

    private enum State {
        case startup
        case lookingUp(parameters: [String: String])
        case authenticating(ProxyTicket?, parameters: [String: String], scram: SCRAMServer)
        case connecting(ProxyTicket, parameters: [String: String])
        case negotiatingTLS(ProxyTicket, parameters: [String: String], required: Bool)
        /// TLS is being set up: nothing is sent until the server's certificate has been checked.
        case handshaking(ProxyTicket, parameters: [String: String])
        case startingUp(ProxyTicket, SCRAMClient?)
        case done
    }

    var actions: [Action] = []
    private var state = State.startup
    private let analyzer: StatementAnalyzer
    private let cancels: CancelRegistry
    /// Frames the server's messages (the relay carries on with it).
    private var scanner = BackendScanner()
    /// The server's certificate (DER), for channel binding: nil without TLS; `.some(nil)` over
    /// TLS with a certificate that could not be read (then nothing is bound).
    private var serverCertificate: [UInt8]??
    /// Client messages that came while the proxy logged in to the server, and their bytes.
    private var held: [FrontendMessage] = []
    private var heldBytes = 0
    private var readsPaused = false
    /// The network listener: a client must ask for TLS before anything else.
    private let requiresTLS: Bool
    private var clientEncrypted = false

    init(analyzer: StatementAnalyzer, cancels: CancelRegistry, requiresTLS: Bool = false) {
        self.analyzer = analyzer
        self.cancels = cancels
        self.requiresTLS = requiresTLS
    }

    /// While TLS is set up: the host the server's certificate must name (under verify-full).
    var tlsHost: String? {
        if case .handshaking(let ticket, _) = state { ticket.upstream.host } else { nil }
    }

    private var who: Who {
        switch state {
        case .authenticating(let ticket, let parameters, _):
            return Who(user: String((parameters["user"] ?? "").prefix(64)), session: ticket?.sessionID, identity: ticket?.identity)
        case .connecting(let ticket, _), .negotiatingTLS(let ticket, _, _), .handshaking(let ticket, _), .startingUp(let ticket, _):
            return Who(session: ticket.sessionID, identity: ticket.identity)
        default:
            return Who()
        }
    }

    // MARK: The client

    mutating func clientMessage(_ message: FrontendMessage) {
        switch state {
        case .startup:
            startup(message)
        case .authenticating(let ticket, let parameters, let scram):
            authenticate(message, ticket: ticket, parameters: parameters, scram: scram)
        case .connecting, .negotiatingTLS, .handshaking, .startingUp:
            if case .terminate = message {
                state = .done
                return actions.append(.close)
            }
            held.append(message)
            heldBytes += message.raw?.readableBytes ?? 0
            if !readsPaused, held.count > RelayStateMachine.maxQueued || heldBytes > RelayStateMachine.maxBufferedBytes {
                readsPaused = true
                actions.append(.stopReadingClient)
            }
        case .lookingUp:
            fail(code: "08P01", "protocol violation: a message before the authentication request", event: "proxy.protocol-violation")
        case .done:
            break
        }
    }

    private mutating func startup(_ message: FrontendMessage) {
        switch message {
        case .sslRequest where requiresTLS:
            guard !clientEncrypted else {
                return fail(code: "08P01", "protocol violation: a second SSLRequest", event: "proxy.protocol-violation")
            }
            clientEncrypted = true
            actions.append(.startClientTLS)
        case .sslRequest, .gssEncRequest:
            // No encryption on loopback or a unix socket (the password never crosses: SCRAM);
            // on the network, TLS only (GSSAPI encryption is not offered).
            actions.append(.writeClient(MessageWriter.noEncryption(), flush: true))
        case _ where requiresTLS && !clientEncrypted:
            // A cancel too: its key would cross the network in the clear.
            fail(code: "28000", "the guard proxy accepts connections from the network over TLS only (connect with sslmode=verify-full)",
                 event: "proxy.refused")
        case .cancel(let processID, let secretKey):
            state = .done
            actions.append(.cancel(processID: processID, secretKey: secretKey))
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
                actions.append(.writeClient(MessageWriter.negotiateProtocolVersion(newestMinor: 0, unrecognized: options), flush: true))
            }
            state = .lookingUp(parameters: parameters)
            actions.append(.lookUpSession(user))
        default:
            fail(code: "08P01", "protocol violation: expected a startup packet", event: "proxy.protocol-violation")
        }
    }

    /// The broker's answer about the session the client named. An unknown session goes through
    /// the same exchange with a verifier nobody knows, and fails at the same place: the proxy
    /// does not say which sessions exist.
    mutating func sessionFound(_ ticket: ProxyTicket?) {
        guard case .lookingUp(let parameters) = state else { return }
        // An unknown id gets a salt of its own, stable for the broker's life, as PostgreSQL mocks unknown users.
        let verifier = ticket?.verifier ?? SCRAMVerifier.mock(for: parameters["user"] ?? "", secret: Self.mockSecret)
        state = .authenticating(ticket, parameters: parameters, scram: SCRAMServer(verifier: verifier))
        actions.append(.writeClient(MessageWriter.authenticationSASL(mechanisms: [SCRAM.mechanism]), flush: true))
    }

    private static let mockSecret: [UInt8] = {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in generator.next() as UInt8 }
    }()

    private mutating func authenticate(_ message: FrontendMessage, ticket: ProxyTicket?, parameters: [String: String], scram: SCRAMServer) {
        guard case .authentication(let body) = message else {
            return fail(code: "08P01", "protocol violation: expected a SASL response", event: "proxy.protocol-violation")
        }
        var scram = scram
        let user = parameters["user"] ?? ""
        do {
            if scram.awaitingClientFirst {
                guard let initial = SASLInitialResponse(body), initial.mechanism == SCRAM.mechanism else {
                    return fail(code: "28000", "only SCRAM-SHA-256 is accepted", event: "proxy.auth-failed")
                }
                let serverFirst = try scram.receiveClientFirst(initial.data)
                state = .authenticating(ticket, parameters: parameters, scram: scram)
                actions.append(.writeClient(MessageWriter.authenticationSASLContinue(serverFirst), flush: true))
            } else {
                let serverFinal = try scram.receiveClientFinal(String(buffer: body))
                guard let ticket else { throw SCRAM.Failure("no such session") }
                actions.append(.writeClient(MessageWriter.authenticationSASLFinal(serverFinal), flush: true))
                state = .connecting(ticket, parameters: parameters)
                actions.append(.loggedIn)
                actions.append(.connectServer(ticket.upstream))
            }
        } catch {
            fail(code: "28P01", "password authentication failed for user \"\(user.prefix(64))\"", event: "proxy.auth-failed")
        }
    }

    // MARK: The server

    mutating func serverConnected() {
        guard case .connecting(let ticket, let parameters) = state else { return }
        let endpoint = ticket.upstream
        let mode = endpoint.sslMode
        if endpoint.isUnixSocket || mode == "disable" || mode == "allow" {
            sendStartup(ticket, parameters: parameters)
        } else {
            state = .negotiatingTLS(ticket, parameters: parameters, required: mode != "prefer")
            actions.append(.writeServer(MessageWriter.sslRequest()))
        }
    }

    mutating func serverUnreachable() {
        guard case .connecting(let ticket, _) = state else { return }
        fail(code: "08006", "the database of target '\(ticket.target)' cannot be reached", event: "proxy.upstream-failed")
    }

    private mutating func sendStartup(_ ticket: ProxyTicket, parameters: [String: String]) {
        var startup: [(String, String)] = [("user", ticket.upstream.user), ("database", ticket.upstream.database)]
        for (name, value) in parameters.sorted(by: { $0.key < $1.key })
        where !["user", "database", "replication"].contains(name) && StartupSettings.pinned[name] == nil && !name.hasPrefix("_pq_.") {
            startup.append((name, value))
        }
        if parameters["application_name"] == nil { startup.append(("application_name", "hoopctl")) }
        // Named parameters are applied after `options`, so these win over any `-c` in it.
        startup += StartupSettings.pinned.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        startup += StartupSettings.alsoSet.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        state = .startingUp(ticket, nil)
        actions.append(.writeServer(MessageWriter.startup(parameters: startup)))
    }

    mutating func serverBytes(_ buffer: ByteBuffer) {
        switch state {
        case .negotiatingTLS(let ticket, let parameters, let required):
            guard buffer.readableBytes == 1, let answer = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else {
                return fail(code: "08006", "the database answered the TLS request oddly", event: "proxy.upstream-failed")
            }
            if answer == UInt8(ascii: "S") {
                // The startup message goes once the certificate is checked (tlsEstablished).
                state = .handshaking(ticket, parameters: parameters)
                actions.append(.startTLS(ticket.upstream))
            } else if required {
                fail(code: "08006", "the database of target '\(ticket.target)' does not offer TLS, which its sslmode requires",
                     event: "proxy.upstream-failed")
            } else {
                sendStartup(ticket, parameters: parameters)
            }
        case .startingUp(let ticket, _):
            do {
                for event in try scanner.scan(buffer) {
                    guard case .startingUp(_, let scram) = state else { break }
                    try startupEvent(event, ticket: ticket, scram: scram)
                }
            } catch let failure as UpstreamFailure {
                fail(code: failure.code, failure.message, event: "proxy.upstream-failed")
            } catch {
                fail(code: "08006", "the database of target '\(ticket.target)' broke the protocol: \(error)", event: "proxy.upstream-failed")
            }
        default:
            break  // NIOSSL decrypts; nothing comes before the startup message is sent
        }
    }

    /// The TLS handshake is done (the chain checked by NIOSSL under verify-ca and verify-full):
    /// under verify-full the certificate must name the host as libpq would have it (`namesHost`),
    /// and only then does anything, the user name included, go to the server.
    mutating func tlsEstablished(certificateDER: [UInt8]?, namesHost: Bool) {
        guard case .handshaking(let ticket, let parameters) = state else { return }
        if ticket.upstream.sslMode == "verify-full", !namesHost {
            return fail(code: "08006", "TLS to the database of target '\(ticket.target)' failed: its certificate does not name "
                        + "\(ticket.upstream.host)", event: "proxy.upstream-failed")
        }
        serverCertificate = .some(certificateDER)
        sendStartup(ticket, parameters: parameters)
    }

    mutating func tlsFailed(_ error: any Error) {
        guard case .handshaking(let ticket, _) = state else { return }
        fail(code: "08006", "TLS to the database of target '\(ticket.target)' failed: \(error)", event: "proxy.upstream-failed")
    }

    mutating func serverClosed(error: (any Error)?) {
        switch state {
        case .startingUp(let ticket, _) where error != nil && ticket.upstream.sslMode != "disable" && !ticket.upstream.isUnixSocket:
            // During the TLS handshake: the certificate, or TLS itself, is what failed.
            fail(code: "08006", "TLS to the database of target '\(ticket.target)' failed: \(error!)", event: "proxy.upstream-failed")
        case .connecting(let ticket, _), .negotiatingTLS(let ticket, _, _), .handshaking(let ticket, _), .startingUp(let ticket, _):
            fail(code: "08006", "the database of target '\(ticket.target)' closed the connection", event: nil)
        default:
            break
        }
    }

    private struct UpstreamFailure: Error {
        let code: String
        let message: String
    }

    private mutating func startupEvent(_ event: BackendEvent, ticket: ProxyTicket, scram: SCRAMClient?) throws {
        let endpoint = ticket.upstream
        switch event {
        case .authentication(let code, let data):
            switch AuthenticationRequest(code: code, data: data) {
            case .ok:
                actions.append(.writeClient(MessageWriter.authenticationOk(), flush: false))
            case .cleartextPassword where !endpoint.passwordMaySeeTheWire, .md5Password where !endpoint.passwordMaySeeTheWire:
                // A server that asks for the password itself over a connection no one verified
                // may not be the server: the session's password never goes to it.
                throw UpstreamFailure(code: "28000", message: "the database asks for the password \(code == 3 ? "in clear" : "as MD5") over a connection "
                                      + "that is not TLS verifying the server (sslmode \(endpoint.sslMode)); use SCRAM, or sslmode=verify-full")
            case .cleartextPassword:
                actions.append(.writeServer(MessageWriter.password(endpoint.password)))
            case .md5Password(let salt):
                actions.append(.writeServer(MessageWriter.password(Self.md5Password(endpoint, salt: salt))))
            case .sasl(let mechanisms):
                guard mechanisms.contains(SCRAM.mechanism) else {
                    throw UpstreamFailure(code: "28000", message: "the database offers no SASL mechanism the proxy speaks")
                }
                let client = SCRAMClient(password: endpoint.password, binding: channelBinding(offered: mechanisms))
                state = .startingUp(ticket, client)
                actions.append(.writeServer(MessageWriter.saslInitialResponse(mechanism: client.mechanism, data: client.clientFirst)))
            case .saslContinue(let message):
                guard var client = scram else { throw UpstreamFailure(code: "08006", message: "an unexpected SASL message") }
                let final = try client.receiveServerFirst(message)
                state = .startingUp(ticket, client)
                actions.append(.writeServer(MessageWriter.saslResponse(final)))
            case .saslFinal(let message):
                guard let client = scram else { throw UpstreamFailure(code: "08006", message: "an unexpected SASL message") }
                try client.receiveServerFinal(message)
            case .malformed:
                throw UpstreamFailure(code: "08006", message: "a malformed authentication request")
            case .other(let code):
                throw UpstreamFailure(code: "28000", message: "the database asks for an authentication method the proxy does not speak (\(code))")
            }
        case .parameterStatus(let name, let value):
            guard StartupSettings.keepsPinned(name, value) else {
                return fail(code: "0A000", "the session changed \(name) to \(value.prefix(32)), which hoopctl cannot analyse; the connection is closed",
                            event: "proxy.setting-changed")
            }
            actions.append(.writeClient(MessageWriter.parameterStatus(name, value), flush: false))
        case .backendKeyData(let processID, let secretKey):
            let key = cancels.register(.init(endpoint: endpoint, processID: processID, secretKey: secretKey))
            actions.append(.cancelKey(processID: key.processID, secretKey: key.secretKey))
            actions.append(.writeClient(MessageWriter.backendKeyData(processID: key.processID, secretKey: key.secretKey), flush: false))
        case .error(let fields):
            // The server's own words (too many connections, role expired, ...), as a fatal error.
            throw UpstreamFailure(code: fields[UInt8(ascii: "C")] ?? "08006", message: fields[UInt8(ascii: "M")] ?? "the database refused the connection")
        case .readyForQuery(let status):
            actions.append(.writeClient(MessageWriter.readyForQuery(status), flush: true))
            state = .done
            var relay = RelayStateMachine(ticket: ticket, analyzer: analyzer, scanner: scanner, transactionStatus: status)
            relay.heldAtLogin(held, readsPaused: readsPaused)
            held = []
            actions.append(.relay(relay))
        default:
            break
        }
    }

    /// Over TLS, SCRAM is bound to the certificate this connection saw when the server offers
    /// it (as libpq's channel_binding=prefer): a man in the middle that terminates TLS with a
    /// certificate of its own cannot pass the server's check, whatever the sslmode.
    private func channelBinding(offered mechanisms: [String]) -> SCRAMClient.Binding {
        guard let certificate = serverCertificate else { return .none }
        guard mechanisms.contains(SCRAM.channelBoundMechanism) else { return .unsupportedByServer }
        guard let der = certificate, let hash = ChannelBinding.tlsServerEndPoint(certificateDER: der) else {
            return .none  // a signature algorithm without a defined hash: neither side can bind
        }
        return .tlsServerEndPoint(hash)
    }

    /// libpq's MD5: "md5" + md5hex(md5hex(password + user) + salt).
    static func md5Password(_ endpoint: UpstreamEndpoint, salt: [UInt8]) -> String {
        func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
        let inner = hex(Array(Insecure.MD5.hash(data: Array((endpoint.password + endpoint.user).utf8))))
        return "md5" + hex(Array(Insecure.MD5.hash(data: Array(inner.utf8) + salt)))
    }

    private mutating func fail(code: String, _ message: String, event: String?) {
        let who = who
        state = .done
        actions.append(.fail(code: code, message: message, event: event, who: who))
    }
}
