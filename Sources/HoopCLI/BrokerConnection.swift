import ArgumentParser
import Foundation
import HoopBrokerAPI
import HoopBrokerClient
import HoopCommon

/// Who a command speaks as, and how it reaches the broker: `$HOOPCTL_BROKER`, else
/// `$HOOPCTL_HOME/broker.sock`; as the bearer of a token (`--token-file`, else `$HOOPCTL_TOKEN`),
/// else as whoever the kernel says we are.
struct BrokerOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Present the broker-issued token in this file instead of your OS identity (default: $HOOPCTL_TOKEN).",
                               valueName: "file"),
            completion: .file())
    var tokenFile: String?

    var client: BrokerClient {
        get throws {
            BrokerClient(socketPath: BrokerConnection.socketPath, token: try token())
        }
    }

    func token() throws -> String? {
        if let tokenFile {
            guard let text = try? String(contentsOfFile: tokenFile, encoding: .utf8) else {
                throw CLIError("cannot read --token-file \(tokenFile)", exitCode: ExitStatus.usage)
            }
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        if let token = ProcessInfo.processInfo.environment["HOOPCTL_TOKEN"], !token.isEmpty { return token }
        return nil
    }

    /// Runs a broker call, turning its failures into messages and documented exit codes.
    func call<T>(_ body: (BrokerClient) async throws -> T) async throws -> T {
        let client = try client
        do {
            return try await body(client)
        } catch let error as BrokerClientError {
            throw BrokerConnection.cliError(error)
        }
    }
}

enum BrokerConnection {
    static var socketPath: String { BrokerAPI.socketPath(stateDirectory: StateDirectory.resolve().path) }

    /// As the OS user, for commands that never take a token (`sandbox up`).
    static func call<T>(_ body: (BrokerClient) async throws -> T) async throws -> T {
        do {
            return try await body(BrokerClient(socketPath: socketPath))
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
            case .denied, .unauthenticated: return CLIError("\(error)", exitCode: ExitStatus.denied)
            case .invalid, .notFound: return CLIError("\(error)", exitCode: ExitStatus.usage)
            case .approvalRequired: return CLIError("\(error)", exitCode: ExitStatus.pending)
            case .approvalDenied: return CLIError("\(error)", exitCode: ExitStatus.approvalDenied)
            case .approvalExpired: return CLIError("\(error)", exitCode: ExitStatus.approvalExpired)
            default: return CLIError("\(error)", exitCode: ExitStatus.failure)
            }
        case .protocolError:
            return CLIError("\(error)", exitCode: ExitStatus.failure)
        }
    }
}
