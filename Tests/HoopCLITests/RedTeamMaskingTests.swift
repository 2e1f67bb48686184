import Foundation
import HoopTestSupport
import XCTest

/// Issue 14's attacks on masking, as an analyst with an ordinary read session would make them:
/// through the proxy with every guardrail open (so the database alone answers) and as a
/// `direct` role (no proxy at all). The real values come from the admin connection.
final class RedTeamMaskingTests: XCTestCase {
    var pg: TestPostgres.Instance!

    override func setUpWithError() throws {
        pg = try TestPostgres.shared()
    }

    /// Every guardrail open: what the database lets through is what comes back. `declared`:
    /// the notes are declared free text (`detect`), masked in their view.
    func openBroker(direct: Bool = false, declared: Bool = false) throws -> SeparateBroker {
        try SeparateBroker(pg) { yaml in
            var yaml = yaml.replacingOccurrences(of: "ddl: review", with: "ddl: allow").replacingOccurrences(of: "admin: deny", with: "admin: allow")
                .replacingOccurrences(of: "privileged_functions: deny", with: "privileged_functions: allow")
                .replacingOccurrences(of: "opaque: deny", with: "opaque: allow")
            if direct { yaml = yaml.replacingOccurrences(of: "direct: false", with: "direct: true") }
            if declared {
                yaml = yaml.replacingOccurrences(of: "      public.customers.phone: hash", with: "      public.customers.notes: detect\n      public.customers.phone: hash")
            }
            return yaml
        }
    }

    func run(_ script: String, on broker: SeparateBroker) throws -> String {
        let directory = try TemporaryDirectory("masking-attack")
        defer { directory.remove() }
        let file = directory.file("attack.sql")
        try ("\\set ON_ERROR_STOP 0\n\\pset pager off\n" + script + "\n\\echo --- done\n").write(toFile: file, atomically: true, encoding: .utf8)
        let result = try broker.hoopctl(["exec", "sandbox", "--quiet", "--reason", "masking red team", "--", "psql", "-X", "-f", file])
        let output = result.stdout + result.stderr
        XCTAssertTrue(output.contains("--- done"), "the whole script ran: \(output)")
        return output
    }

