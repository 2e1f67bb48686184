import ArgumentParser
import Foundation
import HoopBrokerAPI
import HoopCommon
import HoopLedger

extension Hoopctl.AuditCommand {
    struct Report: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A compliance report for a period: access, approvals, sensitive columns, refused statements, ledger integrity.",
            discussion: "Markdown by default; --format html writes one self-contained page (no external resources). Admins and auditors only.")

        enum Format: String, ExpressibleByArgument, CaseIterable { case markdown, html, json }

        @Option(help: ArgumentHelp("The start of the period.", valueName: "duration|date"))
        var since: TimeArgument = TimeArgument(argument: "30d")!

        @Option(help: "markdown, html or json.")
        var format: Format = .markdown

        @OptionGroup var ledgerOptions: LedgerOptions

        @OptionGroup var broker: BrokerOptions

        func run() async throws {
            let report: AuditReport
            if let ledger = try ledgerOptions.opened() {
                do { report = try ledger.report(since: since.date) } catch { throw CLIError(error) }
            } else {
                report = try await broker.call { try await $0.call(Endpoints.auditReport, nil, ReportPeriod(since: since.date)) }
            }
            switch format {
            case .json: Output.line(String(decoding: try BrokerAPI.encoder.encode(report), as: UTF8.self))
            case .markdown: Output.line(ReportRendering.markdown(report))
            case .html: Output.line(ReportRendering.html(report))
            }
            if !report.verification.passed { throw ExitStatus.tampered }
        }
    }
}

/// The report as an auditor reads it: the same sections in Markdown and in HTML.
enum ReportRendering {
    static func time(_ micros: Int64) -> String { UTCTime.seconds(micros) }

    struct Section {
        var title: String
        var intro: String
        var header: [String]
        var rows: [[String]]
    }

    static func sections(_ report: AuditReport) -> [Section] {
        let verification = report.verification
        let integrity = verification.passed
            ? "Verified \(verification.verified) records: the hash chain is intact. Head record #\(verification.headID.map(String.init) ?? "-"), hash sha256:\(verification.headHash ?? "-")."
                + (verification.checkpoints.map { " It holds the \($0) signed checkpoints kept in the target databases." }
                    ?? " Checkpoints not checked (read by hand).")
            : "FAILED: " + ([verification.failure?.description].compactMap { $0 } + verification.schemaProblems + (verification.lineageProblems ?? [])
                + (verification.checkpointProblems ?? [])).joined(separator: "; ")
        // The sensitive columns come from the lineage index, data derived from the records: say whether it was checked.
        let lineage = verification.lineageProblems.map { $0.isEmpty ? "Counted from the lineage index, which verified against the statement records."
            : "UNVERIFIED: the lineage index these counts come from disagrees with the statement records (\($0.count) problem\($0.count == 1 ? "" : "s"))." }
            ?? "UNVERIFIED: counted from the lineage index, which was not checked against the statement records."
        return [
            Section(title: "Ledger integrity", intro: integrity, header: ["verified records", "head record", "head hash"],
                    rows: [[String(verification.verified), verification.headID.map { "#\($0)" } ?? "-", verification.headHash ?? "-"]]),
            Section(title: "Access", intro: "Who had sessions on which targets and roles.",
                    header: ["identity", "target", "role", "sessions", "first", "last"],
                    rows: report.access.map { [$0.identity, $0.target, $0.role, String($0.sessions), time($0.first), time($0.last)] }),
            Section(title: "Approvals", intro: "Requests for roles and statement reviews, who decided them, and how they ended.",
                    header: ["request", "kind", "requester", "target", "asked for", "reason", "votes", "state"],
                    rows: report.approvals.map {
                        [$0.request, $0.kind, $0.requester, $0.target, $0.kind == "statement" ? ($0.statement ?? "a statement") : "role \($0.role)",
                         $0.reason, $0.votes.joined(separator: "; "), $0.state]
                    }),
            Section(title: "Sensitive columns", intro: "Columns that came back masked (by their view, or by the in-flight detectors) or in clear, and who read them. " + lineage,
                    header: ["column", "read by", "statements", "masked", "clear"],
                    rows: report.sensitiveColumns.map { [$0.column, $0.identities.joined(separator: ", "), String($0.statements), String($0.masked), String($0.clear)] }),
            Section(title: "Denied and reviewed statements",
                    intro: report.refusalCount > report.refusals.count
                        ? "\(report.refusalCount) statements; the latest \(report.refusals.count) are listed." : "\(report.refusalCount) statements.",
                    header: ["time", "identity", "target", "session", "decision", "statement", "request"],
                    rows: report.refusals.map { [time($0.time), $0.identity, $0.target, $0.session, $0.decision, $0.sql, $0.request ?? ""] }),
            Section(title: "Revealed values", intro: "Sealed statement values an auditor opened (hoopctl audit replay --reveal): who, which session, with which key, and why.",
                    header: ["time", "who", "session", "key", "reason"],
                    rows: (report.reveals ?? []).map { [time($0.time), $0.identity, $0.session, $0.key, $0.reason] }),
        ]
    }

    static func title(_ report: AuditReport) -> String { "hoopctl audit report, \(time(report.since)) to \(time(report.until))" }

    static func markdown(_ report: AuditReport) -> String {
        // HTML passes through Markdown: `<!--` in a recorded statement would hide the rest of the report.
        func cell(_ text: String) -> String {
            Output.singleLine(text).replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "|", with: "\\|")
        }
        var lines = ["# \(title(report))", ""]
        for section in sections(report) {
            lines += ["## \(section.title)", "", section.intro, ""]
            guard !section.rows.isEmpty else { lines += ["(none)", ""]; continue }
            lines.append("| " + section.header.joined(separator: " | ") + " |")
            lines.append("|" + section.header.map { _ in " --- |" }.joined())
            lines += section.rows.map { "| " + $0.map(cell).joined(separator: " | ") + " |" }
            lines.append("")
        }
        return lines.joined(separator: "\n")
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    /// One page, its style inline: it opens the same from a mail attachment or an archive.
    static func html(_ report: AuditReport) -> String {
        var body = "<h1>\(escape(title(report)))</h1>\n"
        for (index, section) in sections(report).enumerated() {
            body += "<section id=\"s\(index)\"><h2>\(escape(section.title))</h2>\n<p>\(escape(section.intro))</p>\n"
            if section.rows.isEmpty {
                body += "<p class=\"none\">(none)</p>\n"
            } else {
                body += "<table><thead><tr>" + section.header.map { "<th>\(escape($0))</th>" }.joined() + "</tr></thead><tbody>\n"
                body += section.rows.map { "<tr>" + $0.map { "<td>\(escape($0))</td>" }.joined() + "</tr>" }.joined(separator: "\n")
                body += "\n</tbody></table>\n"
            }
            body += "</section>\n"
        }
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>\(escape(title(report)))</title>
            <meta name="generator" content="hoopctl">
            <style>
            body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #1d1d1f; }
            h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ddd; }
            table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .3em .6em; border-bottom: 1px solid #eee; vertical-align: top; }
            th { background: #f5f5f7; } td { word-break: break-word; } .none { color: #888; }
            @media print { body { margin: 0; } }
            </style></head>
            <body>
            \(body)</body></html>
            """
    }
}
