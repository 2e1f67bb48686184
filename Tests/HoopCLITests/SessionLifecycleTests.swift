import Foundation
import HoopCommon
import HoopTestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// `hoopctl exec` end to end: exit codes, signals, TTLs, revocation on every way out, and the
/// broker's recovery after a crash. Each test ends with no session role left behind.
final class SessionLifecycleTests: XCTestCase {
    var pg: TestPostgres.Instance!

    override func setUpWithError() throws {
        pg = try TestPostgres.shared()
        XCTAssertTrue(try eventually { try pg.sessionRoles().isEmpty }, "a previous test left session roles")
    }

    override func tearDownWithError() throws {
        XCTAssertTrue(try eventually { try pg.sessionRoles().isEmpty }, "session roles left behind: \((try? pg.sessionRoles()) ?? [])")
    }

    private func hoopctl(_ arguments: [String]) throws -> ChildProcess.Result {
        try HoopctlBinary.run(arguments, environment: pg.environment)
    }

    func testExecPassesTheExitCodeAndLeavesNoRole() throws {
        let result = try hoopctl(["exec", "sandbox", "--", "sh", "-c", "exit 7"])
        XCTAssertEqual(result.status, 7, result.stderr)
        XCTAssertTrue(try pg.sessionRoles().isEmpty, "revoked before hoopctl exits")
        XCTAssertTrue(result.stderr.hasPrefix("hoopctl: session "), result.stderr)
    }

