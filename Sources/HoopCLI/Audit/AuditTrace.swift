import ArgumentParser
import Foundation
import HoopBrokerAPI
import HoopCommon
import HoopLedger

extension Hoopctl.AuditCommand {
    struct Trace: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Who read or wrote a table or a column: identities, sessions, jobs, statements, masked or in clear.",
            discussion: """
                TABLE is `table` or `schema.table` (public when left out); a column is `table.column` or \
                `schema.table.column`. Each line counts the statements that touched it, their distinct \
                fingerprints, the first and last time, and how the column came back: masked (by its view \
                or the in-flight detectors) or in clear. Admins and auditors only.
                """)

        @Argument(help: ArgumentHelp("What to trace.", valueName: "table[.column]"))
        var item: String

        @Option(help: ArgumentHelp("How far back to look.", valueName: "duration|date"))
        var since: TimeArgument = TimeArgument(argument: "30d")!

        @Option(help: "Only this target.")
        var target: String?

        @Option(help: "One line per identity (the default), session or job (its correlation id, else the command it ran).")
        var by: TraceQuery.Grouping = .identity

        @Flag(help: "One JSON object per line.")
        var json = false

        @OptionGroup var ledgerOptions: LedgerOptions

        @OptionGroup var broker: BrokerOptions

        func validate() throws {
            let parts = item.split(separator: ".", omittingEmptySubsequences: false)
            guard (1...3).contains(parts.count), parts.allSatisfy({ !$0.isEmpty }) else {
                throw ValidationError("trace 'table', 'schema.table', 'table.column' or 'schema.table.column', not '\(item)'")
            }
        }

        /// The names in the ledger `item` may mean: `a.b` is a table of schema a or column b of public.a.
        var items: [String] {
            let parts = item.split(separator: ".").map(String.init)
            switch parts.count {
            case 1: return ["public.\(item)"]
            case 2: return [item, "public.\(item)"]
            default: return [item]
            }
        }

        func run() async throws {
            let query = TraceQuery(items: items, since: since.date, target: target, by: by)
            let lines: [TraceLine], verification: String?
            if let ledger = try ledgerOptions.opened() {
                do {
                    (lines, verification) = (try ledger.trace(query), try ledger.lineageVerification())
                } catch { throw CLIError(error) }
            } else {
                let answer: AuditTrace = try await broker.call { try await $0.call(Endpoints.auditTrace, nil, query) }
                (lines, verification) = (answer.lines, answer.verification)
            }
            // Lineage is derived data: the reader is told whether it was checked (on stderr, so tables and JSON stay clean).
            if let verification { Output.note(verification) }
            if json {
                for line in lines {
                    Output.json(["key": line.key, "identities": line.identities, "jobs": line.jobs, "sessions": line.sessions,
                                 "statements": line.statements, "fingerprints": line.fingerprints, "first": UTCTime.seconds(line.first),
                                 "last": UTCTime.seconds(line.last), "masked": line.masked, "clear": line.clear, "writes": line.writes])
                }
                return
            }
            guard !lines.isEmpty else {
                Output.line(Output.dim("nobody touched \(item) since \(UTCTime.seconds(Int64(since.date.timeIntervalSince1970 * 1e6)))"))
                return
            }
            let header = [by.rawValue.uppercased()] + (by == .identity ? [] : ["IDENTITY"]) + (by == .job ? [] : ["JOB"])
                + ["SESSIONS", "STATEMENTS", "FINGERPRINTS", "FIRST", "LAST", "MASKED", "CLEAR", "WRITES"]
            Output.table(header: header, rows: lines.map { line in
                [line.key] + (by == .identity ? [] : [line.identities.joined(separator: ",")]) + (by == .job ? [] : [line.jobs.joined(separator: "; ")])
                    + [String(line.sessions), String(line.statements), String(line.fingerprints.count), UTCTime.seconds(line.first),
                       UTCTime.seconds(line.last), String(line.masked), String(line.clear), String(line.writes)]
            })
        }
    }
}

extension TraceQuery.Grouping: ExpressibleByArgument {}
