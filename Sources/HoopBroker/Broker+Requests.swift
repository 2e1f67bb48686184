import Crypto
import Foundation
import HoopBrokerAPI
import HoopCommon
import HoopControlStore
import HoopLedger
import HoopPolicy
import HoopSQL

/// A request the broker tracks, with the rule it was created under and who voted how.
struct PendingRequest: Sendable {
    var info: RequestInfo
    var rule: ApprovalRule
    /// approver → what the approver counted as when voting.
    var approvals: [String: Set<Principal>] = [:]
    /// A statement review's text without its literals: what leaves the broker in webhooks.
    var normalizedStatement: String?
    /// The bearer token it was asked with: revoking the token withdraws it.
    var tokenID: String?
    /// Who issued that token, nearest first: none of them decides it.
    var requesterIssuers: [String] = []
    /// When that token expires: the request goes with it.
    var identityExpiresAt: Date?
    /// approver → the token they voted with: revoking it takes the vote back.
    var voteTokens: [String: String] = [:]
    /// A statement review: what the proxy read in it, with the session's state (kept in
    /// memory; a restarted broker judges it again when the statement is sent again).
    var reviewFacts: [StatementFacts] = []
}

extension PendingRequest {
    /// Under a new rule: only `votes` count (approver → what they count as now), the request
    /// lives as long as the new rule says from its creation, and it is approved only if the new
    /// rule is satisfied by them. An approval's deadline counts from when it was given (now, if
    /// the new rule gives it), and is never later than it was.
    mutating func reroute(to rule: ApprovalRule, counting votes: [String: Set<Principal>], now: Date = Date()) {
        let approvedAt = info.state == .approved
            ? info.approvalExpiresAt.map { $0.addingTimeInterval(-TimeInterval(self.rule.approvalTTL.seconds)) } ?? now : now
        self.rule = rule
        approvals = votes
        voteTokens = voteTokens.filter { votes[$0.key] != nil }
        info.votes = info.votes.filter { $0.verdict != "approve" || votes[$0.approver] != nil }
        info.approvers = rule.from.map(\.description)
        info.needed = rule.count
        info.everyGroup = rule.everyGroup
        info.expiresAt = info.createdAt.addingTimeInterval(TimeInterval(rule.requestTTL.seconds))
        guard info.state == .approved || info.state == .pending else { return }
        if rule.isSatisfied(by: Array(approvals.values)) {
            let latest = approvedAt.addingTimeInterval(TimeInterval(rule.approvalTTL.seconds))
            info.approvalExpiresAt = min(info.approvalExpiresAt ?? latest, latest)
            info.state = .approved
        } else {
            info.approvalExpiresAt = nil
            info.state = .pending
        }
    }
}

extension RequestBody {
    /// The rule's settings, as `created` and `rerouted` records keep them.
    mutating func keep(_ rule: ApprovalRule) {
        approvers = rule.from.map(\.description)
        needed = rule.count
        everyGroup = rule.everyGroup
        requestTTLSeconds = Int(rule.requestTTL.seconds)
        approvalTTLSeconds = Int(rule.approvalTTL.seconds)
        maxSessionSeconds = rule.maxSession.map { Int($0.seconds) }
        allowSelfApproval = rule.allowSelfApproval.map(\.description)
    }

    /// The rule a record kept; settings it lacks (records of older brokers) from `fallback`.
    func rule(fallback: ApprovalRule?) -> ApprovalRule {
        func principals(_ names: [String]?) -> [Principal]? { names.map { $0.compactMap { try? Principal(parsing: $0) } } }
        return ApprovalRule(from: principals(approvers) ?? fallback?.from ?? [], count: needed ?? fallback?.count ?? 1,
                            everyGroup: everyGroup ?? fallback?.everyGroup ?? false,
                            requestTTL: requestTTLSeconds.map { TimeSpan(seconds: Int64($0)) } ?? fallback?.requestTTL ?? ApprovalRule.defaultRequestTTL,
                            approvalTTL: approvalTTLSeconds.map { TimeSpan(seconds: Int64($0)) } ?? fallback?.approvalTTL ?? ApprovalRule.defaultApprovalTTL,
                            maxSession: maxSessionSeconds.map { TimeSpan(seconds: Int64($0)) } ?? (requestTTLSeconds == nil ? fallback?.maxSession : nil),
                            allowSelfApproval: principals(allowSelfApproval) ?? fallback?.allowSelfApproval ?? [])
    }
}

