import ArgumentParser
import HoopSandbox

extension Hoopctl.SandboxCommand {
    struct Up: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create and start the sandbox (idempotent); prints what it did.")

        func run() throws {
            let sandbox = Hoopctl.SandboxCommand.sandbox
            do {
                let state = try sandbox.up { Output.line("• \($0)") }
                Hoopctl.SandboxCommand.record("sandbox.up", message: "sandbox running on port \(state.port)",
                                              details: ["port": String(state.port), "database": state.database])
                Output.line()
                Output.line("Point your shell at it:  eval \"$(hoopctl sandbox env)\"")
            } catch {
                throw CLIError(error)
            }
        }
    }
}
