import ArgumentParser
import HoopSandbox

extension Hoopctl.SandboxCommand {
    struct Down: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop the sandbox's broker and PostgreSQL.")

        @Flag(help: "Also delete the cluster, its data and the sandbox's files (the ledger is kept).")
        var purge = false

        func run() throws {
            do {
                let sandbox = Hoopctl.SandboxCommand.sandbox
                SandboxBroker(sandbox: sandbox).stop { Output.line("• \($0)") }
                try sandbox.down(purge: purge) { Output.line("• \($0)") }
                Hoopctl.SandboxCommand.record("sandbox.down", message: purge ? "sandbox stopped and deleted" : "sandbox stopped",
                                              details: ["purge": String(purge)])
            } catch {
                throw CLIError(error)
            }
        }
    }
}
