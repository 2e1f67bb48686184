import Foundation
import HoopLedger
import HoopSQL
import HoopWire
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

/// The guard proxy's listeners: loopback TCP and a unix socket (`<dir>/.s.PGSQL.<port>`, the
/// name libpq looks for). Each connection gets a `ClientConnection`.
public final class ProxyServer: Service, @unchecked Sendable {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        public var socketDirectory: String?
        /// A listener for the network: TLS required of every client.
        public var network: NetworkListener?

        public struct NetworkListener: Sendable {
            public var host: String
            public var port: Int
            public var tls: ServerTLS
            /// Shared with the broker's own network listener: an address's failures count on both.
            public var limiter: SourceRateLimiter
            public init(host: String, port: Int, tls: ServerTLS, limiter: SourceRateLimiter) {
                self.host = host
                self.port = port
                self.tls = tls
                self.limiter = limiter
            }
        }

        public init(host: String = "127.0.0.1", port: Int, socketDirectory: String?) {
            self.host = host
            self.port = port
            self.socketDirectory = socketDirectory
        }
    }

    public let configuration: Configuration
    let dependencies: ClientConnection.Dependencies
    private let logger: Logger

    public init(configuration: Configuration, directory: any ProxyDirectory, recorder: LedgerWriter,
                analyzer: StatementAnalyzer = StatementAnalyzer(), logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        var dependencies = ClientConnection.Dependencies(directory: directory, recorder: recorder, analyzer: analyzer, cancels: CancelRegistry(),
                                                         loginLimits: ConnectionLimits<ProxyCaller>(perCaller: Self.loginLimits.perCaller, total: Self.loginLimits.total),
                                                         logger: logger)
        dependencies.networkLimiter = configuration.network?.limiter
        self.dependencies = dependencies
    }

    /// Connections not yet logged in that one caller (a uid; loopback TCP callers of unknown uid
    /// together; a network address) and all callers may hold: a user with no session cannot hold them all.
    public static let loginLimits = (perCaller: 64, total: 512)
    /// The same from the network, per address: few per address (a person's clients log in one at
    /// a time), so that filling the whole takes many addresses.
    public static let networkLoginLimits = (perCaller: 8, total: 1024)

    public var socketPath: String? { configuration.socketDirectory.map { "\($0)/.s.PGSQL.\(configuration.port)" } }

    public func run() async throws {
        func bootstrap(tls: ServerTLS? = nil) -> ServerBootstrap {
            ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(ChannelOptions.backlog, value: 512)
                .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { [dependencies, logger] channel in
                    // A network address over its rate limits is closed before any TLS work.
                    if tls != nil, let limiter = dependencies.networkLimiter {
                        let address = channel.remoteAddress?.ipAddress ?? "unknown"
                        if case .refused(let reason, let firstTime) = limiter.connection(from: address) {
                            if firstTime {
                                logger.notice("network client refused", metadata: ["address": "\(address)", "reason": "\(reason)"])
                                dependencies.recorder.event(LedgerEntry(EventBody(name: "proxy.rate-limited", message: "\(address): \(reason)",
                                                                                  details: ["address": address, "reason": reason])))
                            }
                            // Closed once registered (the initializer runs before): no handler, no TLS.
                            channel.eventLoop.execute { channel.close(promise: nil) }
                            return channel.eventLoop.makeSucceededVoidFuture()
                        }
                    }
                    // Who is calling: the kernel says, through SO_PEERCRED for the unix socket and
                    // a sock_diag query for loopback TCP; a network client is its address.
                    let caller: EventLoopFuture<ProxyCaller>
                    if channel.localAddress?.protocol == .unix {
                        caller = (channel as! SocketOptionProvider).unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET),
                                                                                         name: KernelPeerCredentials.option)
                            .map { (credentials: KernelPeerCredentials) in .uid(credentials.uid) }
                    } else if tls != nil {
                        caller = channel.eventLoop.makeSucceededFuture(.address(channel.remoteAddress?.ipAddress ?? "unknown"))
                    } else {
                        let uid = channel.remoteAddress.flatMap(LoopbackPeer.SocketAddressParts.init).flatMap { client in
                            channel.localAddress.flatMap(LoopbackPeer.SocketAddressParts.init).flatMap { LoopbackPeer.uid(client: client, server: $0) }
                        }
                        caller = channel.eventLoop.makeSucceededFuture(uid.map { .uid($0) } ?? .unknownLocal)
                    }
                    return caller.flatMapThrowing { caller in
                        let gate = LoginGate()
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrontendDecoder(gate: gate, encryptionOffered: tls != nil)))
                        try channel.pipeline.syncOperations.addHandler(ClientConnection(dependencies: dependencies, caller: caller, gate: gate, tls: tls))
                    }
                }
        }
        // TCP_NODELAY is a TCP option (IPPROTO_TCP): set on TCP clients only, unix sockets refuse it.
        let tcp = bootstrap().childChannelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
        var bound = [try await tcp.bind(host: configuration.host, port: configuration.port).get()]
        if let directory = configuration.socketDirectory, let path = socketPath {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            bound.append(try await bootstrap().bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get())
        }
        if let network = configuration.network {
            bound.append(try await bootstrap(tls: network.tls).childChannelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
                .bind(host: network.host, port: network.port).get())
            logger.info("proxy listening", metadata: ["address": "\(network.host):\(network.port)", "tls": "required"])
        }
        let channels = bound
        logger.info("proxy listening", metadata: ["address": "\(configuration.host):\(configuration.port)", "socket": "\(socketPath ?? "-")"])
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for channel in channels { group.addTask { try await channel.closeFuture.get() } }
                try await group.waitForAll()
            }
        } onGracefulShutdown: {
            for channel in channels { channel.close(promise: nil) }
        }
        if let path = socketPath { try? FileManager.default.removeItem(atPath: path) }
    }
}

/// `struct ucred` of <sys/socket.h>, which Swift's Glibc module does not export (it needs
/// _GNU_SOURCE): who is at the other end of a unix socket, as the kernel says.
public struct KernelPeerCredentials: Sendable {
    public var pid: Int32 = 0
    public var uid: UInt32 = 0
    public var gid: UInt32 = 0
    public init() {}
    /// SO_PEERCRED on Linux.
    public static let option = SocketOptionName(17)
}
