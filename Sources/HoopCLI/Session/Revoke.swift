import ArgumentParser
import HoopBrokerAPI

extension Hoopctl {
    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "End a session now: its connections are cut and its role dropped (its owner or an admin).")

        @Argument(help: "The session id, or an unambiguous prefix of at least 4 characters.")
        var session: String

        @OptionGroup var broker: BrokerOptions

        func run() async throws {
            let info: SessionInfo = try await broker.call { try await $0.call(Endpoints.revokeSession, session) }
            if info.state == .ended {
                Output.line("revoked session \(info.id) (\(info.roleName))")
            } else {
                Output.line("revoking session \(info.id) (\(info.roleName)): the broker keeps retrying; see 'hoopctl audit --session \(info.id)'")
            }
        }
    }
}