extension Broker {
    // MARK: Asking

    public func createRequest(_ ask: RequestCreate, identity: Identity) throws(BrokerFailure) -> RequestInfo {
        guard let target = policy.targets[ask.target] else { throw BrokerFailure(.notFound, "unknown target '\(ask.target)'") }
        guard let role = target.roles[ask.role] else {
            throw BrokerFailure(.invalid, "target '\(target.name)' has no role '\(ask.role)'")
        }
        let allowed = policy.roles(of: identity, on: target.name)
        guard allowed.contains(role.name) else {
            throw BrokerFailure(.denied, "\(identity) may not use role '\(role.name)' on '\(target.name)'" + (allowed.isEmpty ? "" : " (yours: \(allowed.joined(separator: ", ")))"))
        }
        guard let rule = role.approval else {
            throw BrokerFailure(.invalid, "role '\(role.name)' on '\(target.name)' needs no approval: use it directly")
        }
        let reason = ask.reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !reason.isEmpty else { throw BrokerFailure(.invalid, "a request needs a --reason for its reviewers") }
        let longest = min(role.maxTTL, rule.maxSession ?? role.maxTTL)
        let ttl = ask.ttlSeconds.map { TimeSpan(seconds: Int64($0)) } ?? min(role.defaultTTL, longest)
        guard ttl.seconds > 0 else { throw BrokerFailure(.invalid, "--ttl must be longer than 0s") }
        guard ttl <= longest else {
            throw BrokerFailure(.invalid, "--ttl \(ttl) is longer than an approval of role '\(role.name)' can give (\(longest))")
        }
        let now = Date()
        let id = Broker.randomHex(bytes: 6)
        let info = RequestInfo(id: id, kind: "access", requester: identity.principal.description, target: target.name, role: role.name,
                               reason: reason, ttlSeconds: Int(ttl.seconds), createdAt: now,
                               expiresAt: now.addingTimeInterval(TimeInterval(rule.requestTTL.seconds)), state: .pending,
                               approvers: rule.from.map(\.description), needed: rule.count, everyGroup: rule.everyGroup, votes: [],
                               approvalExpiresAt: nil, session: nil,
                               binding: Broker.binding(kind: "access", requester: identity.principal.description, target: target.name,
                                                       role: role.name, ttlSeconds: Int(ttl.seconds), reason: reason))
        var created = RequestBody(requestID: id, state: "created", role: role.name, reason: reason, ttlSeconds: info.ttlSeconds,
                                  requestKind: info.kind, expiresAt: Broker.iso(info.expiresAt), binding: info.binding,
                                  approvers: info.approvers, needed: info.needed, everyGroup: info.everyGroup)
        created.token = identity.tokenID
        created.keep(rule)
        created.issuers = identity.issuers.isEmpty ? nil : identity.issuers
        created.identityExpiresAt = identity.expiresAt.map(Broker.iso)
        try record(identityEntries(identity) + [LedgerEntry(created, identity: info.requester, target: target.name, time: now)])
        requests.byID[id] = PendingRequest(info: info, rule: rule, tokenID: identity.tokenID, requesterIssuers: identity.issuers,
                                      identityExpiresAt: identity.expiresAt)
        logger.info("request created", metadata: ["request": "\(id)", "requester": "\(info.requester)", "role": "\(role.name)"])
        notify(.requestCreated, info)
        return info
    }

