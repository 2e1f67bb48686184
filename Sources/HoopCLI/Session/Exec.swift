import ArgumentParser

extension Hoopctl {
    struct Exec: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a command with a short-lived database role of its own.",
            discussion: """
                The broker checks the policy and creates an ephemeral role that sees only masked data. \
                The command gets PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE, DATABASE_URL and \
                HOOPCTL_SESSION, which point at the broker's guard proxy (every statement is recorded before it \
                runs) unless the role is direct; signals sent to hoopctl are passed on to it. When it ends, however it ends, \
                the role is revoked, and hoopctl exits with the command's exit code (128 + N when killed by signal N).

                The command gets a database session, not your identity: $HOOPCTL_TOKEN is removed from its \
                environment (a job could otherwise approve requests or open sessions as you), unless you pass \
                --pass-token. It still runs as your OS user and can read what you can, a --token-file included. \
                The session ends when the identity that opened it does: with a token, at its expiry or revocation.

                Example: hoopctl exec prod-db --reason "nightly retrain" -- python train.py
                """)

        @OptionGroup var session: SessionOptions

        @Argument(parsing: .postTerminator, help: "The command and its arguments, after --.")
        var command: [String] = []

        func validate() throws {
            if command.isEmpty { throw ValidationError("give the command to run after --, e.g. hoopctl exec \(session.target) -- psql") }
        }

        func run() async throws {
            try await SessionRunner.run(session, kind: "exec", command: command)
        }
    }
}
