import Foundation
import HoopDetectors
import HoopPolicy
import HoopWire

/// What the proxy needs to let a client in as a session and to connect it to its database.
/// Holds the session role's password: never logged.
public struct ProxyTicket: Sendable {
    public var sessionID: String
    public var identity: String
    public var target: String
    public var role: String
    public var expiresAt: Date
    /// Checks the session's one-time secret (the client's password) without keeping it.
    public var verifier: SCRAMVerifier
    public var upstream: UpstreamEndpoint
    /// The target's guardrails as the policy says now (the broker fills them in at each login).
    public var guardrails: Guardrails
    /// The target's in-flight detectors with its hash key (nil: none configured).
    public var detectors: DetectorEngine?

    public init(sessionID: String, identity: String, target: String, role: String, expiresAt: Date, verifier: SCRAMVerifier,
                upstream: UpstreamEndpoint, guardrails: Guardrails = .defaults) {
        self.guardrails = guardrails
        self.sessionID = sessionID
        self.identity = identity
        self.target = target
        self.role = role
        self.expiresAt = expiresAt
        self.verifier = verifier
        self.upstream = upstream
    }
}

/// Where and as whom the proxy connects for a session.
public struct UpstreamEndpoint: Sendable {
    /// A host name or address, or a unix socket directory (starts with `/`).
    public var host: String
    public var port: Int
    public var database: String
    public var user: String
    public var password: String
    /// libpq's sslmode: disable, allow, prefer, require, verify-ca, verify-full.
    public var sslMode: String
    /// CA bundle for verify-ca and verify-full (the system's when nil).
    public var rootCertificate: String?

    public init(host: String, port: Int, database: String, user: String, password: String, sslMode: String, rootCertificate: String? = nil) {
        self.host = host
        self.port = port
        self.database = database
        self.user = user
        self.password = password
        self.sslMode = sslMode
        self.rootCertificate = rootCertificate
    }

    public var isUnixSocket: Bool { host.hasPrefix("/") }
}

/// The broker's side of the bargain: the proxy asks it about sessions, never the other way round.
public protocol ProxyDirectory: Sendable {
    /// The active session a client names in its startup packet, or nil.
    func ticket(forSession id: String) async -> ProxyTicket?
}
