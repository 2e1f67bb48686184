import Foundation

/// `audit report`: what an auditor asks about a period, read off the ledger.
public struct AuditReport: Sendable, Codable, Equatable {
    /// Who had sessions on which target and role.
    public struct Access: Sendable, Codable, Equatable {
        public var identity: String
        public var target: String
        public var role: String
        public var sessions: Int
        public var first: Int64
        public var last: Int64

        public init(identity: String, target: String, role: String, sessions: Int, first: Int64, last: Int64) {
            self.identity = identity
            self.target = target
            self.role = role
            self.sessions = sessions
            self.first = first
            self.last = last
        }
    }

    /// An access or statement request and what became of it.
    public struct Approval: Sendable, Codable, Equatable {
        public var request: String
        public var kind: String
        public var requester: String
        public var target: String
        public var role: String
        public var reason: String
        /// For statement reviews: the normalized text.
        public var statement: String?
        /// The last state: pending, approved, denied, withdrawn, expired, used.
        public var state: String
        /// `user:alice approve`, `user:carol deny`, in order.
        public var votes: [String]
        public var created: Int64

        public init(request: String, kind: String, requester: String, target: String, role: String, reason: String, statement: String? = nil, state: String, votes: [String], created: Int64) {
            self.request = request
            self.kind = kind
            self.requester = requester
            self.target = target
            self.role = role
            self.reason = reason
            self.statement = statement
            self.state = state
            self.votes = votes
            self.created = created
        }
    }

    /// A column that came back masked at least once: who read it, and how.
    public struct SensitiveColumn: Sendable, Codable, Equatable {
        public var column: String
        public var identities: [String]
        public var statements: Int
        public var masked: Int
        public var clear: Int

        public init(column: String, identities: [String], statements: Int, masked: Int, clear: Int) {
            self.column = column
            self.identities = identities
            self.statements = statements
            self.masked = masked
            self.clear = clear
        }
    }

    /// A statement that was denied or held for review.
    public struct Refusal: Sendable, Codable, Equatable {
        public var time: Int64
        public var identity: String
        public var target: String
        public var session: String
        public var decision: String
        public var sql: String
        public var request: String?

        public init(time: Int64, identity: String, target: String, session: String, decision: String, sql: String, request: String? = nil) {
            self.time = time
            self.identity = identity
            self.target = target
            self.session = session
            self.decision = decision
            self.sql = sql
            self.request = request
        }
    }

    /// Sealed values opened by an auditor: who, which session, with which key, why.
    public struct Reveal: Sendable, Codable, Equatable {
        public var time: Int64
        public var identity: String
        public var session: String
        public var key: String
        public var reason: String

        public init(time: Int64, identity: String, session: String, key: String, reason: String) {
            self.time = time
            self.identity = identity
            self.session = session
            self.key = key
            self.reason = reason
        }
    }

    public var since: Int64
    public var until: Int64
    public var access: [Access]
    public var approvals: [Approval]
    public var sensitiveColumns: [SensitiveColumn]
    public var refusals: [Refusal]
    /// All of them, when more than `refusals` lists.
    public var refusalCount: Int
    public var verification: VerificationReport
    public var reveals: [Reveal]?

    public init(since: Int64, until: Int64, access: [Access], approvals: [Approval], sensitiveColumns: [SensitiveColumn], refusals: [Refusal], refusalCount: Int, verification: VerificationReport, reveals: [Reveal]? = nil) {
        self.since = since
        self.until = until
        self.access = access
        self.approvals = approvals
        self.sensitiveColumns = sensitiveColumns
        self.refusals = refusals
        self.refusalCount = refusalCount
        self.verification = verification
        self.reveals = reveals
    }

    public static let refusalLimit = 500
}
