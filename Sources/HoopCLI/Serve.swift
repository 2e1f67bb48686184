import ArgumentParser
import HoopBroker
import HoopCommon
import Logging

extension Hoopctl {
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the broker: the only process that holds the policy, the ledger and the admin connections.",
            discussion: """
                Listens on $HOOPCTL_BROKER (default $HOOPCTL_HOME/broker.sock) and knows each caller from the \
                kernel (peer credentials). SIGHUP or 'hoopctl policy reload' reloads the policy atomically; \
                SIGTERM stops it gracefully. Sessions outlive a restart: the broker takes them back from the ledger.
                """)

        @Option(name: .long, help: ArgumentHelp("The policy file (default: $HOOPCTL_POLICY, else $HOOPCTL_HOME/policy.yaml).", valueName: "file"),
                completion: .file(extensions: ["yaml", "yml"]))
        var config: String?

        @Option(help: ArgumentHelp("The guard proxy's TCP port on 127.0.0.1 (default: chosen once, kept in $HOOPCTL_HOME/proxy.port).",
                                   valueName: "port"))
        var proxyPort: Int?

        enum LedgerSync: String, ExpressibleByArgument, CaseIterable {
            case full, batched
        }

        @Option(help: ArgumentHelp("""
            When ledger records reach the disk: 'batched' (default) within 20 ms, without slowing statements; \
            'full' before each statement runs (an fsync each). Either way a record is committed before its statement runs.
            """, valueName: "full|batched"))
        var ledgerSync: LedgerSync = .batched

        @Option(help: "Log level: trace, debug, info, notice, warning, error or critical.")
        var logLevel: String = "info"

        func validate() throws {
            guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level '\(logLevel)'") }
            if let proxyPort, !(1...65535).contains(proxyPort) { throw ValidationError("--proxy-port must be between 1 and 65535") }
        }

        func run() async throws {
            let level = Logger.Level(rawValue: logLevel) ?? .info
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
            let logger = Logger(label: "hoopctl.broker")
            let state = StateDirectory.resolve()
            try state.create()
            var configuration = BrokerConfiguration.defaults(for: state, policy: config)
            configuration.policyPath = config ?? configuration.policyPath
            configuration.proxyPort = proxyPort
            configuration.ledgerDurability = ledgerSync == .full ? .full : .batched(interval: .milliseconds(20))
            do {
                try await BrokerService.run(configuration: configuration, logger: logger)
            } catch {
                throw CLIError("the broker stopped: \(error)", exitCode: ExitStatus.failure)
            }
        }
    }
}
