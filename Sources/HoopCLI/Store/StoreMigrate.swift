import ArgumentParser
import HoopControlStore

extension Hoopctl.StoreCommand {
    struct Migrate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy a broker's SQLite ledger into an empty control store, keeping every id and hash.",
            discussion: """
                The ledger must verify first; the copy is one transaction (all records or none), and the store's \
                chain is verified after it: the head hash is the same on both sides. Stop the broker that writes \
                the file first, and start it again with --store-dsn-file.
                """)

        @OptionGroup var store: StoreOptions

        @Option(help: ArgumentHelp("The SQLite ledger to copy.", valueName: "file"), completion: .file(extensions: ["sqlite"]))
        var from: String

        func run() throws {
            do {
                let address = try StoreAddress(dsnFile: store.dsnFile)
                let outcome = try StoreMigration.migrate(from: from, to: address)
                let source = outcome.sourceHead.map { "#\($0.id) sha256:\($0.hash)" } ?? "empty"
                Output.line("copied \(outcome.records) record\(outcome.records == 1 ? "" : "s") and \(outcome.lineageRows) lineage rows into \(address)")
                Output.line("  head of \(from): \(source)")
                let report = try PostgresLedger(address: address).verify()
                let stored = report.headID.map { "#\($0) sha256:\(report.headHash ?? "")" } ?? "empty"
                Output.line("  head of the store: \(stored) (\(report.verified) records verified)")
                guard report.passed, stored == source else {
                    throw CLIError("the store does not verify as the ledger did: \(report.failure?.description ?? "heads differ")", exitCode: ExitStatus.tampered)
                }
                Output.line("\(Output.green("ok")): the heads are the same")
            } catch let error as CLIError {
                throw error
            } catch {
                throw CLIError("store migrate: \(error)", exitCode: ExitStatus.failure)
            }
        }
    }
}
