import Foundation
import HoopBrokerAPI
import HoopHTTP
import NIOHTTP1

/// Talks to the broker: over its unix socket on this machine, or over TLS from elsewhere; one
/// HTTP/1.1 request per connection.
public struct BrokerClient: Sendable {
    public let address: HTTPAddress
    /// A bearer token to present instead of the kernel's word about us. Never logged.
    public let token: String?
    /// Or where to get the current one before each call (a sign-in that refreshes itself, for
    /// clients that outlive an access token: a long wait for approval, a long job, an agent).
    let tokenSource: (@Sendable () async throws -> String)?

    public init(address: HTTPAddress, token: String? = nil) {
        self.address = address
        self.token = token
        tokenSource = nil
    }

    public init(address: HTTPAddress, tokenSource: @escaping @Sendable () async throws -> String) {
        self.address = address
        token = nil
        self.tokenSource = tokenSource
    }

    public init(socketPath: String, token: String? = nil) {
        self.init(address: .unix(path: socketPath), token: token)
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

    private func call<Response: Decodable>(_ method: HTTPMethod, _ path: String, body: Data?) async throws(BrokerClientError) -> Response {
        var headers = [(BrokerAPI.versionHeader, String(BrokerAPI.version))]
        var token = self.token
        if let tokenSource {
            do { token = try await tokenSource() } catch {
                throw .refused(BrokerFailure(.unauthenticated, "\(error)"))
            }
        }
        if let token { headers.append(("Authorization", "Bearer \(token)")) }
        if body != nil { headers.append(("Content-Type", "application/json")) }
        let response: HTTPResponse
        do {
            response = try await HTTPClient().send(method, address, path: path, headers: headers, body: body)
        } catch {
            switch error {
            case .unreachable(_, let reason), .invalidURL(let reason): throw .unreachable(socket: address.description, reason: reason)
            case .protocolError(let message): throw .protocolError(message)
            }
        }
        guard response.status == 200 else {
            if let failure = try? BrokerAPI.decoder.decode(BrokerFailure.self, from: response.body) { throw .refused(failure) }
            throw .protocolError("the broker answered HTTP \(response.status)")
        }
        do {
            return try BrokerAPI.decoder.decode(Response.self, from: response.body)
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
}
