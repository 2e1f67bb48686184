import NIOCore
import NIOPosix

/// How the proxy opens connections to a database server (the session's own, and those that
/// carry a cancel): over the network, or to a test's channels.
struct UpstreamConnector: Sendable {
    typealias Initializer = @Sendable (Channel) -> EventLoopFuture<Void>
    let connect: @Sendable (_ endpoint: UpstreamEndpoint, _ loop: EventLoop, _ timeout: TimeAmount, _ initializer: Initializer?)
        -> EventLoopFuture<Channel>

    static let network = UpstreamConnector { endpoint, loop, timeout, initializer in
        var bootstrap = ClientBootstrap(group: loop).connectTimeout(timeout)
        if let initializer {
            bootstrap = bootstrap.channelOption(ChannelOptions.socketOption(.so_keepalive), value: 1).channelInitializer(initializer)
        }
        return endpoint.isUnixSocket
            ? bootstrap.connect(unixDomainSocketPath: "\(endpoint.host)/.s.PGSQL.\(endpoint.port)")
            : bootstrap.connect(host: endpoint.host, port: endpoint.port)
    }
}
