import Foundation
import HoopCommon
import HoopTestSupport
import XCTest

/// The ways to more privilege a red team found (issue 13), each as the attack it was: what a
/// reviewer approves is exactly what runs, as exactly the role named, and nothing runs with
/// the broker's own privileges.
final class RedTeamPrivilegeTests: XCTestCase {
    var pg: TestPostgres.Instance!
    var broker: SeparateBroker!
    var session: OpenSession!
    var alice: String!

    override func setUpWithError() throws {
        pg = try TestPostgres.shared()
        broker = try SeparateBroker(pg)
        session = try OpenSession(broker, token: try broker.token("user:bob"))
        alice = try broker.token("user:alice")
        try cleanUp()
    }

    override func tearDownWithError() throws {
        session = nil
        broker = nil
        try cleanUp()
    }

    private func cleanUp() throws {
        let admin = try pg.admin()
        // The masking views rebuilt after a reviewed statement read the new table too.
        try admin.execute("DROP TABLE IF EXISTS public.redteam_who CASCADE")
        try admin.execute("DROP INDEX IF EXISTS public.redteam_idx")
        try admin.execute("REVOKE SELECT ON public.customers FROM PUBLIC")
    }

    /// Sends `sql` in bob's session; when it waits for a review, alice approves it and bob
    /// sends it again. What psql said the second time.
    private func approvedAndSentAgain(_ sql: String) throws -> ChildProcess.Result {
        let first = try session.psql(["-c", sql])
        let id = try XCTUnwrap(first.stderr.firstMatch(of: /request ([0-9a-f]{12})/)?.1, first.stderr)
        let approval = try broker.hoopctl(["approve", String(id)], token: alice)
        XCTAssertEqual(approval.status, 0, approval.stderr)
        return try session.psql(["-c", sql])
    }

    // MARK: 1. A reviewed statement runs as exactly its run_as, and alone

    func testAReviewedStatementRunsAsItsRoleOverItsOwnLogin() throws {
        let ran = try approvedAndSentAgain("CREATE TABLE redteam_who AS SELECT current_user::text AS who, session_user::text AS login, "
                                           + "(SELECT rolsuper FROM pg_roles WHERE rolname = session_user) AS super")
        XCTAssertTrue(ran.stderr.contains("ran as shop_owner"), ran.stderr)
        let row = try XCTUnwrap(try pg.admin().execute("""
            SELECT who, login, super::text, pg_get_userbyid(c.relowner) FROM public.redteam_who, pg_class c WHERE c.oid = 'public.redteam_who'::regclass
            """).rows.first)
        XCTAssertEqual(row[0], "shop_owner")
        XCTAssertTrue(row[1]?.hasPrefix("hoop_rv_") == true, "a login made for the run, not the broker's: \(row)")
        XCTAssertEqual(row[2], "false")
        XCTAssertEqual(row[3], "shop_owner", "what it creates belongs to the role it ran as")
        XCTAssertEqual(try pg.admin().execute("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'hoop\\_rv\\_%'").scalar, "0",
                       "the run's login is gone")
        let event = try XCTUnwrap(try broker.events("review.ran-as-owner").last)
        let details = (event["body"] as? [String: Any])?["details"] as? [String: Any]
        XCTAssertEqual(details?["role"] as? String, "shop_owner")
        XCTAssertNotNil(details?["fingerprint"] as? String)
    }

    func testAnApprovedTextOfSeveralStatementsRunsNothing() throws {
        // Both are under review (DDL, DCL): the text as a whole was approved, and runs not at all.
        let ran = try approvedAndSentAgain("CREATE INDEX redteam_idx ON orders (created_at); GRANT SELECT ON public.customers TO PUBLIC")
        XCTAssertTrue(ran.stderr.contains("runs alone"), ran.stderr)
        let admin = try pg.admin()
        XCTAssertEqual(try admin.execute("SELECT count(*) FROM pg_indexes WHERE indexname = 'redteam_idx'").scalar, "0")
        XCTAssertEqual(try admin.execute("SELECT has_table_privilege('public', 'public.customers', 'SELECT')::text").scalar, "false")
    }
}