    func hashKey() throws -> [UInt8] {
        let text = try String(contentsOfFile: pg.home + "/targets/sandbox.hashkey", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        return stride(from: 0, to: text.count, by: 2).map { offset in
            let start = text.index(text.startIndex, offsetBy: offset)
            return UInt8(text[start..<text.index(start, offsetBy: 2)], radix: 16)!
        }
    }

    /// Item 1: the masking hash is not an oracle. A session that guesses the real phone numbers
    /// cannot have their masking hash computed, by any function, nor read the key; the view
    /// itself still shows the hashes (so the search below would find them).
    func testNoSessionComputesTheMaskingHashOfAChosenInput() throws {
        let admin = try pg.admin()
        let phones = try admin.execute("SELECT phone FROM customers ORDER BY id LIMIT 40").rows.compactMap { $0[0] }
        XCTAssertEqual(phones.count, 40)
        let key = try hashKey()
        let hashes = Set(phones.map { HMACReference.hex(key: key, value: $0) })
        let guesses = "array[" + phones.map { "'\($0)'" }.joined(separator: ", ") + "]"
        let script = """
            \\echo --- the view shows hashes
            select phone from customers order by id limit 40;
            \\echo --- the function, by every name
            select hoop.mask_hash(x) from unnest(\(guesses)) x;
            set search_path = hoop, public;
            select mask_hash(x) from unnest(\(guesses)) x;
            reset search_path;
            select "hoop"."mask_hash"(x::text) from unnest(\(guesses)) x;
            \\echo --- the key
            select * from hoop.hash_key;
            select encode(inner_pad, 'hex') from hoop.hash_key;
            \\echo --- what a session can call in hoop
            select 'callable=' || count(*) from pg_proc p join pg_namespace n on n.oid = p.pronamespace
             where n.nspname = 'hoop' and has_function_privilege(p.oid, 'EXECUTE');
            select 'readable=' || count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace
             where n.nspname = 'hoop' and has_table_privilege(c.oid, 'SELECT');
            \\echo --- any function in the database that takes text, on a guess
            select p.oid::regprocedure from pg_proc p join pg_namespace n on n.oid = p.pronamespace
             where n.nspname like 'hoop%' and has_function_privilege(p.oid, 'EXECUTE');
            """
        for direct in [false, true] {
            let broker = try openBroker(direct: direct)
            let output = try run(script, on: broker)
            let shown = hashes.filter { output.contains($0) }
            // The view's column is the hash of the real value: the only place these may appear.
            let viewSection = output.components(separatedBy: "--- the function, by every name").first ?? ""
            XCTAssertEqual(hashes.filter { viewSection.contains($0) }.count, hashes.count, "the view shows every hash (direct: \(direct))")
            let rest = String(output.dropFirst(viewSection.count))
            XCTAssertEqual(hashes.filter { rest.contains($0) }, [], "a hash computed on chosen input (direct: \(direct)): \(rest)")
            XCTAssertEqual(shown.count, hashes.count)
            XCTAssertTrue(output.contains("callable=0"), "no hoop function is callable (direct: \(direct)): \(output)")
            XCTAssertTrue(output.contains("readable=0"), "no hoop table is readable (direct: \(direct)): \(output)")
            XCTAssertTrue(output.contains("permission denied for schema hoop") || output.contains("permission denied for table hash_key"), output)
        }
    }

    /// A detector's `hash` strategy would be an oracle in flight: a session sends chosen text
    /// (`select 'EMP-' || n ...`) through the same detectors and compares. Policies refuse it.
    func testAPolicyWithADetectorHashIsRefusedWithTheReason() throws {
        let directory = try TemporaryDirectory("detector-hash")
        defer { directory.remove() }
        let yaml = try String(contentsOfFile: pg.sandbox.policyFile, encoding: .utf8)
            .replacingOccurrences(of: "strategy: partial(4) }", with: "strategy: hash }")
        XCTAssertTrue(yaml.contains("strategy: hash }"))
        try yaml.write(toFile: directory.file("policy.yaml"), atomically: true, encoding: .utf8)
        let result = try HoopctlBinary.run(["policy", "check", directory.file("policy.yaml")], environment: pg.environment)
        XCTAssertNotEqual(result.status, 0)
        let output = result.stdout + result.stderr
        XCTAssertTrue(output.contains("detector 'phone' cannot use 'hash'") && output.contains("oracle"), output)
        let line = try XCTUnwrap(yaml.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains("name: phone, strategy: hash") }) + 1
        XCTAssertTrue(output.contains("policy.yaml:\(line):"), "with its location (line \(line)): \(output)")
    }

