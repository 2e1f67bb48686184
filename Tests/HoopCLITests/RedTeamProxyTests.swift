import Foundation
import HoopBroker
import HoopBrokerAPI
import HoopCommon
import HoopProxy
import HoopTestSupport
@testable import HoopWire
import NIOCore
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The ways around the guard proxy a red team found (issue 12), each as the attack it was,
/// with variants of the class: the proxy must see every statement as the server will, and no
/// input may crash the broker or starve other users.
final class RedTeamProxyTests: XCTestCase {
    var pg: TestPostgres.Instance!
    var broker: SeparateBroker!
    var session: OpenSession!

    override func setUpWithError() throws {
        pg = try TestPostgres.shared()
        broker = try SeparateBroker(pg)
        session = try OpenSession(broker)
    }

    override func tearDown() {
        session = nil
        broker = nil
    }

    // MARK: Wire helpers

    static func cString(_ text: String) -> [UInt8] { Array(text.utf8) + [0] }
    static func query(_ sql: String) -> [UInt8] { RawPostgresClient.message("Q", cString(sql)) }
    static func parse(_ name: String, _ sql: String) -> [UInt8] { RawPostgresClient.message("P", cString(name) + cString(sql) + [0, 0]) }
    static func bind(_ portal: String, _ statement: String) -> [UInt8] {
        RawPostgresClient.message("B", cString(portal) + cString(statement) + [0, 0, 0, 0, 0, 0])
    }
    static func execute(_ portal: String = "") -> [UInt8] { RawPostgresClient.message("E", cString(portal) + [0, 0, 0, 0]) }
    static let sync = RawPostgresClient.message("S", [])

    /// Messages until `count` ReadyForQuery have come (or the connection ends).
    static func untilReady(_ client: RawPostgresClient, count: Int = 1) -> [RawPostgresClient.Message] {
        var messages: [RawPostgresClient.Message] = [], ready = 0
        while ready < count, let message = client.read() {
            messages.append(message)
            if message.type == UInt8(ascii: "Z") { ready += 1 }
        }
        return messages
    }

    static func errors(_ messages: [RawPostgresClient.Message]) -> [[Character: String]] {
        messages.filter { $0.type == UInt8(ascii: "E") }.map(\.fields)
    }

    /// The first column of every DataRow, as text.
    static func values(_ messages: [RawPostgresClient.Message]) -> [String] {
        messages.filter { $0.type == UInt8(ascii: "D") && $0.body.count >= 6 }.map { row in
            let length = Int(Int32(bitPattern: UInt32(row.body[2]) << 24 | UInt32(row.body[3]) << 16 | UInt32(row.body[4]) << 8 | UInt32(row.body[5])))
            return length < 0 ? "NULL" : String(decoding: row.body[6..<min(row.body.count, 6 + length)], as: UTF8.self)
        }
    }

    private func statementRecords() throws -> [[String: Any]] {
        try broker.records(kind: "statement").compactMap { $0["body"] as? [String: Any] }
    }

    private func events(_ name: String) throws -> [[String: Any]] { try broker.events(name) }

    // MARK: 1. A setting that changes how SQL is read

    /// The hidden part of the "literal" would divide by zero: it must never run.
    static let hiding = "SELECT 'a\\' AS p, '; SELECT 1/0; SELECT 1 --' AS r"

    func testASettingChangeCannotHideAStatementInAPipeline() throws {
        // Extended protocol: the change, and in the same write a simple Query lexed with it.
        let client = try session.loggedIn()
        client.send(Self.parse("", "UPDATE pg_settings SET setting = 'off' WHERE name = 'standard_conforming_strings'")
                    + Self.bind("", "") + Self.execute() + Self.sync + Self.query(Self.hiding))
        let messages = Self.untilReady(client, count: 2)
        let errors = Self.errors(messages)
        XCTAssertEqual(errors.first?["C"], "42501", "\(errors)")
        XCTAssertTrue(errors.first?["M"]?.contains("hoopctl: denied") == true, "\(errors)")
        XCTAssertFalse(errors.contains { $0["C"] == "22012" }, "the hidden statement ran: \(errors)")
        XCTAssertEqual(Self.values(messages).first, "a\\", "read as one SELECT of two literals, as the server read it")

        // Every other way to the setting is refused as well.
        for change in ["set standard_conforming_strings = off", "select set_config('standard_conforming_strings', 'off', false)",
                       "select set_config(lower('STANDARD_CONFORMING_STRINGS'), 'off', false)", "set backslash_quote = on",
                       "do $$ begin perform set_config('standard_conforming_strings', 'off', false); end $$",
                       "alter role current_user set standard_conforming_strings = off", "set names 'SJIS'"] {
            let result = try session.psql(["-c", change, "-c", "show standard_conforming_strings"])
            XCTAssertTrue(result.stderr.contains("hoopctl: denied"), "\(change): \(result.stderr)")
        }
        XCTAssertEqual(try session.psql(["-c", "show standard_conforming_strings"]).stdout, "on\n")
    }

