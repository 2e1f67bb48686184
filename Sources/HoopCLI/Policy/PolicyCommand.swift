import ArgumentParser

extension Hoopctl {
    struct PolicyCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "policy",
            abstract: "Check the policy file, or have the broker reload it.",
            subcommands: [Check.self, Reload.self]
        )
    }
}
