import ArgumentParser

extension Hoopctl {
    struct PolicyCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "policy",
            abstract: "Check the policy file.",
            subcommands: [Check.self]
        )
    }
}
