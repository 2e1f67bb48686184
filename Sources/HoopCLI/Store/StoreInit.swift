import ArgumentParser
import HoopControlStore

extension Hoopctl.StoreCommand {
    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create the control store's tables (or check them), as their owner, and grant the brokers' role what it uses.",
            discussion: """
                Run it as the role that is to own the tables (--dsn-file connects as it), not as the brokers' role: \
                the database then refuses the brokers UPDATE and DELETE on the ledger. Safe to run again.
                """)

        @OptionGroup var store: StoreOptions

        @Option(help: ArgumentHelp("The role the brokers connect as (it must exist; LOGIN and nothing more).", valueName: "role"))
        var brokerRole: String

        func run() throws {
            do {
                let connection = try StoreAddress(dsnFile: store.dsnFile).connect()
                Output.line(try StoreSchema.initialize(connection, brokerRole: brokerRole))
            } catch {
                throw CLIError("store init: \(error)", exitCode: ExitStatus.failure)
            }
        }
    }
}
