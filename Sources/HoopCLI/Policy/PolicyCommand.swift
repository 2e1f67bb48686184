import ArgumentParser

extension Hoopctl {
    struct PolicyCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "policy",
            abstract: "Check the policy file, explain its guardrails' decisions, or have the broker reload it.",
            subcommands: [Check.self, Explain.self, Reload.self]
        )
    }
}
