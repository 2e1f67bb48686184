import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs a program to completion and captures what it printed.
///
/// Built on posix_spawn and waitpid rather than Foundation's Process: a daemon the program
/// leaves behind (pg_ctl start) must not keep us waiting, and output goes through temporary
/// files instead of pipes for the same reason. Every descriptor but 0, 1 and 2 is closed in
/// the child, so no socket or ledger file of ours leaks into it.
public struct ChildProcess: Sendable {
    public struct Result: Sendable {
        public let status: Int32
        public let stdout: String
        public let stderr: String
        public var succeeded: Bool { status == 0 }
    }

    public struct Failure: Error, CustomStringConvertible {
        public let command: String
        public let result: Result

        public init(command: String, result: Result) {
            self.command = command
            self.result = result
        }

        public var description: String {
            let detail = result.stderr.isEmpty ? result.stdout : result.stderr
            return "\(command) exited with status \(result.status): \(detail.trimmingCharacters(in: .whitespacesAndNewlines))"
        }
    }

    public let executable: String
    public let arguments: [String]
    /// The child's whole environment; nil inherits ours.
    public var environment: [String: String]?
    public var input: Data?

    public init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil, input: Data? = nil) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.input = input
    }

    /// The program name and arguments, for messages. Never put secrets in arguments.
    public var commandLine: String { ([executable] + arguments).joined(separator: " ") }

    public func run() throws -> Result {
        let path = try ChildProcess.locate(executable)
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("hoopctl-\(UUID().uuidString)").path
        guard mkdir(scratch, 0o700) == 0 else { throw SpawnError(program: executable, errno: errno) }
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let outPath = scratch + "/out", errPath = scratch + "/err"
        var inPath = "/dev/null"
        if let input {
            inPath = scratch + "/in"
            try PrivateFile.write(String(decoding: input, as: UTF8.self), to: inPath)
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, inPath, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        ChildProcess.closeFrom3(&actions)

        let pid = try Spawn.start(path: path, arguments: arguments, environment: environment ?? ProcessInfo.processInfo.environment,
                                  actions: &actions, name: path)
        guard let (exited, code) = Spawn.wait(pid) else { throw SpawnError(program: executable, errno: errno) }
        let exitCode = exited ? code : 128 + code
        return Result(status: exitCode,
                      stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
    }

    private typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    /// glibc 2.34's posix_spawn_file_actions_addclosefrom_np, which Swift's Glibc module does not export.
    private static let closeFrom: CloseFrom? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: CloseFrom.self)
    }()

    private static func closeFrom3(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>) {
        _ = closeFrom?(actions, 3)
    }

    /// Runs and throws `Failure` unless the program exits 0.
    @discardableResult
    public func check() throws -> Result {
        let result = try run()
        guard result.succeeded else { throw Failure(command: commandLine, result: result) }
        return result
    }

    /// Finds a program by absolute path or on `$PATH` (or the given search path).
    public static func locate(_ name: String, searchPath: String? = nil) throws -> String {
        if name.contains("/") { return name }
        let path = searchPath ?? ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw NotFound(name: name)
    }

    public struct NotFound: Error, CustomStringConvertible {
        public let name: String
        public var description: String { "program '\(name)' not found on PATH" }
    }

    public struct SpawnError: Error, CustomStringConvertible {
        public let program: String
        public let errno: Int32
        public var description: String { "cannot run \(program): \(String(cString: strerror(errno)))" }
    }
}
