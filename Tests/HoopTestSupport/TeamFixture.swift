import Foundation
import HoopCommon
#if canImport(Glibc)
import Glibc
#endif

/// A team's set-up on this machine: a CA and a certificate for `localhost`, an OpenID Connect
/// provider (authlib, `Clients/oidc_provider.py`), a broker listening on 127.0.0.1 over TLS
/// whose policy trusts the provider, and remote users — another OS user (`nobody`, when the
/// tests run as root), each with a HOME of its own and no access to the broker's socket or
/// state, reaching it only over TLS.
public final class TeamFixture: @unchecked Sendable {
    public let directory: TemporaryDirectory
    public let provider: OIDCProviderProcess
    public let broker: SeparateBroker
    public let apiPort: Int
    public let proxyPort: Int
    public var url: String { "https://localhost:\(apiPort)" }
    public var caFile: String { directory.file("ca.pem") }
    /// The OS user remote commands run as (nil: this one, when the tests cannot switch users).
    public let remoteOSUser: String?

    public init(_ pg: TestPostgres.Instance, clients: URL, alg: String = "RS256", brokerEnvironment: [String: String] = [:]) throws {
        directory = try TemporaryDirectory("team")
        chmod(directory.path, 0o755)
        try TestCertificates.make(in: directory.path, names: ["DNS:localhost", "IP:127.0.0.1"])
        provider = try OIDCProviderProcess(script: clients.appendingPathComponent("oidc_provider.py").path, alg: alg)
        guard let api = FreePort.find(), let proxy = FreePort.find() else { throw TestSetupError("no free ports") }
        apiPort = Int(api)
        proxyPort = Int(proxy)
        let issuer = provider.issuer
        broker = try SeparateBroker(pg, extraEnvironment: brokerEnvironment, serveArguments: [
            "--listen", "127.0.0.1:\(api)", "--proxy-listen", "127.0.0.1:\(proxy)", "--tls-cert", directory.file("server.pem"),
            "--tls-key", directory.file("server.key"), "--public-host", "localhost",
        ]) { yaml in
            yaml.replacingOccurrences(of: "version: 1\n", with: """
                version: 1
                identity:
                  oidc: { issuer: "\(issuer)", client_id: hoopctl, audience: hoopctl-broker, username_claim: email, groups_claim: groups }

                """)
                .replacingOccurrences(of: "analysts: [user:root, user:bob, service:retrain-bot]",
                                      with: "analysts: [user:root, user:bob, service:retrain-bot, idpgroup:analysts]")
                .replacingOccurrences(of: "dba: [user:alice, user:carol]", with: "dba: [user:alice, user:carol, idpgroup:dba]")
                .replacingOccurrences(of: "admins: [user:root]", with: "admins: [user:root, idpgroup:admins]")
        }
        // The broker's state and socket are its own: nobody else may even reach the socket.
        chmod(broker.directory.path, 0o700)
        remoteOSUser = getuid() == 0 ? "nobody" : nil
        if remoteOSUser == nil {
            FileHandle.standardError.write(Data("note: not root, so remote users run as this OS user (own HOME, no broker socket)\n".utf8))
        }
    }

    /// A person at another machine: a HOME of their own (with the CA), signing in as `name`.
    public func remoteUser(_ name: String, email: String, groups: [String]) throws -> RemoteUser {
        try provider.addUser(name, email: email, groups: groups)
        let home = directory.file("home-\(name)")
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: caFile, toPath: home + "/ca.pem")
        if let user = remoteOSUser {
            _ = try ChildProcess("chown", ["-R", user, home]).run()
            chmod(home, 0o700)
        }
        return RemoteUser(name: name, home: home, osUser: remoteOSUser, fixture: self)
    }

    deinit { directory.remove() }
}

/// A remote user's commands: `env -i` with their HOME, and nothing of the broker's.
public struct RemoteUser: Sendable {
    public let name: String
    public let home: String
    public let osUser: String?
    let fixture: TeamFixture

    public var environment: [String: String] {
        ["HOME": home, "PATH": "/usr/local/bin:/usr/bin:/bin", "NO_COLOR": "1", "LANG": "C.UTF-8"]
    }

    /// The command line that runs `arguments` as this user (`extra`: more of their environment).
    public func commandLine(_ arguments: [String], extra: [String: String] = [:]) -> (String, [String]) {
        let variables = environment.merging(extra) { $1 }.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        let command = ["/usr/bin/env", "-i"] + variables + [HoopctlBinary.path] + arguments
        if let osUser { return ("/usr/sbin/runuser", ["-u", osUser, "--"] + command) }
        return (command[0], Array(command.dropFirst()))
    }

    public func hoopctl(_ arguments: [String], extra: [String: String] = [:]) throws -> ChildProcess.Result {
        let (executable, rest) = commandLine(arguments, extra: extra)
        return try ChildProcess(executable, rest).run()
    }

    public func background(_ arguments: [String], extra: [String: String] = [:]) throws -> BackgroundProcess {
        let (executable, rest) = commandLine(arguments, extra: extra)
        return try BackgroundProcess(executable, rest)
    }

