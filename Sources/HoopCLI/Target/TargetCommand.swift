import ArgumentParser

extension Hoopctl {
    struct TargetCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "target",
            abstract: "Prepare a target database for masked sessions, and check it.",
            subcommands: [Init.self, Doctor.self]
        )
    }
}
