import ArgumentParser
import HoopBrokerAPI
import HoopCommon

extension Hoopctl {
    struct Request: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Ask reviewers for a role that needs approval.",
            discussion: """
                Prints the request id; once approved, 'hoopctl exec TARGET --request ID -- ...' uses it, exactly \
                as asked (target, role, TTL, reason) and once. 'hoopctl exec' on such a role does all this and waits.
                """)

        @Argument(help: "The target.")
        var target: String

        @Option(help: "The role.")
        var role: String

        @Option(help: "Why you need it, for the reviewers and the ledger.")
        var reason: String

        @Option(help: ArgumentHelp("How long the session may live (default: the role's default_ttl).", valueName: "duration"))
        var ttl: TimeSpan?

        @Flag(help: "Print the request as one JSON object.")
        var json = false

        @OptionGroup var broker: BrokerOptions

        func run() async throws {
            let created: RequestInfo = try await broker.call {
                try await $0.call(Endpoints.createRequest, nil, RequestCreate(target: target, role: role, reason: reason, ttlSeconds: ttl.map { Int($0.seconds) }))
            }
            if json {
                Output.line(try RequestFormat.json(created))
            } else {
                Output.line(created.id)
                Output.note("request \(created.id) waits for \(created.needed) approval\(created.needed == 1 ? "" : "s") from \(created.approvers.joined(separator: ", ")) until \(RequestFormat.time(created.expiresAt)); a reviewer runs: hoopctl approve \(created.id)")
            }
        }
    }
}
