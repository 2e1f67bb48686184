import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// posix_spawn as every child of ours is started: an empty signal mask, default signal
/// dispositions, exactly the environment given.
enum Spawn {
    /// POSIX_SPAWN_SETSID (glibc 2.26), which Swift's Glibc module does not export.
    static let newSession: Int32 = 0x80

    static func start(path: String, arguments: [String], environment: [String: String], newSession: Bool = false,
                      actions: UnsafePointer<posix_spawn_file_actions_t>? = nil, name: String) throws -> pid_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t(), defaults = sigset_t()
        sigemptyset(&noSignals)
        sigfillset(&defaults)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | (newSession ? Self.newSession : 0)))
        let argv = ([name] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { envp.forEach { free($0) } }
        var pid = pid_t()
        let result = posix_spawn(&pid, path, actions, &attributes, argv, envp)
        guard result == 0 else { throw ChildProcess.SpawnError(program: name, errno: result) }
        return pid
    }

    /// waitpid, through EINTR; the shell's view of the status (128 + N for signal N).
    static func wait(_ pid: pid_t) -> (exited: Bool, code: Int32)? {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { return nil }
        }
        // WIFEXITED / WEXITSTATUS / WTERMSIG, which do not import as functions.
        return (status & 0x7f) == 0 ? (true, (status >> 8) & 0xff) : (false, status & 0x7f)
    }
}
