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
