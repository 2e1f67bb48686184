import ArgumentParser
import HoopControlStore
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

/// Where the audit commands read: the broker (admins and auditors), a ledger file given by
/// hand (a copy an auditor was handed, read with the file permissions of whoever runs this),
/// or a PostgreSQL control store (with the credentials its DSN file holds).
struct LedgerOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Read this ledger file directly instead of asking the broker.", valueName: "file"),
            completion: .file(extensions: ["sqlite"]))
    var ledger: String?

    @Option(help: ArgumentHelp("Read the PostgreSQL control store this DSN file names directly instead of asking the broker.",
                               valueName: "file"), completion: .file())
    var storeDSNFile: String?

    /// Whether the records are read by hand rather than through the broker.
    var byHand: Bool { ledger != nil || storeDSNFile != nil }

    func validate() throws {
        if ledger != nil, storeDSNFile != nil { throw ValidationError("--ledger and --store-dsn-file name two ledgers: give one") }
    }

    /// The ledger read by hand (nil: ask the broker).
    func opened() throws -> (any LedgerStore)? {
        do {
            if let ledger { return try Ledger(path: ledger, mode: .readOnly) }
            if let storeDSNFile { return try PostgresLedger(address: try StoreAddress(dsnFile: storeDSNFile)) }
            return nil
        } catch let error as LedgerError {
            throw CLIError(error)
        } catch {
            throw CLIError("\(error)", exitCode: ExitStatus.failure)
        }
    }
}