    /// Second line: a function the analysis cannot see into changes the setting. A text with a
    /// backslash waits for the server's report, which closes the connection before it runs.
    func testATextThatDependsOnTheSettingWaitsForTheServerToSettle() throws {
        let admin = try pg.admin()
        try admin.execute("""
            CREATE OR REPLACE FUNCTION public.redteam_flip() RETURNS text LANGUAGE sql
            AS $$ SELECT set_config('standard_conforming_strings', 'off', false) $$
            """)
        defer { _ = try? admin.execute("DROP FUNCTION IF EXISTS public.redteam_flip()") }

        let simple = try session.loggedIn()
        simple.send(Self.query("SELECT public.redteam_flip()") + Self.query(Self.hiding))
        let messages = simple.readUntilClosed()
        let errors = Self.errors(messages)
        XCTAssertFalse(errors.contains { $0["C"] == "22012" }, "the hidden statement ran: \(errors)")
        XCTAssertTrue(errors.last?["M"]?.contains("hoopctl cannot analyse") == true, "\(errors)")

        // In an extended-protocol batch the report could only come at Sync: such a text is refused.
        let extended = try session.loggedIn()
        extended.send(Self.parse("", "SELECT public.redteam_flip()") + Self.bind("", "") + Self.execute()
                      + Self.parse("", Self.hiding) + Self.bind("", "") + Self.execute() + Self.sync)
        let refused = Self.errors(extended.readUntilClosed())
        XCTAssertFalse(refused.contains { $0["C"] == "22012" }, "\(refused)")
        XCTAssertTrue(refused.contains { $0["M"]?.contains("send Sync first") == true }, "\(refused)")

        // Texts without a backslash are pipelined as before, and one with a backslash runs once the server is idle.
        let pipelined = try session.loggedIn()
        pipelined.send(Self.query("SELECT 1") + Self.query("SELECT 2") + Self.query("SELECT 'c:\\dir'"))
        XCTAssertEqual(Self.values(Self.untilReady(pipelined, count: 3)), ["1", "2", "c:\\dir"])
    }

    // MARK: 2. Functions that run SQL text

    func testSQLInsideFunctionArgumentsIsJudged() throws {
        for attack in ["select count(*) from ts_stat('select to_tsvector(pg_sleep(3)::text)')",
                       "select pg_sleep_for('3 seconds')", "select pg_catalog.pg_sleep_until(now() + interval '3 seconds')",
                       "select query_to_xml(targetns => 'select 1', nulls => true, tableforest => true, query => 'select pg_sleep(3)')",
                       "select ts_rewrite('a'::tsquery, 'select pg_sleep(3)::text::tsquery, ''b''::tsquery')",
                       "select query_to_xml(query => 'select pg_sleep(3)', nulls => true, tableforest => false, targetns => '')",
                       "select * from ts_stat(current_query())", "select schema_to_xml('public', true, false, '')"] {
            let started = Date()
            let result = try session.psql(["-c", attack])
            XCTAssertTrue(result.stderr.contains("hoopctl: denied"), "\(attack): \(result.stderr)")
            XCTAssertLessThan(Date().timeIntervalSince(started), 2.5, "\(attack) slept")
        }
        XCTAssertEqual(try session.psql(["-c", "select count(*) from ts_stat('select to_tsvector(''simple'', ''a b'')')"]).stdout, "2\n")
        // The ledger names the relation the inner statement reads.
        _ = try session.psql(["-c", "select count(*) from ts_stat('select to_tsvector(name) from customers')"])
        let reads = try statementRecords().filter { ($0["sql"] as? String)?.contains("ts_stat") == true && $0["decision"] as? String == "allow" }
        XCTAssertTrue(reads.contains { ($0["relations"] as? [String])?.contains("public.customers") == true }, "\(reads)")
    }

    // MARK: 3. Names resolved as the server resolves them

    func testTheBrokersFunctionsCannotBeReachedByAnyName() throws {
        let result = try session.psql(["-c", "set search_path = hoop, public", "-c", "select set_config('search_path', 'public, HOOP', false)",
                                       "-c", "select set_config('search_path', 'pub' || 'lic' || ',hoop', false)",
                                       "-c", "select mask_hash('+1-312-555-1171')", "-c", "select \"hoop\".\"mask_hash\"('x')",
                                       "-c", "show search_path"])
        XCTAssertEqual(result.stderr.components(separatedBy: "hoopctl: denied").count - 1, 4, result.stderr)
        XCTAssertTrue(result.stderr.contains("function mask_hash(unknown) does not exist"), result.stderr)
        XCTAssertFalse(result.stdout.contains("hoop,") || result.stdout.contains(", hoop"), result.stdout)
        // The same text shape with a harmless value first: the analysis of one value is never another's.
        let warmed = try session.psql(["-c", "set search_path = 'information_schema'", "-c", "reset search_path",
                                       "-c", "set search_path = 'hoop'", "-c", "select mask_hash('+1-312-555-1171')", "-c", "show search_path"])
        XCTAssertEqual(warmed.stderr.components(separatedBy: "hoopctl: denied").count - 1, 1, warmed.stderr)
        XCTAssertTrue(warmed.stderr.contains("function mask_hash(unknown) does not exist"), warmed.stderr)
        let path = warmed.stdout.split(separator: "\n").last.map { $0.components(separatedBy: ", ") } ?? []
        XCTAssertFalse(path.contains("hoop"), warmed.stdout)
    }

