import Foundation
import HoopCommon
import HoopPostgres
import HoopTestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The proxy's upstream TLS, per the target's sslmode, against the sandbox cluster with TLS
/// turned on (certificates made by openssl for the test).
final class ProxyTLSTests: XCTestCase {
    var pg: TestPostgres.Instance!
    var directory: String!

    override func setUpWithError() throws {
        pg = try TestPostgres.shared()
        // Where the cluster's owner can read the key (it runs as postgres when we are root).
        directory = "\(pg.state.clusterDirectory)/tls-test"
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        func openssl(_ arguments: [String]) throws {
            let result = try ChildProcess("openssl", arguments).run()
            guard result.succeeded else { throw TestSetupError("openssl \(arguments.first ?? ""): \(result.stderr)") }
        }
        try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
                     "-subj", "/CN=hoopctl test CA", "-keyout", "\(directory!)/ca.key", "-out", "\(directory!)/ca.crt"])
        for (name, names) in [("localhost", "DNS:localhost,IP:127.0.0.1"), ("elsewhere", "DNS:elsewhere.example"), ("iponly", "IP:127.0.0.1")] {
            try openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=\(name)",
                         "-keyout", "\(directory!)/\(name).key", "-out", "\(directory!)/\(name).csr"])
            try "subjectAltName=\(names)\n".write(toFile: "\(directory!)/\(name).ext", atomically: true, encoding: .utf8)
            try openssl(["x509", "-req", "-in", "\(directory!)/\(name).csr", "-CA", "\(directory!)/ca.crt", "-CAkey", "\(directory!)/ca.key",
                         "-CAcreateserial", "-days", "1", "-extfile", "\(directory!)/\(name).ext", "-out", "\(directory!)/\(name).crt"])
        }
        if OSUser.isRoot, let owner = OSUser.lookup(pg.state.clusterOwner) {
            for file in try FileManager.default.contentsOfDirectory(atPath: directory) { chown("\(directory!)/\(file)", owner.uid, owner.gid) }
            chown(directory, owner.uid, owner.gid)
        }
        for file in try FileManager.default.contentsOfDirectory(atPath: directory) where file.hasSuffix(".key") {
            chmod("\(directory!)/\(file)", 0o600)
        }
        try serve("localhost")
    }

    override func tearDownWithError() throws {
        let admin = try pg.admin()
        for setting in ["ssl", "ssl_cert_file", "ssl_key_file"] { try admin.execute("ALTER SYSTEM RESET \(setting)") }
        try admin.execute("SELECT pg_reload_conf()")
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Turns TLS on with the certificate of `name`.
    private func serve(_ name: String) throws {
        let admin = try pg.admin()
        try admin.execute("ALTER SYSTEM SET ssl = on")
        try admin.execute("ALTER SYSTEM SET ssl_cert_file = \(try admin.quoteLiteral("\(directory!)/\(name).crt"))")
        try admin.execute("ALTER SYSTEM SET ssl_key_file = \(try admin.quoteLiteral("\(directory!)/\(name).key"))")
        try admin.execute("SELECT pg_reload_conf()")
        let applied = try eventually { try pg.admin().execute("SHOW ssl_cert_file").scalar?.hasSuffix("\(name).crt") == true }
        XCTAssertTrue(applied, "the server did not take the certificate")
    }

    /// A broker whose target is reached over TCP at `localhost`, with the policy's `sslmode`;
    /// `dsn` adds to the admin connection string.
    private func broker(sslmode: String, dsn extra: [String: String] = [:]) throws -> SeparateBroker {
        var parameters = try ConnectionString.parse(try String(contentsOfFile: pg.sandbox.adminDSNFile, encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines))
        parameters["host"] = "localhost"
        parameters["port"] = String(pg.state.port)
        parameters["sslrootcert"] = "\(directory!)/ca.crt"
        parameters.merge(extra) { $1 }
        let file = "\(directory!)/admin-\(UUID().uuidString.prefix(6)).dsn"
        let conninfo = parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\(ConnectionString.quote($0.value))" }.joined(separator: " ")
        try PrivateFile.write(conninfo + "\n", to: file)
        return try SeparateBroker(pg) { yaml in
            yaml.replacingOccurrences(of: "admin_dsn_file: \(self.pg.sandbox.adminDSNFile)", with: "admin_dsn_file: \(file)")
                .replacingOccurrences(of: "sslmode: disable", with: "sslmode: \(sslmode)")
        }
    }

    private let tlsQuery = "select ssl::text || ' ' || version from pg_stat_ssl where pid = pg_backend_pid()"

    func testVerifyFullReachesTheDatabaseOverTLS() throws {
        let broker = try broker(sslmode: "verify-full")
        let result = try broker.hoopctl(["exec", "sandbox", "--quiet", "--", "psql", "-XAtc", tlsQuery])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.hasPrefix("true TLSv1."), "the proxy's upstream connection is encrypted: \(result.stdout)")
    }

    func testVerifyFullRefusesACertificateForAnotherHost() throws {
        try serve("elsewhere")
        // The DSN only asks for encryption, the policy for verification: the stricter holds, for
        // the admin connection as for the proxy's (see the man-in-the-middle test for the proxy's own).
        let broker = try broker(sslmode: "verify-full", dsn: ["sslmode": "require"])
        let result = try broker.hoopctl(["exec", "sandbox", "--quiet", "--", "psql", "-XAtc", "select 1"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("does not match host name \"localhost\""), result.stderr)
        // require encrypts without checking who answers, as libpq's does.
        let lenient = try self.broker(sslmode: "require")
        let encrypted = try lenient.hoopctl(["exec", "sandbox", "--quiet", "--", "psql", "-XAtc", tlsQuery])
        XCTAssertTrue(encrypted.stdout.hasPrefix("true TLSv1."), encrypted.stderr + encrypted.stdout)
    }

    /// A man in the middle on the way to the database (a self-signed certificate, a CA-signed
    /// one for another host, TLS stripped, a request for the password in clear), against every
    /// sslmode: the proxy connects exactly when libpq with the same settings does, and never
    /// gives the session's password to anyone.
    func testAManInTheMiddleGetsNothingLibpqWouldNotGiveIt() throws {
        let relay = try TemporaryDirectory("mitm")
        defer { relay.remove() }
        let dir = relay.path
        let result = try ChildProcess("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
                                                  "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                                                  "-keyout", "\(dir)/selfsigned.key", "-out", "\(dir)/selfsigned.crt"]).run()
        XCTAssertTrue(result.succeeded, result.stderr)
        for file in ["elsewhere.crt", "elsewhere.key", "iponly.crt", "iponly.key"] { try FileManager.default.copyItem(atPath: "\(directory!)/\(file)", toPath: "\(dir)/\(file)") }
        try "pass".write(toFile: "\(dir)/mode", atomically: true, encoding: .utf8)
        let port = try XCTUnwrap(FreePort.find())
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Clients/pg_mitm.py").path
        let process = try BackgroundProcess("python3", [script, String(port), String(pg.state.port), dir])
        defer { process.signal(SIGTERM) }
        XCTAssertTrue(eventually { FileManager.default.fileExists(atPath: "\(dir)/ready") }, process.output)

        // ip-only: signed by the CA for 127.0.0.1 alone, which localhost resolves to; libpq does not
        // take an address in the certificate for a host name.
        let attacks = ["self-signed", "wrong-host", "ip-only", "strip", "reencrypt", "cleartext"]
        // As libpq: `require` with a root certificate given verifies the chain (verify-ca); a
        // relay that opens TLS of its own to the server fails SCRAM's channel binding even
        // where the certificate is not checked (prefer).
        let connects: [String: [Bool]] = [
            "disable": [true, true, true, true, true, false], "allow": [true, true, true, true, true, false],
            "prefer": [true, true, true, true, false, false], "require": [false, true, true, false, false, false],
            "verify-ca": [false, true, true, false, false, false], "verify-full": [false, false, false, false, false, false],
        ]
        let brokerDSN = try ConnectionString.parse(try String(contentsOfFile: pg.sandbox.adminDSNFile, encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines))
        for mode in ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] {
            try "pass".write(toFile: "\(dir)/mode", atomically: true, encoding: .utf8)
            let broker = try broker(sslmode: mode, dsn: ["port": String(port)])
            let session = try OpenSession(broker)
            for (attack, expected) in zip(attacks, connects[mode]!) {
                try attack.write(toFile: "\(dir)/mode", atomically: true, encoding: .utf8)
                let proxied = (try? session.loggedIn()) != nil
                XCTAssertEqual(proxied, expected, "sslmode \(mode), \(attack): the proxy \(proxied ? "connected" : "refused")")
                guard attack != "cleartext" else { continue }  // libpq itself would hand over the password here
                // Where channel binding fails, libpq's prefer tries again without TLS (and the
                // relay lets that through); the proxy does not fall back to clear text.
                let libpqExpected = mode == "prefer" && attack == "reencrypt" ? true : expected
                var environment = ProcessInfo.processInfo.environment
                environment["PGPASSWORD"] = brokerDSN["password"]
                let libpq = try ChildProcess("psql", ["-XAtc", "select 1", "host=localhost port=\(port) dbname=shop user=\(brokerDSN["user"] ?? "")"
                                                     + " sslmode=\(mode) sslrootcert=\(directory!)/ca.crt connect_timeout=5"], environment: environment).run()
                XCTAssertEqual(libpq.status == 0, libpqExpected, "sslmode \(mode), \(attack): libpq \(libpq.stderr)")
            }
            // The broker ends the session over its admin connection, which must reach the database.
            try "pass".write(toFile: "\(dir)/mode", atomically: true, encoding: .utf8)
            let role = "hoop_s_" + session.sessionID
            session.end()
            XCTAssertTrue(eventually(timeout: 20) { (try? self.pg.sessionRoles().contains(role)) == false }, "\(mode): the session ended")
        }
        let log = try String(contentsOfFile: "\(dir)/log.jsonl", encoding: .utf8)
        XCTAssertFalse(log.contains("\"password\""), "the man in the middle got a password: \(log)")
        XCTAssertTrue(log.contains("\"startup\": true"), "the cleartext request was reached at least once: \(log)")
    }

    func testRequireRefusesADatabaseWithoutTLS() throws {
        let admin = try pg.admin()
        try admin.execute("ALTER SYSTEM SET ssl = off")
        try admin.execute("SELECT pg_reload_conf()")
        XCTAssertTrue(try eventually { try pg.admin().execute("SHOW ssl").scalar == "off" })
        let broker = try broker(sslmode: "prefer")
        XCTAssertEqual(try broker.hoopctl(["exec", "sandbox", "--quiet", "--", "psql", "-XAtc", "select 1"]).stdout, "1\n",
                       "prefer: plain text when the server has no TLS")
        // A DSN that says disable does not weaken the policy's require.
        let strict = try self.broker(sslmode: "require", dsn: ["sslmode": "disable"])
        let result = try strict.hoopctl(["exec", "sandbox", "--quiet", "--", "psql", "-XAtc", "select 1"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("server does not support SSL"), result.stderr)
    }
}
