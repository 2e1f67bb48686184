import Foundation
import HoopCommon
import HoopControlStore
import HoopLedger
import HoopProxy
import Logging
import ServiceLifecycle
import UnixSignals

/// `hoopctl serve`: the broker, its guard proxy and its background duties as one service group.
/// SIGTERM and SIGINT shut down gracefully; SIGHUP reloads the policy (atomically).
public enum BrokerService {
    public static func run(configuration: BrokerConfiguration, logger: Logger) async throws {
        let lock = try StateLock(configuration: configuration)
        defer { withExtendedLifetime(lock) {} }
        let broker = try Broker(configuration: configuration, logger: logger)
        await broker.heartbeat()
        await broker.noteHowTheLastRunEnded()
        await broker.recover()
        // Requests and decisions recorded through other brokers sharing the store, as they come.
        let following = await broker.followOtherBrokers()
        defer { following?.stop() }
        let recorder = LedgerWriter(ledger: broker.ledger, commitDelay: configuration.ledgerCommitDelay) { error in
            logger.critical("ledger write failed", metadata: ["error": "\(error)"])
        }
        recorder.start()
        defer { recorder.stop() }
        let port = try configuration.proxyPort ?? ProxyPort.persistent(stateDirectory: configuration.stateDirectory)
        let socketDirectory = URL(fileURLWithPath: configuration.stateDirectory).appendingPathComponent("proxy").path
        // One certificate for both network listeners, read now (a bad pair stops the start) and on SIGHUP.
        let tls = try configuration.network.map { try ServerTLS(certificateFile: $0.certificateFile, keyFile: $0.keyFile, publicHost: $0.publicHost) }
        let limiter = SourceRateLimiter()
        var proxyConfiguration = ProxyServer.Configuration(host: configuration.proxyHost, port: port, socketDirectory: socketDirectory)
        if let tls, let address = configuration.network?.proxy {
            proxyConfiguration.network = .init(host: address.host, port: address.port, tls: tls, limiter: limiter)
        }
        let proxy = ProxyServer(configuration: proxyConfiguration, directory: BrokerDirectory(broker: broker), recorder: recorder, logger: logger)
        await broker.useProxy(host: configuration.proxyHost, port: port, socketDirectory: socketDirectory,
                              network: configuration.network.flatMap { network in network.proxy.map { (network.publicHost, $0.port) } })
        let router = BrokerRouter(broker: broker)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: LedgerWriterService(writer: recorder)), .init(service: BrokerDuties(broker: broker, configuration: configuration, tls: tls)),
            .init(service: proxy), .init(service: BrokerHTTPServer(socketPath: configuration.socketPath, router: router, logger: logger)),
        ]
        if let tls, let address = configuration.network?.api {
            services.append(.init(service: BrokerHTTPServer(listener: .tls(host: address.host, port: address.port, tls, limiter), router: router, logger: logger)))
        }
        let group = ServiceGroup(configuration: .init(services: services,
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        // The last statements, then a checkpoint of the chain as it is left.
        recorder.stop()
        // Sessions ending meanwhile may still append: until the checkpoint is the last record.
        for _ in 0..<3 { await broker.checkpoint() }
        await broker.markCleanStop()
        await broker.leaveRoster()
        // What the lineage index counted since its last write (the records have it either way).
        broker.ledger.flushPendingLineage()
        logger.info("broker stopped")
    }
}

/// The ledger's writer in the service group: first in, so shut down last, once the proxy has
/// stopped queueing statements. `stop()` writes what is queued.
struct LedgerWriterService: Service {
    let writer: LedgerWriter

    func run() async throws {
        try? await gracefulShutdown()
        writer.stop()
    }
}

/// The proxy's view of the broker: sessions by id.
struct BrokerDirectory: ProxyDirectory {
    let broker: Broker
    func ticket(forSession id: String) async -> ProxyTicket? { await broker.proxyTicket(forSession: id) }
    func review(_ statement: StatementUnderReview) async -> ReviewOutcome { await broker.reviewStatement(statement) }
}

/// The proxy's port stays the same across restarts (clients of running sessions keep it):
/// chosen free once, then kept in `<state>/proxy.port`.
enum ProxyPort {
    static func persistent(stateDirectory: String) throws -> Int {
        let path = URL(fileURLWithPath: stateDirectory).appendingPathComponent("proxy.port").path
        if let text = try? String(contentsOfFile: path, encoding: .utf8), let port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)),
           (1...65535).contains(port) {
            return port
        }
        guard let port = FreePort.find() else { throw ProxyPortError() }
        try PrivateFile.write("\(port)\n", to: path)
        return Int(port)
    }

    struct ProxyPortError: Error, CustomStringConvertible {
        var description: String { "no free port on 127.0.0.1 for the proxy" }
    }
}

/// The reaper (TTLs and vanished clients), the reconciler, and policy and certificate reloads on SIGHUP.
struct BrokerDuties: Service {
    let broker: Broker
    let configuration: BrokerConfiguration
    let tls: ServerTLS?

    func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: configuration.reapInterval)
                    await broker.reap()
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: configuration.reconcileInterval)
                    await broker.reconcile()
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(BrokerRosterTiming.heartbeat))
                    await broker.heartbeat()
                }
            }
            group.addTask {
                await broker.checkpoint()
                while !Task.isCancelled {
                    try? await Task.sleep(for: configuration.checkpointInterval)
                    await broker.checkpoint()
                }
            }
            group.addTask {
                for await _ in await UnixSignalsSequence(trapping: .sighup) {
                    _ = try? await broker.reloadPolicy(nil)
                    if let tls { await broker.reloadCertificate(tls) }
                }
            }
            // Runs until the service group shuts down.
            try? await gracefulShutdown()
            group.cancelAll()
        }
    }
}
