import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// Where an HTTP server is: a unix socket on this machine, or a host and port over TLS (plain
/// HTTP only to a loopback address, for tests and local providers).
public enum HTTPAddress: Sendable, Equatable, CustomStringConvertible {
    case unix(path: String)
    /// `https://host:port`; `caFile` replaces the system's trust roots when given.
    case tls(host: String, port: Int, caFile: String?)
    /// `http://` on 127.0.0.1, ::1 or localhost only.
    case loopback(host: String, port: Int)

    /// An `https://` URL (or `http://` to a loopback host); the path is the caller's.
    public init(url: URL, caFile: String? = nil) throws(HTTPClientError) {
        guard let host = url.host, !host.isEmpty else { throw .invalidURL("\(url.absoluteString) has no host") }
        switch url.scheme?.lowercased() {
        case "https": self = .tls(host: host, port: url.port ?? 443, caFile: caFile)
        case "http":
            guard HTTPAddress.isLoopback(host) else {
                throw .invalidURL("\(url.absoluteString) is not https: plain http is allowed to a loopback address only")
            }
            self = .loopback(host: host, port: url.port ?? 80)
        default: throw .invalidURL("\(url.absoluteString) is not an https URL")
        }
    }

    public static func isLoopback(_ host: String) -> Bool {
        ["127.0.0.1", "::1", "[::1]", "localhost"].contains(host.lowercased())
    }

    public var description: String {
        switch self {
        case .unix(let path): path
        case .tls(let host, let port, _): "https://\(host):\(port)"
        case .loopback(let host, let port): "http://\(host):\(port)"
        }
    }

    var hostHeader: String {
        switch self {
        case .unix: "localhost"
        case .tls(let host, let port, _): port == 443 ? host : "\(host):\(port)"
        case .loopback(let host, let port): "\(host):\(port)"
        }
    }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: Data

    public func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
}

public enum HTTPClientError: Error, CustomStringConvertible, Equatable {
    case invalidURL(String)
    /// No connection (refused, name unknown, TLS handshake failed: the reason says).
    case unreachable(String, reason: String)
    /// The server broke the protocol or answered more than allowed.
    case protocolError(String)

    public var description: String {
        switch self {
        case .invalidURL(let message): message
        case .unreachable(let address, let reason): "cannot reach \(address) (\(reason))"
        case .protocolError(let message): message
        }
    }
}

/// One HTTP/1.1 request per connection, over a unix socket or TLS: what the broker's clients
/// and the OIDC code need, nothing more. Answers are capped (`maxBody`), and every exchange has
/// a deadline, so a hostile server can neither fill memory nor hang a caller.
public struct HTTPClient: Sendable {
    public var maxBody = 64 << 20
    public var timeout = TimeAmount.seconds(30)

    public init() {}

    typealias Connection = NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>

    public func send(_ method: HTTPMethod, _ address: HTTPAddress, path: String, headers extra: [(String, String)] = [],
                     body: Data? = nil) async throws(HTTPClientError) -> HTTPResponse {
        let connection: Connection
        do {
            connection = try await connect(address)
        } catch {
            throw .unreachable(address.description, reason: Self.describe(error))
        }
        let deadline = connection.channel.eventLoop.scheduleTask(in: timeout) { connection.channel.close(promise: nil) }
        defer { deadline.cancel() }
        do {
            return try await connection.executeThenClose { inbound, outbound in
                var headers = HTTPHeaders()
                headers.add(name: "Host", value: address.hostHeader)
                // We close once the answer is in: were the server to close first, it could do so
                // before our last write went through.
                headers.add(name: "Content-Length", value: String(body?.count ?? 0))
                for (name, value) in extra { headers.add(name: name, value: value) }
                try await outbound.write(.head(HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: headers)))
                if let body { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
                try await outbound.write(.end(nil))
                var head: HTTPResponseHead?
                var collected = ByteBuffer()
                for try await part in inbound {
                    switch part {
                    case .head(let responseHead): head = responseHead
                    case .body(var chunk):
                        guard collected.readableBytes + chunk.readableBytes <= maxBody else {
                            throw HTTPClientError.protocolError("\(address) answered more than \(maxBody) bytes")
                        }
                        collected.writeBuffer(&chunk)
                    case .end:
                        guard let head else { throw HTTPClientError.protocolError("\(address) answered without a status") }
                        return HTTPResponse(status: Int(head.status.code), headers: head.headers.map { ($0.name, $0.value) },
                                            body: Data(collected.readableBytesView))
                    }
                }
                throw HTTPClientError.protocolError("\(address) closed the connection before answering")
            }
        } catch let error as HTTPClientError {
            throw error
        } catch {
            throw .unreachable(address.description, reason: Self.describe(error))
        }
    }

    private func connect(_ address: HTTPAddress) async throws -> Connection {
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connectTimeout(timeout)
        switch address {
        case .unix(let path):
            return try await bootstrap.connect(unixDomainSocketPath: path) { channel in
                channel.eventLoop.makeCompletedFuture { try Self.http(channel) }
            }
        case .loopback(let host, let port):
            return try await bootstrap.connect(host: host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port: port) { channel in
                channel.eventLoop.makeCompletedFuture { try Self.http(channel) }
            }
        case .tls(let host, let port, let caFile):
            let context = try Self.context(caFile: caFile)
            return try await bootstrap.connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    // The name is checked against the certificate (and sent as SNI unless it is an address).
                    let sni = host.contains(":") || host.allSatisfy({ $0.isNumber || $0 == "." }) ? nil : host
                    try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: sni))
                    return try Self.http(channel)
                }
            }
        }
    }

    private static func http(_ channel: any Channel) throws -> Connection {
        try channel.pipeline.syncOperations.addHTTPClientHandlers()
        return try Connection(wrappingChannelSynchronously: channel)
    }

    static func context(caFile: String?) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.certificateVerification = .fullVerification
        if let caFile { configuration.trustRoots = .file(caFile) }
        return try NIOSSLContext(configuration: configuration)
    }

    public static func describe(_ error: any Error) -> String {
        if let io = error as? IOError { return String(cString: strerror(io.errnoCode)) }
        if let tls = error as? NIOSSLError { return "TLS: \(tls)" }
        return "\(error)"
    }
}
