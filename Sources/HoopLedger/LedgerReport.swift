import Foundation
import GRDB


extension Ledger {
    public func report(since: Date, until: Date) throws(LedgerError) -> AuditReport {
        let from = Int64((since.timeIntervalSince1970 * 1_000_000).rounded()), to = Int64((until.timeIntervalSince1970 * 1_000_000).rounded())
        let verification = try verify()
        do {
            indexBeforeReading()
            return try pool.read { db in
                let access = try Row.fetchAll(db, sql: """
                    SELECT identity, target, json_extract(body, '$.role'), count(*), min(ts), max(ts) FROM records
                    WHERE kind = 'session' AND ts >= ? AND ts < ? AND json_extract(body, '$.phase') = 'started'
                    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
                    """, arguments: [from, to]).map { row in
                    AuditReport.Access(identity: row[0] ?? "-", target: row[1] ?? "-", role: row[2] ?? "-", sessions: row[3], first: row[4], last: row[5])
                }

                var approvals: [String: AuditReport.Approval] = [:], order: [String] = []
                for row in try Row.fetchAll(db, sql: """
                    SELECT kind, ts, identity, target, body FROM records WHERE kind IN ('request', 'decision') AND ts >= ? AND ts < ? ORDER BY id
                    """, arguments: [from, to]) {
                    let body: String = row[4], data = Data(body.utf8)
                    if row[0] as String == "request", let request = try? LedgerCoding.decoder.decode(RequestBody.self, from: data) {
                        if request.state == "created" {
                            order.append(request.requestID)
                            approvals[request.requestID] = AuditReport.Approval(
                                request: request.requestID, kind: request.requestKind ?? "access", requester: row[2] ?? "-", target: row[3] ?? "-",
                                role: request.role ?? "-", reason: request.reason ?? "", statement: request.statement, state: "pending", votes: [],
                                created: row[1])
                        } else {
                            approvals[request.requestID]?.state = request.state
                        }
                    } else if let decision = try? LedgerCoding.decoder.decode(DecisionBody.self, from: data) {
                        approvals[decision.requestID]?.votes.append("\((row[2] as String?) ?? "-") \(decision.verdict)"
                                                                    + (decision.selfApproval == true ? " (self-approval)" : ""))
                    }
                }

                let columns = try Row.fetchAll(db, sql: """
                    SELECT item, json_group_array(DISTINCT identity), sum(statements), sum(statements * (masking IN ('view', 'view-detect', 'detector'))),
                           sum(statements * (masking = 'clear'))
                    FROM lineage WHERE masking != '' AND last >= ? AND first < ?
                    GROUP BY item HAVING sum(masking IN ('view', 'view-detect', 'detector')) > 0 ORDER BY item
                    """, arguments: [from, to]).map { row in
                    AuditReport.SensitiveColumn(column: row[0], identities: LedgerCoding.sortedStrings(jsonArray: row[1]), statements: row[2], masked: row[3], clear: row[4])
                }

                let refusedCondition = """
                    kind = 'statement' AND ts >= ? AND ts < ? AND json_extract(body, '$.decision') IN ('deny', 'review')
                    """
                let refusalCount = try Int.fetchOne(db, sql: "SELECT count(*) FROM records WHERE \(refusedCondition)", arguments: [from, to]) ?? 0
                let refusals = try Row.fetchAll(db, sql: """
                    SELECT ts, identity, target, session, json_extract(body, '$.decision'),
                           coalesce(json_extract(body, '$.preview'), json_extract(body, '$.sql')), json_extract(body, '$.request')
                    FROM records WHERE \(refusedCondition) ORDER BY id DESC LIMIT \(AuditReport.refusalLimit)
                    """, arguments: [from, to]).reversed().map { row in
                    AuditReport.Refusal(time: row[0], identity: row[1] ?? "-", target: row[2] ?? "-", session: row[3] ?? "-", decision: row[4],
                                        sql: row[5] ?? "", request: row[6])
                }
                let reveals = try Row.fetchAll(db, sql: """
                    SELECT ts, identity, session, json_extract(body, '$.details.key'), json_extract(body, '$.message') FROM records
                    WHERE kind = 'event' AND ts >= ? AND ts < ? AND json_extract(body, '$.name') = 'audit.reveal' ORDER BY id
                    """, arguments: [from, to]).map { row in
                    AuditReport.Reveal(time: row[0], identity: row[1] ?? "-", session: row[2] ?? "-", key: row[3] ?? "-", reason: row[4] ?? "")
                }
                var report = AuditReport(since: from, until: to, access: access, approvals: order.compactMap { approvals[$0] },
                                         sensitiveColumns: columns, refusals: refusals, refusalCount: refusalCount, verification: verification)
                report.reveals = reveals
                return report
            }
        } catch {
            throw .storage(path: path, message: Ledger.describe(error))
        }
    }
}
