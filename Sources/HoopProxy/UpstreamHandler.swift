import NIOCore
import NIOTLS

/// The server side of a proxied connection: hands every read, and writability changes, to the
/// client connection (both live on the same event loop).
final class UpstreamHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private weak var client: ClientConnection?

    init(client: ClientConnection) { self.client = client }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        client?.upstreamRead(unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        client?.upstreamReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        client?.upstreamWritabilityChanged(context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted? = event as? TLSUserEvent { client?.upstreamTLSEstablished() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        client?.upstreamClosed(error: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        client?.upstreamClosed(error: error)
        context.close(promise: nil)
    }
}