    /// The caller's own request, a request they may decide, or any request for admins and auditors.
    func findRequest(_ id: String, identity: Identity) throws(BrokerFailure) -> PendingRequest {
        let matches = id.count >= 4 ? requests.byID.values.filter { $0.info.id.hasPrefix(id) } : requests.byID.values.filter { $0.info.id == id }
        guard !matches.isEmpty else { throw BrokerFailure(.notFound, "no request '\(id)'") }
        guard matches.count == 1 else {
            throw BrokerFailure(.invalid, "'\(id)' matches \(matches.count) requests: \(matches.map(\.info.id).sorted().joined(separator: ", "))")
        }
        let request = matches[0]
        guard canSee(request, identity) else { throw BrokerFailure(.notFound, "no request '\(id)'") }
        return request
    }

    func canSee(_ request: PendingRequest, _ identity: Identity) -> Bool {
        request.info.requester == identity.principal.description || policy.isAuditor(identity)
            || !policy.principals(of: identity).isDisjoint(with: request.rule.from)
    }

    public func showRequest(_ id: String, identity: Identity) throws(BrokerFailure) -> RequestInfo {
        expireRequests()
        return try findRequest(id, identity: identity).info
    }

    public func listRequests(filter: String, identity: Identity) -> RequestList {
        expireRequests()
        let me = identity.principal.description, mine = policy.principals(of: identity)
        let visible = requests.byID.values.filter { canSee($0, identity) }.filter { request in
            switch filter {
            case "mine": return request.info.requester == me
            case "all": return true
            default:  // pending: what waits for the caller, or on them
                return request.info.state == .pending && (request.info.requester == me || !mine.isDisjoint(with: request.rule.from))
            }
        }
        return RequestList(requests: visible.map(\.info).sorted { $0.createdAt < $1.createdAt })
    }

    // MARK: Deciding

    public func vote(_ id: String, approve: Bool, comment: String?, identity: Identity) throws(BrokerFailure) -> RequestInfo {
        expireRequests()
        var request = try findRequest(id, identity: identity)
        let me = identity.principal.description
        switch request.info.state {
        case .pending: break
        case .expired, .withdrawn, .used:
            throw BrokerFailure(.approvalExpired, "request \(request.info.id) is \(request.info.state.rawValue): it can no longer be decided")
        case .approved, .denied:
            throw BrokerFailure(.invalid, "request \(request.info.id) was \(request.info.state.rawValue) already")
        }
        guard identity.principal.kind == .user else {
            throw BrokerFailure(.denied, "\(identity) may not decide request \(request.info.id): a service decides nothing, approvals are made by people")
        }
        if me != request.info.requester,
           Identity.actsFor((me, identity.issuers), (request.info.requester, request.requesterIssuers)) {
            let how = identity.issuers.contains(request.info.requester)
                ? "\(request.info.requester) issued the token you decide with (\(([me] + identity.issuers).joined(separator: " ← ")))"
                : "\(me) issued the token it was asked with (\(([request.info.requester] + request.requesterIssuers).joined(separator: " ← ")))"
            throw BrokerFailure(.denied, "\(identity) may not decide request \(request.info.id): \(how); "
                                + "an identity someone issued never decides their requests, nor they its")
        }
        let principals = policy.principals(of: identity)
        let (refusal, selfApproval) = request.rule.eligibility(of: principals, requester: request.info.requester, approverName: me)
        if let refusal { throw BrokerFailure(.denied, "\(identity) may not decide request \(request.info.id): \(refusal)") }
        guard request.approvals[me] == nil else {
            throw BrokerFailure(.invalid, "\(identity) voted on request \(request.info.id) already: one vote per identity")
        }
        if !approve, (comment ?? "").trimmingCharacters(in: .whitespaces).isEmpty {
            throw BrokerFailure(.invalid, "a denial needs a --reason")
        }
        let now = Date()
        request.info.votes.append(.init(approver: me, verdict: approve ? "approve" : "deny", comment: comment, at: now, selfApproval: selfApproval))
        var entries = identityEntries(identity) + [
            LedgerEntry(DecisionBody(requestID: request.info.id, verdict: approve ? "approve" : "deny", comment: comment,
                                     selfApproval: selfApproval ? true : nil, principals: principals.map(\.description).sorted(),
                                     issuers: identity.issuers.isEmpty ? nil : identity.issuers, token: identity.tokenID),
                        identity: me, target: request.info.target, time: now),
        ]
        var decided = false
        if approve {
            request.approvals[me] = principals
            request.voteTokens[me] = identity.tokenID
            if request.rule.isSatisfied(by: Array(request.approvals.values)) {
                request.info.state = .approved
                request.info.approvalExpiresAt = now.addingTimeInterval(TimeInterval(request.rule.approvalTTL.seconds))
                entries.append(LedgerEntry(RequestBody(requestID: request.info.id, state: "approved",
                                                       approvalExpiresAt: request.info.approvalExpiresAt.map(Broker.iso)),
                                           identity: me, target: request.info.target, time: now))
                decided = true
            }
        } else {
            request.info.state = .denied
            entries.append(LedgerEntry(RequestBody(requestID: request.info.id, state: "denied", reason: comment),
                                       identity: me, target: request.info.target, time: now))
            decided = true
        }
        try record(entries)
        requests.byID[request.info.id] = request
        logger.info("vote", metadata: ["request": "\(request.info.id)", "by": "\(me)", "approve": "\(approve)", "state": "\(request.info.state)"])
        if decided { notify(.requestDecided, request.info) }
        return request.info
    }

