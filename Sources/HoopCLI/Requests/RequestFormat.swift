import Foundation
import HoopBrokerAPI
import HoopCommon
import HoopSQL

/// How requests look in lists and in `requests show`.
enum RequestFormat {
    static func time(_ date: Date) -> String { UTCTime.seconds(Int64(date.timeIntervalSince1970 * 1e6)) }

    static func ttl(_ seconds: Int) -> String { TimeSpan(seconds: Int64(seconds)).description }

    /// What a request asks for, in a few words (lists show a statement's beginning).
    static func subject(_ request: RequestInfo) -> String {
        guard request.kind == "statement" else { return "role \(request.role) for \(ttl(request.ttlSeconds))" }
        let text = (request.statement ?? "a statement").split(whereSeparator: \.isWhitespace).joined(separator: " ")
        // Cut short in lists, and saying so; `requests show` has it whole.
        return "run once: " + (text.count > 40 ? text.prefix(39) + "… (\(text.count - 39) more characters)" : text)
    }

    static func state(_ request: RequestInfo) -> String {
        switch request.state {
        case .pending: return "pending (\(request.approvals) of \(request.peopleNeeded))"
        default: return request.state.rawValue
        }
    }

    static func json(_ request: RequestInfo) throws -> String {
        String(decoding: try BrokerAPI.encoder.encode(request), as: UTF8.self)
    }

    static func details(_ request: RequestInfo) -> [(String, String)] {
        var rows: [(String, String)] = [
            ("request", request.id),
            ("state", state(request)),
            ("requester", request.requester),
            request.kind == "statement"
                ? ("asks to run", "a statement once on \(request.target), in session \(request.session ?? "-") (role \(request.role))")
                : ("asks for", "role \(request.role) on \(request.target) for \(ttl(request.ttlSeconds))"),
            ("reason", request.reason),
            ("approvers", "\(request.peopleNeeded) of \(request.approvers.joined(separator: ", "))\(request.everyGroup ? " (one from each)" : "")"),
            ("created", time(request.createdAt)),
            ("expires", time(request.expiresAt)),
        ]
        if let until = request.approvalExpiresAt { rows.append(("usable until", time(until))) }
        if let statement = request.statement {
            rows.append(("statement", statement))
            // What the proxy's analysis reads in it, statement by statement, so the reviewer sees what would run.
            let analyses = StatementAnalyzer().analyze(statement)
            for (index, analysis) in analyses.enumerated() {
                let facts = analysis.facts
                var parts = ["class \(facts.statementClass.rawValue)"]
                if !facts.relations.isEmpty { parts.append("relations \(facts.relations.joined(separator: ", "))") }
                if !facts.functions.isEmpty { parts.append("functions \(facts.functions.joined(separator: ", "))") }
                if !facts.notes.isEmpty { parts.append(facts.notes.joined(separator: "; ")) }
                rows.append((analyses.count == 1 ? "analysis" : "statement \(index + 1) of \(analyses.count)",
                             (analyses.count == 1 ? "" : analysis.normalized + " — ") + parts.joined(separator: "; ")))
            }
        }
        if let session = request.session, request.kind != "statement" { rows.append(("session", session)) }
        for vote in request.votes {
            rows.append((vote.verdict == "approve" ? "approved by" : "denied by",
                         "\(vote.approver) at \(time(vote.at))\(vote.selfApproval ? " (self-approval)" : "")\(vote.comment.map { ": \($0)" } ?? "")"))
        }
        return rows
    }
}
