import ArgumentParser
import Foundation
import HoopCommon
import HoopMCP

extension Hoopctl {
    struct MCP: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "mcp",
            abstract: "Serve an AI agent: a Model Context Protocol server on stdio with a governed session on TARGET.",
            discussion: """
                Configure an MCP client (an agent framework, a coding assistant) to run this command. The agent \
                gets the tools query, list_tables, describe_table and explain_policy, and the visible tables' \
                schemas as resources. Its session is yours (or the token's: HOOPCTL_TOKEN, --token-file), an \
                ephemeral masked role whose statements all go through the guard proxy: masking, guardrails, reviews \
                and the ledger apply as for any session. The session starts when the client connects and ends, \
                its role revoked, when the client disconnects or the TTL ends.
                """)

        @Argument(help: "The target (a database in the policy).")
        var target: String

        @Option(help: "The role to use (default: your only role, or the first that needs no approval).")
        var role: String?

        @Option(help: "Why the agent needs access; kept in the ledger.")
        var reason: String?

        @Option(help: ArgumentHelp("How long the session may live, up to the role's max_ttl.", valueName: "duration"))
        var ttl: TimeSpan?

        @OptionGroup var job: JobOptions

        @OptionGroup var broker: BrokerOptions

        func run() async throws {
            let gateway = AgentGateway(settings: .init(target: target, role: role, reason: reason, ttlSeconds: ttl.map { Int($0.seconds) },
                                                       correlation: job.correlation, version: Hoopctl.version),
                                       broker: try await broker.client(), rootCertificate: broker.remoteCA())
            try await gateway.run()
        }
    }
}