    /// The requester takes it back (Ctrl-C in a waiting `exec`): pending or approved-but-unused.
    public func withdrawRequest(_ id: String, identity: Identity) throws(BrokerFailure) -> RequestInfo {
        var request = try findRequest(id, identity: identity)
        guard request.info.requester == identity.principal.description else {
            throw BrokerFailure(.denied, "only \(request.info.requester) may withdraw request \(request.info.id)")
        }
        guard request.info.state == .pending || request.info.state == .approved else { return request.info }
        request.info.state = .withdrawn
        try record([LedgerEntry(RequestBody(requestID: request.info.id, state: "withdrawn"), identity: identity.principal.description,
                                target: request.info.target)])
        requests.byID[request.info.id] = request
        return request.info
    }

    /// A session that reserved an approval did not start: the approval is usable again (nothing
    /// was recorded as used).
    func releaseApproval(_ id: String, session: String) {
        guard var request = requests.byID[id], request.info.state == .used, request.info.session == session else { return }
        try? requests.store.releaseApproval(id, session: session)
        request.info.state = .approved
        request.info.session = nil
        requests.byID[id] = request
    }

    /// Checks and reserves an approval for a session: bound to exactly what was asked, used once.
    /// The `used` record comes back to be written with the session's own records.
    func useApproval(_ id: String, session: SessionRequest, identity: Identity, sessionID: String) throws(BrokerFailure) -> (RequestInfo, [LedgerEntry]) {
        expireRequests()
        var request = try findRequest(id, identity: identity)
        let info = request.info
        guard info.requester == identity.principal.description else {
            throw BrokerFailure(.denied, "request \(info.id) is \(info.requester)'s, not yours")
        }
        guard info.kind == "access" else {
            throw BrokerFailure(.invalid, "request \(info.id) is a statement review: send the statement again in its session")
        }
        switch info.state {
        case .approved: break
        case .pending: throw BrokerFailure(.approvalRequired, "request \(info.id) is still pending (\(info.approvals) of \(info.needed) approvals)")
        case .denied: throw BrokerFailure(.approvalDenied, "request \(info.id) was denied")
        case .expired, .withdrawn, .used: throw BrokerFailure(.approvalExpired, "request \(info.id) is \(info.state.rawValue)")
        }
        var mismatches: [String] = []
        if session.target != info.target { mismatches.append("target \(info.target)") }
        if let role = session.role, role != info.role { mismatches.append("role \(info.role)") }
        if let ttl = session.ttlSeconds, ttl != info.ttlSeconds { mismatches.append("--ttl \(TimeSpan(seconds: Int64(info.ttlSeconds)))") }
        if let reason = session.reason, reason.trimmingCharacters(in: .whitespacesAndNewlines) != info.reason { mismatches.append("its reason") }
        guard mismatches.isEmpty else {
            throw BrokerFailure(.invalid, "request \(info.id) was approved for \(mismatches.joined(separator: ", ")); ask again for anything else")
        }
        guard info.binding == Broker.binding(kind: info.kind, requester: info.requester, target: info.target, role: info.role,
                                             ttlSeconds: info.ttlSeconds, reason: info.reason) else {
            throw BrokerFailure(.internal, "request \(info.id) does not match what was approved")
        }
        // Brokers sharing a store: one session uses an approval, whichever broker it opens through.
        guard (try? requests.store.claimApproval(info.id, session: sessionID)) == true else {
            throw BrokerFailure(.approvalExpired, "request \(info.id) is used (or the control store cannot say it is not)")
        }
        request.info.state = .used
        request.info.session = sessionID
        requests.byID[info.id] = request
        let entry = LedgerEntry(RequestBody(requestID: info.id, state: "used", session: sessionID),
                                identity: identity.principal.description, target: info.target, session: sessionID)
        return (request.info, [entry])
    }

