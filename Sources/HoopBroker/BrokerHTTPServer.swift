import Foundation
import HoopBrokerAPI
import HoopProxy
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

/// The broker's listeners: its unix socket (the caller's identity from the kernel,
/// SO_PEERCRED) and, when configured, a TCP address with TLS (callers present tokens). HTTP/1.1,
/// one task per connection. Graceful shutdown stops accepting and lets requests finish.
public struct BrokerHTTPServer: Service {
    public enum Listener: Sendable {
        case unix(path: String)
        /// Rate-limited per source address (`SourceRateLimiter`, shared with the proxy's network listener).
        case tls(host: String, port: Int, ServerTLS, SourceRateLimiter)
    }

    let listener: Listener
    let router: BrokerRouter
    let logger: Logger
    /// Bodies above this are refused (requests are small JSON documents).
    static let maxBody = 1 << 20
    /// Connections a caller (uid, or source address) may hold, and all callers together.
    public static let limits = (perCaller: 64, total: 2048)
    /// Time to send a whole request (a TLS handshake included), and to send the next one on a kept-alive connection.
    static let requestTimeout = TimeAmount.seconds(10), idleTimeout = TimeAmount.seconds(60)
    /// From the network, per address: a person's commands hold a connection or two at a time.
    public static let networkLimits = (perCaller: 16, total: 4096)
    private let connections: ConnectionLimits<String>

    public init(socketPath: String, router: BrokerRouter, logger: Logger) {
        self.init(listener: .unix(path: socketPath), router: router, logger: logger)
    }

    public init(listener: Listener, router: BrokerRouter, logger: Logger) {
        let limits = if case .tls = listener { Self.networkLimits } else { Self.limits }
        connections = ConnectionLimits(perCaller: limits.perCaller, total: limits.total)
        self.listener = listener
        self.router = router
        self.logger = logger
    }

    typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

    /// A connection and where it comes from, with the key its limits count it under; or a
    /// network client turned away before its TLS handshake (closed already: nothing of it is
    /// read), with why, reported the first time.
    struct Accepted: Sendable {
        let connection: Connection?
        let origin: CallOrigin
        var refusal: (reason: String, report: Bool)? = nil
        var key: String {
            switch origin {
            case .local(let peer): "uid:\(peer.uid)"
            case .remote(let address): "address:\(address)"
            }
        }
    }

