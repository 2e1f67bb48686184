import Foundation
import HoopCommon
import HoopTestSupport
import XCTest

/// What an auditor relies on (issue 16), and what the ledger must never keep: a command line's
/// secrets and personal data.
final class ForensicsTests: XCTestCase {
    var pg: TestPostgres.Instance!
    var broker: SeparateBroker!
    /// The test's own auditor key pair: the private key file, the public key in the policy.
    var keys: TemporaryDirectory!
    var auditorKey: String { keys.file("auditor.key") }

    override func setUpWithError() throws {
        pg = try TestPostgres.shared()
        (broker, keys) = try Self.sealingBroker(pg)
    }

    /// A broker of the test's own whose target seals values to a key pair made for the test
    /// (`auditor.key` in the directory returned).
    static func sealingBroker(_ pg: TestPostgres.Instance) throws -> (SeparateBroker, TemporaryDirectory) {
        let keys = try TemporaryDirectory("auditor")
        let keygen = try HoopctlBinary.run(["audit", "keygen", "--out", keys.file("auditor.key"), "--no-passphrase"])
        guard keygen.status == 0, let publicKey = keygen.stdout.split(separator: "\n").last.map(String.init) else {
            throw TestSetupError("audit keygen failed: \(keygen.stderr)")
        }
        return (try SeparateBroker(pg) { sealing($0, to: publicKey) }, keys)
    }

    /// The ledger file's bytes and its WAL's: where no real value may be.
    static func ledgerBytes(_ broker: SeparateBroker) -> Data {
        var bytes = Data()
        for suffix in ["", "-wal"] { bytes.append(FileManager.default.contents(atPath: broker.environment["HOOPCTL_LEDGER"]! + suffix) ?? Data()) }
        return bytes
    }

    override func tearDown() {
        broker = nil
        keys.remove()
    }

    /// The demo policy with values sealed to `key` (and nothing else in `capture`).
    static func sealing(_ yaml: String, to key: String) -> String {
        let capture = """
                capture:
                  values: sealed
                  max_value_bytes: 4096
                  auditor_keys: [\(key)]

            """
        var lines = yaml.components(separatedBy: "\n")
        if let start = lines.firstIndex(where: { $0.hasPrefix("    capture:") }) {
            var end = start + 1
            while end < lines.count, lines[end].hasPrefix("      ") { end += 1 }
            lines.removeSubrange(start..<end)
        }
        let at = lines.firstIndex { $0.hasPrefix("    roles:") }!
        lines.insert(contentsOf: capture.components(separatedBy: "\n").dropLast(), at: at)
        return lines.joined(separator: "\n")
    }

