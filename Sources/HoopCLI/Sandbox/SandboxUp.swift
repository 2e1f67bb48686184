import ArgumentParser
import HoopBrokerAPI
import HoopSandbox

extension Hoopctl.SandboxCommand {
    struct Up: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create and start the sandbox and its broker (idempotent); prints what it did.")

        func run() async throws {
            let sandbox = Hoopctl.SandboxCommand.sandbox
            let state: SandboxState
            do {
                state = try sandbox.up { Output.line("• \($0)") }
            } catch {
                throw CLIError(error)
            }
            Hoopctl.SandboxCommand.record("sandbox.up", message: "sandbox running on port \(state.port)",
                                          details: ["port": String(state.port), "database": state.database])
            try await SandboxBroker(sandbox: sandbox).start { Output.line("• \($0)") }
            let report: TargetInitReport = try await BrokerConnection.call { try await $0.call(Endpoints.initTarget, DemoPolicy.targetName) }
            let built = report.roles.filter(\.created).map(\.role)
            Output.line("• masking views \(built.isEmpty ? "up to date" : "built") for roles \(report.roles.map(\.role).joined(separator: ", ")) of target \(report.target)")
            Output.line()
            Output.line("Point your shell at it:  eval \"$(hoopctl sandbox env)\"")
            Output.line("Then:                    hoopctl connect \(DemoPolicy.targetName)")
        }
    }
}
