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

        enum Grouping: String, ExpressibleByArgument, CaseIterable { case identity, session, job }

        @Argument(help: ArgumentHelp("What to trace.", valueName: "table[.column]"))
        var item: String

        @Option(help: ArgumentHelp("How far back to look.", valueName: "duration|date"))
        var since: TimeArgument = TimeArgument(argument: "30d")!

        @Option(help: "Only this target.")
        var target: String?

        @Option(help: "One line per identity, session (the default) or job (correlation id, else the command).")
        var by: Grouping = .session

        @Flag(help: "One JSON object per line.")
        var json = false

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
            let answer: AuditTrace = try await broker.call {
                try await $0.post("/v1/audit/trace", TraceQuery(items: items, since: since.date, target: target))
            }
            let lines = TraceLine.group(answer.sessions, by: by)
            if json {
                for line in lines { Output.json(line.json) }
                return
            }
            guard !lines.isEmpty else {
                Output.line(Output.dim("nobody touched \(item) since \(UTCTime.seconds(Int64(since.date.timeIntervalSince1970 * 1e6)))"))
                return
            }
            let header = [by == .identity ? "IDENTITY" : by == .job ? "JOB" : "SESSION"]
                + (by == .session ? ["IDENTITY", "JOB"] : ["SESSIONS"]) + ["STATEMENTS", "FINGERPRINTS", "FIRST", "LAST", "MASKED", "CLEAR", "WRITES"]
            Output.table(header: header, rows: lines.map { line in
                [line.key] + (by == .session ? [line.identities.joined(separator: ","), line.job] : [String(line.sessions)])
                    + [String(line.statements), String(line.fingerprints.count), UTCTime.seconds(line.first), UTCTime.seconds(line.last),
                       String(line.masked), String(line.clear), String(line.writes)]
            })
        }
    }
}

/// One line of `audit trace`: sessions merged by identity, session or job.
struct TraceLine {
    var key: String
    var identities: [String] = []
    var job = ""
    var sessions = 0
    var statements = 0
    var fingerprints: Set<String> = []
    var first = Int64.max
    var last = Int64.min
    var masked = 0
    var clear = 0
    var writes = 0

    /// The job a session ran for: its correlation id, else the command hoopctl ran.
    static func job(_ session: TraceSession) -> String {
        if let correlation = session.correlation { return correlation }
        guard let arguments = session.process?.arguments else { return session.process?.executable ?? "-" }
        if let dash = arguments.firstIndex(of: "--") { return arguments[(dash + 1)...].joined(separator: " ") }
        return arguments.joined(separator: " ")
    }

    static func group(_ sessions: [TraceSession], by grouping: Hoopctl.AuditCommand.Trace.Grouping) -> [TraceLine] {
        var lines: [String: TraceLine] = [:]
        var order: [String] = []
        for session in sessions {
            let key: String
            switch grouping {
            case .identity: key = session.identity ?? "-"
            case .session: key = session.session ?? "-"
            case .job: key = job(session)
            }
            if lines[key] == nil { order.append(key); lines[key] = TraceLine(key: key, job: job(session)) }
            lines[key]!.merge(session)
        }
        return order.map { lines[$0]! }
    }

    mutating func merge(_ session: TraceSession) {
        if let identity = session.identity, !identities.contains(identity) { identities.append(identity) }
        sessions += 1
        statements += session.statements
        fingerprints.formUnion(session.fingerprints)
        first = min(first, session.first)
        last = max(last, session.last)
        masked += session.masked
        clear += session.clear
        writes += session.writes
    }

    var json: [String: Any] {
        ["key": key, "identities": identities, "job": job, "sessions": sessions, "statements": statements,
         "fingerprints": fingerprints.sorted(), "first": UTCTime.seconds(first), "last": UTCTime.seconds(last),
         "masked": masked, "clear": clear, "writes": writes]
    }
}
