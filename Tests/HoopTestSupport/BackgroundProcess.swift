import Foundation
import HoopCommon
#if canImport(Glibc)
import Glibc
#endif

/// A program started in the background (its own session), for tests that signal or kill it.
public final class BackgroundProcess: @unchecked Sendable {
    public let pid: pid_t
    public let log: String

    public init(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        var merged = ProcessInfo.processInfo.environment
        merged["NO_COLOR"] = "1"
        for (key, value) in environment { if value.isEmpty { merged[key] = nil } else { merged[key] = value } }
        log = "/tmp/hoopctl-bg-\(UUID().uuidString.prefix(8)).log"
        pid = try Daemon.spawn(executable: try ChildProcess.locate(executable), arguments: arguments, environment: merged, log: log)
    }

    /// Waits for the process to end; its exit status (128 + N when killed by signal N).
    @discardableResult
    public func wait(timeout: TimeInterval = 30) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        var status: Int32 = 0
        while Date() < deadline {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid { return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f) }
            if result < 0 { return nil }
            usleep(20_000)
        }
        return nil
    }

    public func signal(_ signal: Int32) { kill(pid, signal) }

    public var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    deinit {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        _ = waitpid(pid, &status, WNOHANG)
        try? FileManager.default.removeItem(atPath: log)
    }
}

/// Polls `condition` until it holds or `timeout` passes.
public func eventually(timeout: TimeInterval = 10, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    repeat {
        if try condition() { return true }
        usleep(50_000)
    } while Date() < deadline
    return try condition()
}
