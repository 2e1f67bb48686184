import ArgumentParser
import HoopBrokerAPI

extension Hoopctl.AuditCommand {
    struct Checkpoint: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign the ledger's head now and keep it in each target database (the broker does it every 10 seconds).",
            discussion: "Admins only. 'audit verify' checks the chain against these checkpoints.")

        @OptionGroup var broker: BrokerOptions

        func run() async throws {
            let made: LedgerCheckpointMade = try await broker.call { try await $0.call(Endpoints.checkpoint) }
            Output.line("checkpoint recorded as record #\(made.record)")
        }
    }
}
