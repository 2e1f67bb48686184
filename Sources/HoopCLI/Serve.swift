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

                Nothing listens beyond this machine unless --listen or --proxy-listen says so; both use TLS \
                (--tls-cert, --tls-key; read again on SIGHUP), and callers from the network sign in with the \
                policy's identity provider (hoopctl login) or present a broker token.
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

        @Option(help: ArgumentHelp("""
            Keep the ledger in a PostgreSQL control store shared with other brokers (a file holding its libpq \
            connection string, mode 0600; TLS as its sslmode says) instead of $HOOPCTL_HOME's SQLite file. \
            Made by 'hoopctl store init'.
            """, valueName: "file"), completion: .file())
        var storeDSNFile: String?

        @Option(help: ArgumentHelp("Serve the broker's API to the network over TLS at this address (e.g. 0.0.0.0:8443).",
                                   valueName: "host:port"))
        var listen: String?

        @Option(help: ArgumentHelp("Serve the guard proxy to the network over TLS at this address (e.g. 0.0.0.0:6432).",
                                   valueName: "host:port"))
        var proxyListen: String?

        @Option(help: ArgumentHelp("The network listeners' certificate chain (PEM).", valueName: "file"), completion: .file())
        var tlsCert: String?

        @Option(help: ArgumentHelp("The certificate's private key (PEM, readable by the broker only).", valueName: "file"), completion: .file())
        var tlsKey: String?

        @Option(help: ArgumentHelp("""
            The name clients reach the broker by, which the certificate holds (default: the --listen host). \
            Remote sessions connect to it with sslmode=verify-full.
            """, valueName: "name"))
        var publicHost: String?

        @Option(help: "Log level: trace, debug, info, notice, warning, error or critical.")
        var logLevel: String = "info"

        func validate() throws {
            guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level '\(logLevel)'") }
            if let proxyPort, !(1...65535).contains(proxyPort) { throw ValidationError("--proxy-port must be between 1 and 65535") }
            _ = try network()
        }

        /// The network listeners the flags ask for, checked.
        func network() throws -> NetworkListeners? {
            guard listen != nil || proxyListen != nil else {
                if tlsCert != nil || tlsKey != nil || publicHost != nil {
                    throw ValidationError("--tls-cert, --tls-key and --public-host go with --listen or --proxy-listen")
                }
                return nil
            }
            func address(_ text: String?, _ flag: String) throws -> NetworkListeners.Address? {
                guard let text else { return nil }
                guard let address = NetworkListeners.Address(parsing: text) else {
                    throw ValidationError("\(flag) must be HOST:PORT (a port from 1 to 65535), found '\(text)'")
                }
                return address
            }
            let api = try address(listen, "--listen"), proxy = try address(proxyListen, "--proxy-listen")
            guard let tlsCert, let tlsKey else { throw ValidationError("the network listeners need --tls-cert and --tls-key") }
            let wildcard = ["0.0.0.0", "::", ""]
            guard let host = publicHost ?? [api, proxy].compactMap({ $0?.host }).first(where: { !wildcard.contains($0) }) else {
                throw ValidationError("--public-host: the name clients reach this broker by (the listen address is a wildcard)")
            }
            return NetworkListeners(api: api, proxy: proxy, publicHost: host, certificateFile: tlsCert, keyFile: tlsKey)
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
            configuration.network = try network()
            configuration.storeDSNFile = storeDSNFile
            do {
                try await BrokerService.run(configuration: configuration, logger: logger)
            } catch {
                throw CLIError("the broker stopped: \(error)", exitCode: ExitStatus.failure)
            }
        }
    }
}
