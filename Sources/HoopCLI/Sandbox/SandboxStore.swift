import ArgumentParser
import HoopSandbox

extension Hoopctl.SandboxCommand {
    struct Store: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a PostgreSQL control store in the sandbox's cluster, for trying several brokers on one machine.",
            discussion: """
                Creates (or keeps) a database owned by a role of its own, a brokers' role that may only read and \
                append, and a DSN file for each in $HOOPCTL_HOME/sandbox, then runs 'store init'. Prints the DSN \
                files; start each broker with 'hoopctl serve --store-dsn-file FILE' and its own $HOOPCTL_HOME.
                """)

        @Option(help: ArgumentHelp("The database's name (its roles are NAME_owner and NAME_broker).", valueName: "name"))
        var name = "hoopctl_control"

        func validate() throws {
            guard !name.isEmpty, name.count <= 40, name.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }),
                  name.first?.isLetter == true else {
                throw ValidationError("--name: lowercase letters, digits and _, starting with a letter, at most 40")
            }
        }

        func run() throws {
            let sandbox = Hoopctl.SandboxCommand.sandbox
            guard let state = try? sandbox.loadState() else {
                throw CLIError("no sandbox in \(sandbox.home.path); run 'hoopctl sandbox up'")
            }
            do {
                let store = try sandbox.controlStore(state, name: name)
                Output.line("control store \(store.database) in the sandbox's cluster (owned by \(store.ownerRole))")
                Output.line("  brokers:  hoopctl serve --store-dsn-file \(Output.shellQuote(store.brokerDSNFile))")
                Output.line("  owner:    hoopctl store migrate --dsn-file \(Output.shellQuote(store.ownerDSNFile)) --from LEDGER")
            } catch {
                throw CLIError("sandbox store: \(error)")
            }
        }
    }
}