    /// Every real value a session must never see: the masked columns' values, and what the
    /// notes hold (addresses, card numbers as written and as bare digits, phone numbers).
    func realValues() throws -> Set<String> {
        let admin = try pg.admin()
        var values = Set(try admin.execute("SELECT email, ssn, card_number, phone FROM customers").rows.flatMap { $0.compactMap { $0 } })
        let patterns = [#"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"#, #"\b\d{4}[ -]\d{4}[ -]\d{4}[ -]\d{4}\b"#, #"\(\d{3}\) 555-\d{4}"#]
            .map { try! NSRegularExpression(pattern: $0) }
        for row in try admin.execute("SELECT notes FROM customers WHERE notes IS NOT NULL").rows {
            guard let notes = row[0] else { continue }
            for pattern in patterns {
                for match in pattern.matches(in: notes, range: NSRange(notes.startIndex..., in: notes)) {
                    let found = String(notes[Range(match.range, in: notes)!])
                    values.insert(found)
                    let digits = found.filter(\.isNumber)
                    if digits.count >= 13 { values.insert(digits) }
                }
            }
        }
        return values
    }

    static let clients = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Clients")

    /// Runs a client script of `Clients/` in a session of an open broker; its whole output.
    func client(_ script: String, finishingWith last: String) throws -> String {
        let result = try openBroker().hoopctl(["exec", "sandbox", "--quiet", "--reason", "masking red team", "--",
                                               "python3", Self.clients.appendingPathComponent(script).path])
        let output = result.stdout + result.stderr
        XCTAssertEqual(result.status, 0, output)
        XCTAssertTrue(output.contains(last), output)
        return output
    }

    /// Items 3 and 5: every message that can carry data is masked or withheld, whatever came
    /// before it, in text and binary formats, never corrupted (the client checks every binary
    /// array's and record's inner lengths).
    func testEveryMessageThatCarriesDataIsMaskedWhateverTheClientSkips() throws {
        let secrets = try realValues()
        XCTAssertGreaterThan(secrets.count, 4000)
        let output = try client("masking_wire_attacks.py", finishingWith: "attacks done")
        // Each attack got values back (masked): a refused or empty attack proves nothing.
        for attack in ["skipped-describe", "resumed-portal", "binary", "text-shapes", "notify", "parameter-status", "function-call", "psycopg-binary"] {
            let line = output.split(separator: "\n").first { $0.hasPrefix("=== \(attack) values=") }
            let count = line.flatMap { Int($0.split(separator: "=").last ?? "") } ?? 0
            XCTAssertGreaterThan(count, 0, "\(attack) got nothing back: \(output)")
        }
        XCTAssertEqual(MaskingEnforcementTests.occurrences(of: secrets, in: output), [], "real values in the output")
    }

    /// Item 2: free text declared `detect` is masked by its view, so no transformation a session
    /// applies undoes it: each is written as the attacker would undo it too (reverse twice,
    /// base64 there and back), and run as a direct role (the database alone) and through the
    /// proxy. The real values are every address, card and phone the notes hold.
    func testNoTransformationOfADeclaredColumnReturnsARealValue() throws {
        let secrets = try realValues()
        let transforms = [
            "notes", "reverse(reverse(notes))", "replace(replace(notes, '@', ' AT '), ' AT ', '@')",
            "translate(translate(notes, '@.', '¤¦'), '¤¦', '@.')", "convert_from(decode(encode(convert_to(notes, 'UTF8'), 'base64'), 'base64'), 'UTF8')",
            "convert_from(notes::bytea, 'UTF8')", "encode(notes::bytea, 'escape')", "notes::varchar(500)", "upper(lower(notes))", "format('%s', notes)",
            "regexp_replace(notes, '(.)', '\\1', 'g')", "substr(notes, 1, 200) || ''", "left(notes, 40) || right(notes, -40)",
            "(select string_agg(c, '') from regexp_split_to_table(notes, '') c)", "array_to_string(string_to_array(notes, ' '), ' ')",
            "lag(notes) over (order by id)", "first_value(notes) over (partition by id)", "string_agg(notes, '|') over (rows between 2 preceding and current row)", "json_build_object('n', notes)::text",
            "to_jsonb(notes)::text", "(to_json(c.*))::text", "xmlelement(name n, notes)::text", "row(notes)::text", "array[notes]::text",
            "md5(notes) || notes", "(select notes from customers c2 where c2.id = c.id)", "coalesce(nullif(notes, ''), '')",
            "overlay(notes placing '' from 1 for 0)", "split_part(notes, ' ', 5)", "substring(notes from '[^ ]+@[^ ]+')",
            "regexp_replace(notes, '[^0-9 ]', '', 'g')", "replace(notes, ' ', '')",
        ]
        // The masked columns, through the same kinds of transformation.
        let masked = ["email", "ssn", "card_number", "phone"].flatMap { column in
            ["reverse(reverse(\(column)))", "convert_from(\(column)::bytea, 'UTF8')", "replace(\(column), '-', '')",
             "to_jsonb(\(column))::text", "array[\(column)]::text", "string_agg(\(column), ',') over (rows between 1 preceding and current row)"]
        }
        var script = ""
        for (index, transform) in (transforms + masked).enumerated() {
            script += "\\echo --- \(index)\nselect \(transform) from customers c where notes is not null order by id limit 300;\n"
        }
        script += "copy (select reverse(reverse(notes)) from customers where notes is not null) to stdout;\n"
        script += "\\echo --- string_agg\nselect string_agg(notes, ' ') from customers;\n"
        for direct in [true, false] {
            let broker = try openBroker(direct: direct, declared: true)
            // A direct role may change how string constants read before its first use of the view
            // (round 9): the database's detectors must not depend on it.
            let output = try run((direct ? "set standard_conforming_strings = off;\nset datestyle = 'SQL, DMY';\n" : "") + script, on: broker)
            XCTAssertTrue(output.contains("[redacted]") && output.contains("Prefers"), "the notes came back, masked (direct: \(direct)): \(output.prefix(2000))")
            XCTAssertFalse(output.contains("ERROR"), "every transformation ran (direct: \(direct)): \(output.components(separatedBy: "\n").filter { $0.contains("ERROR") }.prefix(5))")
            XCTAssertEqual(MaskingEnforcementTests.occurrences(of: secrets, in: output), [], "real values (direct: \(direct))")
            if !direct {
                // Lineage says how the column was really protected.
                let lineage = try broker.records(kind: "statement").flatMap { ($0["body"] as? [String: Any])?["lineage"] as? [String] ?? [] }
                XCTAssertTrue(lineage.contains("read public.customers.notes view-detect"), "\(Set(lineage))")
                XCTAssertTrue(lineage.contains("read public.customers.email view"), "\(Set(lineage))")
                XCTAssertFalse(lineage.contains("read public.customers.notes detector"), "\(Set(lineage))")
            }
        }
    }

    /// `target doctor` names text in scope that only the in-flight detectors mask, with counts
    /// of what they find in a sample and never a value; a declared column is not named.
    func testTheDoctorNamesUndeclaredFreeTextWithCountsNeverValues() throws {
        let secrets = try realValues()
        let undeclared = try openBroker().hoopctl(["target", "doctor", "sandbox"])
        let line = try XCTUnwrap(undeclared.stdout.split(separator: "\n").first { $0.contains("free-text: public.customers.notes ") }, undeclared.stdout)
        XCTAssertTrue(line.hasPrefix("risk"), String(line))
        let counts = try NSRegularExpression(pattern: #"(\d+) (email|credit_card|phone)"#)
        XCTAssertEqual(counts.numberOfMatches(in: String(line), range: NSRange(line.startIndex..., in: line)), 3, String(line))
        XCTAssertTrue(line.contains("public.customers.notes: detect"), String(line))
        XCTAssertEqual(MaskingEnforcementTests.occurrences(of: secrets, in: undeclared.stdout + undeclared.stderr), [])
        let declared = try openBroker(declared: true).hoopctl(["target", "doctor", "sandbox"])
        XCTAssertFalse(declared.stdout.contains("public.customers.notes "), declared.stdout)
        XCTAssertTrue(declared.stdout.contains("free-text: public.customers.name "), "other text is still named: \(declared.stdout)")
    }

    /// Round 9: COPY options that escape or double what the detectors look for are refused
    /// (a COPY reader would undo them), and values an in-place rewrite would break (a card number
    /// as a JSON number, an int8 in a record) decode: withheld, not corrupted.
    func testCopyOptionsAndStructuredValuesNeitherLeakNorCorrupt() throws {
        let secrets = try realValues()
        let output = try client("masking_shape_attacks.py", finishingWith: "shape attacks done")
        for options in ["delimiter '@'", "delimiter ' '", "format csv, quote ' '", "format csv, quote '@'", "format csv, escape '!'",
                        "encoding 'LATIN1'", "format binary"] {
            XCTAssertTrue(output.contains("copy \(options): refused: ") && output.contains("cannot be read by the in-flight detectors"),
                          "\(options): \(output)")
        }
        XCTAssertTrue(output.contains("copy csv: 40 rows"), output)
        XCTAssertTrue(output.contains("[redacted]"), output)
        XCTAssertFalse(output.contains("4535280542323534"), "the card number written as a number: \(output)")
        XCTAssertEqual(MaskingEnforcementTests.occurrences(of: secrets, in: output), [], "real values")
    }

    /// Round 9: a mask that reads a value's text is refused where the session's settings decide
    /// that text (DateStyle let `partial(4)` of a date show the year): `target init` says why and
    /// changes nothing, and `target doctor` names the column.
    func testMasksOfTextThatSessionSettingsDecideAreRefused() throws {
        let broker = try SeparateBroker(pg) { yaml in
            yaml.replacingOccurrences(of: "      public.customers.phone: hash", with: "      public.customers.phone: hash\n      public.customers.created_at: partial(4)")
        }
        let initialize = try broker.hoopctl(["target", "init", "sandbox"])
        XCTAssertNotEqual(initialize.status, 0)
        XCTAssertTrue(initialize.stderr.contains("public.customers.created_at is timestamp with time zone") && initialize.stderr.contains("DateStyle")
                      && initialize.stderr.contains("changed nothing"), initialize.stderr)
        let doctor = try broker.hoopctl(["target", "doctor", "sandbox"])
        XCTAssertTrue(doctor.stdout.contains("masked-type: public.customers.created_at"), doctor.stdout)
    }
}
