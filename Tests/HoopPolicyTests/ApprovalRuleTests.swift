import HoopCommon
import HoopPolicy
import XCTest

/// The approval rule as a pure function: who may vote, and when the votes are enough.
final class ApprovalRuleTests: XCTestCase {
    let dba = Principal(kind: .group, name: "dba"), security = Principal(kind: .group, name: "security")

    func rule(from: [Principal], count: Int = 1, everyGroup: Bool = false, selfApproval: [Principal] = []) -> ApprovalRule {
        ApprovalRule(from: from, count: count, everyGroup: everyGroup, requestTTL: TimeSpan(seconds: 3600),
                     approvalTTL: TimeSpan(seconds: 1800), maxSession: nil, allowSelfApproval: selfApproval)
    }

    func member(_ name: String, of groups: Principal...) -> Set<Principal> {
        Set([Principal(kind: .user, name: name)] + groups)
    }

    func testCountIsDistinctApprovers() {
        let twoOfDBA = rule(from: [dba], count: 2)
        XCTAssertFalse(twoOfDBA.isSatisfied(by: [member("alice", of: dba)]))
        XCTAssertTrue(twoOfDBA.isSatisfied(by: [member("alice", of: dba), member("carol", of: dba)]))
    }

    func testEveryGroupNeedsOneFromEach() {
        let both = rule(from: [dba, security], count: 2, everyGroup: true)
        XCTAssertFalse(both.isSatisfied(by: [member("alice", of: dba), member("carol", of: dba)]))
        XCTAssertTrue(both.isSatisfied(by: [member("alice", of: dba), member("sam", of: security)]))
        XCTAssertTrue(rule(from: [dba, security], count: 1, everyGroup: false).isSatisfied(by: [member("sam", of: security)]))
    }

    /// One person in two groups stands for one of them: N groups need N people, whatever the
    /// order of the votes (a greedy pairing would give carol the wrong group and refuse dave).
    func testEveryGroupNeedsDistinctPeople() {
        let both = rule(from: [dba, security], count: 1, everyGroup: true)
        let carol = member("carol", of: dba, security), dave = member("dave", of: security), alice = member("alice", of: dba)
        XCTAssertFalse(both.isSatisfied(by: [carol]))
        XCTAssertTrue(both.isSatisfied(by: [carol, dave]))
        XCTAssertTrue(both.isSatisfied(by: [dave, carol]))
        XCTAssertTrue(both.isSatisfied(by: [carol, alice]))
        let three = rule(from: [dba, security, Principal(kind: .user, name: "cto")], count: 1, everyGroup: true)
        XCTAssertFalse(three.isSatisfied(by: [member("cto", of: dba, security), carol]), "two people for three places")
        XCTAssertTrue(three.isSatisfied(by: [member("cto", of: dba, security), carol, dave]))
    }

    /// Who acts for whom: the same name, or one issued the other's token (at any distance).
    func testAnIdentityActsForItsIssuers() {
        XCTAssertTrue(Identity.actsFor(("user:alice", ["user:root"]), ("user:root", [])))
        XCTAssertTrue(Identity.actsFor(("user:root", []), ("user:bob", ["user:root"])))
        XCTAssertTrue(Identity.actsFor(("user:carol", ["user:ops", "user:root"]), ("user:root", [])))
        XCTAssertFalse(Identity.actsFor(("user:alice", ["user:root"]), ("user:bob", ["user:root"])), "two people one admin made")
        XCTAssertFalse(Identity.actsFor(("user:alice", []), ("user:bob", [])))
    }

    func testNobodyApprovesTheirOwnUnlessAllowed() {
        let plain = rule(from: [dba])
        XCTAssertEqual(plain.eligibility(of: member("alice", of: dba), requester: "user:alice", approverName: "user:alice").refusal,
                       "nobody approves their own request (the policy allows it for no group of yours)")
        XCTAssertNil(plain.eligibility(of: member("alice", of: dba), requester: "user:bob", approverName: "user:alice").refusal)
        XCTAssertEqual(plain.eligibility(of: member("bob"), requester: "user:carol", approverName: "user:bob").refusal,
                       "only group:dba may decide this request")
        let selfServe = rule(from: [dba], selfApproval: [dba])
        let own = selfServe.eligibility(of: member("alice", of: dba), requester: "user:alice", approverName: "user:alice")
        XCTAssertNil(own.refusal)
        XCTAssertTrue(own.selfApproval)
        XCTAssertNotNil(selfServe.eligibility(of: member("bob"), requester: "user:bob", approverName: "user:bob").refusal,
                        "self-approval is for the groups it names")
    }
}
