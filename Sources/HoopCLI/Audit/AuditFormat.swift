import Foundation
import HoopCommon
import HoopLedger

/// How ledger records look in tables, CSV and JSON lines.
enum AuditFormat {
    static func time(_ record: LedgerRecord) -> String { UTCTime.seconds(record.timestamp) }

    static func preciseTime(_ record: LedgerRecord) -> String { UTCTime.micros(record.timestamp) }

    /// One JSON object; the body is embedded as stored (it is canonical JSON already).
    static func jsonLine(_ record: LedgerRecord) -> String {
        func string(_ value: String?) -> String { value.map(LedgerCoding.string) ?? "null" }
        return "{\"id\":\(record.id),\"time\":\(string(preciseTime(record))),\"ts\":\(record.timestamp)"
            + ",\"kind\":\(string(record.kind)),\"identity\":\(string(record.identity)),\"target\":\(string(record.target))"
            + ",\"session\":\(string(record.session)),\"body\":\(record.body)"
            + ",\"prev_hash\":\(string(record.previousHash)),\"hash\":\(string(record.hash))}"
    }

    /// A readable one-line account of the record's body.
    static func summary(_ record: LedgerRecord) -> String {
        if let body = record.decode(EventBody.self) {
            return [body.name, body.message].compactMap { $0 }.joined(separator: ": ")
        }
        if let body = record.decode(SessionBody.self) {
            var parts = [body.phase.rawValue]
            if let role = body.role { parts.append("role=\(role)") }
            if let ttl = body.ttlSeconds { parts.append("ttl=\(ttl)s") }
            if let exit = body.exitCode { parts.append("exit=\(exit)") }
            if let by = body.endedBy { parts.append("by=\(by)") }
            if let executable = body.process?.executable { parts.append("process=\(executable)") }
            if let correlation = body.correlation { parts.append("job=\(correlation)") }
            if let agent = body.agent { parts.append("agent=\"\(agent)\"") }
            if let reason = body.reason { parts.append("reason=\"\(reason)\"") }
            return parts.joined(separator: " ")
        }
        if let body = record.decode(CredentialBody.self) {
            return "\(body.action) \(body.roleName)" + (body.expiresAt.map { " expires \($0)" } ?? "")
        }
        if let body = record.decode(RequestBody.self) {
            return "request \(body.requestID) \(body.state)" + (body.role.map { " role=\($0)" } ?? "")
                + (body.reason.map { " reason=\"\($0)\"" } ?? "")
        }
        if let body = record.decode(DecisionBody.self) {
            return "\(body.verdict) \(body.requestID)" + (body.comment.map { ": \($0)" } ?? "")
        }
        if let body = record.decode(StatementBody.self) {
            var text = "\(body.decision) \(body.statementClass): \(body.preview ?? body.sql)"
            if let rows = body.rows { text += " (\(rows) rows)" }
            if let state = body.sqlState { text += " [\(state)]" }
            return text
        }
        if let body = record.decode(ResultBody.self) {
            return body.results.map { result in
                var text = "#\(result.statement) \(result.outcome)"
                if let rows = result.rows { text += " \(rows) row\(rows == 1 ? "" : "s")" }
                if let micros = result.durationMicros { text += String(format: " %.1fms", Double(micros) / 1000) }
                if let state = result.sqlState { text += " [\(state)]" }
                return text
            }.joined(separator: "; ")
        }
        if let body = record.decode(IdentityBody.self) {
            return "\(body.principal) via \(body.method)"
        }
        return record.body
    }
}
