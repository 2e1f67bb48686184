import HoopCommon

/// Questions the broker asks the policy about an identity. Pure functions of the policy.
extension Policy {
    /// Everything the identity counts as: itself, its OS groups, and the policy groups that list any of those.
    public func principals(of identity: Identity) -> Set<Principal> {
        var direct: Set<Principal> = [identity.principal]
        for group in identity.osGroups { direct.insert(Principal(kind: .osgroup, name: group)) }
        for group in identity.providerGroups { direct.insert(Principal(kind: .idpgroup, name: group)) }
        var all = direct
        for (name, members) in groups where members.contains(where: direct.contains) {
            all.insert(Principal(kind: .group, name: name))
        }
        return all
    }

    public func matches(_ identity: Identity, any principals: [Principal]) -> Bool {
        !self.principals(of: identity).isDisjoint(with: principals)
    }

    public func isAdmin(_ identity: Identity) -> Bool { matches(identity, any: admins) }

    /// Admins may read the audit log too.
    public func isAuditor(_ identity: Identity) -> Bool { isAdmin(identity) || matches(identity, any: auditors) }

    /// The roles of `target` the identity may open sessions as, in policy order of first grant.
    public func roles(of identity: Identity, on target: String) -> [String] {
        let mine = principals(of: identity)
        var roles: [String] = []
        for rule in access where rule.target == target && !mine.isDisjoint(with: rule.who) {
            for role in rule.roles where !roles.contains(role) { roles.append(role) }
        }
        return roles
    }

    /// The targets the identity has any role on, sorted.
    public func targets(of identity: Identity) -> [String] {
        targets.keys.filter { !roles(of: identity, on: $0).isEmpty }.sorted()
    }
}

extension ApprovalRule {
    /// Whether these approvals (each approver's principals at the time of the vote, one entry
    /// per distinct approver) satisfy the rule: enough approvers and, with `every_group`, a
    /// different approver for each principal listed in `from` — one person in two groups
    /// stands for one of them, never both.
    public func isSatisfied(by approvals: [Set<Principal>]) -> Bool {
        guard approvals.count >= count else { return false }
        guard everyGroup else { return true }
        return Self.distinctMatch(slots: from, voters: approvals) == from.count
    }

    /// The most slots that can each be given a voter of their own (a bipartite matching, by
    /// augmenting paths: the rule lists a handful of principals).
    static func distinctMatch(slots: [Principal], voters: [Set<Principal>]) -> Int {
        var holder: [Int?] = Array(repeating: nil, count: slots.count)  // slot → voter
        func place(_ voter: Int, _ seen: inout Set<Int>) -> Bool {
            for (slot, principal) in slots.enumerated() where voters[voter].contains(principal) && !seen.contains(slot) {
                seen.insert(slot)
                if holder[slot] == nil || place(holder[slot]!, &seen) {
                    holder[slot] = voter
                    return true
                }
            }
            return false
        }
        var matched = 0
        for voter in voters.indices {
            var seen: Set<Int> = []
            if place(voter, &seen) { matched += 1 }
        }
        return matched
    }

    /// Why an identity may not vote on a request of `requester`, or nil when it may.
    /// Self-approval needs membership of a group in `allow_self_approval`; the second value says
    /// whether this vote is one.
    public func eligibility(of approver: Set<Principal>, requester: String, approverName: String) -> (refusal: String?, selfApproval: Bool) {
        let own = approverName == requester
        if own, approver.isDisjoint(with: allowSelfApproval) {
            return ("nobody approves their own request (the policy allows it for no group of yours)", false)
        }
        guard !approver.isDisjoint(with: from) else {
            return ("only \(from.map(\.description).joined(separator: ", ")) may decide this request", false)
        }
        return (nil, own)
    }
}