    /// The ledger names what the server read: each name resolved through the session's
    /// search_path as it was when the statement ran, followed through SET, set_config,
    /// transactions that undo them and batches sent before the server answered.
    func testTheLedgerNamesWhatTheServerResolved() throws {
        let client = try session.loggedIn()
        client.send(Self.query("show search_path"))
        let viewSchema = try XCTUnwrap(Self.values(Self.untilReady(client)).first?.components(separatedBy: ",").first)
        let steps: [(messages: [UInt8], ready: Int)] = [
            (Self.query("select count(*) as plain from customers"), 1),
            (Self.query("select count(*) as through_view from \(viewSchema).customers"), 1),
            (Self.query("set search_path = information_schema; select count(*) as same_text from tables"), 1),
            (Self.query("reset search_path"), 1),
            // Sent before the server answered the change, which an error then undid.
            (Self.query("set search_path = information_schema; select 1/0") + Self.query("select count(*) as after_failure from customers"), 2),
            (Self.query("begin") + Self.query("set search_path = information_schema") + Self.query("rollback")
                + Self.query("select count(*) as after_rollback from customers"), 4),
            (Self.parse("", "set search_path = information_schema") + Self.bind("", "") + Self.execute()
                + Self.parse("", "select 1/0") + Self.bind("", "") + Self.execute() + Self.sync
                + Self.parse("", "select count(*) as extended_after from customers") + Self.bind("", "") + Self.execute() + Self.sync, 2),
            (Self.query("begin; set local search_path = information_schema; select count(*) as local_one from tables; commit"), 1),
            (Self.query("select count(*) as local_over from customers"), 1),
            // A block that ends in an error without ROLLBACK (PREPARE TRANSACTION fails: the
            // server allows no prepared transactions) is rolled back.
            (Self.query("begin; set search_path = information_schema; prepare transaction 'redteam'"), 1),
            (Self.query("select count(*) as after_prepare from customers"), 1),
            // A portal suspended after its first row has run it.
            (Self.parse("", "select set_config('search_path', 'information_schema', false)") + Self.bind("", "")
                + RawPostgresClient.message("E", Self.cString("") + [0, 0, 0, 1]) + Self.sync, 1),
            (Self.query("select count(*) as after_suspended from tables"), 1),
            (Self.query("reset search_path"), 1),
            // A CTE's own body reads the table of its name, not itself.
            (Self.query("with customers as (select email from customers) select count(*) as cte_self from customers"), 1),
            // Two texts of one fingerprint that read different tables inside their literals.
            (Self.query("select query_to_xml('select id from orders', true, true, '') as literal_orders"), 1),
            (Self.query("select query_to_xml('select email from customers', true, true, '') as literal_orders"), 1),
            // A change that may or may not have happened: the name stays as written.
            (Self.query("select set_config('search_path', 'information_schema', false) where random() < 2"), 1),
            (Self.query("select count(*) as unknown_path from tables"), 1),
        ]
        var counts: [String] = []
        for step in steps {
            client.send(step.messages)
            counts += Self.values(Self.untilReady(client, count: step.ready))
        }
        let records = try statementRecords()
        func relations(_ alias: String) -> [String]? {
            records.last { ($0["sql"] as? String)?.contains(alias) == true }?["relations"] as? [String]
        }
        for alias in ["plain", "through_view", "after_failure", "after_rollback", "extended_after", "local_over", "after_prepare", "cte_self"] {
            XCTAssertEqual(relations(alias), ["public.customers"], alias)
        }
        XCTAssertEqual(relations("same_text"), ["information_schema.tables"])
        XCTAssertEqual(relations("local_one"), ["information_schema.tables"])
        XCTAssertEqual(relations("unknown_path"), ["tables"])
        XCTAssertEqual(relations("after_suspended"), ["information_schema.tables"])
        let literal = records.filter { ($0["sql"] as? String)?.contains("literal_orders") == true }.map { $0["lineage"] as? [String] ?? [] }
        XCTAssertEqual(literal.count, 2)
        XCTAssertEqual(literal.last, ["read public.customers", "read public.customers.email view"], "each text's own lineage")
        let customers = try XCTUnwrap(try pg.admin().execute("SELECT count(*) FROM public.customers").scalar)
        XCTAssertEqual(counts.filter { $0 == customers }.count, 8, "the counts of customers came back: \(counts)")
        // The lineage follows the same resolution.
        let lineage = records.last { ($0["sql"] as? String)?.contains("after_rollback") == true }?["lineage"] as? [String]
        XCTAssertEqual(lineage, ["read public.customers"])
    }

    // MARK: 4. A Parse with several statements

