import Foundation
import HoopCommon
import HoopPolicy
import HoopSandbox
import XCTest

final class ValidPolicyTests: XCTestCase {
    func testTheDemoPolicyIsValidAndMeansWhatItSays() throws {
        let result = PolicyLoader.parse(yaml: DemoPolicy.yaml(user: "dev"), file: "policy.yaml", baseDirectory: "/state/sandbox")
        XCTAssertEqual(result.diagnostics, [])
        let policy = try result.get()
        XCTAssertEqual(policy.admins, [Principal(kind: .user, name: "dev")])
        XCTAssertEqual(policy.auditors, [Principal(kind: .group, name: "security")])
        XCTAssertEqual(policy.groups["analysts"], [Principal(kind: .user, name: "dev"), Principal(kind: .user, name: "bob"),
                                                   Principal(kind: .service, name: "retrain-bot")])

        let target = try XCTUnwrap(policy.targets["sandbox"])
        XCTAssertEqual(target.adminDSN, .file("/state/sandbox/admin.dsn"), "relative to the policy file")
        XCTAssertEqual(target.database, "shop")
        XCTAssertEqual(target.sslMode, .disable)

        let read = try XCTUnwrap(target.roles["read"])
        XCTAssertEqual(read.tables.map(\.description), ["public.*"])
        XCTAssertEqual(read.privileges, [.select])
        XCTAssertEqual(read.maxTTL, TimeSpan(seconds: 8 * 3600))
        XCTAssertEqual(read.defaultTTL, TimeSpan(seconds: 3600))
        XCTAssertEqual(read.statementTimeout, TimeSpan(seconds: 30))
        XCTAssertNil(read.approval)

        let write = try XCTUnwrap(target.roles["write"])
        XCTAssertEqual(write.privileges, [.select, .insert, .update, .delete])
        let approval = try XCTUnwrap(write.approval)
        XCTAssertEqual(approval.from, [Principal(kind: .group, name: "dba")])
        XCTAssertEqual(approval.count, 1)
        XCTAssertEqual(approval.approvalTTL, TimeSpan(seconds: 1800))
        XCTAssertEqual(approval.maxSession, TimeSpan(seconds: 3600))

        XCTAssertEqual(target.masking[ColumnName(schema: "public", table: "customers", column: "email")], .email)
        XCTAssertEqual(target.masking[ColumnName(schema: "public", table: "customers", column: "card_number")], .partial(4))
        XCTAssertEqual(target.masking[ColumnName(schema: "public", table: "customers", column: "phone")], .hash)
        XCTAssertEqual(target.detectors.map(\.name), ["email", "credit_card", "ssn", "iban", "jwt", "api_key", "phone", "employee_id"])
        XCTAssertEqual(target.detectors.last?.kind, .custom(name: "employee_id", pattern: "EMP-[0-9]{6}"))
        XCTAssertEqual(target.detectors.last?.strategy, .partial(3))

        XCTAssertEqual(target.guardrails.action(for: .ddl), .review)
        XCTAssertEqual(target.guardrails.action(for: .unparseable), .deny)
        XCTAssertEqual(target.guardrails.action(for: .read), .allow)
        XCTAssertEqual(target.guardrails.maxRowsPerWrite, 1000)
        XCTAssertEqual(target.guardrails.rules.count, 2)
        XCTAssertEqual(target.guardrails.rules[0].classes, [.write])
        XCTAssertEqual(target.guardrails.rules[1].functions, ["pg_sleep"])

        XCTAssertEqual(policy.access.map { "\($0.who) \($0.target) \($0.roles)" },
                       ["[group:analysts] sandbox [\"read\"]", "[group:dba] sandbox [\"read\", \"write\"]",
                        "[group:analysts] sandbox [\"write\"]"])
        XCTAssertEqual(policy.notifications.first?.endpoint, .environment("HOOPCTL_WEBHOOK_URL"))
        XCTAssertEqual(policy.notifications.first?.events, [.requestCreated, .requestDecided])
    }

    func testDefaultsFillWhatAMinimalPolicyLeavesOut() throws {
        let yaml = """
            version: 1
            admins: [user:root]
            targets:
              prod:
                admin_dsn_env: PROD_DSN
                database: shop
                roles:
                  read: { tables: "public.*" }
            """
        let policy = try PolicyLoader.parse(yaml: yaml, file: "p.yaml", baseDirectory: "/").get()
        let target = try XCTUnwrap(policy.targets["prod"])
        XCTAssertEqual(target.adminDSN, .environment("PROD_DSN"))
        XCTAssertEqual(target.sslMode, .prefer)
        XCTAssertEqual(target.roles["read"]?.maxTTL, Role.defaultMaxTTL)
        XCTAssertEqual(target.guardrails.action(for: .opaque), .deny)
        XCTAssertEqual(target.guardrails.unboundedWrite, .review)
        XCTAssertEqual(target.guardrails.privilegedFunctions, .deny)
    }

    func testWarningsDoNotMakeAPolicyInvalid() throws {
        let yaml = """
            version: 1
            targets:
              prod:
                admin_dsn_env: PROD_DSN
                database: shop
                roles:
                  read: { tables: ["public.orders"] }
                masking:
                  public.customers.email: email
                guardrails:
                  unparseable: allow
            """
        let result = PolicyLoader.parse(yaml: yaml, file: "p.yaml", baseDirectory: "/")
        XCTAssertNotNil(result.policy)
        XCTAssertEqual(result.diagnostics.map(\.description), [
            "p.yaml:1:1: warning: no 'admins': nobody can revoke other people's sessions or read the audit log",
            "p.yaml:9:7: warning: masked column public.customers.email is in no role's tables of target 'prod'",
            "p.yaml:11:20: warning: allowing unparseable statements turns off fail-closed analysis for target 'prod'",
        ])
    }
}

/// The README's policy reference is a real, valid policy.
final class ReadmePolicyTests: XCTestCase {
    func testTheReferenceInTheReadmeIsValid() throws {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: repository.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try XCTUnwrap(readme.range(of: "## The policy file"))
        let start = try XCTUnwrap(readme.range(of: "```yaml\n", range: section.upperBound..<readme.endIndex))
        let end = try XCTUnwrap(readme.range(of: "```\n", range: start.upperBound..<readme.endIndex))
        let result = PolicyLoader.parse(yaml: String(readme[start.upperBound..<end.lowerBound]), file: "README.md", baseDirectory: "/")
        XCTAssertEqual(result.diagnostics.map(\.description), [])
        let target = try XCTUnwrap(result.policy?.targets["prod-db"])
        XCTAssertEqual(target.masking[ColumnName(schema: "public", table: "customers", column: "notes")], .detect)
        XCTAssertEqual(target.roles["write"]?.approval?.allowSelfApproval, [Principal(kind: .group, name: "dba")])
    }
}
