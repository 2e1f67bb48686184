import Foundation
import HoopBrokerAPI
import HoopBrokerClient
import HoopCommon
import HoopHTTP
import HoopOIDC
#if canImport(Glibc)
import Glibc
#endif

/// A sign-in to a remote broker, as `hoopctl login` keeps it. Holds tokens: never print it.
struct StoredLogin: Codable, Equatable {
    /// `https://host:port` of the broker.
    var broker: String
    /// Our copy of the CA that signed the broker's certificate (nil: the system's roots).
    var caFile: String?
    var issuer: String
    var clientID: String
    var accessToken: String
    var refreshToken: String?
    var expiresAt: Date
}

/// Sign-ins per broker under `$XDG_CONFIG_HOME/hoopctl/brokers/` (else `~/.config/...`):
/// the directory 0700, each file 0600 and owned by the user, written whole (rename) so a
/// reader never sees half a file. `current` names the broker signed in to last.
struct CredentialStore {
    let directory: String

    static func standard(environment: [String: String] = ProcessInfo.processInfo.environment) -> CredentialStore {
        let config = environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? ((environment["HOME"] ?? NSHomeDirectory()) + "/.config")
        return CredentialStore(directory: config + "/hoopctl/brokers")
    }

    /// `https://broker.example.com:8443` → `broker.example.com_8443`; another scheme is another
    /// origin and gets a name of its own (`http_...`), so a sign-in's tokens never go to it.
    static func name(of broker: String) -> String {
        let url = URL(string: broker)
        let host = url?.host ?? broker
        let port = url?.port ?? 443
        let scheme = url?.scheme?.lowercased() ?? "https"
        let name = (scheme == "https" ? "" : "\(scheme)_") + "\(host)_\(port)"
        return String(name.map { $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" ? $0 : "_" })
    }

    func path(_ broker: String, _ suffix: String = ".json") -> String { "\(directory)/\(Self.name(of: broker))\(suffix)" }

    func load(_ broker: String) throws -> StoredLogin? {
        let file = path(broker)
        guard FileManager.default.fileExists(atPath: file) else { return nil }
        try Self.checkPrivate(file)
        guard let data = FileManager.default.contents(atPath: file) else { throw CLIError("cannot read \(file)") }
        do { return try BrokerAPI.decoder.decode(StoredLogin.self, from: data) } catch {
            throw CLIError("\(file) is damaged; sign in again: hoopctl login \(broker)")
        }
    }

    /// `$XDG_CONFIG_HOME` as the user has it (made 0700 if missing), then our two private levels.
    func prepare() throws {
        let hoopctl = (directory as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: (hoopctl as NSString).deletingLastPathComponent, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            try PrivateDirectory.ensure(hoopctl)
            try PrivateDirectory.ensure(directory)
        } catch {
            throw CLIError("cannot keep sign-ins in \(directory): \(error)")
        }
    }

    func save(_ login: StoredLogin) throws {
        try prepare()
        let data = try BrokerAPI.encoder.encode(login)
        try PrivateFile.write(String(decoding: data, as: UTF8.self), to: path(login.broker))
        try PrivateFile.write(login.broker + "\n", to: "\(directory)/current")
    }

    /// Keeps a copy of the broker's CA next to its sign-in (the original may move).
    func keepCA(_ source: String, for broker: String) throws -> String {
        guard let pem = try? String(contentsOfFile: source, encoding: .utf8), pem.contains("BEGIN CERTIFICATE") else {
            throw CLIError("--ca-file \(source) is not a PEM certificate", exitCode: ExitStatus.usage)
        }
        try prepare()
        let copy = path(broker, ".ca.pem")
        try PrivateFile.write(pem, to: copy, mode: 0o600)
        return copy
    }

    func delete(_ broker: String) {
        let last = try? String(contentsOfFile: "\(directory)/current", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        if last == broker { try? FileManager.default.removeItem(atPath: "\(directory)/current") }
        for suffix in [".json", ".ca.pem", ".lock"] { try? FileManager.default.removeItem(atPath: path(broker, suffix)) }
    }

    /// The broker a `login`/`logout` is about: the one given, else `$HOOPCTL_BROKER` when it is a
    /// URL, else the one signed in to last.
    func named(_ argument: String?) -> String? {
        argument ?? ProcessInfo.processInfo.environment["HOOPCTL_BROKER"].flatMap { $0.hasPrefix("http") ? $0 : nil } ?? current()
    }

    /// The broker signed in to last, if its sign-in is still there.
    func current() -> String? {
        guard let text = try? String(contentsOfFile: "\(directory)/current", encoding: .utf8) else { return nil }
        let broker = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return FileManager.default.fileExists(atPath: path(broker)) ? broker : nil
    }

    /// Runs `body` holding the broker's lock: two commands refreshing at once would each
    /// spend the same refresh token, and a provider that rotates them revokes the second.
    func locked<T>(_ broker: String, _ body: () async throws -> T) async throws -> T {
        try prepare()
        let descriptor = open(path(broker, ".lock"), O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw CLIError("cannot lock \(path(broker, ".lock")): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        flock(descriptor, LOCK_EX)
        defer { flock(descriptor, LOCK_UN) }
        return try await body()
    }

    /// A sign-in file anyone else could read, or that someone else owns, is not used.
    static func checkPrivate(_ file: String) throws {
        var status = stat()
        guard stat(file, &status) == 0 else { throw CLIError("cannot read \(file)") }
        guard status.st_uid == getuid(), status.st_mode & 0o077 == 0 else {
            throw CLIError("\(file) must be owned by you and private (chmod 600): refusing to use its tokens", exitCode: ExitStatus.denied)
        }
    }
}
