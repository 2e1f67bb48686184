import Foundation

/// `POST /v1/tokens`: an admin issues a token for another identity.
public struct TokenIssue: Codable, Sendable {
    /// `user:NAME` or `service:NAME`.
    public var subject: String
    public var ttlSeconds: Int

    public init(subject: String, ttlSeconds: Int) {
        self.subject = subject
        self.ttlSeconds = ttlSeconds
    }
}

/// A token's facts; `token` (the secret) only in the answer to its issue.
public struct TokenInfo: Codable, Sendable {
    public var id: String
    public var subject: String
    public var issuedBy: String
    public var issuedAt: Date
    public var expiresAt: Date
    public var revoked: Bool
    /// The bearer token itself: shown once, never stored by the broker, never logged.
    public var token: String?
    /// In the answer to a revocation: the sessions it ended and the requests it withdrew.
    public var sessionsEnded: Int?
    public var requestsWithdrawn: Int?

    public init(id: String, subject: String, issuedBy: String, issuedAt: Date, expiresAt: Date, revoked: Bool, token: String?) {
        self.id = id
        self.subject = subject
        self.issuedBy = issuedBy
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
        self.revoked = revoked
        self.token = token
    }
}

public struct TokenList: Codable, Sendable {
    public var tokens: [TokenInfo]
    public init(tokens: [TokenInfo]) { self.tokens = tokens }
}
