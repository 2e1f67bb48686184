import ArgumentParser
import HoopBrokerAPI
import HoopLedger

extension Hoopctl.AuditCommand {
    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute the ledger's hash chain and name the first record that breaks it.",
            discussion: """
                Asks the broker, or reads --ledger FILE. Through the broker, the chain is also checked against the \
                signed checkpoints the broker keeps in each target database (records cut off the end, or a chain \
                re-hashed whole, no longer hold them), and the lineage index against the statement records. Exits 0 \
                when every record verifies, 3 when the ledger was tampered with or is missing.
                """)

        @Flag(help: "Print one JSON object.")
        var json = false

        @OptionGroup var ledgerOptions: LedgerOptions

        @OptionGroup var broker: BrokerOptions

        func run() async throws {
            let report: VerificationReport
            if ledgerOptions.byHand {
                do {
                    // (Opened here, not by `opened()`: a missing file must stay a missing file.)
                    let ledger: any LedgerStore = try ledgerOptions.ledger.map { try Ledger(path: $0, mode: .readOnly) } ?? ledgerOptions.opened()!
                    report = try ledger.verify()
                } catch LedgerError.missing(let path) {
                    // A ledger that disappeared is the most complete tampering there is.
                    throw CLIError("verification failed: no ledger at \(path)", exitCode: ExitStatus.tampered)
                } catch let error as CLIError {
                    throw error
                } catch {
                    throw CLIError(error)
                }
            } else {
                report = try await broker.call { try await $0.call(Endpoints.verify) }
            }
            let problems = (report.failure.map { [$0.description] } ?? []) + report.schemaProblems + (report.lineageProblems ?? [])
                + (report.checkpointProblems ?? [])
            // Without the broker no target database is read: say so rather than pass in silence.
            let checkpoints = report.checkpoints.map { "\($0) signed checkpoint\($0 == 1 ? "" : "s") kept in the target databases" }
                ?? "checkpoints not checked (read by hand: only the broker reaches the target databases that keep them)"
            if json {
                var object: [String: Any] = ["ok": report.passed, "verified": report.verified, "problems": problems]
                object["checkpoints"] = report.checkpoints
                object["checkpoint_warnings"] = report.checkpointWarnings
                object["head_id"] = report.headID
                object["head_hash"] = report.headHash
                object["first_bad_record"] = report.failure.map { Int($0.recordID) }
                Output.json(object)
            } else if report.passed {
                let head = report.headID.map { " · head #\($0) sha256:\(report.headHash!)" } ?? ""
                Output.line("\(Output.green("ok")): verified \(report.verified) record\(report.verified == 1 ? "" : "s")\(head)")
                Output.line("  \(checkpoints)")
            } else {
                Output.line("\(Output.red("FAILED")): \(report.verified) record\(report.verified == 1 ? "" : "s") verified before the first problem")
                for problem in problems { Output.line("  \(problem)") }
                Output.line("  \(checkpoints)")
            }
            for warning in report.checkpointWarnings ?? [] { Output.warning(warning) }
            if !report.passed { throw ExitStatus.tampered }
        }
    }
}
