import Foundation
import HoopPolicy
import XCTest

/// Every broken fixture, with the exact `LINE:COL: severity: message` lines `policy check` must print.
final class BrokenPolicyTests: XCTestCase {
    static let expectations: [String: [String]] = [
        "01-yaml-syntax": ["4:1: error: YAML syntax: did not find expected ',' or '}' while parsing a flow mapping that starts at 3:9"],
        "02-empty": ["1:1: error: policy file is empty; it needs at least 'version: 1'"],
        "03-top-level-list": ["1:1: error: the policy file must be a mapping, found a list"],
        "04-missing-version": ["1:1: error: missing required key 'version' (write 'version: 1')"],
        "05-unsupported-version": ["1:10: error: unsupported policy version 2; this hoopctl reads version 1"],
        "06-unknown-top-level-key": ["9:1: error: unknown key 'acess' in the policy file; did you mean 'access'?"],
        "07-groups-wrong-type": ["3:9: error: 'groups' must be a mapping, found a list"],
        "08-bad-principal": ["2:10: error: 'root' is not a principal; write user:NAME, group:NAME, osgroup:NAME, idpgroup:NAME or service:NAME"],
        "09-unknown-principal-kind": ["2:21: error: unknown principal kind 'team'; expected user, group, osgroup, idpgroup or service"],
        "10-unknown-group-in-admins": ["2:21: error: unknown group 'security'; groups are: dba"],
        "11-nested-group": ["5:22: error: group 'oncall' cannot contain another group (group:dba); list its members instead"],
        "12-missing-admin-dsn": ["4:3: error: target 'prod' needs 'admin_dsn_file' or 'admin_dsn_env' (where the broker reads its admin connection string)"],
        "13-both-dsn-sources": ["6:5: error: target 'prod' has both 'admin_dsn_file' and 'admin_dsn_env'; keep one"],
        "14-inline-dsn-with-password": ["5:16: error: 'admin_dsn' of target 'prod' holds an inline password; put the connection string in a file (admin_dsn_file) or an environment variable (admin_dsn_env)"],
        "15-dsn-file-holds-connection-string": ["5:21: error: 'admin_dsn_file' of target 'prod' must be the path of a file holding the connection string, not the connection string itself"],
        "16-bad-dsn-env-name": ["5:20: error: 'admin_dsn_env' of target 'prod' must name an environment variable (like PROD_DB_DSN), found 'prod db'"],
        "17-missing-database": ["4:3: error: target 'prod' is missing 'database' (the database name sessions connect to)"],
        "18-bad-sslmode": ["7:14: error: 'sslmode' of target 'prod' must be disable, allow, prefer, require, verify-ca or verify-full, found 'strict'"],
        "19-role-key-typo": ["10:9: error: unknown key 'max_tll' in role 'read'; did you mean 'max_ttl'?"],
        "20-ttl-does-not-parse": ["10:18: error: 'max_ttl' of role 'read' must be a duration like 90s, 30m, 8h or 1d, found 'eight hours'"],
        "21-ttl-without-unit": ["10:18: error: 'max_ttl' of role 'read' must be a duration like 90s, 30m, 8h or 1d, found '90' (no unit)"],
        "22-default-ttl-over-max": ["11:22: error: 'default_ttl' of role 'read' (2h) is longer than its 'max_ttl' (1h)"],
        "23-unknown-privilege": ["10:30: error: unknown privilege 'drop'; expected select, insert, update or delete"],
        "24-unqualified-table-pattern": ["8:24: error: table pattern 'customers' must be schema.table, where either part may use '*' (like public.customers or public.*)"],
        "25-unknown-masking-function": ["11:29: error: unknown masking function 'scramble'; expected email, redact, partial(N), hash, null or detect"],
        "26-bad-partial-argument": ["10:37: error: 'partial(x)' needs a number of characters to keep from 0 to 64, like partial(4)"],
        "27-masking-key-not-a-column": ["10:7: error: masking key 'customers.email' must name a column as schema.table.column (like public.customers.email)"],
        "28-unknown-detector": ["9:24: error: unknown detector 'passport'; expected email, credit_card, ssn, iban, phone, jwt, api_key, or a custom one as { name: NAME, pattern: REGEX }"],
        "29-detector-bad-regex": ["10:39: error: 'pattern' of detector 'employee_id' is not a valid regular expression"],
        "30-bad-guardrail-action": ["10:12: error: guardrail 'ddl' must be allow, deny or review, found 'block'"],
        "31-unknown-guardrail": ["10:7: error: unknown key 'unbounded_writes' in 'guardrails' of target 'prod'; did you mean 'unbounded_write'?"],
        "32-approval-count-zero": ["13:47: error: 'count' of the approval of role 'write' must be between 1 and 100, found 0"],
        "33-approval-count-exceeds-approvers": ["11:48: error: 'count' of the approval of role 'write' asks for 2 approvals but lists only 1 approver"],
        "34-approval-unknown-group": ["13:28: error: unknown group 'dbas'; groups are: dba"],
        "35-access-unknown-target": ["10:30: error: access rule names unknown target 'production'; targets are: prod"],
        "36-access-unknown-role": ["10:50: error: target 'prod' has no role 'admin'; its roles are: read"],
        "37-access-unknown-group": ["12:29: error: unknown group 'contractors'; groups are: analysts"],
        "38-access-missing-who": ["10:5: error: an access rule needs 'who' (like group:analysts)"],
        "39-count-wrong-type": ["13:47: error: 'count' of the approval of role 'write' must be a whole number, found 'two'"],
        "40-bool-wrong-type": ["8:45: error: 'direct' of role 'read' must be true or false, found 'maybe'"],
        "41-bad-webhook": [
            "10:16: error: 'webhook' must be an http:// or https:// URL",
            "10:71: error: an event must be request.created, request.decided, request.expired, session.started, session.ended, statement.denied or ledger.checkpoint, found 'request.approved'",
        ],
        "42-duplicate-key": ["6:5: error: key 'database' appears more than once in the same mapping"],
        "43-tab-indentation": ["5:1: error: YAML syntax: found character that cannot start any token while scanning for the next token"],
        "44-every-error-is-reported": [
            "2:21: error: 'bob' is not a principal; write user:NAME, group:NAME, osgroup:NAME, idpgroup:NAME or service:NAME",
            "12:18: error: 'max_ttl' of role 'read' must be a duration like 90s, 30m, 8h or 1d, found '1w' (unknown unit 'w')",
            "14:18: error: table pattern 'orders' must be schema.table, where either part may use '*' (like public.customers or public.*)",
            "16:28: error: unknown group 'ops'; groups are: dba",
            "18:31: error: unknown masking function 'mask'; expected email, redact, partial(N), hash, null or detect",
            "20:58: error: target 'prod' has no role 'owner'; its roles are: read, write",
        ],
        "45-max-session-over-max-ttl": ["14:19: error: 'max_session' of the approval of role 'write' (4h) is longer than the role's 'max_ttl' (1h)"],
        "46-invalid-role-name": ["8:7: error: 'Read-Only' is not a valid role name (lower-case letters, digits and '_', at most 20)"],
        "47-self-approval-needs-groups": ["13:61: error: 'allow_self_approval' of the approval of role 'write' takes policy groups only (group:NAME)"],
        "48-missing-targets": ["1:1: error: missing required key 'targets' (the databases hoopctl brokers)"],
        "49-guardrail-rule-without-match": ["11:11: error: a guardrail rule needs 'tables' or 'functions' to match"],
        "50-admins-wrong-type": ["2:9: error: 'admins' must be a list, found a mapping"],
        "51-detector-hash-oracle": ["10:65: error: detector 'employee_id' cannot use 'hash': a session can send text of its choice through the detectors (select 'EMP-' || n from generate_series(...)) and compare, so a keyed hash in flight is an oracle for every value it masks; use redact or partial(N)"],
        "52-detect-without-detectors": ["10:7: error: target 'prod' declares free-text columns ('detect') but has no 'detectors' to mask them with"],
        "56-identity-provider": [
            "3:9: warning: the broker takes tokens meant for the client 'hoopctl': any other service that client signs in to can replay them here; give this broker an 'audience' of its own",
            "3:19: error: 'issuer' must be an https URL (plain http only to a loopback address)",
            "3:67: error: unknown key 'userame_claim' in 'identity.oidc'; did you mean 'username_claim'?",
        ],
        "57-provider-group-without-provider": [
            "4:24: error: idpgroup:analysts names a group of an identity provider, and 'identity' names none",
            "6:9: error: 'identity.oidc' is missing 'issuer' (the provider's URL, as its tokens' iss says)",
        ],
        "55-capture-keys": [
            "8:15: error: target 'prod' captures values sealed but lists no 'auditor_keys' (make one with `hoopctl audit keygen`)",
            "9:24: error: 'max_value_bytes' of the capture of target 'prod' must be between 16 and 1048576, found 8",
            "10:22: error: auditor key of target 'prod': its id does not match its key (was it edited?)",
            "10:103: error: auditor key of target 'prod': expected hoopctl-auditor:ID:KEY, as `hoopctl audit keygen` prints it",
            "14:28: error: 'values' of the capture of role 'read' must be sealed, preview or none, found 'everything'",
        ],
        "54-approval-from-service": ["12:30: error: 'from' of the approval of role 'write' names service:review-bot: a service decides nothing (approvals are made by people, and the broker refuses a service's vote)"],
        "53-detect-unportable-pattern": ["13:33: error: 'pattern' of detector 'badge' uses the escape \\d, which PostgreSQL's regular expressions read differently; columns declared 'detect' run the detectors in the database too, so keep to literals, [classes], groups and the quantifiers ? * + {n,m}"],
    ]

