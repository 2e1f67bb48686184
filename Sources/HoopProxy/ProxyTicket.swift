import Foundation
import HoopDetectors
import HoopPolicy
import HoopSQL
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
    /// The session's masking views, for column-level lineage (nil: statements keep relations only).
    public var visibleTables: VisibleTables?
    /// What the ledger keeps of its statements' values (nil: nothing).
    public var capture: ValueCapture?
    /// The job the session runs for (correlation id, else its command), for lineage.
    public var job: String?
    /// The policy's bounds on a statement and on idling in a transaction. They are the role's
    /// settings in the database too, but a session may SET those; the proxy holds to them
    /// itself (a moment after the server would have), whatever the session set.
    public var statementTimeout: TimeInterval?
    public var idleInTransactionTimeout: TimeInterval?

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
    /// A client certificate and its key (PEM files), when the DSN names them.
    public var clientCertificate: String?
    public var clientKey: String?

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

    /// Whether a password may be sent as it is (cleartext) or as MD5, which a listener can
    /// replay or crack: only over a local socket or TLS that authenticated the server.
    public var passwordMaySeeTheWire: Bool { isUnixSocket || sslMode == "verify-ca" || sslMode == "verify-full" }
}

/// The broker's side of the bargain: the proxy asks it about sessions and reviews, never the
/// other way round.
public protocol ProxyDirectory: Sendable {
    /// The active session a client names in its startup packet, or nil.
    func ticket(forSession id: String) async -> ProxyTicket?
    /// A statement the guardrails put under review: asks for a review, or uses an approval of
    /// exactly this text in this session (once).
    func review(_ statement: StatementUnderReview) async -> ReviewOutcome
}

/// A statement the guardrails put under review, as the session sent it.
public struct StatementUnderReview: Sendable {
    public var sessionID: String
    public var identity: String
    public var target: String
    public var role: String
    /// The exact text: an approval is bound to it (and shown to reviewers; never in the ledger).
    public var sql: String
    public var normalized: String
    public var fingerprint: String
    public var statementClass: StatementClass
    public var relations: [String]
    /// Why it is under review (the guardrail and its reason).
    public var rule: String
    public var reason: String
    /// The client is inside a transaction block (what runs as the owner would not be part of it).
    public var inTransaction: Bool
    /// What the proxy read in each statement, with the session's state (its prepared
    /// statements, its search path): the broker judges these again under the policy in force.
    public var facts: [StatementFacts]

    public init(sessionID: String, identity: String, target: String, role: String, sql: String, normalized: String, fingerprint: String,
                statementClass: StatementClass, relations: [String], rule: String, reason: String, inTransaction: Bool,
                facts: [StatementFacts] = []) {
        self.facts = facts
        self.sessionID = sessionID
        self.identity = identity
        self.target = target
        self.role = role
        self.sql = sql
        self.normalized = normalized
        self.fingerprint = fingerprint
        self.statementClass = statementClass
        self.relations = relations
        self.rule = rule
        self.reason = reason
        self.inTransaction = inTransaction
    }
}

/// What became of a statement under review.
public enum ReviewOutcome: Sendable, Equatable {
    /// Waiting for reviewers: the client is refused with the request's id.
    case pending(request: String, approvers: [String])
    /// Refused outright, with why (no reviewers in the policy, a denied request, ...).
    case refused(String)
    /// Approved: it runs once in the session itself, with the session's privileges.
    case runInSession(request: String)
    /// Approved DDL or DCL: the broker ran it as `role` through its admin connection.
    case ranAsOwner(request: String, role: String, tag: String)
    case failedAsOwner(request: String, role: String, sqlState: String, message: String)
}
