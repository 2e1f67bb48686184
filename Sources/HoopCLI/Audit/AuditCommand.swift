import ArgumentParser
import HoopCommon
import HoopLedger

extension Hoopctl {
    struct AuditCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "audit",
            abstract: "Read and verify the tamper-evident ledger.",
            subcommands: [Log.self, Verify.self],
            defaultSubcommand: Log.self
        )
    }
}

/// Which ledger file the audit commands read.
struct LedgerOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The ledger file (default: $HOOPCTL_LEDGER, else $HOOPCTL_HOME/ledger.sqlite).",
                               valueName: "file"),
            completion: .file(extensions: ["sqlite"]))
    var ledger: String?

    var path: String { ledger ?? StateDirectory.resolve().ledgerPath() }

    func open() throws -> Ledger {
        do {
            return try Ledger(path: path, mode: .readOnly)
        } catch {
            throw CLIError(error)
        }
    }
}
