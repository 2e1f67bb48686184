import Foundation
import HoopBrokerAPI
import HoopCommon

/// How requests look in lists and in `requests show`.
enum RequestFormat {
    static func time(_ date: Date) -> String { UTCTime.seconds(Int64(date.timeIntervalSince1970 * 1e6)) }

    static func ttl(_ seconds: Int) -> String { TimeSpan(seconds: Int64(seconds)).description }

    /// What a request asks for, in a few words (lists show a statement's beginning).
    static func subject(_ request: RequestInfo) -> String {
        guard request.kind == "statement" else { return "role \(request.role) for \(ttl(request.ttlSeconds))" }
        let text = (request.statement ?? "a statement").split(whereSeparator: \.isWhitespace).joined(separator: " ")
        return "run once: " + (text.count > 40 ? text.prefix(39) + "…" : text)
    }

    static func state(_ request: RequestInfo) -> String {
        switch request.state {
        case .pending: return "pending (\(request.approvals) of \(request.needed))"
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
            ("approvers", "\(request.needed) of \(request.approvers.joined(separator: ", "))\(request.everyGroup ? " (one from each)" : "")"),
            ("created", time(request.createdAt)),
            ("expires", time(request.expiresAt)),
        ]
        if let until = request.approvalExpiresAt { rows.append(("usable until", time(until))) }
        if let statement = request.statement { rows.append(("statement", statement)) }
        if let session = request.session, request.kind != "statement" { rows.append(("session", session)) }
        for vote in request.votes {
            rows.append((vote.verdict == "approve" ? "approved by" : "denied by",
                         "\(vote.approver) at \(time(vote.at))\(vote.selfApproval ? " (self-approval)" : "")\(vote.comment.map { ": \($0)" } ?? "")"))
        }
        return rows
    }
}
