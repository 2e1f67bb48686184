import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// `hoopctl serve`: the broker and its background duties as one service group.
/// SIGTERM and SIGINT shut down gracefully; SIGHUP reloads the policy (atomically).
public enum BrokerService {
    public static func run(configuration: BrokerConfiguration, logger: Logger) async throws {
        let broker = try Broker(configuration: configuration, logger: logger)
        await broker.recover()
        let server = BrokerHTTPServer(socketPath: configuration.socketPath, router: BrokerRouter(broker: broker), logger: logger)
        let duties = BrokerDuties(broker: broker, configuration: configuration)
        let group = ServiceGroup(configuration: .init(services: [.init(service: duties), .init(service: server)],
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        logger.info("broker stopped")
    }
}

/// The reaper (TTLs and vanished clients), the reconciler, and policy reloads on SIGHUP.
struct BrokerDuties: Service {
    let broker: Broker
    let configuration: BrokerConfiguration

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
                for await _ in await UnixSignalsSequence(trapping: .sighup) {
                    _ = try? await broker.reloadPolicy(nil)
                }
            }
            // Runs until the service group shuts down.
            try? await gracefulShutdown()
            group.cancelAll()
        }
    }
}