    /// `hoopctl login URL --ca-file ...`, the device flow: the code it prints is approved at the
    /// provider as this user (the person at the browser), then the command must succeed.
    @discardableResult
    public func login() throws -> String {
        let process = try background(["login", fixture.url, "--ca-file", home + "/ca.pem"])
        var code: String?
        _ = eventually(timeout: 20) {
            code = process.output.components(separatedBy: "enter the code ").dropFirst().first?.prefix(while: { $0 != "\n" }).description
            return code != nil
        }
        guard let code else { throw TestSetupError("login printed no code: \(process.output)") }
        try fixture.provider.post("/test/approve", ["user_code": code, "user": name])
        guard process.wait(timeout: 30) == 0 else { throw TestSetupError("login failed: \(process.output)") }
        return process.output
    }

    /// The stored sign-in (the test reads what the user's files hold).
    public func storedLogin() throws -> [String: Any] {
        let directory = home + "/.config/hoopctl/brokers"
        let file = try FileManager.default.contentsOfDirectory(atPath: directory).first { $0.hasSuffix(".json") }
        guard let file, let data = FileManager.default.contents(atPath: directory + "/" + file),
              let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw TestSetupError("no stored sign-in under \(directory)")
        }
        return object
    }
}

/// The OIDC provider of `Clients/oidc_provider.py` on a free loopback port.
public final class OIDCProviderProcess: @unchecked Sendable {
    public let port: Int
    public var issuer: String { "http://127.0.0.1:\(port)" }
    let process: BackgroundProcess

    public init(script: String, alg: String = "RS256") throws {
        guard let port = FreePort.find() else { throw TestSetupError("no free port for the provider") }
        self.port = Int(port)
        process = try BackgroundProcess("python3", [script, "--port", String(port), "--issuer", "http://127.0.0.1:\(port)", "--alg", alg,
                                                    "--audience", "hoopctl-broker"])
        let issuer = "http://127.0.0.1:\(port)"
        guard eventually(timeout: 20, { (try? ChildProcess("curl", ["-sf", issuer + "/.well-known/openid-configuration"]).run().succeeded) == true }) else {
            throw TestSetupError("the OIDC provider did not start: \(process.output)")
        }
    }

    @discardableResult
    public func post(_ path: String, _ body: [String: Any]) throws -> [String: Any] {
        let data = try JSONSerialization.data(withJSONObject: body)
        let result = try ChildProcess("curl", ["-sf", "-X", "POST", "-H", "Content-Type: application/json", "--data-binary", "@-", issuer + path],
                                      input: data).run()
        guard result.succeeded, let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] else {
            throw TestSetupError("provider \(path) failed: \(result.stderr)")
        }
        return object
    }

    public func get(_ path: String) throws -> [String: Any] {
        let result = try ChildProcess("curl", ["-sf", issuer + path]).run()
        return (try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]) ?? [:]
    }

    public func addUser(_ name: String, email: String, groups: [String], verified: Bool = true) throws {
        try post("/test/users", ["name": name, "email": email, "groups": groups, "email_verified": verified])
    }

    /// A token as the provider would issue, with one thing changed (see `mint` in the script).
    public func mint(_ user: String, _ changes: [String: Any]) throws -> String {
        guard let token = try post("/test/mint", ["user": user].merging(changes) { $1 })["token"] as? String else {
            throw TestSetupError("mint gave no token")
        }
        return token
    }

    public func counts() throws -> [String: Int] {
        let result = try ChildProcess("curl", ["-sf", issuer + "/test/counts"]).run()
        return (try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Int]) ?? [:]
    }

    deinit {
        process.signal(SIGTERM)
        process.wait(timeout: 5)
    }
}

/// A CA and a server certificate it signed, made with openssl: `ca.pem`, `ca.key`,
/// `server.pem`, `server.key` in `directory`.
public enum TestCertificates {
    public static func make(in directory: String, names: [String], prefix: String = "server") throws {
        func openssl(_ arguments: [String]) throws {
            let result = try ChildProcess("openssl", arguments).run()
            guard result.succeeded else { throw TestSetupError("openssl \(arguments.first ?? ""): \(result.stderr)") }
        }
        if !FileManager.default.fileExists(atPath: directory + "/ca.pem") {
            try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", directory + "/ca.key",
                         "-out", directory + "/ca.pem", "-days", "2", "-subj", "/CN=hoopctl test CA"])
        }
        try openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", directory + "/\(prefix).key",
                     "-out", directory + "/\(prefix).csr", "-subj", "/CN=\(names.first ?? "localhost")"])
        try """
            subjectAltName=\(names.joined(separator: ","))
            basicConstraints=CA:FALSE
            keyUsage=digitalSignature,keyEncipherment
            extendedKeyUsage=serverAuth

            """.write(toFile: directory + "/\(prefix).ext", atomically: true, encoding: .utf8)
        try openssl(["x509", "-req", "-in", directory + "/\(prefix).csr", "-CA", directory + "/ca.pem", "-CAkey", directory + "/ca.key",
                     "-CAcreateserial", "-out", directory + "/\(prefix).pem", "-days", "2", "-extfile", directory + "/\(prefix).ext"])
        chmod(directory + "/ca.pem", 0o644)
    }
}
