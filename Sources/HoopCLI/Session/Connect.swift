import ArgumentParser

extension Hoopctl {
    struct Connect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Open an interactive client (psql by default) on a target, with a short-lived masked role.",
            discussion: "The same as 'hoopctl exec TARGET -- psql': the role is revoked when the client exits.")

        @OptionGroup var session: SessionOptions

        @Option(help: "The client program to run (psql, pgcli, or any program that reads the PG* variables).")
        var client: String = "psql"

        func run() async throws {
            try await SessionRunner.run(session, kind: "connect", command: [client])
        }
    }
}
