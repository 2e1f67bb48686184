import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Starts a long-running program in its own session (setsid), detached from our terminal,
/// with its output appended to a log file.
public enum Daemon {
    public static func spawn(executable: String, arguments: [String], environment: [String: String], log: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // A new session: our terminal's signals never reach it.
        return try Spawn.start(path: executable, arguments: arguments, environment: environment, newSession: true,
                               actions: &actions, name: executable)
    }

    /// Whether `pid` runs and its command line contains `marker`.
    public static func isRunning(pid: pid_t, marker: String) -> Bool {
        guard kill(pid, 0) == 0 || errno == EPERM,
              let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
        let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        return arguments.contains(marker)
    }

    /// SIGTERM, then SIGKILL after `grace`; returns once the process is gone.
    public static func stop(pid: pid_t, grace: TimeInterval = 10) {
        guard kill(pid, SIGTERM) == 0 else { return }
        let deadline = Date().addingTimeInterval(grace)
        while Date() < deadline {
            if kill(pid, 0) != 0 { return }
            // Our own child until reaped: collect it if so.
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid { return }
            usleep(50_000)
        }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
    }
}