    func testEachBrokenFixtureGivesItsExactDiagnostics() throws {
        let directory = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/broken", withExtension: nil))
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".yaml") }.sorted()
        XCTAssertGreaterThanOrEqual(files.count, 25)
        XCTAssertEqual(Set(files.map { String($0.dropLast(5)) }), Set(Self.expectations.keys),
                       "every fixture needs an expectation, and every expectation a fixture")
        for file in files {
            let path = directory.appendingPathComponent(file).path
            let result = PolicyLoader.load(path: path)
            XCTAssertNil(result.policy, "\(file) must not load")
            XCTAssertEqual(result.diagnostics.map { $0.file }, Array(repeating: path, count: result.diagnostics.count))
            let lines = result.diagnostics.map { "\($0.location.line):\($0.location.column): \($0.severity.rawValue): \($0.message)" }
            XCTAssertEqual(lines, Self.expectations[String(file.dropLast(5))], file)
        }
    }

    func testSecretsInABrokenPolicyAreNeverEchoed() throws {
        for (fixture, secret) in [("14-inline-dsn-with-password", "hunter2"), ("15-dsn-file-holds-connection-string", "s3cret")] {
            let url = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/broken/\(fixture)", withExtension: "yaml"))
            let result = PolicyLoader.load(path: url.path)
            XCTAssertFalse(result.diagnostics.isEmpty)
            for diagnostic in result.diagnostics {
                XCTAssertFalse(diagnostic.description.contains(secret), diagnostic.description)
            }
        }
    }

    func testABrokenFileYieldsNoPolicyEvenWhenMostOfItIsFine() {
        let yaml = """
            version: 1
            admins: [user:root]
            targets:
              prod:
                admin_dsn_file: /etc/hoopctl/prod.dsn
                database: shop
                roles:
                  read: { tables: ["public.*"], max_ttl: 8h }
                  write: { tables: ["public.orders"], max_ttl: forever }
            """
        let result = PolicyLoader.parse(yaml: yaml, file: "p.yaml", baseDirectory: "/")
        XCTAssertNil(result.policy)
        XCTAssertThrowsError(try result.get()) { error in
            XCTAssertEqual((error as? PolicyError)?.errors.map(\.location), [SourceLocation(line: 9, column: 52)])
        }
    }

    func testAMissingFileIsAnErrorAtItsStart() {
        let result = PolicyLoader.load(path: "/nonexistent/policy.yaml")
        XCTAssertEqual(result.diagnostics.map(\.description), ["/nonexistent/policy.yaml:1:1: error: policy file does not exist"])
    }
}
