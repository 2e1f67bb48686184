import Foundation
import HoopCommon
import HoopSandbox

/// Issue 14's figures, on the proxy bench's sandbox: how fast a large value goes through the
/// in-flight detectors (MB/s, straight to PostgreSQL in the same run), what declaring
/// `customers_big.notes: detect` costs a read of a million rows, and what masking costs a write.
struct MaskingBench {
    let scratch: TemporaryScratch
    let sandbox: Sandbox
    let hoopctlEnvironment: [String: String]
    let adminEnvironment: [String: String]

    func run(direct: OpenSession, proxied: OpenSession) throws {
        print("== masking ==")
        try largeValues(direct: direct, proxied: proxied)
        try declaredFreeText()
        try writes()
    }

    /// `select` of one text value of N MB through the detectors (notes-like text, a match every
    /// few hundred bytes), against the same straight to PostgreSQL.
    private func largeValues(direct: OpenSession, proxied: OpenSession) throws {
        var report = Report(header: ["one value through the detectors (MB/s)", "direct", "hoopctl", "hoopctl / direct"])
        let line = "Prefers contact at work, office line (212) 555-1865, ext. 141; invoices to ann@example.com from now on. "
        for megabytes in [8, 64, 256] {
            let repeats = megabytes * 1_048_576 / line.utf8.count
            let sql = "select repeat('\(line)', \(repeats))"
            var rates: [String: Double] = [:]
            for (name, session) in [("direct", direct), ("hoopctl", proxied)] {
                let seconds = try Clock.seconds {
                    _ = try ChildProcess("sh", ["-c", "psql -X -A -t -c \"\(sql)\" > /dev/null"], environment: session.environment).check()
                }
                rates[name] = Double(repeats * line.utf8.count) / 1_048_576 / seconds
            }
            report.add("\(megabytes) MB", format(rates["direct"]!, decimals: 1), format(rates["hoopctl"]!, decimals: 1),
                       format(rates["hoopctl"]! / rates["direct"]!, decimals: 2))
        }
        report.print()
    }

    /// COPY of customers_big through its view by a `direct` session (the database alone): with
    /// no column masked, with the columns masked as customers' are (email, redact, partial(4),
    /// hash), and with notes declared `detect` too. A session is started after each policy, as
    /// sessions keep the views they started with.
    private func declaredFreeText() throws {
        func copySeconds() throws -> Double {
            let session = try OpenSession(role: "direct", scratch: scratch, environment: hoopctlEnvironment)
            defer { session.end() }
            var runs: [Double] = []
            for _ in 0..<2 {
                runs.append(try Clock.seconds {
                    _ = try ChildProcess("sh", ["-c", "psql -X -q -c 'copy (select * from customers_big) to stdout' > /dev/null"],
                                         environment: session.environment).check()
                })
            }
            return runs.min()!
        }
        let original = try String(contentsOfFile: sandbox.policyFile, encoding: .utf8)
        defer {
            try? original.write(toFile: sandbox.policyFile, atomically: true, encoding: .utf8)
            _ = try? hoopctl(["policy", "reload"])
        }
        func masking(_ lines: [String]) throws -> Double {
            try original.replacingOccurrences(of: "    masking:\n", with: "    masking:\n" + lines.map { "      public.customers_big.\($0)\n" }.joined())
                .write(toFile: sandbox.policyFile, atomically: true, encoding: .utf8)
            _ = try hoopctl(["policy", "reload"])
            _ = try hoopctl(["target", "init", "sandbox"])
            return try copySeconds()
        }
        let columns = ["email: email", "ssn: redact", "card_number: partial(4)", "phone: hash"]
        let plain = try masking([]), masked = try masking(columns), declared = try masking(columns + ["notes: detect"])
        let rows = Double(ProxyBench.bigRows)
        var report = Report(header: ["copy (select * from customers_big) as a direct role (rows/s, best of 2)", "rows/s", "against the one above"])
        report.add("no column masked", format(rows / plain), "")
        report.add("email, ssn, card_number (partial), phone (hash) masked", format(rows / masked), format(plain / masked, decimals: 3))
        report.add("and notes: detect", format(rows / declared), format(masked / declared, decimals: 3))
        report.print()
        let slow = try ChildProcess("psql", ["-X", "-A", "-t", "-c", "select count(*) filter (where notes ~ '[0-9@]'), count(notes) from customers_big"],
                                    environment: adminEnvironment).check().stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        print("(notes with a digit or an @, which the database's detectors scan | notes not null: \(slow))")
    }

    /// Masking adds nothing to the write path: no trigger, no pseudonym table (the hash is
    /// computed when read). Rows inserted into customers (four masked columns) against the same
    /// into a copy of it that nothing masks, by the admin, in this run.
    private func writes() throws {
        let rows = 100_000
        func insertSeconds(_ table: String) throws -> Double {
            let sql = """
                BEGIN;
                INSERT INTO \(table) (id, name, email, phone, ssn, card_number, notes, created_at)
                SELECT 10000000 + g, 'Bench ' || g, 'bench' || g || '@example.com', '+1-312-555-' || lpad((g % 10000)::text, 4, '0'),
                       '123-45-' || lpad((g % 10000 + 1)::text, 4, '0'), '4111111111111111', 'note ' || g, now()
                FROM generate_series(1, \(rows)) g;
                ROLLBACK;
                """
            var runs: [Double] = []
            for _ in 0..<3 {
                runs.append(try Clock.seconds { _ = try ChildProcess("psql", ["-X", "-q", "-c", sql], environment: adminEnvironment).check() })
            }
            return runs.sorted()[1]
        }
        _ = try ChildProcess("psql", ["-X", "-q", "-c", "DROP TABLE IF EXISTS bench_unmasked; CREATE TABLE bench_unmasked (LIKE customers INCLUDING ALL)"],
                             environment: adminEnvironment).check()
        let masked = try insertSeconds("customers"), unmasked = try insertSeconds("bench_unmasked")
        var report = Report(header: ["INSERT of \(rows) rows (µs per row, median of 3)", "customers (masked)", "unmasked copy", "masked / unmasked"])
        report.add("no trigger: the hash is computed on read", format(masked / Double(rows) * 1e6, decimals: 2),
                   format(unmasked / Double(rows) * 1e6, decimals: 2), format(masked / unmasked, decimals: 2))
        report.print()
        _ = try ChildProcess("psql", ["-X", "-q", "-c", "DROP TABLE bench_unmasked"], environment: adminEnvironment).check()
    }

    private func hoopctl(_ arguments: [String]) throws -> ChildProcess.Result {
        try ChildProcess(HoopctlPath.path, arguments, environment: hoopctlEnvironment).check()
    }
}
