import ArgumentParser
import HoopBrokerAPI

extension Hoopctl.PolicyCommand {
    struct Reload: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make the broker load its policy file again (admins); a broken file is rejected whole.",
            discussion: "Exits 2, printing every error, when the file is broken; the broker keeps the policy it had.")

        @OptionGroup var broker: BrokerOptions

        func run() async throws {
            let result: PolicyReloadResult = try await broker.call { try await $0.call(Endpoints.reloadPolicy) }
            for line in result.diagnostics { Output.line(line) }
            if result.applied {
                Output.line("\(result.file): reloaded (\(result.summary ?? ""))")
            } else {
                Output.line("\(result.file): rejected; the broker keeps its previous policy")
                throw ExitStatus.invalid
            }
        }
    }
}
