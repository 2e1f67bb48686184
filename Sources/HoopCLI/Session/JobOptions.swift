import ArgumentParser
import Foundation
import HoopBrokerAPI

/// `--correlation-id`, for the commands that open sessions (`exec`, `connect`, `mcp`).
struct JobOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Groups the sessions of one job in the ledger (default: $HOOPCTL_CORRELATION_ID, which the command inherits).",
                               valueName: "id"))
    var correlationId: String?

    /// The flag, else the environment (so a job's nested `exec`s share their parent's).
    var correlation: String? {
        correlationId ?? ProcessInfo.processInfo.environment["HOOPCTL_CORRELATION_ID"].flatMap { $0.isEmpty ? nil : $0 }
    }

    func validate() throws {
        if let id = correlation, !SessionRequest.isValidCorrelation(id) {
            throw ValidationError("\(SessionRequest.correlationRule) (got '\(id.prefix(40))')")
        }
    }
}
