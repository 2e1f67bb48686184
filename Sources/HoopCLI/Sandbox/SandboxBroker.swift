import Foundation
import HoopBrokerAPI
import HoopBrokerClient
import HoopCommon
import HoopSandbox

/// The sandbox's own broker, started by `sandbox up` so the demo needs no second terminal.
/// Its pid is kept in `<home>/sandbox/broker.pid`, its output in `<home>/sandbox/broker.log`.
struct SandboxBroker {
    let sandbox: Sandbox

    var pidFile: String { sandbox.directory.appendingPathComponent("broker.pid").path }
    var logFile: String { sandbox.directory.appendingPathComponent("broker.log").path }
    var socketPath: String { BrokerAPI.socketPath(stateDirectory: sandbox.home.path) }

    var runningPID: pid_t? {
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8), let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)),
              Daemon.isRunning(pid: pid, marker: "serve") else { return nil }
        return pid
    }

    /// Starts the broker unless it runs; waits until it answers.
    func start(report: (String) -> Void) async throws {
        if let pid = runningPID {
            report("broker already running (pid \(pid), socket \(socketPath))")
            return
        }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var environment = ProcessInfo.processInfo.environment
        environment["HOOPCTL_HOME"] = sandbox.home.path
        environment["HOOPCTL_POLICY"] = nil
        environment["HOOPCTL_LEDGER"] = nil
        let pid = try Daemon.spawn(executable: executable, arguments: ["serve", "--config", sandbox.policyFile],
                                   environment: environment, log: logFile)
        try PrivateFile.write("\(pid)\n", to: pidFile)
        let client = BrokerClient(socketPath: socketPath)
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if (try? await client.call(Endpoints.status)) != nil {
                report("started the broker (pid \(pid), socket \(socketPath), log \(logFile))")
                return
            }
            guard Daemon.isRunning(pid: pid, marker: "serve") else { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let log = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
        throw CLIError("the broker did not start; the end of \(logFile):\n" + log.split(separator: "\n").suffix(8).joined(separator: "\n"))
    }

    func stop(report: (String) -> Void) {
        guard let pid = runningPID else { return }
        Daemon.stop(pid: pid)
        try? FileManager.default.removeItem(atPath: pidFile)
        report("stopped the broker (pid \(pid))")
    }
}
