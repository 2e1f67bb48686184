import Foundation

/// `POST /v1/requests`: ask reviewers for a role that needs approval.
public struct RequestCreate: Codable, Sendable {
    public var target: String
    public var role: String
    public var reason: String
    public var ttlSeconds: Int?

    public init(target: String, role: String, reason: String, ttlSeconds: Int?) {
        self.target = target
        self.role = role
        self.reason = reason
        self.ttlSeconds = ttlSeconds
    }
}

/// A request, as the broker reports it.
public struct RequestInfo: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable, CaseIterable {
        case pending, approved, denied, withdrawn, expired, used
    }

    public struct Vote: Codable, Sendable, Equatable {
        public var approver: String
        /// `approve` or `deny`
        public var verdict: String
        public var comment: String?
        public var at: Date
        public var selfApproval: Bool

        public init(approver: String, verdict: String, comment: String?, at: Date, selfApproval: Bool) {
            self.approver = approver
            self.verdict = verdict
            self.comment = comment
            self.at = at
            self.selfApproval = selfApproval
        }
    }

    public var id: String
    /// `access` (a role) or `statement` (a reviewed statement).
    public var kind: String
    public var requester: String
    public var target: String
    public var role: String
    public var reason: String
    public var ttlSeconds: Int
    public var createdAt: Date
    /// A pending request expires then.
    public var expiresAt: Date
    public var state: State
    /// Who may approve, as written in the policy.
    public var approvers: [String]
    /// Distinct approvals needed.
    public var needed: Int
    public var everyGroup: Bool
    public var votes: [Vote]
    /// An approval must be used before this.
    public var approvalExpiresAt: Date?
    /// The session it produced.
    public var session: String?
    /// SHA-256 of exactly what was asked: what an approval is bound to.
    public var binding: String
    /// A statement review: the text as the session sent it (normalized after a broker restart).
    public var statement: String?
    public var fingerprint: String?

    public init(id: String, kind: String, requester: String, target: String, role: String, reason: String, ttlSeconds: Int,
                createdAt: Date, expiresAt: Date, state: State, approvers: [String], needed: Int, everyGroup: Bool,
                votes: [Vote], approvalExpiresAt: Date?, session: String?, binding: String) {
        self.id = id
        self.kind = kind
        self.requester = requester
        self.target = target
        self.role = role
        self.reason = reason
        self.ttlSeconds = ttlSeconds
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.state = state
        self.approvers = approvers
        self.needed = needed
        self.everyGroup = everyGroup
        self.votes = votes
        self.approvalExpiresAt = approvalExpiresAt
        self.session = session
        self.binding = binding
    }

    public var approvals: Int { votes.filter { $0.verdict == "approve" }.count }
    /// How many different people must approve: `needed`, and with `every_group` at least one
    /// per principal listed (one person stands for one group).
    public var peopleNeeded: Int { everyGroup ? max(needed, approvers.count) : needed }
}

/// `POST /v1/requests/{id}/approve` and `/deny`.
public struct RequestVote: Codable, Sendable {
    public var comment: String?
    public init(comment: String?) { self.comment = comment }
}

/// `GET /v1/requests?filter=...`
public struct RequestList: Codable, Sendable {
    public var requests: [RequestInfo]
    public init(requests: [RequestInfo]) { self.requests = requests }
}
