import Crypto
import Foundation
import HoopCommon

/// A position in the policy file (1-based line and column, as editors count them).
public struct SourceLocation: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let line: Int
    public let column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    public static let start = SourceLocation(line: 1, column: 1)
    public var description: String { "\(line):\(column)" }
    public static func < (lhs: Self, rhs: Self) -> Bool { (lhs.line, lhs.column) < (rhs.line, rhs.column) }
}

/// The whole policy: who exists, which databases they may reach, as which role, seeing what.
/// Built only by `PolicyLoader`, so every value here has been validated.
public struct Policy: Sendable {
    public static let supportedVersion = 1

    public var version: Int
    /// Who vouches for callers besides the kernel and the broker's own tokens.
    public var identity = IdentityProviders()
    public var admins: [Principal]
    public var auditors: [Principal]
    /// Policy groups by name; members are users, services and OS groups.
    public var groups: [String: [Principal]]
    public var targets: [String: Target]
    public var access: [AccessRule]
    public var notifications: [NotificationRule]
}

/// The identity providers whose tokens the broker accepts.
public struct IdentityProviders: Sendable, Equatable {
    public var oidc: OIDCProvider?
    public init(oidc: OIDCProvider? = nil) { self.oidc = oidc }
}

/// An OpenID Connect provider: its tokens name users (`username_claim`) and their provider
/// groups (`groups_claim`, as `idpgroup:NAME` in the policy).
public struct OIDCProvider: Sendable, Equatable {
    /// The `iss` of its tokens; discovery is at `<issuer>/.well-known/openid-configuration`.
    public var issuer: String
    /// The client `hoopctl login` signs in as (a public client: no secret).
    public var clientID: String
    /// What the tokens' `aud` must hold (default: the client id).
    public var audience: String
    public var usernameClaim: String
    public var groupsClaim: String?
    /// Trust roots for the provider's TLS instead of the system's.
    public var caFile: String?

    public init(issuer: String, clientID: String, audience: String, usernameClaim: String, groupsClaim: String?, caFile: String?) {
        self.issuer = issuer
        self.clientID = clientID
        self.audience = audience
        self.usernameClaim = usernameClaim
        self.groupsClaim = groupsClaim
        self.caFile = caFile
    }

    /// What is wrong with an issuer URL: https, or http to a loopback address (tests, a local provider).
    public static func problem(issuer: String) -> String? {
        guard let url = URL(string: issuer), let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty,
              url.query == nil, url.fragment == nil else {
            return "'issuer' must be a URL such as https://login.example.com"
        }
        if scheme == "https" { return nil }
        if scheme == "http", ["127.0.0.1", "::1", "localhost"].contains(host.lowercased()) { return nil }
        return "'issuer' must be an https URL (plain http only to a loopback address)"
    }
}

/// A PostgreSQL database that hoopctl brokers access to.
public struct Target: Sendable {
    public var name: String
    public var adminDSN: DSNSource
    public var database: String
    public var sslMode: SSLMode
    public var roles: [String: Role]
    /// Masked columns and the function that masks each.
    public var masking: [ColumnName: MaskingFunction]
    /// In-flight detectors applied to text values of result rows.
    public var detectors: [Detector]
    public var guardrails: Guardrails
    /// Whether sessions may start although `target doctor` finds a way around masking.
    public var allowMaskingBypass: Bool
    /// What an agent's `query` (hoopctl mcp) may bring back at most.
    public var agentLimits = AgentLimits()
    /// What the ledger keeps of statements' values (a role may choose less or more).
    public var capture = CapturePolicy()
    public var location: SourceLocation

    /// What a session of `role` keeps of its statements' values.
    public func capture(for role: String) -> CapturePolicy {
        var capture = self.capture
        if let values = roles[role]?.captureValues { capture.values = values }
        return capture
    }
}

/// What the ledger keeps of each statement's values (its literals and bind parameters).
public struct CapturePolicy: Sendable, Equatable {
    public enum Values: String, Sendable, CaseIterable {
        /// A masked preview in clear, and the exact values sealed to the auditor's key.
        case sealed
        /// Only the masked preview.
        case preview
        /// Neither: the normalized text alone.
        case none
    }

    public var values: Values = .preview
    /// A longer value is kept cut, with its length and SHA-256.
    public var maxValueBytes = 4096
    /// `hoopctl-auditor:ID:KEY`, oldest first: values are sealed to the last one.
    public var auditorKeys: [String] = []

    public init() {}
}

/// Caps on what one MCP `query` returns to an agent.
public struct AgentLimits: Sendable, Equatable {
    public var maxRows = 500
    public var maxBytes = 262_144

    public init() {}
}

/// Where the broker reads a target's admin connection string. Never inline in the policy.
public enum DSNSource: Sendable, Equatable {
    case file(String)
    case environment(String)
}

