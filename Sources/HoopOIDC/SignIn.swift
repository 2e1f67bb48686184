import Crypto
import Foundation
import HoopCommon
import HoopHTTP
import NIOCore
import NIOHTTP1
import NIOPosix

/// What the provider's token endpoint answers (RFC 6749 5.1). Secrets: never print them.
public struct TokenSet: Codable, Sendable, Equatable {
    public var accessToken: String
    public var refreshToken: String?
    public var expiresIn: Int?

    enum CodingKeys: String, CodingKey {
        case accessToken = "access_token"
        case refreshToken = "refresh_token"
        case expiresIn = "expires_in"
    }
}

/// Signing in to a provider as a public client (no secret): the device authorization grant
/// (RFC 8628), the authorization code flow with PKCE and a loopback redirect (RFC 7636,
/// RFC 8252), refresh (RFC 6749 6) and revocation (RFC 7009).
public struct SignIn: Sendable {
    public let discovery: OIDCDiscovery
    public let clientID: String
    public let caFile: String?
    public var scope = "openid offline_access"

    public init(discovery: OIDCDiscovery, clientID: String, caFile: String?) {
        self.discovery = discovery
        self.clientID = clientID
        self.caFile = caFile
    }

    // MARK: Device authorization (RFC 8628)

    public struct DeviceCode: Decodable, Sendable {
        public var deviceCode: String
        public var userCode: String
        public var verificationURI: String
        public var verificationURIComplete: String?
        public var expiresIn: Int
        public var interval: Int?

        enum CodingKeys: String, CodingKey {
            case deviceCode = "device_code"
            case userCode = "user_code"
            case verificationURI = "verification_uri"
            case verificationURIComplete = "verification_uri_complete"
            case expiresIn = "expires_in"
            case interval
        }
    }

    public func startDeviceAuthorization() async throws(OIDCError) -> DeviceCode {
        guard let endpoint = discovery.deviceAuthorizationEndpoint else {
            throw .provider("the identity provider offers no device sign-in: use hoopctl login --browser")
        }
        return try await OIDCHTTP.postForm(endpoint, [("client_id", clientID), ("scope", scope)], caFile: caFile)
    }

    /// Polls the token endpoint every `interval` seconds (5 if the provider names none), five
    /// seconds more after each `slow_down` (RFC 8628 3.5), until the person has decided or the
    /// code expired. `sleep` is the clock (tests pass their own).
    public func awaitDeviceAuthorization(_ code: DeviceCode,
                                         sleep: @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) })
        async throws(OIDCError) -> TokenSet {
        guard let endpoint = discovery.tokenEndpoint else { throw .provider("the identity provider names no token endpoint") }
        var interval = max(code.interval ?? 5, 1)
        let deadline = Date().addingTimeInterval(TimeInterval(code.expiresIn))
        while Date() < deadline {
            do { try await sleep(.seconds(interval)) } catch { throw .provider("sign-in interrupted") }
            do {
                return try await OIDCHTTP.postForm(endpoint, [
                    ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"), ("device_code", code.deviceCode), ("client_id", clientID),
                ], caFile: caFile)
            } catch .refused(let error, _) where error == "authorization_pending" {
                continue
            } catch .refused(let error, _) where error == "slow_down" {
                interval += 5
            }
        }
        throw .refused(code: "expired_token", description: "the code expired before it was approved")
    }

    // MARK: Authorization code with PKCE, in a browser

    /// Opens `open(url)` (a browser) on the provider's sign-in page and waits up to `timeout`
    /// for it to come back to a one-shot listener on 127.0.0.1 with the code; the `state` and
    /// the PKCE verifier tie that answer to this sign-in.
    public func browserAuthorization(open: @Sendable (String) throws -> Void, timeout: Duration = .seconds(300)) async throws -> TokenSet {
        guard let authorize = discovery.authorizationEndpoint, let tokenEndpoint = discovery.tokenEndpoint else {
            throw OIDCError.provider("the identity provider offers no browser sign-in (authorization endpoint)")
        }
        let verifier = Self.randomURLSafe(bytes: 32)
        let challenge = Base64URL.encode(Data(SHA256.hash(data: Data(verifier.utf8))))
        let state = Self.randomURLSafe(bytes: 16)
        let redirect = try await LoopbackRedirect.start(state: state)
        defer { redirect.close() }
        let redirectURI = "http://127.0.0.1:\(redirect.port)/callback"
        var components = URLComponents(string: authorize)
        let existing = components?.queryItems ?? []
        components?.queryItems = existing + [
            URLQueryItem(name: "response_type", value: "code"), URLQueryItem(name: "client_id", value: clientID),
            URLQueryItem(name: "redirect_uri", value: redirectURI), URLQueryItem(name: "scope", value: scope),
            URLQueryItem(name: "state", value: state), URLQueryItem(name: "code_challenge", value: challenge),
            URLQueryItem(name: "code_challenge_method", value: "S256"),
        ]
        guard let url = components?.string else { throw OIDCError.provider("cannot build the sign-in URL from \(authorize)") }
        try open(url)
        // Only an answer carrying this sign-in's state is taken (the listener ignores others).
        let answer = try await redirect.answer(timeout: timeout)
        if let error = answer["error"] { throw OIDCError.refused(code: error, description: answer["error_description"]) }
        guard let code = answer["code"] else { throw OIDCError.provider("the browser came back without a code") }
        return try await OIDCHTTP.postForm(tokenEndpoint, [
            ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirectURI), ("client_id", clientID),
            ("code_verifier", verifier),
        ], caFile: caFile)
    }

    // MARK: Refresh and revocation

    public func refresh(_ refreshToken: String) async throws(OIDCError) -> TokenSet {
        guard let endpoint = discovery.tokenEndpoint else { throw .provider("the identity provider names no token endpoint") }
        var tokens: TokenSet = try await OIDCHTTP.postForm(endpoint, [
            ("grant_type", "refresh_token"), ("refresh_token", refreshToken), ("client_id", clientID),
        ], caFile: caFile)
        // A provider that does not rotate refresh tokens keeps the old one valid.
        if tokens.refreshToken == nil { tokens.refreshToken = refreshToken }
        return tokens
    }

    /// Revokes a refresh token (RFC 7009); false when the provider has no revocation endpoint.
    public func revoke(_ refreshToken: String) async throws(OIDCError) -> Bool {
        guard let endpoint = discovery.revocationEndpoint else { return false }
        let _: Data = try await OIDCHTTP.postForm(endpoint, [
            ("token", refreshToken), ("token_type_hint", "refresh_token"), ("client_id", clientID),
        ], caFile: caFile)
        return true
    }

    static func randomURLSafe(bytes count: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return Base64URL.encode(Data((0..<count).map { _ in generator.next() as UInt8 }))
    }
}

