import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A child that shares our terminal (stdin, stdout, stderr and process group), as `exec` and
/// `connect` run the user's command. Signals sent to us by other processes (kill, a supervisor)
/// are passed on to it; signals from the terminal already reach it directly, so they are not sent twice.
public final class ForegroundChild: @unchecked Sendable {
    public let pid: pid_t

    /// How the child ended.
    public enum Termination: Sendable, Equatable {
        case exited(Int32)
        case signaled(Int32)

        /// The shell convention: the exit status, or 128 + the signal number.
        public var exitCode: Int32 {
            switch self {
            case .exited(let code): return code
            case .signaled(let signal): return 128 + signal
            }
        }
    }

    public static let forwardedSignals: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT]

    /// From now on the forwarded signals are caught: passed on to the running child, or, while
    /// there is none, ending this process (status 128 + N) as they would have by default.
    public static func catchSignals() { _ = SignalRelay.shared }

    /// While no child runs, hand caught signals to `handler` instead of ending the process
    /// (nil restores that default).
    public static func whileIdle(_ handler: (@Sendable (Int32) -> Void)?) { SignalRelay.shared.idle(handler) }

    /// Starts `executable` (searched on PATH) with exactly `environment`.
    public init(executable: String, arguments: [String], environment: [String: String]) throws {
        let path = try ChildProcess.locate(executable, searchPath: environment["PATH"])
        let pid = try Spawn.start(path: path, arguments: arguments, environment: environment, name: executable)
        self.pid = pid
        // Signals go to the child from the moment it exists, not from when someone waits for it.
        SignalRelay.shared.forward(to: pid)
    }

    /// Waits for the child (blocking this thread) while another thread forwards signals.
    public func wait() -> Termination {
        defer { SignalRelay.shared.forward(to: nil) }
        guard let (exited, code) = Spawn.wait(pid) else { return .exited(127) }
        return exited ? .exited(code) : .signaled(code)
    }
}

/// Catches the forwarded signals process-wide (so no thread of ours dies of them) and relays
/// those a process sent (si_code ≤ 0) to the current child. Terminal-generated ones
/// (SI_KERNEL) are not relayed: the child, in our process group, got them already.
/// With no child running, a signal ends this process as it would have by default.
final class SignalRelay: @unchecked Sendable {
    static let shared = SignalRelay()

    private let lock = NSLock()
    private var child: pid_t?
    private var idleHandler: (@Sendable (Int32) -> Void)?
    private var pipe: [Int32] = [-1, -1]

    private init() {
        _ = Glibc.pipe(&pipe)
        _ = fcntl(pipe[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(pipe[1], F_SETFD, FD_CLOEXEC)
        signalPipe = pipe[1]
        var action = sigaction()
        action.sa_flags = SA_SIGINFO | SA_RESTART
        action.__sigaction_handler.sa_sigaction = { signal, info, _ in
            // Only async-signal-safe work here: two bytes into a pipe.
            var message: (UInt8, UInt8) = (UInt8(truncatingIfNeeded: signal), (info?.pointee.si_code ?? 0) > 0 ? 1 : 0)
            _ = withUnsafeBytes(of: &message) { write(signalPipe, $0.baseAddress, 2) }
        }
        sigemptyset(&action.sa_mask)
        for signal in ForegroundChild.forwardedSignals { sigaction(signal, &action, nil) }
        let reader = Thread { [self] in relay() }
        reader.name = "hoopctl-signals"
        reader.start()
    }

    func forward(to pid: pid_t?) { lock.withLock { child = pid } }

    func idle(_ handler: (@Sendable (Int32) -> Void)?) { lock.withLock { idleHandler = handler } }

    private func relay() {
        var message: (UInt8, UInt8) = (0, 0)
        while true {
            let count = withUnsafeMutableBytes(of: &message) { read(pipe[0], $0.baseAddress, 2) }
            guard count == 2 else { if count < 0 && errno == EINTR { continue } else { return } }
            let signal = Int32(message.0), fromKernel = message.1 == 1
            let (pid, handler) = lock.withLock { (child, idleHandler) }
            guard let pid else {
                if let handler { handler(signal) } else { _exit(128 + signal) }
                continue
            }
            if !fromKernel { kill(pid, signal) }
        }
    }
}

nonisolated(unsafe) private var signalPipe: Int32 = -1
