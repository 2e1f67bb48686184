/// Who is calling the broker, as established by the broker itself (kernel peer credentials,
/// or later a signed token) — never as claimed by the client.
public struct Identity: Sendable, Hashable, CustomStringConvertible {
    /// `user:NAME` for people, `service:NAME` for service tokens.
    public let principal: Principal
    /// Operating-system groups of the user (from the user database), as `osgroup:` names.
    public let osGroups: [String]
    public let uid: UInt32?
    /// `peer` or `token`.
    public let method: String
    /// The id of the bearer token that established it.
    public let tokenID: String?

    public init(principal: Principal, osGroups: [String] = [], uid: UInt32? = nil, method: String, tokenID: String? = nil) {
        self.principal = principal
        self.osGroups = osGroups
        self.uid = uid
        self.method = method
        self.tokenID = tokenID
    }

    public var description: String { principal.description }
}
