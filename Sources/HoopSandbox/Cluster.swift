import Foundation
import HoopCommon

/// Who runs the cluster's programs: the current user, or `postgres` when we are root.
enum ClusterOwner {
    case currentUser(String)
    case postgres(uid: UInt32, gid: UInt32)

    static func current() throws -> ClusterOwner {
        guard OSUser.isRoot else { return .currentUser(OSUser.name) }
        return try named("postgres")
    }

    static func named(_ name: String) throws -> ClusterOwner {
        guard name == "postgres", OSUser.isRoot else { return .currentUser(name) }
        guard let ids = OSUser.lookup("postgres") else { throw SandboxError.noPostgresUser }
        return .postgres(uid: ids.uid, gid: ids.gid)
    }

    var userName: String {
        switch self {
        case .currentUser(let name): return name
        case .postgres: return "postgres"
        }
    }

    func command(_ program: String, _ arguments: [String]) -> ChildProcess {
        // A small fixed environment: no secrets of ours leak into the server's environment.
        let environment = ["PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C", "HOME": "/"]
        switch self {
        case .currentUser:
            return ChildProcess(program, arguments, environment: environment)
        case .postgres:
            return ChildProcess("/usr/sbin/runuser", ["-u", "postgres", "--", program] + arguments, environment: environment)
        }
    }

    /// The postgres user's ids when we are root (nil: the cluster is ours).
    var ids: (uid: UInt32, gid: UInt32)? {
        guard case .postgres(let uid, let gid) = self else { return nil }
        return (uid, gid)
    }

    /// Writes a file inside the cluster's directories, which the postgres user controls: as
    /// root, the postgres user writes it (a link planted there leads nowhere root could be
    /// made to write); the contents go through standard input, never argv.
    func writeFile(_ path: String, _ contents: String, append: Bool = false) throws {
        guard case .postgres = self else {
            return append ? try PrivateFile.append(contents, to: path, expectedOwner: geteuid()) : try PrivateFile.write(contents, to: path)
        }
        var process = command("/bin/sh", ["-c", append ? "cat >> \"$1\"" : "umask 077 && cat > \"$1\".new && mv -f \"$1\".new \"$1\"", "sh", path])
        process.input = Data(contents.utf8)
        try process.check()
    }

    /// A directory inside the cluster's: made by the postgres user as root, as ours otherwise.
    func makeDirectory(_ path: String) throws {
        guard case .postgres = self else { return try PrivateDirectory.ensure(path) }
        try command("/bin/mkdir", ["-p", "-m", "700", path]).check()
    }
}

/// One PostgreSQL data directory and the server running on it, driven by initdb and pg_ctl.
struct Cluster {
    let binaries: PostgresBinaries
    let owner: ClusterOwner
    let directory: String

    var dataDirectory: String { "\(directory)/data" }
    var logFile: String { "\(directory)/postgres.log" }
    var settingsFile: String { "\(dataDirectory)/hoopctl.conf" }

    var isInitialized: Bool { FileManager.default.fileExists(atPath: "\(dataDirectory)/PG_VERSION") }

    func initialize(adminUser: String, password: String) throws {
        // initdb reads the password from a file only the cluster owner can read, never from argv.
        let passwordFile = "\(directory)/initdb.pw"
        try owner.writeFile(passwordFile, password + "\n")
        defer { unlink(passwordFile) }
        try owner.command(binaries.path("initdb"), [
            "--pgdata=\(dataDirectory)", "--username=\(adminUser)", "--pwfile=\(passwordFile)",
            "--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "--encoding=UTF8", "--no-locale",
            "--no-sync", "--no-instructions",
        ]).check()
        let include = "\n# Port and sockets are chosen by `hoopctl sandbox up`.\ninclude_if_exists = 'hoopctl.conf'\n"
        try owner.writeFile("\(dataDirectory)/postgresql.conf", include, append: true)
    }

    func start(port: UInt16, socketDirectory: String) throws {
        try owner.makeDirectory(socketDirectory)
        let settings = """
            port = \(port)
            listen_addresses = '127.0.0.1'
            unix_socket_directories = '\(socketDirectory.replacingOccurrences(of: "'", with: "''"))'
            max_connections = 200

            """
        try owner.writeFile(settingsFile, settings)
        let result = try owner.command(binaries.path("pg_ctl"),
                                       ["start", "--wait", "--timeout=60", "--pgdata=\(dataDirectory)", "--log=\(logFile)"]).run()
        guard result.succeeded else {
            let log = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? result.stderr
            throw SandboxError.startFailed(log: log.split(separator: "\n").suffix(8).joined(separator: "\n"))
        }
    }

    func stop() throws {
        try owner.command(binaries.path("pg_ctl"), ["stop", "--wait", "--mode=fast", "--pgdata=\(dataDirectory)"]).check()
    }

    /// pg_ctl status: 0 running, 3 not running, 4 no usable data directory.
    func isRunning() throws -> Bool {
        guard isInitialized else { return false }
        let result = try owner.command(binaries.path("pg_ctl"), ["status", "--pgdata=\(dataDirectory)"]).run()
        switch result.status {
        case 0: return true
        case 3, 4: return false
        default: throw ChildProcess.Failure(command: "pg_ctl status", result: result)
        }
    }

    /// postmaster.pid: pid, data directory, start time, port, socket directory, ...
    private func postmasterLine(_ index: Int) -> Substring? {
        guard let text = try? String(contentsOfFile: "\(dataDirectory)/postmaster.pid", encoding: .utf8) else { return nil }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        return lines.count > index ? lines[index] : nil
    }

    func postmasterPID() -> Int? { postmasterLine(0).flatMap { Int($0) } }

    func runningPort() -> UInt16? { postmasterLine(3).flatMap { UInt16($0) } }
}