    // MARK: Policy changes

    /// After a reload (and at start-up): each request still waiting, or approved and unused, is
    /// judged under the policy in force. One the policy would not allow any more is withdrawn;
    /// one it would route to other reviewers, or under other settings, is re-routed: the votes
    /// that still count stay (the request may go back to pending). The ledger says why.
    func judgeRequestsAgain(by actor: String?) {
        for (id, request) in requests.byID where [.pending, .approved].contains(request.info.state) {
            let rule: ApprovalRule
            switch verdictOfPolicy(on: request) {
            case .withdraw(let why):
                withdraw(id, reason: why, by: actor)
                continue
            case .decideUnder(let current):
                rule = current
            }
            // The votes of people who may still decide it, counted as the policy sees them now
            // (their OS groups as they were when they voted): a group they left is not theirs
            // to stand for any more.
            var current: [String: Set<Principal>] = [:]
            for (voter, counted) in request.approvals {
                guard let principal = try? Principal(parsing: voter) else { continue }
                let identity = Identity(principal: principal, osGroups: counted.filter { $0.kind == .osgroup }.map(\.name), method: "peer")
                let now = policy.principals(of: identity)
                if rule.eligibility(of: now, requester: request.info.requester, approverName: voter).refusal == nil { current[voter] = now }
            }
            guard rule != request.rule || current != request.approvals else { continue }
            let dropped = request.approvals.keys.filter { current[$0] == nil }.sorted()
            let why = rule != request.rule
                ? "the policy changed: now \(Self.describe(rule)); was \(Self.describe(request.rule))"
                : dropped.isEmpty ? "the policy changed what its voters count as"
                : "the policy changed who may decide it: the vote of \(dropped.joined(separator: ", ")) no longer counts"
            reroute(id, to: rule, counting: current, why: why, by: actor)
        }
    }

    /// Re-routes a request (a new rule, or fewer votes that count), with the ledger records a
    /// restart replays exactly.
    func reroute(_ id: String, to rule: ApprovalRule, counting votes: [String: Set<Principal>], why: String, by actor: String?) {
        guard let request = requests.byID[id] else { return }
        var updated = request
        updated.reroute(to: rule, counting: votes)
        var body = RequestBody(requestID: id, state: "rerouted", reason: why, expiresAt: Broker.iso(updated.info.expiresAt),
                               approvalExpiresAt: updated.info.approvalExpiresAt.map(Broker.iso))
        body.keep(rule)
        body.kept = votes.keys.sorted()
        body.counted = votes.mapValues { $0.map(\.description).sorted() }
        var entries = [LedgerEntry(body, identity: actor, target: request.info.target)]
        if updated.info.state != request.info.state {
            entries.append(LedgerEntry(RequestBody(requestID: id, state: updated.info.state.rawValue,
                                                   approvalExpiresAt: updated.info.approvalExpiresAt.map(Broker.iso)),
                                       identity: actor, target: request.info.target))
        }
        recordBestEffort(entries)
        requests.byID[id] = updated
        logger.info("request re-routed", metadata: ["request": "\(id)", "why": "\(why)"])
    }

