import Foundation
import NIOCore
import NIOPosix

/// The floor under the proxy's cost: a NIO relay that only copies bytes between a client and
/// PostgreSQL (no parsing, no ledger), on two event loops as the broker has. Its CPU per
/// statement is what any NIO proxy pays; the broker's cost above it is its own work.
/// `hoopctl-bench relay-floor UPSTREAM_SOCKET_DIR PORT` serves until killed.
enum RelayFloor {
    static func serve(upstreamDirectory: String, port: Int, listenDirectory: String) throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let upstreamPath = "\(upstreamDirectory)/.s.PGSQL.\(port)"
        let path = "\(listenDirectory)/.s.PGSQL.\(port)"
        try? FileManager.default.removeItem(atPath: path)
        let server = try ServerBootstrap(group: group)
            .childChannelInitializer { client in
                client.setOption(ChannelOptions.autoRead, value: false).flatMap {
                    ClientBootstrap(group: client.eventLoop).connect(unixDomainSocketPath: upstreamPath)
                }.flatMap { server in
                    let (a, b) = Glue.pair()
                    return client.pipeline.addHandler(a).and(server.pipeline.addHandler(b)).map { _ in
                        client.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
                    }
                }
            }
            .bind(unixDomainSocketPath: path).wait()
        print("relay floor on \(path)")
        try server.closeFuture.wait()
    }
}

/// A pair of handlers that write what one side reads to the other, flushing per read burst.
final class Glue: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    var partner: Glue?
    var context: ChannelHandlerContext?
    var pendingFlush = false

    static func pair() -> (Glue, Glue) {
        let a = Glue(), b = Glue()
        a.partner = b
        b.partner = a
        return (a, b)
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil; partner = nil }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        partner?.context?.write(data, promise: nil)
        partner?.pendingFlush = true
    }
    func channelReadComplete(context: ChannelHandlerContext) {
        if let partner, partner.pendingFlush { partner.pendingFlush = false; partner.context?.flush() }
    }
    func channelInactive(context: ChannelHandlerContext) { partner?.context?.close(promise: nil) }
}
