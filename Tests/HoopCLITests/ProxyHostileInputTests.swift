import Foundation
import HoopCommon
import HoopTestSupport
import HoopWire
import NIOCore
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// What a hostile or broken client can send the guard proxy: each bad connection ends with an
/// ErrorResponse and a ledger event, and the broker and every other connection carry on.
final class ProxyHostileInputTests: XCTestCase {
    var pg: TestPostgres.Instance!
    var broker: SeparateBroker!
    var session: OpenSession!
    /// The session's connection settings, as `hoopctl exec` hands them to its command.
    var env: [String: String] { session.env }
    var socketPath: String { session.socketPath }

    override func setUpWithError() throws {
        pg = try TestPostgres.shared()
        broker = try SeparateBroker(pg)
        session = try OpenSession(broker)
    }

    override func tearDown() {
        session = nil
        broker = nil
    }

    private func loggedIn() throws -> RawPostgresClient { try session.loggedIn() }

    private func psql(_ arguments: [String], extra: [String: String] = [:]) throws -> ChildProcess.Result {
        try session.psql(arguments, extra: extra)
    }

    private func events(_ name: String) throws -> [[String: Any]] { try broker.events(name) }

    /// The ErrorResponse the proxy ends a connection with, and that it did end it.
    private func finalError(_ client: RawPostgresClient, file: StaticString = #filePath, line: UInt = #line) -> [Character: String] {
        let messages = client.readUntilClosed()
        let error = messages.last { $0.type == UInt8(ascii: "E") }
        XCTAssertNotNil(error, "an ErrorResponse before the end: \(messages.map { Character(UnicodeScalar($0.type)) })", file: file, line: line)
        return error?.fields ?? [:]
    }

    func testGarbageBeforeAndAfterLoginEndsOnlyThatConnection() throws {
        let bystander = try loggedIn()
        let garbage: [(String, [UInt8])] = [
            ("a HTTP request", Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)),
            ("a startup packet of protocol 2", [0, 0, 0, 8, 0, 2, 0, 0]),
            ("a 2 GB startup packet", [0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0]),
            ("a query before startup", RawPostgresClient.message("Q", Array("select 1\0".utf8))),
        ]
        for (what, bytes) in garbage {
            let client = try RawPostgresClient(socketPath: socketPath)
            client.send(bytes)
            XCTAssertEqual(finalError(client)["C"], "08P01", what)
        }
        let afterLogin: [(String, [UInt8])] = [
            ("a query that is not UTF-8", RawPostgresClient.message("Q", Array("select 'caf".utf8) + [0xe9] + Array("'\0".utf8))),
            ("a length below 4", [UInt8(ascii: "Q"), 0, 0, 0, 2]),
            ("a backend message", RawPostgresClient.message("Z", [UInt8(ascii: "I")])),
            ("a Bind with a negative count", RawPostgresClient.message("B", [0, 0, 0xff, 0xff])),
            ("a 1 GB message", [UInt8(ascii: "Q"), 0x40, 0, 0, 0]),
        ]
        for (what, bytes) in afterLogin {
            let client = try loggedIn()
            client.send(bytes)
            XCTAssertEqual(finalError(client)["C"], "08P01", what)
        }
        // Events ride with the ledger's next batch (within 50 ms).
        var violations: [[String: Any]] = []
        _ = try eventually { violations = try events("proxy.protocol-violation"); return violations.count >= garbage.count + afterLogin.count }
        XCTAssertEqual(violations.count, garbage.count + afterLogin.count)
        XCTAssertEqual(violations.filter { $0["session"] as? String == env["PGUSER"] }.count, afterLogin.count,
                       "violations after login name the session")
        let reasons = violations.compactMap { ($0["body"] as? [String: Any])?["message"] as? String }
        XCTAssertTrue(reasons.contains { $0.contains("not valid UTF-8") }, "\(reasons)")
        XCTAssertFalse(reasons.contains { $0.contains("select") || $0.contains("caf") || $0.contains("GET") }, "the ledger does not quote the bytes: \(reasons)")