    func testTheCommandGetsTheConnectionAndNothingElse() throws {
        let result = try hoopctl(["exec", "sandbox", "--quiet", "--", "sh", "-c",
                                  "psql -XAtc \"select current_user, current_setting('search_path'), current_setting('statement_timeout')\" && echo \"$PGUSER $PGDATABASE $PGSSLMODE $HOOPCTL_SESSION\" && case \"$DATABASE_URL\" in postgresql://$HOOPCTL_SESSION:*) echo url-ok;; esac"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        guard lines.count == 3 else { return XCTFail(result.stdout + result.stderr) }
        let fields = lines[0].split(separator: "|").map(String.init)
        XCTAssertTrue(fields[0].hasPrefix("hoop_s_"))
        XCTAssertTrue(fields[1].hasPrefix("hoop_read_"), "the masking schema, and only it")
        XCTAssertEqual(fields[2], "30s", "statement_timeout from the policy")
        // The client logs in to the guard proxy as the session; the proxy logs in as the role.
        let session = fields[0].dropFirst("hoop_s_".count)
        XCTAssertEqual(lines[1], "\(session) shop disable \(session)")
        XCTAssertEqual(lines[2], "url-ok")
        XCTAssertEqual(result.stderr, "", "--quiet")
    }

    /// The role holds exactly what the policy grants: no attribute beyond LOGIN, membership in its
    /// reader role only, a connection limit, an expiry.
    func testTheSessionRoleIsTheLeastThatWorks() throws {
        // Other suites run brokers with other policies on this database: init makes hoop_owner
        // hold what this policy's views (and views sessions still use) need, and no more.
        let initialized = try hoopctl(["target", "init", "sandbox"])
        XCTAssertEqual(initialized.status, 0, initialized.stderr)
        let query = """
            select r.rolsuper, r.rolinherit, r.rolcreaterole, r.rolcreatedb, r.rolcanlogin, r.rolreplication, r.rolbypassrls,
                   r.rolconnlimit, r.rolvaliduntil > now() and r.rolvaliduntil < now() + interval '2 minutes',
                   (select string_agg(g.rolname, ',') from pg_auth_members m join pg_roles g on g.oid = m.roleid where m.member = r.oid)
            from pg_roles r where r.rolname = current_user
            """
        let result = try hoopctl(["exec", "sandbox", "--quiet", "--ttl", "1m", "--", "psql", "-XAtc", query])
        XCTAssertEqual(result.status, 0, result.stderr)
        let fields = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "|").map(String.init)
        XCTAssertEqual(Array(fields.prefix(9)), ["f", "t", "f", "f", "t", "f", "f", "5", "t"])
        XCTAssertTrue(fields[9].hasPrefix("hoop_r_read_") && !fields[9].contains(","), fields[9])

        // The reader role: USAGE on its schema and SELECT on its views. Nothing else.
        // (Other suites add tables to public, which the read role's `public.*` takes in.)
        let admin = try pg.admin()
        let reader = fields[9]
        let tableGrants = try admin.execute("""
            select table_schema || '.' || table_name || ':' || privilege_type from information_schema.role_table_grants
            where grantee = $1 order by 1
            """, [reader]).rows.compactMap { $0[0] }
        XCTAssertEqual(tableGrants.map { String($0.split(separator: ".").last!) }.filter { !$0.hasPrefix("pgbench_") },
                       ["customers:SELECT", "orders:SELECT"])
        XCTAssertTrue(tableGrants.allSatisfy { $0.hasPrefix("hoop_read_") && $0.hasSuffix(":SELECT") }, "\(tableGrants)")
        XCTAssertEqual(try admin.execute("select count(*) from information_schema.role_usage_grants where grantee = $1", [reader]).scalar, "0",
                       "no sequence: the read role inserts nothing")
        let routines = try admin.execute("""
            select routine_schema || '.' || routine_name from information_schema.role_routine_grants where grantee = $1 order by 1
            """, [reader]).rows.compactMap { $0[0] }
        XCTAssertEqual(routines, [], "a function a view calls is one the session can call: views use built-ins only")
        let schemas = try admin.execute("""
            select n.nspname from pg_namespace n where has_schema_privilege($1, n.oid, 'USAGE')
              and n.nspname not in ('pg_catalog', 'information_schema', 'public') and n.nspname not like 'pg\\_%' order by 1
            """, [reader]).rows.compactMap { $0[0] }
        XCTAssertEqual(schemas.count, 1, "its views' schema, not hoop: \(schemas)")
        XCTAssertTrue(schemas.first?.hasPrefix("hoop_read_") ?? false, "\(schemas)")
        // hoop_owner reads the base tables the views show, and writes only where a role writes.
        let owner = try admin.execute("""
            select table_name || ':' || string_agg(privilege_type, ',' order by privilege_type) from information_schema.role_table_grants
            where grantee = 'hoop_owner' and table_schema = 'public' and table_name in ('customers', 'orders') group by table_name order by 1
            """).rows.compactMap { $0[0] }
        XCTAssertEqual(owner, ["customers:SELECT", "orders:DELETE,INSERT,SELECT,UPDATE"])
    }

    /// The database's own layer, without the proxy's guardrails in front (they would refuse all
    /// of this first): a broker whose policy allows every class.
    func testTheRoleCannotDoDDLOrBecomeAnotherRole() throws {
        let open = try SeparateBroker(pg) { yaml in
            yaml.replacingOccurrences(of: "ddl: review", with: "ddl: allow").replacingOccurrences(of: "dcl: review", with: "dcl: allow")
                .replacingOccurrences(of: "admin: deny", with: "admin: allow")
        }
        func hoopctl(_ arguments: [String]) throws -> ChildProcess.Result { try open.hoopctl(arguments) }
        let script = """
            create table public.x (a int);
            create schema evil;
            create function f() returns int language sql as 'select 1';
            set role hoop_owner;
            set role hoop_admin;
            alter table customers add column x int;
            drop view customers;
            select * from hoop.write_limits;
            update hoop.write_limits set max_rows = 1000000 where role = current_user;
            """
        for statement in script.split(separator: "\n") {
            let single = try hoopctl(["exec", "sandbox", "--quiet", "--", "psql", "-X", "-c", String(statement)])
            XCTAssertNotEqual(single.status, 0, "\(statement) must fail")
            XCTAssertTrue(single.stderr.contains("permission denied") || single.stderr.contains("must be owner"), "\(statement): \(single.stderr)")
        }
        // GRANT of what it does not own changes nothing (PostgreSQL warns rather than fails).
        let grant = try hoopctl(["exec", "sandbox", "--quiet", "--", "psql", "-X", "-c", "grant select on customers to public"])
        XCTAssertTrue(grant.stderr.contains("no privileges were granted"), grant.stderr)
        XCTAssertEqual(try pg.admin().execute("select count(*) from information_schema.role_table_grants where grantee = 'PUBLIC' and table_name = 'customers'").scalar, "0")
    }

    func testAQueryIsCutAtTheTTL() throws {
        let started = Date()
        // Minutes of work (pg_sleep is denied by the demo policy's guardrails).
        let result = try hoopctl(["exec", "sandbox", "--quiet", "--ttl", "2s", "--", "psql", "-XAtc",
                                  "select count(*) from generate_series(1, 100000) a, generate_series(1, 100000) b"])
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("terminating connection") || result.stderr.contains("server closed the connection"), result.stderr)
        XCTAssertLessThan(elapsed, 8, "cut at the TTL, not after the query")
        // And it cannot log in again.
        let again = try hoopctl(["exec", "sandbox", "--quiet", "--ttl", "1s", "--", "sh", "-c", "sleep 2.5; psql -XAtc 'select 1'"])
        XCTAssertNotEqual(again.status, 0)
        XCTAssertTrue(again.stderr.contains("password authentication failed") || again.stderr.contains("not permitted to log in") || again.stderr.contains("does not exist"), again.stderr)
    }

