import Foundation
import HoopCommon
import HoopLedger

/// `audit trace`, `audit report` and the checkpoints' reads, in PostgreSQL's SQL (the SQLite
/// ledger's own are in HoopLedger). Every value is a parameter; grouping columns come from enums.
extension PostgresLedger {
    static let maskedCase = "CASE WHEN masking IN ('view', 'view-detect', 'detector') THEN statements ELSE 0 END"

    public func trace(_ query: TraceQuery) throws(LedgerError) -> [TraceLine] {
        guard !query.items.isEmpty else { return [] }
        var conditions = ["item = ANY($1::text[])"]
        var parameters: [String?] = [PostgresArray.text(query.items)]
        if let since = query.since {
            parameters.append(String(StoreTime.micros(since) / LineageIndex.hourMicros * LineageIndex.hourMicros))
            conditions.append("hour >= $\(parameters.count)::bigint")
        }
        if let target = query.target {
            parameters.append(target)
            conditions.append("target = $\(parameters.count)")
        }
        let key = query.by.rawValue
        let sql = """
            SELECT \(key), json_agg(DISTINCT identity)::text, json_agg(DISTINCT job)::text, count(DISTINCT session),
                   sum(statements), json_agg(DISTINCT fingerprint)::text, min(first), max(last),
                   sum(\(Self.maskedCase)), sum(CASE WHEN masking = 'clear' THEN statements ELSE 0 END),
                   sum(CASE WHEN access = 'write' THEN statements ELSE 0 END)
            FROM hoopctl.lineage WHERE \(conditions.joined(separator: " AND "))
            GROUP BY \(key) ORDER BY min(first)
            """
        return try read { connection in
            try connection.execute(sql, parameters).rows.map { row in
                func number(_ index: Int) -> Int64 { row[index].flatMap { Int64($0) } ?? 0 }
                return TraceLine(key: row[0] ?? "", identities: LedgerCoding.sortedStrings(jsonArray: row[1]),
                                 jobs: LedgerCoding.sortedStrings(jsonArray: row[2]), sessions: Int(number(3)), statements: Int(number(4)),
                                 fingerprints: LedgerCoding.sortedStrings(jsonArray: row[5]), first: number(6), last: number(7),
                                 masked: Int(number(8)), clear: Int(number(9)), writes: Int(number(10)))
            }
        }
    }

    public func report(since: Date, until: Date) throws(LedgerError) -> AuditReport {
        let from = String(StoreTime.micros(since)), to = String(StoreTime.micros(until))
        let verification = try verify()
        return try read { connection in
            let access = try connection.execute("""
                SELECT identity, target, body::jsonb ->> 'role', count(*), min(ts), max(ts) FROM hoopctl.records
                WHERE kind = 'session' AND ts >= $1::bigint AND ts < $2::bigint AND body::jsonb ->> 'phase' = 'started'
                GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
                """, [from, to]).rows.map { row in
                AuditReport.Access(identity: row[0] ?? "-", target: row[1] ?? "-", role: row[2] ?? "-", sessions: Int(row[3] ?? "") ?? 0,
                                   first: Int64(row[4] ?? "") ?? 0, last: Int64(row[5] ?? "") ?? 0)
            }

            var approvals: [String: AuditReport.Approval] = [:], order: [String] = []
            for row in try connection.execute("""
                SELECT kind, ts, identity, target, body FROM hoopctl.records
                WHERE kind IN ('request', 'decision') AND ts >= $1::bigint AND ts < $2::bigint ORDER BY id
                """, [from, to]).rows {
                let data = Data((row[4] ?? "").utf8)
                if row[0] == "request", let request = try? LedgerCoding.decoder.decode(RequestBody.self, from: data) {
                    if request.state == "created" {
                        order.append(request.requestID)
                        approvals[request.requestID] = AuditReport.Approval(
                            request: request.requestID, kind: request.requestKind ?? "access", requester: row[2] ?? "-", target: row[3] ?? "-",
                            role: request.role ?? "-", reason: request.reason ?? "", statement: request.statement, state: "pending", votes: [],
                            created: Int64(row[1] ?? "") ?? 0)
                    } else {
                        approvals[request.requestID]?.state = request.state
                    }
                } else if let decision = try? LedgerCoding.decoder.decode(DecisionBody.self, from: data) {
                    approvals[decision.requestID]?.votes.append("\(row[2] ?? "-") \(decision.verdict)"
                                                                + (decision.selfApproval == true ? " (self-approval)" : ""))
                }
            }

            let columns = try connection.execute("""
                SELECT item, json_agg(DISTINCT identity)::text, sum(statements), sum(\(Self.maskedCase)),
                       sum(CASE WHEN masking = 'clear' THEN statements ELSE 0 END)
                FROM hoopctl.lineage WHERE masking <> '' AND last >= $1::bigint AND first < $2::bigint
                GROUP BY item HAVING sum(CASE WHEN masking IN ('view', 'view-detect', 'detector') THEN 1 ELSE 0 END) > 0 ORDER BY item
                """, [from, to]).rows.map { row in
                AuditReport.SensitiveColumn(column: row[0] ?? "", identities: LedgerCoding.sortedStrings(jsonArray: row[1]),
                                            statements: Int(row[2] ?? "") ?? 0, masked: Int(row[3] ?? "") ?? 0, clear: Int(row[4] ?? "") ?? 0)
            }

            let refused = "kind = 'statement' AND ts >= $1::bigint AND ts < $2::bigint AND body::jsonb ->> 'decision' IN ('deny', 'review')"
            let refusalCount = Int(try connection.execute("SELECT count(*) FROM hoopctl.records WHERE \(refused)", [from, to]).scalar ?? "") ?? 0
            let refusals = try connection.execute("""
                SELECT ts, identity, target, session, body::jsonb ->> 'decision',
                       coalesce(body::jsonb ->> 'preview', body::jsonb ->> 'sql'), body::jsonb ->> 'request'
                FROM hoopctl.records WHERE \(refused) ORDER BY id DESC LIMIT \(AuditReport.refusalLimit)
                """, [from, to]).rows.reversed().map { row in
                AuditReport.Refusal(time: Int64(row[0] ?? "") ?? 0, identity: row[1] ?? "-", target: row[2] ?? "-", session: row[3] ?? "-",
                                    decision: row[4] ?? "", sql: row[5] ?? "", request: row[6])
            }
            let reveals = try connection.execute("""
                SELECT ts, identity, session, body::jsonb #>> '{details,key}', body::jsonb ->> 'message' FROM hoopctl.records
                WHERE kind = 'event' AND ts >= $1::bigint AND ts < $2::bigint AND body::jsonb ->> 'name' = 'audit.reveal' ORDER BY id
                """, [from, to]).rows.map { row in
                AuditReport.Reveal(time: Int64(row[0] ?? "") ?? 0, identity: row[1] ?? "-", session: row[2] ?? "-", key: row[3] ?? "-",
                                   reason: row[4] ?? "")
            }
            var report = AuditReport(since: Int64(from) ?? 0, until: Int64(to) ?? 0, access: access, approvals: order.compactMap { approvals[$0] },
                                     sensitiveColumns: columns, refusals: refusals, refusalCount: refusalCount, verification: verification)
            report.reveals = reveals
            return report
        }
    }

