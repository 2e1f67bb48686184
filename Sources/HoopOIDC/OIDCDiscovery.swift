import Foundation
import HoopHTTP
import NIOHTTP1

/// What a provider publishes at `<issuer>/.well-known/openid-configuration` (OpenID Connect
/// Discovery 1.0), the parts hoopctl uses.
public struct OIDCDiscovery: Codable, Sendable, Equatable {
    public var issuer: String
    public var jwksURI: String
    public var tokenEndpoint: String?
    public var authorizationEndpoint: String?
    public var deviceAuthorizationEndpoint: String?
    public var revocationEndpoint: String?

    enum CodingKeys: String, CodingKey {
        case issuer
        case jwksURI = "jwks_uri"
        case tokenEndpoint = "token_endpoint"
        case authorizationEndpoint = "authorization_endpoint"
        case deviceAuthorizationEndpoint = "device_authorization_endpoint"
        case revocationEndpoint = "revocation_endpoint"
    }

    /// Fetches and checks the document: its `issuer` must be the one asked for, and every
    /// endpoint must be https (or http to a loopback address), so a tampered document cannot
    /// send tokens or key lookups elsewhere in the clear.
    public static func fetch(issuer: String, caFile: String?, http: HTTPClient = HTTPClient()) async throws(OIDCError) -> OIDCDiscovery {
        let trimmed = issuer.hasSuffix("/") ? String(issuer.dropLast()) : issuer
        let document: OIDCDiscovery = try await OIDCHTTP.getJSON(trimmed + "/.well-known/openid-configuration", caFile: caFile, http: http)
        guard document.issuer == issuer else {
            throw .provider("the provider's discovery document names issuer \(document.issuer), not \(issuer)")
        }
        for endpoint in [document.jwksURI, document.tokenEndpoint, document.authorizationEndpoint,
                         document.deviceAuthorizationEndpoint, document.revocationEndpoint].compactMap({ $0 }) {
            guard let url = URL(string: endpoint), (try? HTTPAddress(url: url)) != nil else {
                throw .provider("the provider's discovery document has an endpoint that is not https: \(endpoint)")
            }
        }
        return document
    }
}

/// Why talking to the provider, or a token, failed. Never carries a token.
public enum OIDCError: Error, CustomStringConvertible, Equatable {
    /// The provider cannot be reached or answered something unusable.
    case provider(String)
    /// The provider refused (an OAuth error code and its description).
    case refused(code: String, description: String?)

    public var description: String {
        switch self {
        case .provider(let message): message
        case .refused(let code, let description): "the identity provider refused: \(code)" + (description.map { " (\($0))" } ?? "")
        }
    }
}

/// GET JSON and POST forms to a provider, answers capped at 1 MiB.
enum OIDCHTTP {
    static func address(_ url: String, caFile: String?) throws(OIDCError) -> (HTTPAddress, String) {
        guard let parsed = URL(string: url) else { throw .provider("not a URL: \(url)") }
        let address: HTTPAddress
        do { address = try HTTPAddress(url: parsed, caFile: caFile) } catch { throw .provider("\(error)") }
        var path = parsed.path.isEmpty ? "/" : parsed.path
        if let query = parsed.query { path += "?" + query }
        return (address, path)
    }

    static func getJSON<T: Decodable>(_ url: String, caFile: String?, http: HTTPClient) async throws(OIDCError) -> T {
        let (address, path) = try address(url, caFile: caFile)
        var client = http
        client.maxBody = 1 << 20
        let response: HTTPResponse
        do { response = try await client.send(.GET, address, path: path, headers: [("Accept", "application/json")]) } catch {
            throw .provider("cannot fetch \(url): \(error)")
        }
        guard response.status == 200 else { throw .provider("\(url) answered HTTP \(response.status)") }
        do { return try JSONDecoder().decode(T.self, from: response.body) } catch {
            throw .provider("cannot read \(url): \(error)")
        }
    }

    /// POSTs a form; a 4xx answer with an OAuth error body is `.refused`.
    static func postForm<T: Decodable>(_ url: String, _ form: [(String, String)], caFile: String?,
                                       http: HTTPClient = HTTPClient()) async throws(OIDCError) -> T {
        let body = try await postForm(url, form, caFile: caFile, http: http)
        do { return try JSONDecoder().decode(T.self, from: body) } catch {
            throw .provider("cannot read the answer of \(url): \(error)")
        }
    }

    /// The same, for the answer's bytes (a revocation answers with none).
    static func postForm(_ url: String, _ form: [(String, String)], caFile: String?,
                         http: HTTPClient = HTTPClient()) async throws(OIDCError) -> Data {
        let (address, path) = try address(url, caFile: caFile)
        var client = http
        client.maxBody = 1 << 20
        let body = Data(form.map { "\(encode($0.0))=\(encode($0.1))" }.joined(separator: "&").utf8)
        let response: HTTPResponse
        do {
            response = try await client.send(.POST, address, path: path, headers: [
                ("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json"),
            ], body: body)
        } catch {
            throw .provider("cannot reach \(url): \(error)")
        }
        guard response.status == 200 else {
            if let failure = try? JSONDecoder().decode(OAuthFailure.self, from: response.body) {
                throw .refused(code: failure.error, description: failure.errorDescription)
            }
            throw .provider("\(url) answered HTTP \(response.status)")
        }
        return response.body
    }

    struct OAuthFailure: Decodable {
        var error: String
        var errorDescription: String?
        enum CodingKeys: String, CodingKey {
            case error
            case errorDescription = "error_description"
        }
    }

    /// application/x-www-form-urlencoded: unreserved characters stay, everything else is %XX.
    static func encode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(Character(UnicodeScalar(byte)))
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }
}