public enum SSLMode: String, Sendable, CaseIterable {
    case disable, allow, prefer, require
    case verifyCA = "verify-ca"
    case verifyFull = "verify-full"

    /// What a connection to a target must hold to, as libpq would hold to it: the stricter of
    /// the policy's mode and the admin DSN's (a mode the DSN spells wrong counts as
    /// verify-full: fail closed), and `require` with a root certificate given is `verify-ca`.
    public static func effective(policy: SSLMode, dsn: String?, rootCertificate: String?) -> SSLMode {
        let named = dsn.map { SSLMode(rawValue: $0) ?? .verifyFull } ?? .disable
        let stricter = allCases.firstIndex(of: named)! > allCases.firstIndex(of: policy)! ? named : policy
        return stricter == .require && rootCertificate?.isEmpty == false ? .verifyCA : stricter
    }

    /// Whether it authenticates the server (a certificate chain to a trusted root).
    public var verifiesServer: Bool { self == .verifyCA || self == .verifyFull }
}

/// What a session may do on a target: tables in scope, privileges, how long it may live.
public struct Role: Sendable {
    public var name: String
    public var tables: [TablePattern]
    public var privileges: Set<Privilege>
    public var maxTTL: TimeSpan
    public var defaultTTL: TimeSpan
    public var statementTimeout: TimeSpan?
    public var idleInTransactionTimeout: TimeSpan?
    public var connectionLimit: Int
    /// Sessions connect straight to the database instead of through the guard proxy.
    public var direct: Bool
    public var approval: ApprovalRule?
    /// Overrides the target's `capture.values` for this role's sessions.
    public var captureValues: CapturePolicy.Values?
    public var location: SourceLocation

    public static let defaultMaxTTL = TimeSpan(seconds: 3600)
}

public enum Privilege: String, Sendable, CaseIterable, Comparable {
    case select, insert, update, delete
    public static func < (lhs: Self, rhs: Self) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// Who must approve a request, how many of them, and how long requests and approvals live.
public struct ApprovalRule: Sendable, Equatable {
    public init(from: [Principal], count: Int, everyGroup: Bool, requestTTL: TimeSpan, approvalTTL: TimeSpan,
                maxSession: TimeSpan?, allowSelfApproval: [Principal]) {
        self.from = from
        self.count = count
        self.everyGroup = everyGroup
        self.requestTTL = requestTTL
        self.approvalTTL = approvalTTL
        self.maxSession = maxSession
        self.allowSelfApproval = allowSelfApproval
    }

    public var from: [Principal]
    public var count: Int
    /// Every group in `from` must contribute at least one approval.
    public var everyGroup: Bool
    public var requestTTL: TimeSpan
    public var approvalTTL: TimeSpan
    /// The longest session an approval can produce.
    public var maxSession: TimeSpan?
    /// Members of these may approve their own requests; the ledger says so when they do.
    public var allowSelfApproval: [Principal]

    public static let defaultRequestTTL = TimeSpan(seconds: 3600)
    public static let defaultApprovalTTL = TimeSpan(seconds: 1800)
}

/// `who` may open sessions on `target` as any of `roles`.
public struct AccessRule: Sendable {
    public var who: [Principal]
    public var target: String
    public var roles: [String]
    public var location: SourceLocation
}

/// A webhook told about requests and decisions.
public struct NotificationRule: Sendable {
    public enum Endpoint: Sendable, Equatable {
        case url(String)
        /// An environment variable of the broker holds the URL (Slack URLs are secrets).
        case environment(String)
    }

    public var endpoint: Endpoint
    public var events: [NotificationEvent]
}

public enum NotificationEvent: String, Sendable, CaseIterable {
    case requestCreated = "request.created"
    case requestDecided = "request.decided"
    case requestExpired = "request.expired"
    case sessionStarted = "session.started"
    case sessionEnded = "session.ended"
    case statementDenied = "statement.denied"
    /// A signed checkpoint of the ledger's hash chain (every 10 seconds while records come).
    case ledgerCheckpoint = "ledger.checkpoint"
}

/// The shape of an auditor's public key as `hoopctl audit keygen` prints it:
/// `hoopctl-auditor:ID:KEY`, ID the first 8 bytes of SHA-256 of the 32-byte KEY, in hex.
public enum AuditorKeyText {
    public static func problem(_ text: String) -> String? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "hoopctl-auditor" else { return "expected hoopctl-auditor:ID:KEY, as `hoopctl audit keygen` prints it" }
        guard let raw = Data(base64Encoded: String(parts[2])), raw.count == 32 else { return "its key is not 32 bytes of base64" }
        guard SHA256.hash(data: raw).prefix(8).map({ String(format: "%02x", $0) }).joined() == parts[1] else {
            return "its id does not match its key (was it edited?)"
        }
        return nil
    }
}