        // The connection opened before all this, and new ones, still work.
        bystander.send(RawPostgresClient.message("Q", Array("select 41 + 1\0".utf8)))
        var answers: [RawPostgresClient.Message] = []
        while let message = bystander.read() {
            answers.append(message)
            if message.type == UInt8(ascii: "Z") { break }
        }
        XCTAssertTrue(answers.contains { $0.type == UInt8(ascii: "D") && $0.body.suffix(2) == Array("42".utf8) }, "\(answers.map(\.type))")
        XCTAssertEqual(try psql(["-c", "select 1"]).stdout, "1\n")
    }

    /// The proxy reads SQL as UTF-8 with standard conforming strings; the server must too.
    func testSettingsThatChangeHowSQLIsReadCannotBeChanged() throws {
        let sjis = try psql(["-c", "select 1"], extra: ["PGCLIENTENCODING": "SJIS"])
        XCTAssertNotEqual(sjis.status, 0)
        XCTAssertTrue(sjis.stderr.contains("the proxy speaks UTF8"), sjis.stderr)
        XCTAssertEqual(try psql(["-c", "select 1"], extra: ["PGCLIENTENCODING": "utf-8"]).stdout, "1\n")

        // Options that would change them are refused at login, with the setting named.
        for options in ["-c standard_conforming_strings=off", "-c client_encoding=LATIN1", "--backslash-quote=on"] {
            let refused = try psql(["-c", "select 1"], extra: ["PGOPTIONS": options])
            XCTAssertNotEqual(refused.status, 0, options)
            XCTAssertTrue(refused.stderr.contains("cannot be changed at login") || refused.stderr.contains("the proxy speaks UTF8"),
                          "\(options): \(refused.stderr)")
        }
        let harmless = try psql(["-c", "show standard_conforming_strings", "-c", "show client_encoding"],
                                extra: ["PGOPTIONS": "-c standard_conforming_strings=on -c client_encoding=UTF8"])
        XCTAssertEqual(harmless.stdout, "on\nUTF8\n", harmless.stderr)

        // First layer: the guardrails refuse the change itself.
        let changes = ["set client_encoding to 'SJIS'", "set names 'LATIN1'", "set standard_conforming_strings = off",
                       "select set_config('standard_conforming_strings', 'off', false)"]
        for change in changes {
            let result = try psql(["-c", change, "-c", "select 'after'"])
            XCTAssertTrue(result.stderr.contains("hoopctl: denied"), "\(change): \(result.stderr)")
        }
    }

    /// Second layer: with guardrails that let the change through, the server's report of it
    /// closes the connection before anything else runs.
    func testAChangeThatGetsThroughClosesTheConnection() throws {
        let open = try SeparateBroker(pg) { $0.replacingOccurrences(of: "admin: deny", with: "admin: allow")
            .replacingOccurrences(of: "privileged_functions: deny", with: "privileged_functions: allow") }
        for change in ["set client_encoding to 'SJIS'", "set names 'LATIN1'", "set standard_conforming_strings = off",
                       "select set_config('standard_conforming_strings', 'off', false)"] {
            let result = try open.hoopctl(["exec", "sandbox", "--quiet", "--", "psql", "-X", "-At", "-c", change, "-c", "select 'after'"])
            XCTAssertNotEqual(result.status, 0, change)
            XCTAssertFalse(result.stdout.contains("after"), "\(change): nothing runs after the change")
            XCTAssertTrue(result.stderr.contains("hoopctl cannot analyse"), "\(change): \(result.stderr)")
        }
        let recorded = try eventually {
            let audit = try open.hoopctl(["audit", "--json", "--kind", "event"])
            return audit.stdout.components(separatedBy: "proxy.setting-changed").count - 1 == 4
        }
        XCTAssertTrue(recorded, "one proxy.setting-changed event per change")
    }

    /// A property-based fuzzer of the startup and authentication exchange, over real sockets:
    /// valid exchanges mutated at a random step (bit flips, truncation, insertion, length
    /// damage, random bytes). Every connection must end with an answer and the broker must
    /// keep serving; no mutation may log in.
    func testFuzzedStartupAndAuthenticationNeverLogIn() throws {
        var random = SplitMix(seed: UInt64(ProcessInfo.processInfo.environment["HOOPCTL_FUZZ_SEED"] ?? "") ?? 0x5eed)
        let runs = Int(ProcessInfo.processInfo.environment["HOOPCTL_FUZZ_RUNS"] ?? "") ?? 3000
        let user = env["PGUSER"]!, password = env["PGPASSWORD"]!
        func mutate(_ bytes: [UInt8]) -> [UInt8] {
            var bytes = bytes
            switch random.next() % 6 {
            case 0: if !bytes.isEmpty { let i = Int(random.next() % UInt64(bytes.count)); bytes[i] ^= UInt8(1 << (random.next() % 8)) }
            case 1: bytes = Array(bytes.prefix(Int(random.next() % UInt64(bytes.count + 1))))
            case 2: bytes.insert(UInt8(truncatingIfNeeded: random.next()), at: Int(random.next() % UInt64(bytes.count + 1)))
            case 3: if bytes.count > 4 { bytes[Int(random.next() % 4) + (bytes[0] < 0x20 ? 0 : 1)] = UInt8(truncatingIfNeeded: random.next()) }
            case 4: bytes = (0..<Int(random.next() % 64)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            default: if bytes.count > 1 { bytes.swapAt(Int(random.next() % UInt64(bytes.count)), Int(random.next() % UInt64(bytes.count))) }
            }
            return bytes
        }
        var loggedIn = 0, refused = 0, hung = 0
        for _ in 0..<runs {
            let step = random.next() % 3  // which message of the exchange gets damaged
            let client = try RawPostgresClient(socketPath: socketPath, timeout: 5)
            var scram = SCRAMClient(password: password)
            /// Sends the message, damaged when it is the step's; after a damaged one, nothing more.
            func send(_ buffer: ByteBuffer, at index: UInt64) {
                let bytes = Array(buffer.readableBytesView)
                guard index == step else { client.send(bytes); return }
                client.send(mutate(bytes))
                client.shutdownWrites()
            }
            send(MessageWriter.startup(parameters: [("user", user), ("database", "shop")]), at: 0)
            let started = Date()
            defer { if Date().timeIntervalSince(started) > 4 { hung += 1 } }
            exchange: while let message = client.read() {
                switch (message.type, message.body.count >= 4 ? message.body[3] : 255) {
                case (UInt8(ascii: "R"), 10):
                    send(MessageWriter.saslInitialResponse(mechanism: SCRAM.mechanism, data: scram.clientFirst), at: 1)
                case (UInt8(ascii: "R"), 11):
                    guard let final = try? scram.receiveServerFirst(String(decoding: message.body[4...], as: UTF8.self)) else { break exchange }
                    send(MessageWriter.saslResponse(final), at: 2)
                case (UInt8(ascii: "R"), 0):
                    loggedIn += 1
                    break exchange
                case (UInt8(ascii: "E"), _):
                    refused += 1
                    break exchange
                default:
                    continue
                }
            }
        }
        // A bit flip in a part the server ignores (the client nonce is echoed, not checked) can
        // still be a valid exchange; anything else must be refused.
        XCTAssertLessThan(loggedIn, runs / 20, "\(loggedIn) of \(runs) mutated exchanges logged in")
        // A damaged message may also be incomplete: the proxy then waits for the rest, and closes
        // silently at end of file, as PostgreSQL does. Nothing may hang.
        XCTAssertEqual(hung, 0, "connections that did not end")
        XCTAssertGreaterThan(refused, runs / 2, "most damaged exchanges end with an ErrorResponse")
        print("fuzzed startup/auth exchanges: \(runs) connections, \(refused) refused with an error, \(loggedIn) still valid after mutation")
        XCTAssertEqual(try psql(["-c", "select 1"]).stdout, "1\n", "the broker still serves")
    }
}

/// A small seeded generator, so a failing fuzz run can be replayed (HOOPCTL_FUZZ_SEED).
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
