import Foundation
import HoopCommon
import HoopTestSupport
import XCTest

/// Column-level lineage end to end: three jobs, each with its own identity (tokens) and
/// correlation id, run through the sandbox; `audit trace` names exactly those that touched a
/// column, masked or in clear, and `audit --correlation-id` gives back each job's path.
final class LineageTests: XCTestCase {
    var pg: TestPostgres.Instance!
    var broker: SeparateBroker!

    override func setUpWithError() throws {
        pg = try TestPostgres.shared()
        broker = try SeparateBroker(pg) { $0 }
    }

    override func tearDown() { broker = nil }

    private func job(_ token: String, _ correlation: String, _ script: String) throws {
        var environment = broker.environment
        environment["HOOPCTL_TOKEN"] = token
        // --pass-token: a nested exec in the job speaks as the job's identity (by default it would be the OS user's).
        let run = try ChildProcess(HoopctlBinary.path, ["exec", "sandbox", "--role", "read", "--quiet", "--pass-token", "--correlation-id", correlation, "--",
                                                         "sh", "-c", script], environment: environment).run()
        XCTAssertEqual(run.status, 0, run.stderr)
    }

    private func json(_ arguments: [String]) throws -> [[String: Any]] {
        let result = try broker.hoopctl(arguments)
        XCTAssertEqual(result.status, 0, result.stderr)
        return result.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    func testTraceNamesExactlyWhoTouchedAColumnAndJobsReplay() throws {
        let bob = try broker.token("user:bob"), alice = try broker.token("user:alice"), bot = try broker.token("service:retrain-bot")
        // Job A: bob, two sessions — the second a nested exec that inherits the job's id.
        try job(bob, "job-a", """
            psql -XAtc 'select email from customers order by id limit 3' >/dev/null
            \(HoopctlBinary.path) exec sandbox --role read --quiet -- psql -XAtc 'select c.name, o.amount from customers c join orders o on o.customer_id = c.id limit 2' >/dev/null
            """)
        // Job B: alice reads orders only.
        try job(alice, "job-b", "psql -XAtc 'select amount from orders limit 5' >/dev/null")
        // Job C: the bot reads every column.
        try job(bot, "job-c", "psql -XAtc 'select * from customers limit 2' >/dev/null")

        let email = try json(["audit", "trace", "customers.email", "--by", "identity", "--json"])
        XCTAssertEqual(Set(email.compactMap { $0["key"] as? String }), ["user:bob", "service:retrain-bot"], "\(email)")
        for line in email {
            XCTAssertGreaterThan(line["masked"] as? Int ?? 0, 0, "email comes back masked by its view")
            XCTAssertEqual(line["clear"] as? Int, 0)
        }
        let id = try json(["audit", "trace", "public.customers.id", "--by", "job", "--json"])
        XCTAssertEqual(id.compactMap { $0["key"] as? String }.sorted(), ["job-a", "job-c"], "the join's c.id and the bot's *")
        XCTAssertEqual(id.first { $0["key"] as? String == "job-c" }?["clear"] as? Int, 1, "an integer comes back as it is")
        let name = try json(["audit", "trace", "customers.name", "--by", "session", "--json"])
        XCTAssertEqual(name.count, 2, "bob's nested session and the bot's")
        XCTAssertEqual(Set(name.flatMap { $0["jobs"] as? [String] ?? [] }), ["job-a", "job-c"])
        XCTAssertTrue(name.allSatisfy { ($0["masked"] as? Int ?? 0) > 0 }, "text goes through the detectors")
        let orders = try json(["audit", "trace", "orders", "--by", "identity", "--json"])
        XCTAssertEqual(Set(orders.compactMap { $0["key"] as? String }), ["user:bob", "user:alice"])

        // Each job's path, session by session: its own records and nobody else's.
        let a = try json(["audit", "--correlation-id", "job-a", "--json"])
        let sessions = a.compactMap { $0["session"] as? String }.reduce(into: [String]()) { if $0.last != $1 { $0.append($1) } }
        XCTAssertEqual(Set(sessions).count, 2, "two sessions")
        XCTAssertEqual(Set(a.compactMap { $0["identity"] as? String }), ["user:bob"])
        let statements = a.filter { $0["kind"] as? String == "statement" }.compactMap { ($0["body"] as? [String: Any])?["sql"] as? String }
        XCTAssertEqual(statements.count, 2)
        XCTAssertTrue(statements[0].contains("select email from customers"), statements[0])
        XCTAssertTrue(statements[1].contains("join orders"), statements[1])
        let b = try json(["audit", "--correlation-id", "job-b", "--kind", "statement", "--json"])
        XCTAssertEqual(b.count, 1)
        XCTAssertEqual(b.first?["identity"] as? String, "user:alice")
    }

    /// `audit --follow` prints each record once it is committed, flushed line by line, and
    /// `--after ID` resumes exactly after the last one seen.
    func testFollowStreamsNewRecordsAndResumes() throws {
        let follower = try BackgroundProcess(HoopctlBinary.path, ["audit", "--follow", "--json"], environment: broker.environment)
        func seen(_ output: String) -> [[String: Any]] {
            output.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        }
        Thread.sleep(forTimeInterval: 0.5)  // it starts after the newest record it finds
        XCTAssertEqual(try broker.hoopctl(["policy", "reload"]).status, 0)
        XCTAssertTrue(eventually { seen(follower.output).contains { ($0["body"] as? [String: Any])?["name"] as? String == "policy.reloaded" } },
                      follower.output)
        XCTAssertEqual(try broker.hoopctl(["exec", "sandbox", "--quiet", "--", "psql", "-XAtc", "select 1"]).status, 0)
        XCTAssertTrue(eventually { seen(follower.output).contains { $0["kind"] as? String == "statement" } }, follower.output)
        follower.signal(SIGTERM)
        _ = follower.wait()
        let first = seen(follower.output)
        let ids = first.compactMap { $0["id"] as? Int }
        XCTAssertEqual(ids, Array(ids[0]...ids[ids.count - 1]), "every record, in order, once")
        // Resuming from the middle gives the rest, and nothing before it.
        let middle = ids[ids.count / 2]
        let resumed = try BackgroundProcess(HoopctlBinary.path, ["audit", "--follow", "--json", "--after", String(middle)], environment: broker.environment)
        XCTAssertTrue(eventually { seen(resumed.output).count >= ids.count - ids.count / 2 - 1 }, resumed.output)
        resumed.signal(SIGTERM)
        _ = resumed.wait()
        XCTAssertEqual(seen(resumed.output).compactMap { $0["id"] as? Int }.prefix(ids.count - 1 - ids.count / 2), ids[(ids.count / 2 + 1)...])
    }

    /// `audit report`: every section, with the head hash `audit verify` prints; the HTML page
    /// renders in a headless Chromium on its own (no external resources).
    func testTheReportHasEverySectionAndRendersInABrowser() throws {
        let bob = try broker.token("user:bob"), alice = try broker.token("user:alice")
        try job(bob, "report", "psql -XAtc 'select email from customers limit 1' >/dev/null; psql -XAtc 'drop table orders' 2>/dev/null || true")
        let asked = try broker.hoopctl(["request", "sandbox", "--role", "write", "--reason", "fix order 17"], token: bob)
        let id = asked.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(try broker.hoopctl(["approve", id], token: alice).status, 0)

        let verify = try json(["audit", "verify", "--json"])
        XCTAssertEqual(verify.first?["ok"] as? Bool, true)
        // The head the report verifies: verify's own record (`ledger.verified`) came after verify's head.
        let head = try XCTUnwrap(json(["audit", "--json", "--limit", "1"]).first?["hash"] as? String)
        let markdown = try broker.hoopctl(["audit", "report", "--since", "1h"])
        XCTAssertEqual(markdown.status, 0, markdown.stderr)
        for heading in ["## Ledger integrity", "## Access", "## Approvals", "## Sensitive columns", "## Denied and reviewed statements", "## Revealed values"] {
            XCTAssertTrue(markdown.stdout.contains(heading), heading)
        }
        XCTAssertTrue(markdown.stdout.contains(head), "the head hash of audit verify")
        XCTAssertTrue(markdown.stdout.contains("| user:bob | sandbox | read |"), markdown.stdout)
        XCTAssertTrue(markdown.stdout.contains("| \(id) | access | user:bob | sandbox | role write | fix order 17 | user:alice approve | approved |"),
                      markdown.stdout)
        XCTAssertTrue(markdown.stdout.contains("| public.customers.email | user:bob |"), markdown.stdout)
        XCTAssertTrue(markdown.stdout.contains("| review | drop table orders |"), markdown.stdout)

        let page = broker.directory.file("report.html")
        let html = try broker.hoopctl(["audit", "report", "--since", "1h", "--format", "html"])
        XCTAssertEqual(html.status, 0, html.stderr)
        XCTAssertFalse(html.stdout.contains("http://") || html.stdout.contains("https://") || html.stdout.contains("src="), "self-contained")
        try html.stdout.write(toFile: page, atomically: true, encoding: .utf8)
        let browser = ["--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=\(broker.directory.file("chromium"))"]
        let dom = try ChildProcess("chromium", browser + ["--dump-dom", "file://\(page)"]).run()
        XCTAssertEqual(dom.status, 0, dom.stderr)
        XCTAssertEqual(dom.stdout.components(separatedBy: "<section").count - 1, 6, "six sections in the rendered page")
        XCTAssertTrue(dom.stdout.contains(head))
        let shot = broker.directory.file("report.png")
        let screenshot = try ChildProcess("chromium", browser + ["--screenshot=\(shot)", "--window-size=1200,900", "file://\(page)"]).run()
        XCTAssertEqual(screenshot.status, 0, screenshot.stderr)
        let png = try Data(contentsOf: URL(fileURLWithPath: shot))
        XCTAssertEqual(Array(png.prefix(4)), [0x89, 0x50, 0x4E, 0x47], "a PNG")
        XCTAssertGreaterThan(png.count, 10_000, "with something drawn in it")
    }
}