    static func describe(_ rule: ApprovalRule) -> String {
        "\(rule.count) of \(rule.from.map(\.description).joined(separator: ", "))\(rule.everyGroup ? " (every group)" : "")"
            + ", request_ttl \(rule.requestTTL), approval_ttl \(rule.approvalTTL)"
    }

    enum PolicyVerdict { case withdraw(String), decideUnder(ApprovalRule) }

    /// What the policy in force says of a request: withdraw it, or the rule to decide it under.
    func verdictOfPolicy(on request: PendingRequest) -> PolicyVerdict {
        let info = request.info
        guard let target = policy.targets[info.target] else { return .withdraw("target \(info.target) is not in the policy any more") }
        let rule: ApprovalRule
        if info.kind == "statement" {
            guard let statements = target.guardrails.approval else {
                return .withdraw("the policy names no reviewers for statements on \(info.target) any more")
            }
            if let denial = deniedByPolicyInForce(request.reviewFacts, target: target) { return .withdraw(denial) }
            rule = statements
        } else {
            guard let role = target.roles[info.role] else { return .withdraw("role \(info.role) of \(info.target) is not in the policy any more") }
            guard let principal = try? Principal(parsing: info.requester),
                  policy.roles(of: Self.identity(of: principal, tokenID: request.tokenID), on: info.target).contains(info.role) else {
                return .withdraw("the policy no longer gives \(info.requester) role \(info.role) on \(info.target)")
            }
            guard let approval = role.approval else {
                return .withdraw("role \(info.role) needs no approval any more: open the session without --request")
            }
            let longest = min(role.maxTTL, approval.maxSession ?? role.maxTTL)
            guard Int64(info.ttlSeconds) <= longest.seconds else {
                return .withdraw("it asks for \(TimeSpan(seconds: Int64(info.ttlSeconds))); an approval of role \(info.role) now gives at most \(longest)")
            }
            rule = approval
        }
        return .decideUnder(rule)
    }

    /// Takes a request back for the broker (its token expired or was revoked, the policy changed).
    func withdraw(_ id: String, reason: String, by actor: String? = nil) {
        guard var request = requests.byID[id], [.pending, .approved].contains(request.info.state) else { return }
        request.info.state = .withdrawn
        requests.byID[id] = request
        recordBestEffort([LedgerEntry(RequestBody(requestID: id, state: "withdrawn", reason: reason), identity: actor, target: request.info.target)])
        logger.info("request withdrawn", metadata: ["request": "\(id)", "why": "\(reason)"])
    }

    // MARK: Time

    /// Pending requests past their request TTL, and approvals past their approval TTL, expire.
    func expireRequests(now: Date = Date()) {
        for (id, request) in requests.byID {
            if [.pending, .approved].contains(request.info.state), let until = request.identityExpiresAt, now >= until {
                // The token that asked expired: nothing it asked for outlives it.
                withdraw(id, reason: "the token it was asked with (\(request.tokenID ?? "-")) expired", by: nil)
                continue
            }
            let expired = (request.info.state == .pending && now >= request.info.expiresAt)
                || (request.info.state == .approved && now >= (request.info.approvalExpiresAt ?? .distantFuture))
            guard expired else { continue }
            var updated = request
            updated.info.state = .expired
            requests.byID[id] = updated
            recordBestEffort([LedgerEntry(RequestBody(requestID: id, state: "expired"), target: request.info.target)])
            notify(.requestExpired, updated.info)
        }
        // Keep a day of finished requests for `requests --all` and late clients.
        let horizon = now.addingTimeInterval(-86400)
        for (id, request) in requests.byID where request.info.state != .pending && request.info.state != .approved
            && request.info.createdAt < horizon {
            requests.byID[id] = nil
        }
    }

