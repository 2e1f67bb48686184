import ArgumentParser
import HoopBrokerAPI
import HoopBrokerClient
import HoopCommon

/// How commands reach the broker: `$HOOPCTL_BROKER`, else `$HOOPCTL_HOME/broker.sock`.
enum BrokerConnection {
    static var socketPath: String { BrokerAPI.socketPath(stateDirectory: StateDirectory.resolve().path) }

    static var client: BrokerClient { BrokerClient(socketPath: socketPath) }

    /// Runs a broker call, turning its failures into messages and documented exit codes.
    static func call<T>(_ body: (BrokerClient) async throws -> T) async throws -> T {
        do {
            return try await body(client)
        } catch let error as BrokerClientError {
            throw cliError(error)
        }
    }

    static func cliError(_ error: BrokerClientError) -> CLIError {
        switch error {
        case .unreachable:
            return CLIError("\(error)", exitCode: ExitStatus.brokerUnreachable)
        case .refused(let failure):
            switch failure.code {
            case .denied: return CLIError("\(error)", exitCode: ExitStatus.denied)
            case .invalid, .notFound: return CLIError("\(error)", exitCode: ExitStatus.usage)
            default: return CLIError("\(error)", exitCode: ExitStatus.failure)
            }
        case .protocolError:
            return CLIError("\(error)", exitCode: ExitStatus.failure)
        }
    }
}
