import ArgumentParser
import HoopBrokerAPI

extension Hoopctl.TargetCommand {
    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Install the masking views of the current policy (admins).",
            discussion: """
                Creates the hoop schema (owned by hoop_owner) with the target's hashing key and the detectors \
                for declared free text, and for each role a schema of security_barrier views, one per table in \
                scope, with masked columns replaced (email, redact, partial(N), hash, null, detect) by \
                expressions sessions cannot call on input of their own. Transactional and idempotent: run it \
                again after a policy or schema change; older versions are dropped once no session uses them.
                """)

        @Argument(help: "The target.")
        var target: String

        @Flag(help: "Print one JSON object.")
        var json = false

        @OptionGroup var broker: BrokerOptions

        func run() async throws {
            let report: TargetInitReport = try await broker.call { try await $0.call(Endpoints.initTarget, target) }
            if json {
                Output.line(String(decoding: try BrokerAPI.encoder.encode(report), as: UTF8.self))
                return
            }
            for role in report.roles {
                let verb = role.created ? "built" : "up to date:"
                Output.line("• role \(role.role): \(verb) \(role.schema) (\(role.views) views, \(role.maskedColumns) masked columns; reader \(role.readerRole))")
            }
            for schema in report.dropped { Output.line("• dropped \(schema) (no session used it)") }
            for schema in report.kept { Output.line("• kept \(schema) (sessions still use it)") }
        }
    }
}
