import Foundation
import HoopBrokerAPI
import HoopCommon
import HoopLedger
import HoopOIDC
import HoopPolicy

extension Broker {
    /// Who is calling: the bearer token's subject when one is presented (and valid — a bad token
    /// is refused, never ignored), else the kernel's word about the peer. A caller from the
    /// network has no peer credentials: it presents a token or is refused.
    public func authenticate(_ origin: CallOrigin, authorization: String?) async throws(BrokerFailure) -> Identity {
        guard let authorization else {
            guard case .local(let peer) = origin else {
                throw BrokerFailure(.unauthenticated, "sign in first: hoopctl login (this broker knows callers from the network by their tokens only)")
            }
            return peer.identity()
        }
        // The scheme is case-insensitive (RFC 9110 11.1); the token is what follows one space.
        guard authorization.count > 7, authorization.prefix(7).lowercased() == "bearer " else {
            throw BrokerFailure(.unauthenticated, "unsupported authorization scheme")
        }
        let token = String(authorization.dropFirst("Bearer ".count))
        if token.hasPrefix(TokenAuthority.prefix + ".") { return try await brokerTokenIdentity(token) }
        guard let oidc = tokens.oidc else {
            throw BrokerFailure(.unauthenticated, "the token is not one of this broker's, and the policy names no identity provider")
        }
        let verified: VerifiedToken
        do {
            verified = try await oidc.verify(token)
        } catch {
            throw BrokerFailure(.unauthenticated, "the identity provider's token was refused (\(error.check.rawValue)): \(error.message)")
        }
        let name = try Self.providerUserName(verified, claim: oidc.settings.usernameClaim, issuer: oidc.settings.issuer)
        let identity = Identity(principal: Principal(kind: .user, name: name), method: "oidc", expiresAt: verified.expiresAt,
                                providerGroups: verified.groups.filter(Principal.isValidName).sorted(), issuer: verified.issuer,
                                subject: verified.subject)
        // A name stays with the account at the provider that first used it (iss, sub): another
        // account given the same address later is not that person.
        let account = ProviderAccount(issuer: verified.issuer, subject: verified.subject)
        if let bound = tokens.providerAccounts[identity.principal.description], bound != account {
            // (The other account's subject is not said: it is not the caller's to know.)
            throw BrokerFailure(.unauthenticated, "\(identity.principal) belongs to another account at the provider; this one (subject \(verified.subject)) may not use it")
        }
        if tokens.providerAccounts[identity.principal.description] == nil {
            // Bound in the ledger before the name is used: the binding outlives a restart.
            try record(identityEntries(identity))
            tokens.providerAccounts[identity.principal.description] = account
        }
        return identity
    }