    func testSignalsToHoopctlReachTheCommand() throws {
        // The signal goes once the command runs with its trap set (the role exists a little earlier).
        let ready = FileManager.default.temporaryDirectory.appendingPathComponent("trap-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: ready) }
        let client = try BackgroundProcess(HoopctlBinary.path, ["exec", "sandbox", "--quiet", "--", "sh", "-c",
                                                                "trap 'exit 42' TERM; touch '\(ready)'; while :; do sleep 0.05; done"],
                                           environment: pg.environment)
        XCTAssertTrue(try eventually { try pg.sessionRoles().count == 1 })
        XCTAssertTrue(eventually { FileManager.default.fileExists(atPath: ready) })
        client.signal(SIGTERM)
        XCTAssertEqual(client.wait(), 42, client.output)
    }

    func testAKilledClientsRoleIsRevoked() throws {
        let marker = "29.\(Int.random(in: 100...999))"
        let client = try BackgroundProcess(HoopctlBinary.path, ["exec", "sandbox", "--quiet", "--ttl", "10m", "--", "sleep", marker],
                                           environment: pg.environment)
        XCTAssertTrue(try eventually { try pg.sessionRoles().count == 1 })
        client.signal(SIGKILL)
        XCTAssertEqual(client.wait(), 128 + SIGKILL)
        XCTAssertTrue(try eventually(timeout: 5) { try pg.sessionRoles().isEmpty }, "the broker notices the client is gone, long before the TTL")
        _ = try? ChildProcess("pkill", ["-f", "sleep \(marker)"]).run()
        let audit = try hoopctl(["audit", "--kind", "session", "--json", "--since", "1m"])
        XCTAssertTrue(audit.stdout.contains("\"endedBy\":\"client-gone\""), audit.stdout)
    }

    func testTwentyConcurrentExecsGetDistinctRolesAllRevoked() throws {
        let environment = pg.environment
        let lock = NSLock()
        nonisolated(unsafe) var users: [String] = []
        nonisolated(unsafe) var failures: [String] = []
        DispatchQueue.concurrentPerform(iterations: 20) { _ in
            do {
                let result = try HoopctlBinary.run(["exec", "sandbox", "--quiet", "--", "psql", "-XAtc", "select current_user"], environment: environment)
                lock.withLock {
                    if result.status == 0 { users.append(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) } else { failures.append(result.stderr) }
                }
            } catch {
                lock.withLock { failures.append("\(error)") }
            }
        }
        XCTAssertEqual(failures, [])
        XCTAssertEqual(users.count, 20)
        XCTAssertEqual(Set(users).count, 20, "distinct roles")
        XCTAssertTrue(try pg.sessionRoles().isEmpty)
    }

    /// kill -9 of the broker: after a restart, no role outlives its session — neither the one a
    /// session had when the broker died, nor one the ledger never heard of.
    func testNoOrphanRoleSurvivesABrokerCrash() throws {
        // The command runs (so the broker has answered) before the broker is killed.
        let started = FileManager.default.temporaryDirectory.appendingPathComponent("hoopctl-started-\(UUID().uuidString)").path
        defer { unlink(started) }
        let client = try BackgroundProcess(HoopctlBinary.path, ["exec", "sandbox", "--quiet", "--", "sh", "-c", "touch '\(started)'; sleep 1.5"],
                                           environment: pg.environment)
        XCTAssertTrue(eventually { FileManager.default.fileExists(atPath: started) }, client.output)
        XCTAssertTrue(try eventually { try pg.sessionRoles().count == 1 })
        let pidText = try String(contentsOfFile: pg.home + "/sandbox/broker.pid", encoding: .utf8)
        let broker = try XCTUnwrap(pid_t(pidText.trimmingCharacters(in: .whitespacesAndNewlines)))
        kill(broker, SIGKILL)
        XCTAssertEqual(client.wait(), 0, "the command itself finishes")
        XCTAssertTrue(client.output.contains("could not end session"), client.output)
        XCTAssertEqual(try pg.sessionRoles().count, 1, "nobody revoked it while the broker was down")
        try pg.admin().execute("CREATE ROLE hoop_s_0badc0ffee00 LOGIN")

        let up = try hoopctl(["sandbox", "up"])
        XCTAssertEqual(up.status, 0, up.stderr)
        XCTAssertTrue(try eventually { try pg.sessionRoles().isEmpty }, "left: \((try? pg.sessionRoles()) ?? [])")
        let audit = try hoopctl(["audit", "--json", "--since", "1m"])
        XCTAssertTrue(audit.stdout.contains("\"action\":\"orphan-found\""), audit.stdout)
        XCTAssertTrue(audit.stdout.contains("\"endedBy\":\"client-gone\""), "the recovered session's client was gone: \(audit.stdout)")
        let verify = try hoopctl(["audit", "verify"])
        XCTAssertEqual(verify.status, 0, verify.stdout)
    }

    /// Two brokers on one cluster: one starting (and reconciling) leaves the other's live
    /// sessions alone; each role's comment names the broker that made it.
    func testAnotherBrokerLeavesOurLiveSessionsAlone() throws {
        let client = try BackgroundProcess(HoopctlBinary.path, ["exec", "sandbox", "--quiet", "--", "sleep", "2"], environment: pg.environment)
        XCTAssertTrue(try eventually { try pg.sessionRoles().count == 1 })
        let comment = try pg.admin().execute("SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname LIKE 'hoop\\_s\\_%'").scalar
        XCTAssertNotNil(comment?.range(of: " broker [0-9a-f]{16}$", options: .regularExpression), comment ?? "")
        let other = try SeparateBroker(pg) { $0 }
        XCTAssertEqual(try pg.sessionRoles().count, 1, "the other broker's start-up reconcile kept it")
        XCTAssertEqual(client.wait(), 0, client.output)
        XCTAssertTrue(try eventually { try pg.sessionRoles().isEmpty })
        _ = other
    }

    func testTheLedgerHoldsTheSessionWithItsCaller() throws {
        let result = try hoopctl(["exec", "sandbox", "--quiet", "--reason", "ledger check", "--", "sh", "-c", "exit 3"])
        XCTAssertEqual(result.status, 3)
        let audit = try hoopctl(["audit", "--json", "--kind", "session", "--kind", "credential", "--limit", "8"])
        let records = audit.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let started = try XCTUnwrap(records.last { ($0["body"] as? [String: Any])?["phase"] as? String == "started" })
        let body = try XCTUnwrap(started["body"] as? [String: Any])
        XCTAssertEqual(body["reason"] as? String, "ledger check")
        XCTAssertEqual(body["role"] as? String, "read")
        XCTAssertEqual(body["client"] as? String, "exec")
        let process = try XCTUnwrap(body["process"] as? [String: Any])
        XCTAssertEqual((process["arguments"] as? [String])?.suffix(4), ["--", "sh", "-c", "exit 3"])
        XCTAssertTrue((process["executable"] as? String)?.hasSuffix("/hoopctl") ?? false)
        XCTAssertNotNil(process["parentArguments"], "the job that ran hoopctl")
        let session = try XCTUnwrap(started["session"] as? String)
        let steps = records.filter { $0["session"] as? String == session }.compactMap { ($0["body"] as? [String: Any])?["action"] as? String }
        XCTAssertEqual(steps, ["created", "login-disabled", "backends-terminated", "owned-dropped", "dropped"])
        let ended = try XCTUnwrap(records.last { $0["session"] as? String == session && ($0["body"] as? [String: Any])?["phase"] as? String == "ended" })
        XCTAssertEqual((ended["body"] as? [String: Any])?["exitCode"] as? Int, 3)
        XCTAssertFalse(audit.stdout.contains("password"), "never a password")
    }
}
