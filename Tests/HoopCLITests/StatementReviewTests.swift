import Foundation
import HoopCommon
import HoopTestSupport
import XCTest

/// Statement reviews end to end: bob's session (a psycopg client through the proxy) sends
/// statements the guardrails put under review; alice and carol (group dba) decide with
/// `hoopctl approve|deny`; approved texts run once — DDL as the tables' owner, a write without
/// WHERE in the session — and the database and the ledger show exactly that.
final class StatementReviewTests: XCTestCase {
    var pg: TestPostgres.Instance!
    var broker: SeparateBroker!
    var hook: BackgroundProcess!
    var hookFile: String { broker.directory.file("webhook.jsonl") }
    static let client = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Clients/review_client.py").path

    override func setUpWithError() throws {
        pg = try TestPostgres.shared()
        let port = try XCTUnwrap(FreePort.find())
        broker = try SeparateBroker(pg) { yaml in
            yaml.replacingOccurrences(of: "      write:\n", with: """
                      writer:
                        tables: ["public.*"]
                        privileges: [insert, update, delete]
                        max_ttl: 1h
                      write:

                """)
                .replacingOccurrences(of: "- { who: group:analysts, target: sandbox, roles: [write] }",
                                      with: "- { who: group:analysts, target: sandbox, roles: [write, writer] }")
                .replacingOccurrences(of: "  - webhook_env: HOOPCTL_WEBHOOK_URL   # e.g. a Slack incoming webhook; the URL is a secret",
                                      with: "  - webhook: http://127.0.0.1:\(port)/hook")
        }
        hook = try BackgroundProcess("python3", ["-c", ApprovalTests.listener, hookFile, String(port)])
    }

    override func tearDown() {
        _ = try? pg.admin().execute("DROP TABLE IF EXISTS public.review_scratch CASCADE")
        hook = nil
        broker = nil
    }

    func testReviewedStatementsRunOnceAfterApproval() throws {
        _ = try pg.admin().execute("DROP TABLE IF EXISTS public.review_scratch CASCADE")
        let customers = try XCTUnwrap(try pg.admin().execute("SELECT count(*), md5(string_agg(notes, ',' ORDER BY id)) FROM customers").rows.first)
        let bob = try broker.token("user:bob"), alice = try broker.token("user:alice"), carol = try broker.token("user:carol")
        var environment = broker.environment
        environment.merge(["HOOPCTL_TOKEN": bob, "HOOPCTL_BIN": HoopctlBinary.path, "BOB": bob, "ALICE": alice, "CAROL": carol]) { $1 }
        let run = try ChildProcess(HoopctlBinary.path, ["exec", "sandbox", "--role", "writer", "--", "python3", Self.client],
                                   environment: environment).run()
        XCTAssertEqual(run.status, 0, run.stdout + run.stderr)
        let summary = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data((run.stdout.split(separator: "\n").last ?? "").utf8)) as? [String: Any])
        XCTAssertNotEqual(summary["own_approval_status"] as? Int, 0, "bob may not approve his own statement")
        XCTAssertEqual(summary["updated"] as? Int, Int(customers[0] ?? ""), "the approved update ran in the session, on every row")

        // The database: the table exists, owned by the owner the policy names, with the approved
        // column; the update was rolled back by the client; the denied DROP did not run.
        let table = try pg.admin().execute("""
            SELECT pg_get_userbyid(relowner), (SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute
                                               WHERE attrelid = c.oid AND attnum > 0 AND NOT attisdropped)
            FROM pg_class c WHERE oid = to_regclass('public.review_scratch')
            """).rows
        XCTAssertEqual(table.first, ["shop_owner", "id,note,extra"])
        XCTAssertEqual(try pg.admin().execute("SELECT count(*), md5(string_agg(notes, ',' ORDER BY id)) FROM customers").rows.first, customers)
        XCTAssertEqual(try pg.admin().execute("SELECT to_regclass('public.review_scratch_note') IS NOT NULL").scalar, "t",
                       "the index approved through the extended protocol exists")

        // The ledger: who asked, who decided, what was used, what ran and as whom.
        let audit = try broker.hoopctl(["audit", "--json"])
        let records = audit.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        func bodies(_ kind: String) -> [(identity: String?, body: [String: Any])] {
            records.filter { $0["kind"] as? String == kind }.map { ($0["identity"] as? String, $0["body"] as? [String: Any] ?? [:]) }
        }
        let ddlRequest = try XCTUnwrap(summary["ddl_request"] as? String)
        let requests = bodies("request").filter { $0.body["requestID"] as? String == ddlRequest }
        XCTAssertEqual(requests.map { $0.body["state"] as? String }, ["created", "approved", "used"])
        XCTAssertEqual(requests.first?.identity, "user:bob")
        XCTAssertEqual(requests.first?.body["requestKind"] as? String, "statement")
        XCTAssertEqual(requests.first?.body["statement"] as? String, "create table public.review_scratch (id int primary key, note text)")
        XCTAssertEqual(bodies("decision").first { $0.body["requestID"] as? String == ddlRequest }?.identity, "user:alice")
        let ran = bodies("statement").filter { $0.body["request"] as? String == ddlRequest && $0.body["decision"] as? String == "approved" }
        XCTAssertEqual(ran.count, 1, "the approved text ran once")
        XCTAssertTrue(bodies("event").contains { $0.body["name"] as? String == "review.ran-as-owner"
                && ($0.body["details"] as? [String: Any])?["role"] as? String == "shop_owner" })
        // Webhooks announce statement reviews with the normalized text: no literal leaves the broker.
        let literal = try XCTUnwrap(summary["literal_request"] as? String)
        XCTAssertTrue(eventually(timeout: 20) { ((try? String(contentsOfFile: hookFile, encoding: .utf8)) ?? "").contains(literal) })
        let announced = (try? String(contentsOfFile: hookFile, encoding: .utf8)) ?? ""
        XCTAssertTrue(announced.contains("asks to run `delete from customers where email = $1` once on sandbox"), announced)
        XCTAssertFalse(announced.contains("ann.secret"), announced)
        let dropRequest = try XCTUnwrap(summary["drop_request"] as? String)
        XCTAssertEqual(bodies("request").filter { $0.body["requestID"] as? String == dropRequest }.map { $0.body["state"] as? String },
                       ["created", "denied"])
    }

    func testWithoutReviewersAReviewRefusesAndSaysSo() throws {
        broker = nil
        broker = try SeparateBroker(pg) { yaml in
            yaml.replacingOccurrences(of: "      approval:                 # who reviews statements; approved ones run once\n        from: [group:dba]\n"
                                      + "        count: 1\n        approval_ttl: 30m\n        run_as: shop_owner      # reviewed DDL runs as the tables' owner\n",
                                      with: "")
        }
        XCTAssertFalse(try String(contentsOfFile: broker.policyPath, encoding: .utf8).contains("run_as"))
        let run = try broker.hoopctl(["exec", "sandbox", "--role", "read", "--", "psql", "-X", "-c", "drop table orders"])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains("the policy names no reviewers for statements"), run.stderr)
        XCTAssertEqual(try pg.admin().execute("SELECT to_regclass('public.orders') IS NOT NULL").scalar, "t")
    }
}