    /// With write access to the ledger file (what a compromised host gives), rows added to the
    /// lineage index appeared in `audit trace` and the report while `audit verify` passed.
    /// verify now recounts the index from the statement records.
    func testAForgedLineageRowFailsVerification() throws {
        let run = try broker.hoopctl(["exec", "sandbox", "--", "psql", "-XAtc", "select email from customers limit 1"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let never = try broker.hoopctl(["audit", "trace", "customers.email"])
        XCTAssertTrue(never.stderr.contains("UNVERIFIED: the lineage index was never checked"), never.stderr)
        XCTAssertEqual(try broker.hoopctl(["audit", "verify"]).status, 0)
        let checked = try broker.hoopctl(["audit", "trace", "customers.email"])
        XCTAssertTrue(checked.stderr.contains("verified: the lineage index matched the statement records through record #"), checked.stderr)
        let ledger = broker.environment["HOOPCTL_LEDGER"]!
        let forge = try ChildProcess("python3", ["-c", """
            import sqlite3, sys
            db = sqlite3.connect(sys.argv[1], timeout=10)
            db.execute("INSERT INTO lineage (item, hour, session, fingerprint, access, masking, identity, target, job, statements, first, last) "
                       "VALUES ('public.customers.ssn', 0, 'x', 'f', 'read', 'clear', 'user:alice', 'sandbox', '', 42, 1, 2)")
            db.commit()
            """, ledger]).run()
        XCTAssertEqual(forge.status, 0, forge.stderr)
        for arguments in [["audit", "verify"], ["audit", "verify", "--ledger", ledger]] {
            let verify = try broker.hoopctl(arguments)
            XCTAssertEqual(verify.status, 3, "\(arguments): \(verify.stdout)")
            XCTAssertTrue(verify.stdout.contains("lineage row not borne out by any statement record: read public.customers.ssn clear by user:alice"),
                          verify.stdout)
        }
        // audit trace and the report say that what they read did not verify.
        let trace = try broker.hoopctl(["audit", "trace", "customers.ssn"])
        XCTAssertTrue(trace.stderr.contains("UNVERIFIED: the last check of the lineage index"), trace.stderr)
        let report = try broker.hoopctl(["audit", "report", "--since", "1h"])
        XCTAssertTrue(report.stdout.contains("UNVERIFIED: the lineage index these counts come from disagrees"), report.stdout)
    }

    /// `hoopctl exec prod -- psql ... 'x@y.z'` used to put the email (and a password in a
    /// URI) into the session record, `sessions` and every statement's job name. Real values of
    /// the sandbox, then secret shapes: none reaches the ledger file's bytes, its WAL included.
    func testACommandLineIsMaskedBeforeItIsRecordedOrShown() throws {
        let admin = try pg.admin()
        let row = try XCTUnwrap(admin.execute("SELECT email, ssn, card_number FROM customers WHERE email IS NOT NULL AND ssn IS NOT NULL ORDER BY id LIMIT 1").rows.first)
        let values = row.compactMap { $0 }
        XCTAssertEqual(values.count, 3)
        let marker = String(UUID().uuidString.prefix(8))
        let secrets = ["uri-\(marker)", "env-\(marker)", "flag-\(marker)", "conn-\(marker)"]
        let run = try broker.hoopctl(["exec", "sandbox", "--", "sh", "-c", "psql -XAtc 'select 1' >/dev/null", "job",
                                      "postgres://app:\(secrets[0])@db.example/shop", "PGPASSWORD=\(secrets[1])", "--password", secrets[2],
                                      "host=db password=\(secrets[3])", "where email = '\(values[0])'", values[1], values[2]])
        XCTAssertEqual(run.status, 0, run.stderr)

        let shown = try broker.hoopctl(["sessions", "--json"]).stdout + (try broker.hoopctl(["audit", "--json"]).stdout)
        XCTAssertTrue(shown.contains("postgres://app:***@db.example/shop"), shown)
        let bytes = ledgerBytes()
        XCTAssertGreaterThan(bytes.count, 0)
        for value in values + secrets {
            XCTAssertFalse(shown.contains(value), "\(value) shown")
            XCTAssertNil(bytes.range(of: Data(value.utf8)), "\(value) in the ledger file")
        }
    }

    // MARK: Statement values (item 1, 3)

    /// The id an auditor key file names (what sealed records and reveals name).
    func keyID(_ path: String) throws -> String {
        let file = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        return try XCTUnwrap(file["id"] as? String)
    }

    /// A customer's real email, SSN and card number from the sandbox.
    func sensitiveValues() throws -> [String] {
        let row = try XCTUnwrap(pg.admin().execute("SELECT email, ssn, card_number FROM customers WHERE email IS NOT NULL AND ssn IS NOT NULL "
                                                   + "AND card_number IS NOT NULL ORDER BY id DESC LIMIT 1").rows.first)
        let values = row.compactMap { $0 }
        XCTAssertEqual(values.count, 3)
        return values
    }

    func ledgerBytes() -> Data { Self.ledgerBytes(broker) }

    /// The statement records (body fields and session) of the sessions `run` opens.
    func statements(of run: () throws -> Void) throws -> [[String: Any]] {
        let before = try broker.records(kind: "statement").count
        try run()
        return try broker.records(kind: "statement").dropFirst(before).map { record in
            var body = record["body"] as! [String: Any]
            body["session"] = record["session"]
            return body
        }
    }

    /// Every statement's values reach the ledger twice: a preview with what is not sensitive in
    /// clear and what is masked as its column masks it (or as the detectors do), and the exact
    /// values sealed to the auditor's key. Through psql (literals), psycopg (server-side binding,
    /// text and binary parameters) and pgbench's prepared mode. The real values reach no byte of
    /// the ledger file, and `audit replay --reveal` with the key gives them back exactly.
    func testStatementValuesArePreviewedMaskedAndSealedForTheAuditor() throws {
        let values = try sensitiveValues()
        let (email, ssn, card) = (values[0], values[1], values[2])
        let script = keys.file("pgbench.sql")
        try "\\set aid random(900, 999)\nselect email from customers where id = :aid and 5 < 6;\n".write(toFile: script, atomically: true, encoding: .utf8)
        let everything = try statements {
            let psql = try broker.hoopctl(["exec", "sandbox", "--", "psql", "-XAtc",
                                           "select id from customers where email = '\(email)' or ssn = '\(ssn)' or card_number = '\(card)' or id = 17"])
            XCTAssertEqual(psql.status, 0, psql.stderr)
            let client = ProxyClientTests.clients.appendingPathComponent("capture_client.py").path
            let psycopg = try broker.hoopctl(["exec", "sandbox", "--", "python3", client, email, ssn, card])
            XCTAssertEqual(psycopg.status, 0, psycopg.stderr + psycopg.stdout)
            let pgbench = try broker.hoopctl(["exec", "sandbox", "--", "pgbench", "-n", "-M", "prepared", "-t", "3", "-f", script])
            XCTAssertEqual(pgbench.status, 0, pgbench.stderr + pgbench.stdout)
        }
        // The statements prepared (psycopg's and pgbench's, each parsed in a read of its own) have a
        // record of their Parse, without values; the rest are the executions.
        let parses = everything.filter { $0["via"] as? String == "parse" }
        XCTAssertTrue(parses.allSatisfy { $0["preview"] == nil && $0["sealed"] == nil && $0["lineage"] == nil }, "\(parses)")
        XCTAssertEqual(parses.filter { ($0["sql"] as? String)?.hasPrefix("select email from customers where id = $1") == true }.count, 1)
        let recorded = everything.filter { $0["via"] as? String != "parse" }
        func preview(containing text: String) -> [String: Any]? {
            recorded.first { ($0["sql"] as? String)?.contains(text) == true }
        }
        // psql: literals. The email as its column masks it, the SSN redacted, the card's last four; 17 in clear.
        let literal = try XCTUnwrap(preview(containing: "or id = $4"), "\(recorded)")
        let literalPreview = try XCTUnwrap(literal["preview"] as? String)
        XCTAssertEqual(literalPreview, "select id from customers where email = '\(email.prefix(1))***@\(email.split(separator: "@").last!)' "
                       + "or ssn = '[redacted]' or card_number = '\(String(repeating: "*", count: card.count - 4) + card.suffix(4))' or id = 17")
        XCTAssertNotNil(literal["sealed"])
        // psycopg, text parameters: $2 = 3 in clear.
        let text = try XCTUnwrap(preview(containing: "where email = $1 and id > $2"), "\(recorded)")
        XCTAssertTrue((text["preview"] as? String)?.hasSuffix("***@\(email.split(separator: "@").last!)' and id > 3") == true, "\(text)")
        // psycopg, binary parameters: the integer decoded, in clear.
        let binary = try XCTUnwrap(preview(containing: "where ssn = $1 or card_number = $2 or id = $3"), "\(recorded)")
        XCTAssertEqual(binary["preview"] as? String, "select id from customers where ssn = '[redacted]' or card_number = "
                       + "'\(String(repeating: "*", count: card.count - 4) + card.suffix(4))' or id = 41")
        // A value nobody masks is in clear; the prepared statement's own literals too.
        let prepared = recorded.filter { ($0["sql"] as? String)?.contains("count(*) from customers where email = $1") == true }
        XCTAssertEqual(prepared.count, 2)
        XCTAssertTrue(prepared.contains { ($0["preview"] as? String)?.contains("'n***@nowhere.example' and 7 < 8") == true }, "\(prepared)")
        // pgbench -M prepared: the id in clear (a text parameter of no declared type, quoted as the server reads it), the literals 5 < 6 put back.
        let bench = recorded.filter { ($0["sql"] as? String)?.hasPrefix("select email from customers where id = $1") == true }
        XCTAssertEqual(bench.count, 3, "\(recorded)")
        for record in bench {
            XCTAssertNotNil((record["preview"] as? String)?.range(of: #"where id = '9[0-9][0-9]' and 5 < 6$"#, options: .regularExpression), "\(record)")
        }

        // None of the values in the ledger file, its WAL included, nor in what `audit` shows.
        let bytes = ledgerBytes()
        let shown = try broker.hoopctl(["audit", "--json"]).stdout
        for value in values {
            XCTAssertNil(bytes.range(of: Data(value.utf8)), "\(value) in the ledger file")
            XCTAssertFalse(shown.contains(value), "\(value) shown by audit")
        }

        // Without the key: previews only.
        let sessions = Set(recorded.compactMap { $0["session"] as? String })
        XCTAssertEqual(sessions.count, 3)
        let psqlSession = try XCTUnwrap(literal["session"] as? String)
        let plain = try broker.hoopctl(["audit", "replay", psqlSession])
        XCTAssertEqual(plain.status, 0, plain.stderr)
        XCTAssertTrue(plain.stdout.contains(literalPreview), plain.stdout)
        for value in values { XCTAssertFalse(plain.stdout.contains(value)) }

        // With the key: the exact values, and the reveal recorded with its reason.
        var revealed = ""
        for session in sessions.sorted() {
            let replay = try broker.hoopctl(["audit", "replay", session, "--reveal", "--key", auditorKey, "--reason", "incident 16", "--json"])
            XCTAssertEqual(replay.status, 0, replay.stderr)
            revealed += replay.stdout
        }
        XCTAssertTrue(revealed.contains("where email = '\(email)' or ssn = '\(ssn)' or card_number = '\(card)' or id = 17"), revealed)
        XCTAssertTrue(revealed.contains("where email = '\(email)' and id > 3"), revealed)
        XCTAssertTrue(revealed.contains("where ssn = '\(ssn)' or card_number = '\(card)' or id = 41"), revealed)
        XCTAssertTrue(revealed.contains("where email = 'nobody@nowhere.example' and 7 < 8"), revealed)
        // Each result's column names (item 4): simple query, psycopg's described portals, pgbench's described statement.
        let entries = revealed.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        func columns(of sql: String) -> [String]? {
            entries.first { ($0["sql"] as? String)?.hasPrefix(sql) == true && $0["what"] as? String != "prepare" }?["columns"] as? [String]
        }
        XCTAssertEqual(columns(of: "select id from customers where email = $1 or ssn"), ["id"], "\(entries)")
        XCTAssertEqual(columns(of: "select count(*) from customers where email = $1"), ["count"])
        XCTAssertEqual(columns(of: "select email from customers where id = $1"), ["email"])
        // pgbench's values are all in its previews exactly: none of its statements is sealed (its
        // command line is, as every session's).
        XCTAssertTrue(bench.allSatisfy { $0["sealed"] == nil }, "\(bench)")
        let reveals = try broker.events("audit.reveal")
        XCTAssertEqual(reveals.count, 3)
        XCTAssertEqual(Set(reveals.compactMap { $0["session"] as? String }), sessions)
        XCTAssertTrue(reveals.allSatisfy { (($0["body"] as? [String: Any])?["message"] as? String) == "incident 16" }, "\(reveals)")
        let report = try broker.hoopctl(["audit", "report", "--since", "1h"]).stdout
        let key = try keyID(auditorKey)
        XCTAssertTrue(report.contains("## Revealed values") && report.contains("| \(psqlSession) | \(key) | incident 16 |"), report)

        // Another key opens nothing, and reveals nothing.
        let other = keys.file("other.key")
        XCTAssertEqual(try HoopctlBinary.run(["audit", "keygen", "--out", other, "--no-passphrase"]).status, 0)
        let wrong = try broker.hoopctl(["audit", "replay", psqlSession, "--reveal", "--key", other, "--reason", "curious"])
        XCTAssertNotEqual(wrong.status, 0)
        XCTAssertTrue(wrong.stderr.contains("not to"), wrong.stderr)
        for value in values { XCTAssertFalse(wrong.stdout.contains(value) || wrong.stderr.contains(value)) }
        XCTAssertEqual(try broker.events("audit.reveal").count, 3, "a reveal that cannot open anything is not recorded as one")
    }

    /// The reveal is in the ledger before the first line of output: read the first line, then
    /// look for the record in the file, while the command is still running.
    func testTheRevealIsRecordedBeforeAnythingIsShown() throws {
        let run = try broker.hoopctl(["exec", "sandbox", "--", "psql", "-XAtc", "select count(*) from customers where email = 'ordering@example.com'"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let session = try XCTUnwrap(broker.records(kind: "statement").last?["session"] as? String)
        let check = try ChildProcess("python3", ["-c", """
            import os, sqlite3, subprocess, sys
            replay = subprocess.Popen(sys.argv[1:5] + ["--reveal", "--key", sys.argv[5], "--reason", "ordering"],
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=os.environ)
            first = replay.stdout.readline()
            assert first, "no output"
            db = sqlite3.connect("file:" + sys.argv[6] + "?mode=ro", uri=True)
            found = db.execute("select count(*) from records where kind = 'event' and session = ? and body like '%audit.reveal%'",
                               (sys.argv[4],)).fetchone()[0]
            replay.stdout.read()
            assert replay.wait() == 0
            print("recorded before output" if found == 1 else "NOT recorded before output")
            """, HoopctlBinary.path, "audit", "replay", session, auditorKey, broker.environment["HOOPCTL_LEDGER"]!],
            environment: broker.environment.merging(ProcessInfo.processInfo.environment) { a, _ in a }).run()
        XCTAssertEqual(check.status, 0, check.stderr)
        XCTAssertEqual(check.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "recorded before output")
    }

    /// A sealed blob is inside the hash chain: changing one character of it fails verification.
    func testTamperingWithASealedValueFailsVerification() throws {
        let run = try broker.hoopctl(["exec", "sandbox", "--", "psql", "-XAtc", "select id from customers where ssn = '078-05-1120'"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(try broker.hoopctl(["audit", "verify"]).status, 0)
        let ledger = broker.environment["HOOPCTL_LEDGER"]!
        let tamper = try ChildProcess("python3", ["-c", """
            import json, sqlite3, sys
            db = sqlite3.connect(sys.argv[1], timeout=10)
            db.execute("DROP TRIGGER records_append_only_update")
            rid, body = db.execute("select id, body from records where kind = 'statement' and body like ? order by id desc limit 1",
                                   ('%"sealed":%',)).fetchone()
            parsed = json.loads(body)
            sealed = parsed["sealed"]
            parsed["sealed"] = sealed[:-6] + ("A" if sealed[-6] != "A" else "B") + sealed[-5:]
            db.execute("update records set body = ? where id = ?", (json.dumps(parsed, sort_keys=True, separators=(",", ":")), rid))
            db.commit()
            print(rid)
            """, ledger]).run()
        XCTAssertEqual(tamper.status, 0, tamper.stderr)
        let record = tamper.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        for arguments in [["audit", "verify"], ["audit", "verify", "--ledger", ledger]] {
            let verify = try broker.hoopctl(arguments)
            XCTAssertEqual(verify.status, 3, "\(arguments): \(verify.stdout)")
            XCTAssertTrue(verify.stdout.contains("#\(record)"), verify.stdout)
        }
    }

    // MARK: A head that lives outside the file (item 6)

    func verification() throws -> (status: Int32, report: [String: Any]) {
        let run = try broker.hoopctl(["audit", "verify", "--json"])
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], run.stdout + run.stderr)
        return (run.status, report)
    }

    func rewrite(_ arguments: [String]) throws {
        let script = ProxyClientTests.clients.appendingPathComponent("ledger_rewrite.py").path
        let run = try ChildProcess("python3", [script, broker.environment["HOOPCTL_LEDGER"]!] + arguments).run()
        XCTAssertEqual(run.status, 0, run.stderr)
    }

    /// Records cut off the end, with `chain_head` rewritten to match and the append-only
    /// triggers put back, passed `audit verify` (even with the broker running). The checkpoint
    /// kept in the target database names the missing range.
    func testTailTruncationWithARewrittenHeadIsCaughtByTheCheckpointInTheTarget() throws {
        let run = try broker.hoopctl(["exec", "sandbox", "--", "psql", "-XAtc", "select id from customers where id = 17"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let made = try broker.hoopctl(["audit", "checkpoint"])
        XCTAssertEqual(made.status, 0, made.stderr)
        let before = try verification()
        XCTAssertEqual(before.status, 0, "\(before.report)")
        XCTAssertGreaterThanOrEqual(before.report["checkpoints"] as? Int ?? 0, 1, "\(before.report)")
        // The record the checkpoint signed (a session's outcomes may be written after it).
        let checkpoint = try XCTUnwrap(try broker.events("ledger.checkpoint").last?["body"] as? [String: Any])
        let signed = try XCTUnwrap(Int(try XCTUnwrap((checkpoint["details"] as? [String: String])?["record"])))

        // Everything from the session's end on goes: its last statement record stays.
        let statement = try XCTUnwrap(broker.records(kind: "statement").last?["id"] as? Int)
        try rewrite(["truncate", String(statement)])
        let after = try verification()
        XCTAssertEqual(after.status, 3, "\(after.report)")
        let problems = try XCTUnwrap(after.report["problems"] as? [String])
        XCTAssertTrue(problems.contains { $0.contains("records #\(statement + 1)–#\(signed) were cut off the end") }, "\(problems)")
        // The report's integrity section says the same.
        let report = try broker.hoopctl(["audit", "report", "--since", "1h"])
        XCTAssertEqual(report.status, 3)
        XCTAssertTrue(report.stdout.contains("were cut off the end"), report.stdout)
        // Later appends do not hide it.
        XCTAssertEqual(try broker.hoopctl(["exec", "sandbox", "--", "psql", "-XAtc", "select 1"]).status, 0)
        XCTAssertEqual(try verification().status, 3)
    }

    /// A record edited and the whole chain after it re-hashed (and `chain_head` with it) is a
    /// chain that verifies on its own; the signed checkpoint still holds the old hash.
    func testAFullRehashIsCaughtByTheCheckpointInTheTarget() throws {
        let run = try broker.hoopctl(["exec", "sandbox", "--", "psql", "-XAtc", "select id from customers where id = 1717"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let record = try XCTUnwrap(broker.records(kind: "statement").last)
        let id = try XCTUnwrap(record["id"] as? Int)
        XCTAssertEqual((record["body"] as? [String: Any])?["preview"] as? String, "select id from customers where id = 1717")
        XCTAssertEqual(try broker.hoopctl(["audit", "checkpoint"]).status, 0)
        XCTAssertEqual(try verification().status, 0)

        try rewrite(["rehash", String(id), "id = 1717", "id = 4242"])
        // Without the checkpoints the file is consistent: read by hand, it verifies.
        let byHand = try broker.hoopctl(["audit", "verify", "--ledger", broker.environment["HOOPCTL_LEDGER"]!])
        XCTAssertEqual(byHand.status, 0, byHand.stdout)
        XCTAssertTrue(byHand.stdout.contains("checkpoints not checked"), byHand.stdout)
        let after = try verification()
        XCTAssertEqual(after.status, 3, "\(after.report)")
        let problems = try XCTUnwrap(after.report["problems"] as? [String])
        XCTAssertTrue(problems.contains { $0.contains("the chain up to it was rewritten") }, "\(problems)")
    }

    /// Sessions cannot read the checkpoints (nor change them), and the table refuses changes.
    func testSessionsCannotReachTheCheckpointsAndTheyAreAppendOnly() throws {
        let empty = try broker.hoopctl(["audit", "checkpoint"])
        XCTAssertTrue(empty.status != 0 && empty.stderr.contains("nothing to sign") || empty.status == 0, empty.stderr)
        XCTAssertEqual(try broker.hoopctl(["exec", "sandbox", "--", "psql", "-XAtc", "select 1"]).status, 0)
        let made = try broker.hoopctl(["audit", "checkpoint"])
        XCTAssertEqual(made.status, 0, made.stderr)
        let read = try broker.hoopctl(["exec", "sandbox", "--", "psql", "-XAtc", "select count(*) from hoop.ledger_checkpoints"])
        XCTAssertNotEqual(read.status, 0, read.stdout)
        let admin = try pg.admin()
        XCTAssertGreaterThan(Int(try admin.execute("SELECT count(*) FROM hoop.ledger_checkpoints").scalar ?? "0") ?? 0, 0)
        XCTAssertThrowsError(try admin.execute("DELETE FROM hoop.ledger_checkpoints"))
        XCTAssertThrowsError(try admin.execute("UPDATE hoop.ledger_checkpoints SET hash = 'x'"))

        // Someone who can also alter the target's table empties it of this broker's rows: the
        // ledger's own checkpoint records say they were kept there.
        let brokerID = try XCTUnwrap(((broker.events("ledger.checkpoint").last?["body"] as? [String: Any])?["details"] as? [String: String])?["broker"])
        XCTAssertEqual(try verification().status, 0)
        _ = try admin.execute("ALTER TABLE hoop.ledger_checkpoints DISABLE TRIGGER append_only")
        _ = try admin.execute("DELETE FROM hoop.ledger_checkpoints WHERE broker = $1", [brokerID])
        _ = try admin.execute("ALTER TABLE hoop.ledger_checkpoints ENABLE TRIGGER append_only")
        let after = try verification()
        XCTAssertEqual(after.status, 3, "\(after.report)")
        XCTAssertTrue((after.report["problems"] as? [String] ?? []).contains { $0.contains("which no longer has it: checkpoints were deleted there") },
                      "\(after.report)")
    }

    /// The stream gets each checkpoint as a record, and a broker that stops signs the head it
    /// leaves: the target database holds the last record before the stop.
    func testACheckpointIsStreamedAndMadeAtShutdown() throws {
        XCTAssertEqual(try broker.hoopctl(["exec", "sandbox", "--", "psql", "-XAtc", "select 2"]).status, 0)
        XCTAssertEqual(try broker.hoopctl(["audit", "checkpoint"]).status, 0)
        let streamed = try XCTUnwrap(broker.events("ledger.checkpoint").last?["body"] as? [String: Any])
        let details = try XCTUnwrap(streamed["details"] as? [String: String])
        XCTAssertNotNil(details["signature"].flatMap { Data(base64Encoded: $0) }, "\(streamed)")
        let brokerID = try XCTUnwrap(details["broker"])

        XCTAssertEqual(try broker.hoopctl(["exec", "sandbox", "--", "psql", "-XAtc", "select 3"]).status, 0)
        broker.process.signal(SIGTERM)
        XCTAssertEqual(broker.process.wait(), 0)
        let ledger = broker.environment["HOOPCTL_LEDGER"]!
        let records = try broker.hoopctl(["audit", "--json", "--ledger", ledger]).stdout.split(separator: "\n")
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let last = try XCTUnwrap(records.last)
        XCTAssertEqual((last["body"] as? [String: Any])?["name"] as? String, "ledger.checkpoint", "the stop's checkpoint is the last record")
        let signed = try XCTUnwrap(((last["body"] as? [String: Any])?["details"] as? [String: String])?["record"])
        XCTAssertEqual(signed, String(try XCTUnwrap(records.dropLast().last?["id"] as? Int)), "it signs the record before it")
        let kept = try pg.admin().execute("SELECT max(record_id) FROM hoop.ledger_checkpoints WHERE broker = $1", [brokerID]).scalar
        XCTAssertEqual(kept, signed)
    }
}