/// The one-shot HTTP listener on 127.0.0.1 that the browser is sent back to (RFC 8252 7.3).
final class LoopbackRedirect: Sendable {
    let port: Int
    private let channel: any Channel
    private let answers: AsyncStream<[String: String]>

    private init(port: Int, channel: any Channel, answers: AsyncStream<[String: String]>) {
        self.port = port
        self.channel = channel
        self.answers = answers
    }

    /// Answers carrying another `state` (another sign-in, or anyone on this host guessing) are
    /// told so and ignored: they neither end this sign-in nor take its place.
    static func start(state: String) async throws -> LoopbackRedirect {
        let (stream, continuation) = AsyncStream<[String: String]>.makeStream()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Callback(continuation: continuation, state: state))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        guard let port = channel.localAddress?.port else { throw OIDCError.provider("cannot listen on 127.0.0.1") }
        return LoopbackRedirect(port: port, channel: channel, answers: stream)
    }

    func answer(timeout: Duration) async throws -> [String: String] {
        try await withThrowingTaskGroup(of: [String: String].self) { group in
            group.addTask {
                for await answer in self.answers { return answer }
                throw OIDCError.provider("the sign-in listener closed")
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw OIDCError.provider("no answer from the browser within \(timeout)")
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }

    func close() { channel.close(promise: nil) }

    /// Answers `GET /callback?...` with a short page and hands on its query.
    final class Callback: ChannelInboundHandler, Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let continuation: AsyncStream<[String: String]>.Continuation
        let state: String

        init(continuation: AsyncStream<[String: String]>.Continuation, state: String) {
            self.continuation = continuation
            self.state = state
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .head(let head) = unwrapInboundIn(data) else { return }
            let components = URLComponents(string: head.uri)
            var query: [String: String] = [:]
            for item in components?.queryItems ?? [] { query[item.name] = item.value ?? "" }
            let found = components?.path == "/callback" && query["state"] == state
            if found { continuation.yield(query) }
            let text = found ? "Back to hoopctl: you can close this window.\n" : "Not this sign-in.\n"
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
            headers.add(name: "Content-Length", value: String(text.utf8.count))
            headers.add(name: "Connection", value: "close")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: found ? .ok : .notFound, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
