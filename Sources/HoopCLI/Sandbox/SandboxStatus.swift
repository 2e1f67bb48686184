import ArgumentParser
import Foundation
import HoopSandbox

extension Hoopctl.SandboxCommand {
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Say what runs where.")

        @Flag(help: "Print one JSON object.")
        var json = false

        func run() throws {
            let sandbox = Hoopctl.SandboxCommand.sandbox
            let status: Sandbox.Status
            do {
                status = try sandbox.status()
            } catch {
                throw CLIError(error)
            }
            let state = status.state
            if json {
                var object: [String: Any] = [
                    "running": status.running, "port": Int(state.port), "host": "127.0.0.1",
                    "socket_directory": state.socketDirectory, "cluster_directory": state.clusterDirectory,
                    "cluster_owner": state.clusterOwner, "database": state.database, "admin_user": state.adminUser,
                    "policy": sandbox.policyFile, "admin_dsn_file": sandbox.adminDSNFile,
                    "ledger": sandbox.home.ledgerPath(),
                ]
                object["pid"] = status.pid
                object["broker_pid"] = SandboxBroker(sandbox: sandbox).runningPID.map { Int($0) }
                object["broker_socket"] = SandboxBroker(sandbox: sandbox).socketPath
                object["postgres_version"] = state.postgresVersion
                Output.json(object)
                return
            }
            let running = status.running
                ? Output.green("running") + (status.pid.map { " (pid \($0))" } ?? "")
                : Output.red("stopped")
            let rows: [(String, String)] = [
                ("PostgreSQL", "\(state.postgresVersion.map { "\($0) " } ?? "")\(running)"),
                ("address", "127.0.0.1:\(state.port)"),
                ("socket", state.socketDirectory),
                ("cluster", "\(state.clusterDirectory) (owner \(state.clusterOwner))"),
                ("database", "\(state.database) (admin role \(state.adminUser))"),
                ("policy", sandbox.policyFile),
                ("admin DSN", sandbox.adminDSNFile),
                ("ledger", sandbox.home.ledgerPath()),
                ("broker", SandboxBroker(sandbox: sandbox).runningPID.map { Output.green("running") + " (pid \($0), socket \(SandboxBroker(sandbox: sandbox).socketPath))" } ?? Output.red("stopped")),
            ]
            for (label, value) in rows {
                Output.line(Output.bold(label.padding(toLength: 11, withPad: " ", startingAt: 0)) + value)
            }
        }
    }
}
