import Foundation
import HoopBrokerAPI
import HoopCommon
import HoopGuardrails
import HoopProxy
import HoopSQL

/// What an agent's MCP server (a client of the broker like any other) may ask about its own
/// session: the tables it sees, and what the proxy would decide for a statement.
extension Broker {
    private func ownSession(_ id: String, identity: Identity) throws(BrokerFailure) -> ActiveSession {
        // Someone else's session is as unknown as one that does not exist: nothing says whose it is.
        guard let session = sessions.byID[id], session.info.state == .active, session.info.identity == identity.principal.description else {
            throw BrokerFailure(.notFound, "no active session '\(id.prefix(64))'")
        }
        return session
    }

    public func sessionCatalog(_ id: String, identity: Identity) throws(BrokerFailure) -> SessionCatalog {
        let session = try ownSession(id, identity: identity)
        guard let target = policy.targets[session.info.target] else { throw BrokerFailure(.notFound, "target '\(session.info.target)' is not in the policy") }
        let tables = visibleTables(target: target.name, role: session.info.role)?.tables ?? []
        return SessionCatalog(
            target: target.name, role: session.info.role,
            tables: tables.map { table in
                // Public's views are on the search path first; another schema's are named through their view schema.
                SessionCatalog.Table(name: table.base.hasPrefix("public.") ? table.name : table.view, base: table.base,
                                     columns: table.columns.map { .init(name: $0.name, type: $0.type, masking: $0.masking.rawValue) })
            },
            maxRows: target.agentLimits.maxRows, maxBytes: target.agentLimits.maxBytes)
    }

    public func explainForSession(_ id: String, _ request: ExplainRequest, identity: Identity) throws(BrokerFailure) -> ExplainResult {
        let session = try ownSession(id, identity: identity)
        guard let target = policy.targets[session.info.target] else { throw BrokerFailure(.notFound, "target '\(session.info.target)' is not in the policy") }
        let analyses = StatementAnalyzer().analyze(request.sql)
        let decision = GuardrailJudge.decide(analyses, guardrails: target.guardrails, detectorsOn: !target.detectors.isEmpty)
        let tables = visibleTables(target: target.name, role: session.info.role)
        let lineage = analyses.flatMap { tables?.lineage(of: $0.facts, fingerprint: $0.fingerprint, path: tables?.searchPath).summary ?? [] }
        return ExplainResult(
            decision: decision.decision.rawValue,
            statements: zip(analyses, decision.statements).map { analysis, statement in
                .init(sql: analysis.normalized, statementClass: statement.statementClass.rawValue, bounded: statement.bounded,
                      relations: statement.relations, decision: statement.decision.rawValue, rule: statement.rule, reason: statement.reason)
            },
            lineage: Array(Set(lineage)).sorted())
    }
}
