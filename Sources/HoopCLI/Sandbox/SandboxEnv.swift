import ArgumentParser
import HoopSandbox

extension Hoopctl.SandboxCommand {
    struct Env: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print shell exports that point hoopctl, and psql as the sandbox admin, at the sandbox.",
            discussion: """
                Use as: eval "$(hoopctl sandbox env)". The password stays in the file PGPASSFILE names; \
                it is never printed.
                """)

        func run() throws {
            let sandbox = Hoopctl.SandboxCommand.sandbox
            guard let state = try? sandbox.loadState() else {
                throw CLIError("no sandbox in \(sandbox.home.path); run 'hoopctl sandbox up'")
            }
            // psql will send the superuser's password to whatever listens there: the directory
            // must be the sandbox's own, not one someone else made under its name.
            do {
                try sandbox.checkSocketDirectory(state)
            } catch {
                throw CLIError("\(error); run 'hoopctl sandbox up' to make a new one")
            }
            for (name, value) in sandbox.environment(state) {
                Output.line("export \(name)=\(Output.shellQuote(value))")
            }
        }
    }
}