    public func run() async throws {
        let server: NIOAsyncChannel<Accepted, Never>
        switch listener {
        case .unix(let socketPath):
            let directory = URL(fileURLWithPath: socketPath).deletingLastPathComponent()
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.backlog, value: 256)
                .bind(unixDomainSocketPath: socketPath, cleanupExistingSocketFile: true) { channel in
                    let credentials: EventLoopFuture<KernelPeerCredentials> = (channel as! SocketOptionProvider)
                        .unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET), name: KernelPeerCredentials.option)
                    return credentials.flatMapThrowing { cred in
                        Accepted(connection: try Self.http(channel), origin: .local(PeerCredentials(pid: cred.pid, uid: cred.uid, gid: cred.gid)))
                    }
                }
            // Anyone on the machine may connect: who they are comes from the kernel, not from them.
            chmod(socketPath, 0o666)
            logger.info("broker listening", metadata: ["socket": "\(socketPath)"])
        case .tls(let host, let port, let tls, let limiter):
            server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let address = channel.remoteAddress?.ipAddress ?? "unknown"
                        if case .refused(let reason, let firstTime) = limiter.connection(from: address) {
                            // Closed once registered (the initializer runs before), unread: no TLS, no HTTP.
                            try channel.syncOptions?.setOption(ChannelOptions.autoRead, value: false)
                            channel.eventLoop.execute { channel.close(promise: nil) }
                            return Accepted(connection: nil, origin: .remote(address: address), refusal: (reason, firstTime))
                        }
                        // The certificate current at accept time (SIGHUP may have renewed it).
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls.context))
                        return Accepted(connection: try Self.http(channel), origin: .remote(address: address))
                    }
                }
            logger.info("broker listening", metadata: ["address": "\(host):\(port)", "tls": "yes"])
        }
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                try await server.executeThenClose { inbound in
                    for try await accepted in inbound {
                        guard let connection = accepted.connection else {
                            if let refusal = accepted.refusal, refusal.report {
                                group.addTask { await router.broker.limitReached("broker.connection-limit", origin: accepted.origin, limit: refusal.reason) }
                            }
                            continue
                        }
                        switch connections.admit(accepted.key) {
                        case .admitted:
                            group.addTask {
                                await self.serve(connection, origin: accepted.origin)
                                connections.release(accepted.key)
                            }
                        case .refused(let limit, let firstTime):
                            group.addTask { await self.refuse(connection, origin: accepted.origin, limit: limit, report: firstTime) }
                        }
                    }
                }
            }
        } onGracefulShutdown: {
            server.channel.close(promise: Optional<EventLoopPromise<Void>>.none)
        }
        if case .unix(let socketPath) = listener { try? FileManager.default.removeItem(atPath: socketPath) }
    }

    /// HTTP/1.1 with deadlines; the deadline starts now, so a TLS handshake that never ends is cut too.
    private static func http(_ channel: any Channel) throws -> Connection {
        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
        try channel.pipeline.syncOperations.addHandler(HTTPDeadlines(requestTimeout: Self.requestTimeout, idleTimeout: Self.idleTimeout))
        return try Connection(wrappingChannelSynchronously: channel)
    }

    /// A caller past a limit has its connection closed at once (an HTTP answer would need a
    /// request first, which it may never send); everyone else is served.
    private func refuse(_ connection: Connection, origin: CallOrigin, limit: String, report: Bool) async {
        if report { await router.broker.limitReached("broker.connection-limit", origin: origin, limit: limit) }
        try? await connection.executeThenClose { _, _ in }
    }

    private func serve(_ connection: Connection, origin: CallOrigin) async {
        do {
            try await connection.executeThenClose { inbound, outbound in
                var head: HTTPRequestHead?
                var body = ByteBuffer()
                var tooLarge = false
                var lockedOut = false
                for try await part in inbound {
                    switch part {
                    case .head(let requestHead):
                        head = requestHead
                        body.clear()
                        tooLarge = false
                    case .body(var chunk):
                        if body.readableBytes + chunk.readableBytes > Self.maxBody { tooLarge = true } else { body.writeBuffer(&chunk) }
                    case .end:
                        guard let requestHead = head else { return }
                        let response: BrokerRouter.Response
                        if tooLarge {
                            let failure = BrokerFailure(.invalid, "request body larger than \(Self.maxBody) bytes")
                            response = .init(status: 413, body: (try? BrokerAPI.encoder.encode(failure)) ?? Data())
                        } else {
                            let request = BrokerRouter.Request(method: requestHead.method.rawValue, path: requestHead.uri,
                                                               headers: requestHead.headers.map { ($0.name, $0.value) },
                                                               body: Data(body.readableBytesView), origin: origin)
                            response = await router.handle(request)
                            // A refused token, or none, from the network counts against the address; past
                            // its allowance the connection is closed after this answer, kept alive or not.
                            if response.status == 401, case .remote(let address) = origin, case .tls(_, _, _, let limiter) = listener {
                                limiter.failure(from: address)
                                if limiter.isLockedOut(address) { lockedOut = true }
                            }
                        }
                        var headers = HTTPHeaders()
                        headers.add(name: "Content-Type", value: "application/json")
                        headers.add(name: "Content-Length", value: String(response.body.count))
                        headers.add(name: BrokerAPI.versionHeader, value: String(BrokerAPI.version))
                        let keepAlive = requestHead.isKeepAlive && !tooLarge && !lockedOut
                        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
                        try await outbound.write(.head(HTTPResponseHead(version: requestHead.version,
                                                                        status: HTTPResponseStatus(statusCode: response.status), headers: headers)))
                        try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: response.body))))
                        try await outbound.write(.end(nil))
                        if !keepAlive { return }
                        head = nil
                    }
                }
            }
        } catch {
            logger.debug("connection ended with an error", metadata: ["error": "\(error)"])
        }
    }
}