    func testAParseWithSeveralStatementsIsRefusedBeforeAnythingRuns() throws {
        let client = try session.loggedIn()
        let marker = "/tmp/hoopctl-redteam-\(UUID().uuidString.prefix(8))"
        defer { unlink(marker) }
        let roles = try pg.admin().execute("SELECT count(*) FROM pg_roles").scalar
        client.send(Self.parse("", "CREATE INDEX redteam_idx ON orders (created_at); SET ROLE hoop_admin; "
                               + "COPY (SELECT current_user) TO PROGRAM 'id > \(marker)'; CREATE ROLE redteam_made SUPERUSER")
                    + Self.bind("", "") + Self.execute() + Self.sync)
        let errors = Self.errors(Self.untilReady(client))
        XCTAssertTrue(errors.first?["M"]?.contains("holds 4 statements") == true, "\(errors)")
        XCTAssertEqual(try pg.admin().execute("SELECT count(*) FROM pg_indexes WHERE indexname = 'redteam_idx'").scalar, "0")
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker), "COPY TO PROGRAM ran")
        XCTAssertEqual(try pg.admin().execute("SELECT count(*) FROM pg_roles").scalar, roles, "no role was made")
        let requests = try broker.hoopctl(["requests", "--json"])
        XCTAssertFalse(requests.stdout.contains("redteam_idx") || requests.stdout.contains("CREATE INDEX"), "no review was asked: \(requests.stdout)")
    }

    // MARK: 4b. A Parse is a statement reaching the database

    /// The red team's find: a Parse (and Describe) with no Execute was forwarded with no record,
    /// so the server parsed it — checked names and privileges, looked up the catalog, described
    /// a base table's columns — and the ledger never saw it. A Parse now waits for a record of its
    /// own, unless an Execute of it in the same read records both.
    func testAParseReachesTheServerOnlyWithItsRecord() throws {
        let client = try session.loggedIn()
        let marker = "parse\(UUID().uuidString.prefix(6).lowercased())"
        let before = try statementRecords().count
        client.send(Self.parse("zz1", "select email from customers where id = 1 /* \(marker) */")
                    + RawPostgresClient.message("D", [UInt8(ascii: "S")] + Self.cString("zz1")) + Self.sync)
        let described = Self.untilReady(client)
        XCTAssertTrue(described.contains { $0.type == UInt8(ascii: "T") }, "the server described it: \(described)")
        client.send(Self.parse("zz2", "select * from \(marker)_no_such_table") + Self.sync)
        XCTAssertTrue(Self.errors(Self.untilReady(client)).first?["M"]?.contains("does not exist") == true)
        // Prepared once, executed twice in later reads: one record of the Parse, one per Execute.
        client.send(Self.parse("zz3", "select id from customers where id = 3 /* \(marker) once */") + Self.sync)
        _ = Self.untilReady(client)
        for _ in 0..<2 {
            client.send(Self.bind("", "zz3") + Self.execute() + Self.sync)
            XCTAssertEqual(Self.values(Self.untilReady(client)), ["3"])
        }
        // Parse, Bind, Execute in one read: the Execute's record stands for both.
        client.send(Self.parse("", "select id from customers where id = 4 /* \(marker) piped */") + Self.bind("", "") + Self.execute() + Self.sync)
        XCTAssertEqual(Self.values(Self.untilReady(client)), ["4"])

        let records = try statementRecords().dropFirst(before)
        func named(_ text: String) -> [[String: Any]] { records.filter { ($0["sql"] as? String)?.contains(text) == true } }
        let first = named("\(marker) */")
        XCTAssertEqual(first.map { $0["via"] as? String }, ["parse"], "\(records)")
        XCTAssertNil(first.first?["lineage"], "a statement only prepared touched no data")
        XCTAssertEqual(named("\(marker)_no_such_table").map { $0["via"] as? String }, ["parse"], "a probe of the catalog is recorded")
        XCTAssertEqual(named("\(marker) once").map { $0["via"] as? String }, ["parse", "execute", "execute"])
        XCTAssertEqual(named("\(marker) piped").map { $0["via"] as? String }, ["execute"])
        XCTAssertEqual(try broker.hoopctl(["audit", "verify"]).status, 0)
    }

    /// Red team (rt18): an Execute in the same read stood for a Parse whose name a Close had
    /// dropped in between, so the Execute ran as an unknown portal and the Parse, which the
    /// server had parsed, described and (with a Bind) planned, had no record at all.
    func testAParseIsRecordedWhenWhatFollowsItInTheSameReadDoesNotRunIt() throws {
        let client = try session.loggedIn()
        let marker = "closed\(UUID().uuidString.prefix(6).lowercased())"
        let before = try statementRecords().count
        let closeStatement = { (name: String) in RawPostgresClient.message("C", [UInt8(ascii: "S")] + Self.cString(name)) }
        let closePortal = RawPostgresClient.message("C", [UInt8(ascii: "P")] + Self.cString(""))
        // Parse, Describe, Close, then Bind and Execute of the closed name.
        client.send(Self.parse("k1", "select * from customers /* \(marker) a */")
                    + RawPostgresClient.message("D", [UInt8(ascii: "S")] + Self.cString("k1")) + closeStatement("k1")
                    + Self.bind("", "k1") + Self.execute() + Self.sync)
        _ = Self.untilReady(client)
        // Parse and Bind (the server plans it), then both closed before the Execute.
        client.send(Self.parse("", "select id from customers where id = 5 /* \(marker) b */") + Self.bind("", "")
                    + closeStatement("") + closePortal + Self.execute() + Self.sync)
        _ = Self.untilReady(client)

        let records = try statementRecords().dropFirst(before)
        func named(_ text: String) -> [[String: Any]] { records.filter { ($0["sql"] as? String)?.contains(text) == true } }
        XCTAssertEqual(named("\(marker) a").map { $0["via"] as? String }, ["parse"], "\(records)")
        XCTAssertEqual(named("\(marker) b").map { $0["via"] as? String }, ["parse"], "\(records)")
    }

    // MARK: 5. Statements and portals tracked exactly

    func testStatementNamesRunWhatTheLedgerRecords() throws {
        let client = try session.loggedIn()
        // A Bind to a statement made with SQL PREPARE runs nothing the proxy did not analyse.
        client.send(Self.query("PREPARE redteam_p AS SELECT 'sql-level'"))
        _ = Self.untilReady(client)
        client.send(Self.bind("", "redteam_p") + Self.execute() + Self.sync)
        let bound = Self.untilReady(client)
        XCTAssertFalse(Self.values(bound).contains("sql-level"), "\(Self.values(bound))")
        XCTAssertEqual(Self.errors(bound).first?["C"], "26000", "\(Self.errors(bound))")

        // A name used twice: what runs is the text the ledger records for the Execute.
        client.send(Self.parse("s1", "SELECT 1 AS first") + Self.sync)
        _ = Self.untilReady(client)
        client.send(Self.parse("s1", "SELECT 2 AS second") + Self.bind("", "s1") + Self.execute() + Self.sync)
        let reused = Self.untilReady(client)
        let ran = Self.values(reused)
        let executed = try statementRecords().filter { $0["via"] as? String == "execute" }
        XCTAssertEqual(ran, ["2"], "\(Self.errors(reused))")
        XCTAssertTrue((executed.last?["sql"] as? String)?.contains("second") == true, "\(executed.last ?? [:])")

        // A statement closed in a transaction that failed, then made again under the same name.
        client.send(Self.query("BEGIN") + Self.query("SELECT 1/0") + Self.parse("s2", "SELECT 'old'") + Self.sync)
        _ = Self.untilReady(client, count: 3)
        client.send(RawPostgresClient.message("C", [UInt8(ascii: "S")] + Self.cString("s2")) + Self.parse("s2", "SELECT 'new'")
                    + Self.sync + Self.query("ROLLBACK"))
        _ = Self.untilReady(client, count: 2)
        client.send(Self.parse("s2", "SELECT 'new'") + Self.bind("", "s2") + Self.execute() + Self.sync)
        XCTAssertEqual(Self.values(Self.untilReady(client)), ["new"])

        // An error makes the server skip the rest of a batch: a Parse it skipped changed nothing,
        // and a later batch sent before the error came back waits for it.
        client.send(Self.parse("", "SELECT 'RAN-A' AS a") + Self.sync)
        _ = Self.untilReady(client)
        client.send(Self.parse("e", "SELECT 1/0") + Self.bind("", "e") + Self.execute() + Self.parse("", "SELECT 'RAN-B' AS b") + Self.sync
                    + Self.bind("", "") + Self.execute() + Self.sync)
        let skipped = Self.untilReady(client, count: 2)
        XCTAssertEqual(Self.values(skipped), ["RAN-A"], "\(Self.errors(skipped))")
        XCTAssertTrue((try statementRecords().filter { $0["via"] as? String == "execute" }.last?["sql"] as? String)?.contains(" a") == true,
                      "the record names the statement that ran")
        // A simple Query inside a batch that failed is skipped too, and so is a Parse after it.
        let tooMany = RawPostgresClient.message("B", Self.cString("") + Self.cString("") + [0, 0, 0, 1, 0, 0, 0, 1, 0x31, 0, 0])
        client.send(tooMany + Self.execute() + Self.query("") + Self.parse("", "SELECT 'RAN-X' AS x") + Self.sync)
        _ = Self.untilReady(client)
        client.send(RawPostgresClient.message("C", [UInt8(ascii: "S")] + Self.cString("nothing")) + Self.sync
                    + Self.bind("", "") + Self.execute() + Self.sync)
        let afterQuery = Self.untilReady(client, count: 2)
        XCTAssertEqual(Self.values(afterQuery), ["RAN-A"], "\(Self.errors(afterQuery))")
        XCTAssertTrue((try statementRecords().filter { $0["via"] as? String == "execute" }.last?["sql"] as? String)?.contains(" a") == true)
        client.send(Self.query("SELECT 'counted right'"))
        XCTAssertEqual(Self.values(Self.untilReady(client)), ["counted right"], "the proxy still pairs answers with what was sent")

        // The same with SQL PREPARE: one the server skipped is not what EXECUTE runs.
        client.send(Self.query("SELECT 1/0; PREPARE redteam_q AS SELECT 'RAN-B' AS b") + Self.query("PREPARE redteam_q AS SELECT 'RAN-A' AS a")
                    + Self.query("EXECUTE redteam_q"))
        let sqlLevel = Self.untilReady(client, count: 3)
        XCTAssertEqual(Self.values(sqlLevel), ["RAN-A"])
        let executes = try statementRecords().filter { ($0["sql"] as? String)?.hasPrefix("EXECUTE") == true || $0["via"] as? String == "query" }
        XCTAssertTrue((executes.last?["sql"] as? String)?.contains("redteam_q") == true, "\(executes.last ?? [:])")
        XCTAssertEqual(executes.last?["class"] as? String, "read")

        // SQL-level PREPARE and EXECUTE in one text: EXECUTE takes the class of what it runs.
        XCTAssertTrue(try session.psql(["-c", "PREPARE q AS SELECT 42; EXECUTE q"]).stdout.hasSuffix("42\n"))
        let before = try pg.admin().execute("SELECT count(*) FROM orders").scalar
        let wipe = try session.psql(["-c", "PREPARE w AS DELETE FROM orders; EXECUTE w"])
        XCTAssertTrue(wipe.stderr.contains("needs a review") || wipe.stderr.contains("hoopctl: denied"), wipe.stderr)
        XCTAssertEqual(try pg.admin().execute("SELECT count(*) FROM orders").scalar, before)
        // The proxy's own upstream names cannot be made, run or dropped from SQL.
        for reserved in ["PREPARE hoop_s1 AS SELECT 1", "DEALLOCATE hoop_s1", "DECLARE hoop_p1 CURSOR FOR SELECT 1"] {
            XCTAssertTrue(try session.psql(["-c", reserved]).stderr.contains("hoopctl: denied"), reserved)
        }
    }

    // MARK: 6. Statements too deep for the parser

    func testADeepStatementIsRefusedAndTheBrokerStaysUp() throws {
        let client = try session.loggedIn(timeout: 30)
        client.send(Self.query("SELECT 1" + String(repeating: "+1", count: 40_000)))
        let errors = Self.errors(Self.untilReady(client))
        XCTAssertTrue(errors.first?["M"]?.contains("levels of parse tree") == true, "\(errors)")
        client.send(Self.query("SELECT 'still here'"))
        XCTAssertEqual(Self.values(Self.untilReady(client)), ["still here"])
        XCTAssertEqual(try session.psql(["-c", "select 1"]).stdout, "1\n")

        let directory = try TemporaryDirectory("deep")
        defer { directory.remove() }
        try ("SELECT 1" + String(repeating: "+1", count: 40_000)).write(toFile: directory.file("deep.sql"), atomically: true, encoding: .utf8)
        let explain = try broker.hoopctl(["policy", "explain", "--policy", broker.policyPath, "--target", "sandbox", "--file", directory.file("deep.sql")])
        XCTAssertEqual(explain.status, 77, explain.stderr)
        XCTAssertTrue(explain.stdout.contains("levels of parse tree"), explain.stdout)
    }

    // MARK: 7. MERGE with a constant ON condition

    func testAMergeThatMatchesEveryRowIsAnUnboundedWrite() throws {
        let before = try pg.admin().execute("SELECT sum(amount) FROM orders").scalar
        for merge in ["MERGE INTO orders o USING (SELECT 1 AS k) s ON true WHEN MATCHED THEN UPDATE SET amount = 0",
                      "MERGE INTO orders o USING orders s ON 1 = 1 WHEN MATCHED THEN DELETE"] {
            let result = try session.psql(["-c", merge])
            XCTAssertTrue(result.stderr.contains("unbounded_write"), "\(merge): \(result.stderr)")
        }
        XCTAssertEqual(try pg.admin().execute("SELECT sum(amount) FROM orders").scalar, before)
    }

    // MARK: 8. Starving the broker without any access

    /// Starts `script` (python3) as another OS user when the tests run as root, else as this one.
    private func asStranger(_ script: String, in directory: TemporaryDirectory) throws -> BackgroundProcess {
        let file = directory.file("attack.py")
        try script.write(toFile: file, atomically: true, encoding: .utf8)
        chmod(directory.path, 0o777)
        chmod(file, 0o644)
        if getuid() == 0 { return try BackgroundProcess("runuser", ["-u", "nobody", "--", "python3", file]) }
        return try BackgroundProcess("python3", [file])
    }

    func testALocalUserWithNoAccessCannotStarveTheBroker() throws {
        // The broker's socket directory lets others reach the socket (it is 0666), as a real broker's does.
        chmod(broker.directory.path, 0o711)
        let socket = broker.environment["HOOPCTL_BROKER"]!
        let proxyPort = broker.proxyPort
        let directory = try TemporaryDirectory("stranger")
        defer { directory.remove() }
        let holding = directory.file("holding"), done = directory.file("done")
        let stranger = try asStranger("""
            import os, select, socket, time
            def answered(sockets, marker):
                # Those the server answered (or closed) within two seconds; the others wait to be served.
                time.sleep(1)
                waiting, count, deadline = list(sockets), 0, time.time() + 1
                while waiting and time.time() < deadline:
                    readable, _, _ = select.select(waiting, [], [], 0.2)
                    for s in readable:
                        waiting.remove(s)
                        if marker(s.recv(500)): count += 1
                return count
            held = []
            for _ in range(120):
                s = socket.socket(socket.AF_UNIX); s.connect("\(socket)"); held.append(s)
            refused = answered(held, lambda data: data == b"")
            proxy = [socket.create_connection(("127.0.0.1", \(proxyPort))) for _ in range(100)]
            proxy_refused = answered(proxy, lambda data: b"53300" in data)
            # Held while the test logs in as someone else, over TCP too.
            open("\(holding)", "w").close()
            deadline = time.time() + 20
            while not os.path.exists("\(done)") and time.time() < deadline: time.sleep(0.1)
            for s in held + proxy: s.close()
            # A request that never finishes is cut off (10 s for head and body).
            slow = socket.socket(socket.AF_UNIX); slow.connect("\(socket)")
            slow.sendall(b"POST /v1/sessions HTTP/1.1\\r\\nContent-Length: 1000000\\r\\n\\r\\n" + b"x" * 1000)
            started = time.time(); slow.settimeout(20)
            closed = slow.recv(100) == b""
            print(refused, proxy_refused, int(closed), round(time.time() - started))
            """, in: directory)
        XCTAssertTrue(eventually(timeout: 30) { FileManager.default.fileExists(atPath: holding) }, stranger.output)
        if getuid() == 0 {
            // The stranger holds its limit's worth of everything; we are served all the same.
            XCTAssertTrue(try broker.hoopctl(["whoami"]).succeeded)
            let tcp = try session.psql(["-c", "select 'over tcp'"], extra: ["PGHOST": "127.0.0.1", "PGPORT": String(proxyPort)])
            XCTAssertEqual(tcp.stdout, "over tcp\n", tcp.stderr)
        }
        FileManager.default.createFile(atPath: done, contents: nil)
        XCTAssertEqual(stranger.wait(timeout: 40), 0, stranger.output)
        let flood = (stdout: stranger.output, stderr: "")
        let figures = flood.stdout.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        guard figures.count == 4 else { return XCTFail("the attack did not run: \(flood.stdout) broker: \(broker.process.output.suffix(3000))") }
        // Run as this user (not root), the test's own connections to the broker count too.
        XCTAssertEqual(figures[0] >= 120 - BrokerHTTPServer.limits.perCaller, true, "connections past the per-caller limit are refused: \(flood.stdout)")
        if getuid() == 0 { XCTAssertEqual(figures[0], 120 - BrokerHTTPServer.limits.perCaller, flood.stdout) }
        XCTAssertEqual(figures[1], 100 - ProxyServer.loginLimits.perCaller, "proxy connections waiting to log in past the limit: \(flood.stdout)")
        XCTAssertEqual(figures[2], 1, "the unfinished request was cut off")
        XCTAssertLessThanOrEqual(figures[3], 12)
        XCTAssertEqual(try session.psql(["-c", "select 1"]).stdout, "1\n")
        // One event per limit and caller, not one per refused connection.
        _ = eventually { ((try? self.events("proxy.connection-limit").count) ?? 0) >= 1 }
        XCTAssertEqual(try events("broker.connection-limit").count, 1)
        XCTAssertEqual(try events("proxy.connection-limit").count, 1)
    }

    func testMessagesBeforeLoginAreSmall() throws {
        let client = try RawPostgresClient(socketPath: session.socketPath)
        client.send(MessageWriter.startup(parameters: [("user", session.sessionID), ("database", "shop")]))
        _ = client.read()  // AuthenticationSASL
        client.send([UInt8(ascii: "p"), 0x03, 0x20, 0, 0] + [UInt8](repeating: 0x41, count: 1000))  // declares 50 MB
        let errors = Self.errors(client.readUntilClosed())
        XCTAssertEqual(errors.last?["C"], "08P01", "\(errors)")
        XCTAssertTrue(errors.last?["M"]?.contains("10000") == true, "\(errors)")
    }

    // MARK: 9. Small leaks

    func testOthersLearnNothingOfTheBrokerOrOfSessionsNotTheirs() throws {
        let bob = try broker.token("user:bob")
        let status = try rawHTTP(socket: broker.environment["HOOPCTL_BROKER"]!, path: "/v1/status", token: bob)
        XCTAssertTrue(status.contains("\"version\""), status)
        XCTAssertFalse(status.contains("pid") || status.contains("ledger") || status.contains("activeSessions"), status)
        let admin = try rawHTTP(socket: broker.environment["HOOPCTL_BROKER"]!, path: "/v1/status", token: nil)
        XCTAssertTrue(admin.contains("pid"), "admins still see it: \(admin)")

        let alices = try OpenSession(broker, token: broker.token("user:alice"))
        let revoke = try broker.hoopctl(["revoke", alices.sessionID], token: bob)
        XCTAssertNotEqual(revoke.status, 0)
        XCTAssertTrue(revoke.stderr.contains("no active session"), revoke.stderr)
        XCTAssertFalse(revoke.stderr.contains("alice"), "the owner is not confirmed: \(revoke.stderr)")
        let prefix = try broker.hoopctl(["revoke", String(alices.sessionID.prefix(4))], token: bob)
        XCTAssertFalse(prefix.stderr.contains(alices.sessionID), prefix.stderr)
        // Nor the endpoints an agent's MCP server uses for its own session.
        for (method, path) in [("GET", "/v1/sessions/\(alices.sessionID)/catalog"), ("POST", "/v1/sessions/\(alices.sessionID)/explain")] {
            let answer = try rawHTTP(socket: broker.environment["HOOPCTL_BROKER"]!, method: method, path: path, token: bob)
            XCTAssertTrue(answer.contains("not_found") || answer.contains("404"), "\(path): \(answer)")
            XCTAssertFalse(answer.contains("alice"), "\(path): \(answer)")
        }
    }

    private func rawHTTP(socket: String, method: String = "GET", path: String, token: String?) throws -> String {
        let script = """
            import socket, sys
            s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
            auth = ("Authorization: Bearer " + sys.argv[4] + "\\r\\n") if len(sys.argv) > 4 else ""
            body = '{"sql": "select 1"}' if sys.argv[2] == "POST" else ""
            s.sendall((sys.argv[2] + " " + sys.argv[3] + " HTTP/1.1\\r\\nHost: broker\\r\\n\(BrokerAPI.versionHeader): \(BrokerAPI.version)\\r\\n" + auth
                       + "Content-Type: application/json\\r\\nContent-Length: %d\\r\\nConnection: close\\r\\n\\r\\n" % len(body) + body).encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk: break
                data += chunk
            print(data.decode())
            """
        return try ChildProcess("python3", ["-c", script, socket, method, path] + (token.map { [$0] } ?? [])).run().stdout
    }

    // MARK: 10. SQL that begins with a comment

    func testExplainTakesSQLThatBeginsWithAComment() throws {
        let explain = try broker.hoopctl(["policy", "explain", "--policy", broker.policyPath, "--target", "sandbox", "--sql", "-- a comment\nDELETE FROM orders"])
        XCTAssertEqual(explain.status, 75, explain.stderr)
        XCTAssertTrue(explain.stdout.contains("unbounded_write"), explain.stdout)
    }

    // MARK: 11. Startup options cannot override the policy

    func testStartupOptionsCannotUndoThePolicysSettings() throws {
        for options in ["-c statement_timeout=0 -c idle_in_transaction_session_timeout=0", "-c search_path=hoop,public",
                        "--statement-timeout=0", "-cstatement_timeout=0", "-c role=hoop_admin", "-B 1"] {
            let result = try session.psql(["-c", "show statement_timeout"], extra: ["PGOPTIONS": options])
            XCTAssertNotEqual(result.status, 0, "\(options): \(result.stdout)")
            XCTAssertTrue(result.stderr.contains("cannot be changed at login") || result.stderr.contains("options may only hold"),
                          "\(options): \(result.stderr)")
        }
        let client = try RawPostgresClient(socketPath: session.socketPath)
        client.send(MessageWriter.startup(parameters: [("user", session.sessionID), ("database", "shop"), ("statement_timeout", "0")]))
        XCTAssertTrue(Self.errors(client.readUntilClosed()).last?["M"]?.contains("statement_timeout") == true)
        // Settings the policy does not fix still pass.
        XCTAssertEqual(try session.psql(["-c", "show work_mem"], extra: ["PGOPTIONS": "-c work_mem=5MB"]).stdout, "5MB\n")
        XCTAssertEqual(try session.psql(["-c", "show statement_timeout"]).stdout, "30s\n")
    }

    /// The role's timeouts are settings a session may SET; the proxy holds to the policy's anyway.
    func testThePolicysTimeoutsHoldWhateverTheSessionSets() throws {
        let strict = try SeparateBroker(pg) {
            $0.replacingOccurrences(of: "statement_timeout: 30s", with: "statement_timeout: 2s")
                .replacingOccurrences(of: "idle_in_transaction_timeout: 5m", with: "idle_in_transaction_timeout: 2s")
        }
        let open = try OpenSession(strict)
        let started = Date()
        let long = try open.psql(["-c", "set statement_timeout = 0", "-c", "select set_config('statement_timeout', '0', false)",
                                  "-c", "select count(*) from generate_series(1, 3000000000::bigint)"])
        XCTAssertTrue(long.stderr.contains("canceling statement"), long.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(started), 8, "cancelled a moment after the policy's 2 s")
        XCTAssertTrue(eventually { ((try? strict.events("proxy.statement-timeout").count) ?? 0) == 1 })

        let client = try open.loggedIn(timeout: 10)
        client.send(Self.query("SET idle_in_transaction_session_timeout = 0") + Self.query("BEGIN") + Self.query("SELECT 1"))
        _ = Self.untilReady(client, count: 3)
        let waited = Date()
        let errors = Self.errors(client.readUntilClosed())
        XCTAssertEqual(errors.last?["C"], "25P03", "\(errors)")
        XCTAssertLessThan(Date().timeIntervalSince(waited), 6)
        // A Flush is not a statement: idle in a transaction is still idle, in a transaction block
        // or in an extended batch that never syncs.
        let flushing = try open.loggedIn(timeout: 10)
        flushing.send(Self.query("BEGIN") + Self.query("SELECT pg_advisory_xact_lock(42)"))
        _ = Self.untilReady(flushing, count: 2)
        let flushed = Date()
        flushing.send(RawPostgresClient.message("H", []))
        XCTAssertEqual(Self.errors(flushing.readUntilClosed()).last?["C"], "25P03")
        XCTAssertLessThan(Date().timeIntervalSince(flushed), 6)
        let unsynced = try open.loggedIn(timeout: 10)
        unsynced.send(Self.parse("", "BEGIN") + Self.bind("", "") + Self.execute() + Self.parse("", "SELECT pg_advisory_xact_lock(43)")
                      + Self.bind("", "") + Self.execute() + RawPostgresClient.message("H", []))
        let started2 = Date()
        XCTAssertEqual(Self.errors(unsynced.readUntilClosed()).last?["C"], "25P03")
        XCTAssertLessThan(Date().timeIntervalSince(started2), 6)

        // A statement that catches the cancel and goes on is ended with its connection (unless
        // the cancel happens to land outside its handler, which ends it at once).
        let stubbornStarted = Date()
        let stubborn = try open.psql(["-c", "set statement_timeout = 0", "-c", """
            DO $$ BEGIN
              FOR i IN 1..40 LOOP
                BEGIN PERFORM count(*) FROM generate_series(1, 20000000); EXCEPTION WHEN query_canceled THEN NULL; END;
              END LOOP;
            END $$
            """])
        XCTAssertNotEqual(stubborn.status, 0)
        XCTAssertTrue(stubborn.stderr.contains("did not stop when cancelled") || stubborn.stderr.contains("canceling statement"), stubborn.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(stubbornStarted), 15, "40 loops of about 2 s would have run 80 s")
        XCTAssertTrue(eventually(timeout: 10) {
            (try? self.pg.admin().execute("SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND state = 'active'", ["hoop_s_" + open.sessionID]).scalar) == "0"
        }, "the server stopped running it")
        // A statement that keeps within the limits is not disturbed.
        XCTAssertEqual(try open.psql(["-c", "set statement_timeout = 0", "-c", "select 1"]).stdout.hasSuffix("1\n"), true)
    }

    // MARK: 12. What a connection can make the broker hold

    func testTheMemoryAConnectionHoldsIsBoundedInBytes() throws {
        func rss() -> Int {
            let status = (try? String(contentsOfFile: "/proc/\(broker.process.pid)/status", encoding: .utf8)) ?? ""
            let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
            return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) / 1024
        }
        let before = rss()
        let client = try session.loggedIn(timeout: 3)
        client.send(Self.query("SELECT count(*) FROM generate_series(1, 150000000)"))
        let chunk = [UInt8](repeating: 0x61, count: 60 << 20)
        var sent = 0
        for _ in 0..<16 {
            guard client.send(RawPostgresClient.message("d", chunk)) else { break }
            sent += 1
        }
        Thread.sleep(forTimeInterval: 1)
        let grown = rss() - before
        print("broker RSS grew \(grown) MB while \(sent) of 16 CopyData messages of 60 MiB were taken")
        XCTAssertLessThan(sent, 4, "the proxy stopped reading")
        XCTAssertLessThan(grown, 200, "MB held for one connection")
    }

    // MARK: 13. The protocol exactly as PostgreSQL speaks it

    private func serverFirst(user: String, clientFirst: String) throws -> (RawPostgresClient, String) {
        let client = try RawPostgresClient(socketPath: session.socketPath)
        client.send(MessageWriter.startup(parameters: [("user", user), ("database", "shop")]))
        _ = client.read()
        client.send(MessageWriter.saslInitialResponse(mechanism: SCRAM.mechanism, data: clientFirst))
        guard let answer = client.read(), answer.type == UInt8(ascii: "R") else { throw TestSetupError("no SASL continue") }
        return (client, String(decoding: answer.body[4...], as: UTF8.self))
    }

    func testSCRAMFollowsTheRFCAndSaysNothingOfWhichSessionsExist() throws {
        func salt(_ user: String) throws -> Substring {
            let (_, first) = try serverFirst(user: user, clientFirst: "n,,n=,r=abcdefghijklmnop")
            return SCRAM.attributes(Substring(first))["s"] ?? ""
        }
        let unknownA = try salt("0123456789abcdef0123456789abcdef"), unknownB = try salt("fedcba9876543210fedcba9876543210")
        XCTAssertNotEqual(unknownA, unknownB, "unknown ids get salts of their own")
        XCTAssertEqual(unknownA, try salt("0123456789abcdef0123456789abcdef"), "the same unknown id gets the same salt")
        XCTAssertEqual(try salt(session.sessionID), try salt(session.sessionID))

        // The gs2 header and c= must agree: y,, with c=biws (n,,) and n,, with c=eSws (y,,) do not log in.
        for (header, binding) in [("y,,", "biws"), ("n,,", "eSws")] {
            let bare = "n=,r=clientnonce0123456789"
            let (client, first) = try serverFirst(user: session.sessionID, clientFirst: header + bare)
            let attributes = SCRAM.attributes(Substring(first))
            let salted = try SCRAM.saltedPassword(session.env["PGPASSWORD"]!, salt: Array(Data(base64Encoded: String(attributes["s"]!))!),
                                                  iterations: Int(attributes["i"]!)!)
            let clientKey = SCRAM.hmac(salted, "Client Key")
            let withoutProof = "c=\(binding),r=\(attributes["r"]!)"
            let proof = zip(clientKey, SCRAM.hmac(SCRAM.sha256(clientKey), "\(bare),\(first),\(withoutProof)")).map { $0 ^ $1 }
            client.send(MessageWriter.saslResponse("\(withoutProof),p=\(Data(proof).base64EncodedString())"))
            let errors = Self.errors(client.readUntilClosed())
            XCTAssertEqual(errors.last?["C"], "28P01", "\(header) with c=\(binding): \(errors)")
        }

        // Protocol 3.2 and _pq_ options: NegotiateProtocolVersion first, then the login goes on in 3.0.
        let client = try RawPostgresClient(socketPath: session.socketPath)
        var startup = ByteBuffer()
        startup.writeInteger(Int32(0))
        startup.writeInteger(Int32(3 << 16 | 2))
        for text in ["user", session.sessionID, "database", "shop", "_pq_.something", "1", ""] { startup.writeNullTerminatedString(text) }
        startup.setInteger(Int32(startup.readableBytes), at: 0)
        client.send(startup)
        let negotiation = client.read()
        XCTAssertEqual(negotiation?.type, UInt8(ascii: "v"))
        XCTAssertEqual(negotiation.map { Array($0.body.prefix(8)) }, [0, 0, 0, 0, 0, 0, 0, 1])
        XCTAssertEqual(client.read()?.type, UInt8(ascii: "R"), "then the SASL request")
    }
}

