import Foundation
import HoopTestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Layer one of enforcement: as a session role, no SQL returns an unmasked value of a masked
/// column. The real values come from the admin connection; none may appear in any output.
final class MaskingEnforcementTests: XCTestCase {
    static let attacks = """
        \\set ON_ERROR_STOP 0
        \\echo --- plain select
        select email, ssn, card_number, phone from customers;
        \\echo --- the base table, three ways
        select * from public.customers;
        table public.customers;
        select email from public.customers where id = 1;
        \\echo --- whole rows as JSON
        select row_to_json(c) from customers c;
        \\echo --- copy
        copy customers to stdout;
        copy (select * from public.customers) to stdout;
        copy (select * from customers) to stdout;
        \\echo --- filtering as an oracle
        select count(*) from customers where email like 'a%';
        select id from customers where email = (select email from customers where id = 1);
        select id, email from customers where ssn like '1%' or card_number like '4%' limit 5;
        \\echo --- statistics
        select tablename, attname, most_common_vals, histogram_bounds from pg_stats where tablename = 'customers';
        select * from pg_stats_ext;
        \\echo --- prepared statement and cursor
        prepare p(int) as select email, ssn, card_number, phone from customers where id = $1;
        execute p(1);
        begin;
        declare c cursor for select email, ssn, card_number, phone from customers;
        fetch 50 from c;
        commit;
        \\echo --- search path
        set search_path = public;
        select email, ssn from customers;
        reset search_path;
        set search_path = public, hoop;
        select * from customers;
        reset search_path;
        \\echo --- temporary objects over the base table
        create temp view leak as select * from public.customers;
        select * from leak;
        create temp table leak2 as select * from public.customers;
        \\echo --- roles and functions
        set role hoop_owner;
        set role hoop_admin;
        select * from hoop.hash_key;
        create function leak() returns setof text language sql as 'select email from public.customers';
        create table leak3 (x text);
        alter role current_user valid until 'infinity';
        \\echo --- done
        """

    func testNoSQLAsASessionRoleYieldsAnUnmaskedValue() throws {
        let pg = try TestPostgres.shared()
        let admin = try pg.admin()
        let secrets = try admin.execute("SELECT email, ssn, card_number, phone FROM customers").rows.flatMap { $0.compactMap { $0 } }
        XCTAssertGreaterThanOrEqual(secrets.count, 4000)

        let directory = try TemporaryDirectory("attack")
        defer { directory.remove() }
        let script = directory.file("attack.sql")
        try Self.attacks.write(toFile: script, atomically: true, encoding: .utf8)
        // The database alone: a broker whose guardrails let every class through to it.
        let open = try SeparateBroker(pg) { yaml in
            yaml.replacingOccurrences(of: "ddl: review", with: "ddl: allow").replacingOccurrences(of: "admin: deny", with: "admin: allow")
                .replacingOccurrences(of: "privileged_functions: deny", with: "privileged_functions: allow")
        }
        let result = try open.hoopctl(["exec", "sandbox", "--quiet", "--reason", "masking test", "--", "psql", "-X", "-f", script])
        let output = result.stdout + result.stderr
        XCTAssertEqual(result.status, 0, output)

        // The data came back, masked...
        XCTAssertTrue(output.contains("@gmail.com") && output.contains("***@"), "masked emails")
        XCTAssertTrue(output.contains("[redacted]"))
        XCTAssertTrue(output.contains("************"))
        XCTAssertTrue(output.contains("--- done"), "the whole script ran")
        // ...the ways around the views were refused...
        XCTAssertGreaterThanOrEqual(output.components(separatedBy: "permission denied for table customers").count - 1, 6, output)
        XCTAssertTrue(output.contains("cannot copy from view"))
        XCTAssertTrue(output.contains("permission denied to create temporary tables"))
        XCTAssertTrue(output.contains("permission denied to set role \"hoop_owner\""))
        XCTAssertTrue(output.contains("permission denied to set role \"hoop_admin\""))
        XCTAssertTrue(output.contains("permission denied for schema hoop"))
        // ...and no real value appears anywhere.
        let leaked = Self.occurrences(of: Set(secrets), in: output)
        XCTAssertEqual(leaked, [], "unmasked values in the output")

        // Both layers, as the demo policy has it: the guardrails refuse some of it first; still no leak.
        let guarded = try HoopctlBinary.run(["exec", "sandbox", "--quiet", "--reason", "masking test", "--", "psql", "-X", "-f", script],
                                            environment: pg.environment)
        let guardedOutput = guarded.stdout + guarded.stderr
        XCTAssertTrue(guardedOutput.contains("--- done") && guardedOutput.contains("hoopctl: denied"), guardedOutput)
        XCTAssertEqual(Self.occurrences(of: Set(secrets), in: guardedOutput), [], "unmasked values in the output")
    }

