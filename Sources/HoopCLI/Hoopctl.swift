import ArgumentParser
import Foundation

/// The root command: configuration only. Each subcommand lives in its own file.
public struct Hoopctl: AsyncParsableCommand {
    public static let version = "0.1.0"

    public static let configuration = CommandConfiguration(
        commandName: "hoopctl",
        abstract: "Identity-aware access broker for PostgreSQL.",
        discussion: """
            People, scripts and AI agents reach PostgreSQL through hoopctl: it knows who is asking, \
            decides by a policy file, masks sensitive columns, and keeps a tamper-evident ledger \
            of everything that happened.

            State lives in $HOOPCTL_HOME (default: $XDG_STATE_HOME/hoopctl, else ~/.local/state/hoopctl). \
            $HOOPCTL_POLICY and $HOOPCTL_LEDGER name another policy file or ledger.

            Exit codes: 0 success; 1 failure; 2 invalid input (policy errors); \
            3 ledger verification failed; 4 target doctor found problems; 64 bad usage (also an unknown \
            target or role); 69 broker unreachable; 75 approval pending; 76 approval denied; 77 denied by \
            policy (or a bad token); 78 approval expired or withdrawn. exec and connect exit with their \
            command's code.
            """,
        version: version,
        subcommands: [
            SandboxCommand.self, Serve.self, Exec.self, Connect.self, Sessions.self, Revoke.self,
            Request.self, Requests.self, Approve.self, Deny.self, Token.self, WhoAmI.self, Login.self, Logout.self,
            MCP.self, TargetCommand.self, PolicyCommand.self, AuditCommand.self, StoreCommand.self,
        ]
    )

    public init() {}

    /// Parses and runs; `CLIError`s print as `hoopctl: error: ...` with their own exit code.
    public static func main() async {
        do {
            var command = try await asyncParseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as CLIError {
            Output.error(error.message)
            Foundation.exit(error.exitCode.rawValue)
        } catch {
            exit(withError: error)
        }
    }
}