    /// Requests of the last day, rebuilt from the ledger at start-up.
    func recoverRequests() {
        let horizon = policy.targets.values.flatMap { $0.roles.values.compactMap { $0.approval.map { $0.requestTTL.seconds + $0.approvalTTL.seconds } } }.max() ?? 0
        let since = Date().addingTimeInterval(-TimeInterval(max(horizon, 86400) + 3600))
        let headBefore = (try? ledger.head())?.id ?? 0
        guard let records = try? ledger.records(LedgerQuery(since: since, kinds: [.request, .decision])) else { return }
        for record in records { applyRequestRecord(record) }
        // Records other brokers sharing the ledger append are followed from here on.
        requests.followedThrough = max(headBefore, records.last?.id ?? 0)
        expireRequests()
        // A statement review runs only in its session's connections, which ended with the
        // previous process (their secrets died with it): it can never be used now. (Another
        // broker's open session, sharing the store, still has its connections.)
        let othersOpen = sessions.store.isShared
            ? Set(((try? sessions.store.open()) ?? []).filter { $0.broker != brokerID && $0.info.state == .active }.map(\.info.id)) : []
        for (id, request) in requests.byID where request.info.kind == "statement" && !othersOpen.contains(request.info.session ?? "") {
            withdraw(id, reason: "the broker restarted: session \(request.info.session ?? "-")'s connections ended with it; send the statement in a new session")
        }
        // The policy may have changed while the broker was down.
        judgeRequestsAgain(by: nil)
    }

    /// Starts following what other brokers sharing the store record (nil: no store is shared).
    public func followOtherBrokers() -> StoreFollowing? {
        requests.store.follow(fallback: 5) { Task { await self.followLedger() } }
    }

    /// What other brokers sharing the ledger recorded since the last look (woken by the store's
    /// notification): a request made through another broker is listed and decided here, a vote
    /// given through another counts here (and a client waiting here sees it); a token issued
    /// through another is listed here, one revoked there ends this broker's sessions opened with
    /// it; a provider name bound there is bound here.
    public func followLedger() async {
        guard requests.store.isShared, let through = requests.followedThrough,
              let records = try? ledger.records(LedgerQuery(kinds: [.request, .decision, .event, .identity], afterID: through)) else { return }
        var revoked: [String] = []
        for record in records {
            requests.followedThrough = record.id
            // This broker's own records are applied already.
            guard requests.ownRecords.remove(record.id) == nil else { continue }
            switch record.kind {
            case RecordKind.request.rawValue, RecordKind.decision.rawValue: applyRequestRecord(record)
            case RecordKind.identity.rawValue: applyIdentityRecord(record)
            default: if let id = applyTokenRecord(record) { revoked.append(id) }
            }
        }
        for id in revoked {
            for session in sessions.byID.values.filter({ token($0.tokenID, descendsFrom: id) && $0.revocation == nil }).map(\.info.id) {
                await revoke(session, endedBy: "token-revoked", exitCode: nil, by: nil)
            }
        }
    }