    /// A provider's name for a user, kept apart from this host's users and the broker's own
    /// subjects: it always holds an `@`. An email (the default claim) must be an address; any
    /// other claim gets `@` and the issuer's host added (`alice` → `alice@login.example.com`), so
    /// no provider account can be `user:root` or another local name.
    static func providerUserName(_ verified: VerifiedToken, claim: String, issuer: String) throws(BrokerFailure) -> String {
        var name = verified.username
        if claim == "email" {
            let parts = name.split(separator: "@", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !parts[1].hasPrefix("."), !parts[1].hasSuffix(".") else {
                throw BrokerFailure(.unauthenticated, "the token's email is not an address (name@domain)")
            }
        } else if !name.contains("@") {
            name += "@" + (URL(string: issuer)?.host ?? "provider")
        }
        guard Principal.isValidName(name) else {
            throw BrokerFailure(.unauthenticated, "the token's user name is not a valid name (letters, digits, '.', '_', '-', '@')")
        }
        return name
    }

    /// Which provider account each provider user name belongs to, from the ledger's identity records.
    func recoverProviderAccounts() {
        guard let records = try? ledger.records(LedgerQuery(kinds: [.identity])) else { return }
        for record in records { applyIdentityRecord(record) }
    }

    private func brokerTokenIdentity(_ token: String) async throws(BrokerFailure) -> Identity {
        var verified: (claims: TokenAuthority.Claims, byPeer: Bool)
        do {
            verified = try tokens.authority.verify(token, peers: tokens.peerKeys)
        } catch {
            // A broker that joined since the last heartbeat: its key, once.
            guard sessions.store.isShared else { throw error }
            refreshPeerTokenKeys()
            verified = try tokens.authority.verify(token, peers: tokens.peerKeys)
        }
        let claims = verified.claims
        // Another broker's token counts only once its issue is in the ledger (followed from
        // there): a key alone, taken from wherever, mints no token nobody issued.
        if verified.byPeer, tokens.issued[claims.id] == nil {
            await followLedger()
            guard tokens.issued[claims.id] != nil else {
                throw BrokerFailure(.unauthenticated, "token \(claims.id) has no issue record in the ledger")
            }
        }
        guard !tokens.revoked.contains(claims.id) else { throw BrokerFailure(.unauthenticated, "token \(claims.id) was revoked") }
        if let revoked = (claims.via ?? []).first(where: tokens.revoked.contains) {
            throw BrokerFailure(.unauthenticated, "token \(claims.id) was issued through token \(revoked), which was revoked")
        }
        guard let principal = try? Principal(parsing: claims.sub), principal.kind == .user || principal.kind == .service else {
            throw BrokerFailure(.unauthenticated, "the token's subject is not a user or a service")
        }
        return Identity(principal: principal, method: "token", tokenID: claims.id, issuers: claims.by ?? [],
                        expiresAt: Date(timeIntervalSince1970: TimeInterval(claims.exp)))
    }

    /// The tokens a token was issued through, nearest first (from what this broker issued).
    func tokenLine(_ id: String) -> [String] {
        var line: [String] = [], next = tokens.parents[id]
        while let parent = next, !line.contains(parent) {
            line.append(parent)
            next = tokens.parents[parent]
        }
        return line
    }

    /// Whether the token, or one it was issued through, was revoked.
    func tokenIsRevoked(_ id: String) -> Bool {
        tokens.revoked.contains(id) || tokenLine(id).contains(where: tokens.revoked.contains)
    }

    /// Whether `id` is `revoked` or was issued through it.
    func token(_ id: String?, descendsFrom revoked: String) -> Bool {
        guard let id else { return false }
        return id == revoked || tokenLine(id).contains(revoked)
    }

    /// `hoopctl token issue`: admins only; at most 30 days. The token is in the answer and nowhere else.
    public func issueToken(_ request: TokenIssue, identity: Identity) throws(BrokerFailure) -> TokenInfo {
        try requireAdmin(identity, to: "issue tokens")
        guard let subject = try? Principal(parsing: request.subject), subject.kind == .user || subject.kind == .service else {
            throw BrokerFailure(.invalid, "--subject must be user:NAME or service:NAME")
        }
        // Names with an @ are the identity provider's (bound to its accounts): a token cannot be one.
        if subject.kind == .user, subject.name.contains("@"), policy.identity.oidc != nil {
            throw BrokerFailure(.invalid, "--subject \(subject): names with an @ belong to the identity provider's accounts; choose another")
        }
        guard request.ttlSeconds > 0, Int64(request.ttlSeconds) <= TokenAuthority.maxTTL else {
            throw BrokerFailure(.invalid, "--ttl must be between 1s and 30d")
        }
        let now = Date()
        // A token issued with a token acts for its issuer's line too, and lives no longer than it.
        var expires = Int64(now.timeIntervalSince1970) + Int64(request.ttlSeconds)
        // (A provider's sign-in is refreshed past its access token's minutes: as with peer credentials, no cap.)
        if identity.method == "token", let parent = identity.expiresAt { expires = min(expires, Int64(parent.timeIntervalSince1970)) }
        let line = identity.tokenID.map { [$0] + tokenLine($0) } ?? []
        let claims = TokenAuthority.Claims(id: Broker.randomHex(bytes: 6), sub: subject.description,
                                           iat: Int64(now.timeIntervalSince1970), exp: expires,
                                           by: [identity.principal.description] + identity.issuers, via: line)
        let token: String
        do { token = try tokens.authority.issue(claims) } catch { throw BrokerFailure(.internal, "cannot sign the token: \(error)") }
        let info = TokenInfo(id: claims.id, subject: claims.sub, issuedBy: identity.principal.description, issuedAt: now,
                             expiresAt: Date(timeIntervalSince1970: TimeInterval(claims.exp)), revoked: false, token: nil)
        var details = ["id": claims.id, "subject": claims.sub, "expires": UTCTime.seconds(claims.exp * 1_000_000),
                       "issuers": (claims.by ?? []).joined(separator: " ")]
        details["parent"] = identity.tokenID
        try record(identityEntries(identity) + [LedgerEntry(EventBody(name: "token.issued", message: "token \(claims.id) for \(claims.sub)",
                                                                      details: details),
                                                            identity: identity.principal.description)])
        tokens.issued[claims.id] = info
        tokens.parents[claims.id] = identity.tokenID
        var answer = info
        answer.token = token
        return answer
    }

    /// `hoopctl token revoke`: admins only; the token stops working at once, the sessions opened
    /// with it end (connections cut, roles dropped) and its pending requests are withdrawn.
    public func revokeToken(_ id: String, identity: Identity) async throws(BrokerFailure) -> TokenInfo {
        try requireAdmin(identity, to: "revoke tokens")
        let matches = tokens.issued.keys.filter { $0.hasPrefix(id) && id.count >= 4 || $0 == id }
        guard matches.count == 1, var info = tokens.issued[matches[0]] else {
            throw BrokerFailure(matches.isEmpty ? .notFound : .invalid, matches.isEmpty ? "no token '\(id)'" : "'\(id)' matches \(matches.count) tokens")
        }
        // The tokens issued through it go with it (their holders act for its holder).
        let issuedThrough = tokens.issued.keys.filter { $0 != info.id && token($0, descendsFrom: info.id) && !tokens.revoked.contains($0) }.sorted()
        try record([LedgerEntry(EventBody(name: "token.revoked", message: "token \(info.id) of \(info.subject)",
                                          details: ["id": info.id, "subject": info.subject]),
                                identity: identity.principal.description)]
                   + issuedThrough.map { child in
                       LedgerEntry(EventBody(name: "token.revoked", message: "token \(child): issued through token \(info.id)",
                                             details: ["id": child, "subject": tokens.issued[child]?.subject ?? "-", "through": info.id]),
                                   identity: identity.principal.description)
                   })
        for id in [info.id] + issuedThrough {
            tokens.revoked.insert(id)
            tokens.issued[id]?.revoked = true
        }
        info.revoked = true
        var withdrawn = 0
        for (requestID, request) in requests.byID where token(request.tokenID, descendsFrom: info.id) && [.pending, .approved].contains(request.info.state) {
            withdraw(requestID, reason: "token \(info.id) revoked", by: identity.principal.description)
            withdrawn += 1
        }
        // Votes cast with it no longer count (a request they approved may be pending again).
        for (requestID, request) in requests.byID where [.pending, .approved].contains(request.info.state) {
            let revokedVoters = Set(request.voteTokens.filter { token($0.value, descendsFrom: info.id) }.keys)
            guard !revokedVoters.isEmpty else { continue }
            reroute(requestID, to: request.rule, counting: request.approvals.filter { !revokedVoters.contains($0.key) },
                    why: "the vote of \(revokedVoters.sorted().joined(separator: ", ")) was cast with token \(info.id), revoked",
                    by: identity.principal.description)
        }
        let opened = sessions.byID.values.filter { token($0.tokenID, descendsFrom: info.id) }.map(\.info.id)
        for session in opened {
            await revoke(session, endedBy: "token-revoked", exitCode: nil, by: identity.principal.description)
        }
        var answer = info
        answer.sessionsEnded = opened.count
        answer.requestsWithdrawn = withdrawn
        return answer
    }

    public func listTokens(identity: Identity) throws(BrokerFailure) -> TokenList {
        try requireAdmin(identity, to: "list tokens")
        return TokenList(tokens: tokens.issued.values.sorted { $0.issuedAt < $1.issuedAt })
    }

    /// Tokens issued and revoked in the last 30 days, from the ledger: revocations survive restarts.
    func recoverTokens() {
        let since = Date().addingTimeInterval(-TimeInterval(TokenAuthority.maxTTL + 86400))
        guard let records = try? ledger.records(LedgerQuery(since: since, kinds: [.event])) else { return }
        for record in records { _ = applyTokenRecord(record) }
    }

    /// A `token.issued` or `token.revoked` event applied to the tokens in memory; returns the
    /// id of a token it revoked.
    func applyTokenRecord(_ record: LedgerRecord) -> String? {
        guard let body = record.decode(EventBody.self), let details = body.details, let id = details["id"] else { return nil }
        switch body.name {
        case "token.issued":
            let expires = details["expires"].flatMap { ISO8601DateFormatter().date(from: $0) } ?? record.time
            tokens.issued[id] = TokenInfo(id: id, subject: details["subject"] ?? "-", issuedBy: record.identity ?? "-",
                                         issuedAt: record.time, expiresAt: expires, revoked: tokens.revoked.contains(id), token: nil)
            tokens.parents[id] = details["parent"]
            return nil
        case "token.revoked":
            tokens.revoked.insert(id)
            tokens.issued[id]?.revoked = true
            return id
        default:
            return nil
        }
    }

    /// A provider name's binding to its account, from an identity record (the first binding stays).
    func applyIdentityRecord(_ record: LedgerRecord) {
        guard let body = record.decode(IdentityBody.self), body.method == "oidc", let provider = body.provider, let subject = body.subject,
              tokens.providerAccounts[body.principal] == nil else { return }
        tokens.providerAccounts[body.principal] = ProviderAccount(issuer: provider, subject: subject)
    }
}
