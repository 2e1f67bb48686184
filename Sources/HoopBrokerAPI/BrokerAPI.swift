import Foundation

/// The broker's request/response protocol: HTTP/1.1 with JSON bodies over a unix socket.
/// Every request carries `Hoopctl-Protocol: <version>`; a broker refuses versions it does not speak.
public enum BrokerAPI {
    public static let version = 1
    public static let versionHeader = "Hoopctl-Protocol"

    /// Where clients find the broker: `$HOOPCTL_BROKER`, else `<state>/broker.sock`.
    public static func socketPath(stateDirectory: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let path = environment["HOOPCTL_BROKER"], !path.isEmpty { return path }
        return URL(fileURLWithPath: stateDirectory).appendingPathComponent("broker.sock").path
    }

    public static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()

    public static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()
}

/// Why the broker refused or failed a request. Messages never carry secrets.
public struct BrokerFailure: Codable, Sendable, Error, CustomStringConvertible {
    public enum Code: String, Codable, Sendable {
        /// Policy says no.
        case denied
        /// Bad request: unknown target or role, a TTL over the maximum, malformed JSON.
        case invalid
        case notFound = "not_found"
        /// The target's database cannot be reached, or refuses sessions (masking bypass).
        case unavailable
        case unsupportedVersion = "unsupported_version"
        /// The role needs an approval: ask with `POST /v1/requests`.
        case approvalRequired = "approval_required"
        /// A bearer token that is malformed, forged, expired or revoked.
        case unauthenticated
        /// The request was denied by a reviewer.
        case approvalDenied = "approval_denied"
        /// The request (or its approval) expired, was withdrawn, or was used already.
        case approvalExpired = "approval_expired"
        case `internal`
    }

    public var code: Code
    public var message: String
    /// Extra lines a user should see (policy errors, doctor findings).
    public var details: [String]?

    public init(_ code: Code, _ message: String, details: [String]? = nil) {
        self.code = code
        self.message = message
        self.details = details
    }

    public var description: String { message }

    /// The HTTP status a failure travels with.
    public var httpStatus: Int {
        switch code {
        case .denied: return 403
        case .invalid: return 400
        case .notFound: return 404
        case .unavailable: return 503
        case .unsupportedVersion: return 426
        case .approvalRequired: return 403
        case .unauthenticated: return 401
        case .approvalDenied: return 403
        case .approvalExpired: return 410
        case .internal: return 500
        }
    }
}

/// `GET /v1/whoami`
public struct WhoAmI: Codable, Sendable {
    public var principal: String
    public var method: String
    public var uid: UInt32?
    public var osGroups: [String]
    /// Policy groups the caller belongs to.
    public var groups: [String]
    public var admin: Bool
    public var auditor: Bool
    /// target → roles the caller may use.
    public var access: [String: [String]]
    /// The token the caller presented, if any.
    public var tokenID: String?
    /// Groups the identity provider put in the caller's token.
    public var providerGroups: [String]?
    /// The identity provider that vouched for the caller (`oidc`).
    public var issuer: String?

    public init(principal: String, method: String, uid: UInt32?, osGroups: [String], groups: [String], admin: Bool,
                auditor: Bool, access: [String: [String]], tokenID: String? = nil, providerGroups: [String] = [], issuer: String? = nil) {
        self.providerGroups = providerGroups.isEmpty ? nil : providerGroups
        self.issuer = issuer
        self.principal = principal
        self.method = method
        self.uid = uid
        self.osGroups = osGroups
        self.groups = groups
        self.admin = admin
        self.auditor = auditor
        self.access = access
        self.tokenID = tokenID
    }
}

/// `GET /v1/sign-in`, answered to anyone: which identity provider the broker trusts, for
/// `hoopctl login`. Nothing secret: a public client has no secret.
public struct SignInInfo: Codable, Sendable, Equatable {
    public struct Provider: Codable, Sendable, Equatable {
        public var issuer: String
        public var clientID: String
        public init(issuer: String, clientID: String) {
            self.issuer = issuer
            self.clientID = clientID
        }
    }

    /// nil: the broker takes no provider's tokens (its own tokens only).
    public var oidc: Provider?
    public init(oidc: Provider?) { self.oidc = oidc }
}
