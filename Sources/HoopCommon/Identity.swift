import Foundation

/// Who is calling the broker, as established by the broker itself (kernel peer credentials,
/// or later a signed token) — never as claimed by the client.
public struct Identity: Sendable, Hashable, CustomStringConvertible {
    /// `user:NAME` for people, `service:NAME` for service tokens.
    public let principal: Principal
    /// Operating-system groups of the user (from the user database), as `osgroup:` names.
    public let osGroups: [String]
    public let uid: UInt32?
    /// `peer`, `token` or `oidc`.
    public let method: String
    /// Groups the identity provider put in the token (`idpgroup:` names); empty otherwise.
    public let providerGroups: [String]
    /// For `oidc`: the provider (`iss`) and its name for the user (`sub`), as the ledger keeps them.
    public let issuer: String?
    public let subject: String?
    /// The id of the bearer token that established it.
    public let tokenID: String?
    /// Who issued that token, nearest first, up to a person the kernel vouched for: the
    /// identities this one acts for. Empty for peer credentials.
    public let issuers: [String]
    /// When the identity stops being valid (its token's expiry); nil for peer credentials.
    public let expiresAt: Date?

    public init(principal: Principal, osGroups: [String] = [], uid: UInt32? = nil, method: String, tokenID: String? = nil,
                issuers: [String] = [], expiresAt: Date? = nil, providerGroups: [String] = [], issuer: String? = nil,
                subject: String? = nil) {
        self.providerGroups = providerGroups
        self.issuer = issuer
        self.subject = subject
        self.principal = principal
        self.osGroups = osGroups
        self.uid = uid
        self.method = method
        self.tokenID = tokenID
        self.issuers = issuers
        self.expiresAt = expiresAt
    }

    /// Whether one of the two acts for the other: the same principal, or one issued (directly
    /// or through tokens it issued) the token of the other. Such a pair is one person deciding.
    public static func actsFor(_ one: (principal: String, issuers: [String]), _ other: (principal: String, issuers: [String])) -> Bool {
        one.principal == other.principal || one.issuers.contains(other.principal) || other.issuers.contains(one.principal)
    }

    public var description: String { principal.description }
}
