import Foundation
import HoopBrokerAPI
import NIOCore
import NIOHTTP1
import NIOPosix

/// Talks to the broker over its unix socket: one HTTP/1.1 request per connection.
public struct BrokerClient: Sendable {
    public let socketPath: String
    /// A bearer token to present instead of the kernel's word about us. Never logged.
    public let token: String?

    public init(socketPath: String, token: String? = nil) {
        self.socketPath = socketPath
        self.token = token
    }

    /// Calls an endpoint of `Endpoints`: `parameter` fills its path's `{id}`, `body` is its request.
    public func call<Body, Answer>(_ endpoint: Endpoint<Body, Answer>, _ parameter: String? = nil, _ body: Body) async throws(BrokerClientError) -> Answer {
        precondition(endpoint.hasParameter == (parameter != nil), "\(endpoint.segments) called with the wrong parameters")
        switch endpoint.method {
        case .get:
            let query = (body as? any QueryParameters)?.query ?? []
            return try await call(.GET, endpoint.path(parameter, query: query), body: nil)
        case .post:
            let data: Data
            do { data = try BrokerAPI.encoder.encode(body) } catch { throw .protocolError("cannot encode the request: \(error)") }
            return try await call(.POST, endpoint.path(parameter), body: data)
        }
    }

    /// Calls an endpoint that takes no request.
    public func call<Answer>(_ endpoint: Endpoint<Empty, Answer>, _ parameter: String? = nil) async throws(BrokerClientError) -> Answer {
        try await call(endpoint, parameter, Empty())
    }

    typealias Connection = NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>

    private func call<Response: Decodable>(_ method: HTTPMethod, _ path: String, body: Data?) async throws(BrokerClientError) -> Response {
        let connection: Connection
        do {
            connection = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(unixDomainSocketPath: socketPath) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        return try Connection(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw .unreachable(socket: socketPath, reason: BrokerClientError.describe(error))
        }
        let status: Int
        let payload: Data
        do {
            (status, payload) = try await connection.executeThenClose { inbound, outbound in
                var headers = HTTPHeaders()
                headers.add(name: "Host", value: "hoopctl")
                headers.add(name: BrokerAPI.versionHeader, value: String(BrokerAPI.version))
                // Keep-alive, and we close once the answer is in: were the broker to close first,
                // it could do so before our last write went through.
                headers.add(name: "Content-Length", value: String(body?.count ?? 0))
                if let token { headers.add(name: "Authorization", value: "Bearer \(token)") }
                if body != nil { headers.add(name: "Content-Type", value: "application/json") }
                try await outbound.write(.head(HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: headers)))
                if let body { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
                try await outbound.write(.end(nil))
                var status = 0
                var collected = ByteBuffer()
                for try await part in inbound {
                    switch part {
                    case .head(let head): status = Int(head.status.code)
                    case .body(var chunk): collected.writeBuffer(&chunk)
                    case .end: return (status, Data(collected.readableBytesView))
                    }
                }
                throw BrokerClientError.protocolError("the broker closed the connection before answering")
            }
        } catch let error as BrokerClientError {
            throw error
        } catch {
            throw .unreachable(socket: socketPath, reason: BrokerClientError.describe(error))
        }
        guard status == 200 else {
            if let failure = try? BrokerAPI.decoder.decode(BrokerFailure.self, from: payload) { throw .refused(failure) }
            throw .protocolError("the broker answered HTTP \(status)")
        }
        do {
            return try BrokerAPI.decoder.decode(Response.self, from: payload)
        } catch {
            throw .protocolError("cannot read the broker's answer: \(error)")
        }
    }
}

public enum BrokerClientError: Error, CustomStringConvertible {
    /// No broker listens (or the socket cannot be reached).
    case unreachable(socket: String, reason: String)
    /// The broker answered with a failure.
    case refused(BrokerFailure)
    case protocolError(String)

    public var description: String {
        switch self {
        case .unreachable(let socket, let reason):
            return "cannot reach the broker at \(socket) (\(reason)); is 'hoopctl serve' running? ('hoopctl sandbox up' starts one for the sandbox)"
        case .refused(let failure):
            return ([failure.message] + (failure.details ?? []).map { "  \($0)" }).joined(separator: "\n")
        case .protocolError(let message):
            return "broker protocol error: \(message)"
        }
    }

    static func describe(_ error: Error) -> String {
        if let io = error as? IOError { return String(cString: strerror(io.errnoCode)) }
        return "\(error)"
    }
}