    /// Which needles occur in the text: every window of the shortest needle's length is indexed
    /// once, then candidates are confirmed with a full search.
    static func occurrences(of needles: Set<String>, in text: String) -> [String] {
        let bytes = Array(text.utf8)
        guard let width = needles.map(\.utf8.count).min(), width > 0, bytes.count >= width else { return [] }
        var windows = Set<ArraySlice<UInt8>>()
        for start in 0...(bytes.count - width) { windows.insert(bytes[start..<start + width]) }
        return needles.filter { windows.contains(ArraySlice($0.utf8.prefix(width))) && text.contains($0) }.sorted()
    }

    func testTheLeakSearchFindsWhatItLooksFor() {
        XCTAssertEqual(Self.occurrences(of: ["ann@example.com", "123-45-6789", "zz"], in: "..ann@example.com.. 123-45-678"), ["ann@example.com"])
        XCTAssertEqual(Self.occurrences(of: ["4111111111111111", "555-0147"], in: "card 4111111111111111 and 555-0147"), ["4111111111111111", "555-0147"])
    }

    /// The hash is keyed and deterministic: equal values mask alike (joins work), and it is the
    /// HMAC the broker's key gives, not a plain digest anyone could recompute. Read as a session
    /// reads it: through its view.
    func testHashMaskingIsAKeyedDeterministicHMAC() throws {
        let pg = try TestPostgres.shared()
        let admin = try pg.admin()
        let phone = try XCTUnwrap(admin.execute("SELECT phone FROM customers WHERE id = 1").scalar)
        let session = try HoopctlBinary.run(["exec", "sandbox", "--quiet", "--", "psql", "-XAtc",
                                             "select phone from customers where id = 1 union all select c.phone from customers c join customers d on d.phone = c.phone where c.id = 1"],
                                            environment: pg.environment)
        XCTAssertEqual(session.status, 0, session.stderr)
        let lines = session.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 2, session.stdout)
        let masked = try XCTUnwrap(lines.first)
        XCTAssertEqual(lines.last, masked, "a join on the masked column finds the row")
        let unkeyed = try XCTUnwrap(admin.execute("SELECT left(encode(sha256(convert_to($1, 'UTF8')), 'hex'), 16)", [phone]).scalar)
        XCTAssertNotEqual(masked, unkeyed)
        let keyText = try String(contentsOfFile: pg.home + "/targets/sandbox.hashkey", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let key = stride(from: 0, to: keyText.count, by: 2).map { offset -> UInt8 in
            let start = keyText.index(keyText.startIndex, offsetBy: offset)
            return UInt8(keyText[start..<keyText.index(start, offsetBy: 2)], radix: 16)!
        }
        XCTAssertEqual(masked, HMACReference.hex(key: key, value: phone))
        let hashKeyMode = try FileManager.default.attributesOfItem(atPath: pg.home + "/targets/sandbox.hashkey")[.posixPermissions] as? Int
        XCTAssertEqual(hashKeyMode, 0o600)
    }
}