    public func lineageVerification() throws(LedgerError) -> String {
        try read { connection in
            guard let row = try connection.execute("""
                SELECT ts, body::jsonb #>> '{details,head}', body::jsonb #>> '{details,lineage}' FROM hoopctl.records
                WHERE kind = 'event' AND body::jsonb ->> 'name' = 'ledger.verified' ORDER BY id DESC LIMIT 1
                """).rows.first else {
                return "UNVERIFIED: the lineage index was never checked against the statement records (hoopctl audit verify does)"
            }
            let when = UTCTime.seconds(Int64(row[0] ?? "") ?? 0)
            let head = row[1] ?? "0"
            guard row[2] == "verified" else {
                return "UNVERIFIED: the last check of the lineage index (\(when)) found problems; hoopctl audit verify names them"
            }
            let later = Int(try connection.execute("""
                SELECT count(*) FROM hoopctl.records WHERE kind = 'statement' AND id > $1::bigint AND strpos(body, '"lineage":[') > 0
                """, [head]).scalar ?? "") ?? 0
            if later > 0 {
                return "partly unverified: the lineage index was verified through record #\(head) (\(when)); what \(later) statement\(later == 1 ? "" : "s") after it added is not checked yet"
            }
            return "verified: the lineage index matched the statement records through record #\(head) (\(when))"
        }
    }

    public func checkpointProblems(_ checkpoints: [LedgerCheckpoint]) throws(LedgerError) -> [String] {
        try read { connection in
            let last = Int64(try connection.execute("SELECT coalesce(max(id), 0) FROM hoopctl.records").scalar ?? "") ?? 0
            return try LedgerCheckpoint.problems(checkpoints, ledgerEndsAt: last) {
                try connection.execute("SELECT hash FROM hoopctl.records WHERE id = $1::bigint", [String($0)]).scalar
            }
        }
    }

    public func recordedCheckpoints() throws(LedgerError) -> [LedgerCheckpoint] {
        try read { connection in
            try connection.execute("""
                SELECT b #>> '{details,broker}', b #>> '{details,record}', b #>> '{details,hash}', b #>> '{details,origin}',
                       b #>> '{details,ts}', b #>> '{details,signature}', b #>> '{details,kept}'
                FROM (SELECT body::jsonb AS b, id FROM hoopctl.records WHERE kind = 'event' AND body::jsonb ->> 'name' = 'ledger.checkpoint') events
                ORDER BY id
                """).rows.compactMap { row in
                guard let broker = row[0], let id = row[1].flatMap({ Int64($0) }), let hash = row[2], let origin = row[3],
                      let ts = row[4].flatMap({ Int64($0) }), let signature = row[5] else { return nil }
                var checkpoint = LedgerCheckpoint(broker: broker, origin: origin, recordID: id, hash: hash, timestamp: ts, signature: signature,
                                                  source: "the ledger")
                checkpoint.kept = row[6]?.split(separator: ",").map(String.init) ?? []
                return checkpoint
            }
        }
    }
}
