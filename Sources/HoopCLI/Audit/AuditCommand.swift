import ArgumentParser
import HoopLedger

extension Hoopctl {
    struct AuditCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "audit",
            abstract: "Read and verify the tamper-evident ledger.",
            subcommands: [Log.self, Replay.self, Trace.self, Report.self, Verify.self, Checkpoint.self, Keygen.self],
            defaultSubcommand: Log.self
        )
    }
}

/// Where the audit commands read: the broker (admins and auditors), or a ledger file given by
/// hand (a copy an auditor was handed, read with the file permissions of whoever runs this).
struct LedgerOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Read this ledger file directly instead of asking the broker.", valueName: "file"),
            completion: .file(extensions: ["sqlite"]))
    var ledger: String?

    func open(_ path: String) throws -> Ledger {
        do {
            return try Ledger(path: path, mode: .readOnly)
        } catch {
            throw CLIError(error)
        }
    }
}