    /// One `request` or `decision` record applied to the requests in memory: at start-up for
    /// every record of the last day, then for each one another broker sharing the ledger appends.
    func applyRequestRecord(_ record: LedgerRecord) {
        if let body = record.decode(RequestBody.self) {
            if body.state == "created" {
                // Records of older brokers lack some settings: those come from the policy.
                let fallback = body.requestKind == "statement"
                    ? record.target.flatMap { policy.targets[$0]?.guardrails.approval }
                    : record.target.flatMap { policy.targets[$0]?.roles[body.role ?? ""]?.approval }
                let rule = body.rule(fallback: fallback)
                var info = RequestInfo(id: body.requestID, kind: body.requestKind ?? "access", requester: record.identity ?? "-",
                                       target: record.target ?? "-", role: body.role ?? "-", reason: body.reason ?? "",
                                       ttlSeconds: body.ttlSeconds ?? 0, createdAt: record.time,
                                       expiresAt: body.expiresAt.flatMap(Broker.date) ?? record.time, state: .pending,
                                       approvers: body.approvers ?? [], needed: body.needed ?? 1, everyGroup: body.everyGroup ?? false,
                                       votes: [], approvalExpiresAt: nil, session: body.session, binding: body.binding ?? "")
                info.statement = body.statement
                info.fingerprint = body.fingerprint
                var pending = PendingRequest(info: info, rule: rule)
                pending.normalizedStatement = body.statement
                pending.tokenID = body.token
                pending.requesterIssuers = body.issuers ?? []
                pending.identityExpiresAt = body.identityExpiresAt.flatMap(Broker.date)
                requests.byID[body.requestID] = pending
            } else if body.state == "rerouted", var request = requests.byID[body.requestID] {
                var votes = request.approvals.filter { (body.kept ?? []).contains($0.key) }
                for (voter, names) in body.counted ?? [:] where votes[voter] != nil {
                    votes[voter] = Set(names.compactMap { try? Principal(parsing: $0) })
                }
                request.reroute(to: body.rule(fallback: request.rule), counting: votes, now: record.time)
                // Exactly as it was decided then, not as the clock reads now.
                if request.info.state == .approved, let deadline = body.approvalExpiresAt.flatMap(Broker.date) {
                    request.info.approvalExpiresAt = deadline
                }
                if let expires = body.expiresAt.flatMap(Broker.date) { request.info.expiresAt = expires }
                requests.byID[body.requestID] = request
            } else if var request = requests.byID[body.requestID], let state = RequestInfo.State(rawValue: body.state) {
                request.info.state = state
                if let approval = body.approvalExpiresAt.flatMap(Broker.date) { request.info.approvalExpiresAt = approval }
                if let session = body.session { request.info.session = session }
                requests.byID[body.requestID] = request
            }
        } else if let body = record.decode(DecisionBody.self), var request = requests.byID[body.requestID], let voter = record.identity {
            request.info.votes.append(.init(approver: voter, verdict: body.verdict, comment: body.comment, at: record.time,
                                            selfApproval: body.selfApproval ?? false))
            if body.verdict == "approve" {
                request.approvals[voter] = Set((body.principals ?? []).compactMap { try? Principal(parsing: $0) })
                request.voteTokens[voter] = body.token
            }
            requests.byID[body.requestID] = request
        }
    }

    func notify(_ event: NotificationEvent, _ request: RequestInfo) {
        let endpoints = policy.notifications.enumerated().filter { $0.element.events.contains(event) }
        guard !endpoints.isEmpty else { return }
        var request = request
        if request.kind == "statement" {
            // Webhooks get the normalized text: literals (where personal data lives) stay with the broker.
            request.statement = requests.byID[request.id]?.normalizedStatement ?? request.statement.map { _ in "(a statement)" }
        }
        let notifier = self.notifier
        Task { await notifier.send(event: event, request: request, to: endpoints.map { ($0.offset, $0.element.endpoint) }) }
    }

    // MARK: Helpers

    /// What an approval is bound to: the kind, who asked, and exactly what they asked for.
    static func binding(kind: String, requester: String, target: String, role: String, ttlSeconds: Int, reason: String) -> String {
        let canonical = [kind, requester, target, role, String(ttlSeconds), reason].map { "\($0.utf8.count):\($0)" }.joined(separator: "\n")
        return SHA256.hash(data: Array(canonical.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    static func iso(_ date: Date) -> String { UTCTime.seconds(micros(date)) }

    static func date(_ text: String) -> Date? { ISO8601DateFormatter().date(from: text) }
}
