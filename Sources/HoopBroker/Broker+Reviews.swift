import Crypto
import Foundation
import HoopBrokerAPI
import HoopGuardrails
import HoopLedger
import HoopPolicy
import HoopPostgres
import HoopProvisioning
import HoopProxy
import HoopSQL

/// Statement reviews: a statement the guardrails put under review becomes a request that the
/// target's reviewers decide with `hoopctl approve`; once approved, the same text sent again in
/// the same session runs once — in the session when its privileges are enough (a write without
/// a WHERE), or as the owner of what it touches through the admin connection (DDL, DCL).
extension Broker {
    func reviewStatement(_ statement: StatementUnderReview) async -> ReviewOutcome {
        guard let target = policy.targets[statement.target] else { return .refused("target '\(statement.target)' is not in the policy any more") }
        let why = "this statement needs a review on target '\(target.name)' (\(statement.rule)): \(statement.reason)"
        guard let rule = target.guardrails.approval else {
            return .refused("\(why); the policy names no reviewers for statements (guardrails.approval), so it cannot run")
        }
        guard sessions.byID[statement.sessionID] != nil else { return .refused("session \(statement.sessionID) has ended") }
        expireRequests()
        let binding = Broker.statementBinding(requester: statement.identity, target: target.name, session: statement.sessionID, sql: statement.sql)
        let mine = requests.byID.values.filter { $0.info.kind == "statement" && $0.info.binding == binding }
        // The session's connection judged it under the guardrails it was opened with; a reload
        // since may deny it. What the policy in force denies is never reviewed, nor run.
        if let denial = deniedByPolicyInForce(statement.facts, target: target) {
            for request in mine { withdraw(request.info.id, reason: denial, by: nil) }
            return .refused("\(denial); it cannot run")
        }
        if var approved = mine.first(where: { $0.info.state == .approved }) {
            let asOwner = statement.statementClass == .ddl || statement.statementClass == .dcl
            if asOwner, statement.inTransaction {
                // What runs as the owner is not part of the client's transaction: refuse rather than surprise.
                return .refused("request \(approved.info.id) is approved, but DDL and DCL run as the owner outside the session's transaction: "
                                + "send it again outside a transaction block")
            }
            approved.info.state = .used
            requests.byID[approved.info.id] = approved
            do {
                try record([LedgerEntry(RequestBody(requestID: approved.info.id, state: "used", session: statement.sessionID),
                                        identity: statement.identity, target: target.name, session: statement.sessionID)])
            } catch {
                approved.info.state = .approved
                requests.byID[approved.info.id] = approved
                return .refused("the ledger cannot record the use of request \(approved.info.id), so the statement did not run")
            }
            logger.info("statement review used", metadata: ["request": "\(approved.info.id)", "session": "\(statement.sessionID)"])
            return asOwner ? await runAsOwner(statement, request: approved.info.id, approvedFingerprint: approved.info.fingerprint, target: target)
                : .runInSession(request: approved.info.id)
        }
        if let pending = mine.first(where: { $0.info.state == .pending }) {
            return .pending(request: pending.info.id, approvers: pending.info.approvers)
        }
        if let denied = mine.first(where: { $0.info.state == .denied }) {
            let reason = denied.info.votes.last { $0.verdict == "deny" }?.comment.map { ": \($0)" } ?? ""
            return .refused("\(why); request \(denied.info.id) was denied\(reason)")
        }
        do {
            let info = try createStatementRequest(statement, rule: rule, binding: binding)
            return .pending(request: info.id, approvers: info.approvers)
        } catch {
            return .refused("\(why); the review could not be requested: \(error.message)")
        }
    }

    /// Why the guardrails in force deny what the proxy read in a text, or nil when they do not.
    func deniedByPolicyInForce(_ facts: [StatementFacts], target: Target) -> String? {
        let decisions = facts.map { GuardrailJudge.decide($0, guardrails: target.guardrails, detectorsOn: !target.detectors.isEmpty) }
        guard let why = decisions.first(where: { $0.decision == .deny }) else { return nil }
        return "the policy in force denies it on target '\(target.name)' (\(why.rule)): \(why.reason)"
    }

    private func createStatementRequest(_ statement: StatementUnderReview, rule: ApprovalRule, binding: String) throws(BrokerFailure) -> RequestInfo {
        let now = Date()
        let id = Broker.randomHex(bytes: 6)
        var info = RequestInfo(id: id, kind: "statement", requester: statement.identity, target: statement.target, role: statement.role,
                               reason: "\(statement.rule): \(statement.reason)", ttlSeconds: 0, createdAt: now,
                               expiresAt: now.addingTimeInterval(TimeInterval(rule.requestTTL.seconds)), state: .pending,
                               approvers: rule.from.map(\.description), needed: rule.count, everyGroup: rule.everyGroup, votes: [],
                               approvalExpiresAt: nil, session: statement.sessionID, binding: binding)
        info.statement = statement.sql
        info.fingerprint = statement.fingerprint
        // The ledger keeps the normalized text (literals are where personal data lives) and the binding.
        var created = RequestBody(requestID: id, state: "created", role: statement.role, reason: info.reason, ttlSeconds: 0,
                                  fingerprint: statement.fingerprint, requestKind: "statement", expiresAt: Broker.iso(info.expiresAt),
                                  binding: binding, approvers: info.approvers, needed: info.needed, everyGroup: info.everyGroup,
                                  session: statement.sessionID, statement: statement.normalized)
        // Asked in a session opened with a token: revoking the token withdraws it.
        created.token = sessions.byID[statement.sessionID]?.tokenID
        created.keep(rule)
        let asker = sessions.byID[statement.sessionID]?.identity
        created.issuers = asker.flatMap { $0.issuers.isEmpty ? nil : $0.issuers }
        created.identityExpiresAt = asker?.expiresAt.map(Broker.iso)
        try record([LedgerEntry(created, identity: statement.identity, target: statement.target, session: statement.sessionID, time: now)])
        var pending = PendingRequest(info: info, rule: rule)
        pending.normalizedStatement = statement.normalized
        pending.reviewFacts = statement.facts
        pending.tokenID = created.token
        pending.requesterIssuers = asker?.issuers ?? []
        pending.identityExpiresAt = asker?.expiresAt
        requests.byID[id] = pending
        logger.info("statement review requested", metadata: ["request": "\(id)", "requester": "\(statement.identity)", "session": "\(statement.sessionID)"])
        notify(.requestCreated, info)
        return info
    }

    /// Runs an approved DDL or DCL statement as the role the policy names (`run_as`) or else as
    /// the one owner of what it touches: exactly one statement, the one approved (its
    /// fingerprint checked again), through `ReviewedStatement` — never on the admin connection.
    /// Masking views in the way (a DROP or an ALTER of a column they read) are dropped, and the
    /// target's views are rebuilt for the new schema afterwards.
    private func runAsOwner(_ statement: StatementUnderReview, request: String, approvedFingerprint: String?, target: Target) async -> ReviewOutcome {
        let analyses = StatementAnalyzer().analyze(statement.sql)
        guard analyses.count == 1, let ran = analyses.first, ran.fingerprint == approvedFingerprint, ran.fingerprint == statement.fingerprint else {
            let outcome = ReviewOutcome.failedAsOwner(request: request, role: "-", sqlState: "42601",
                                                      message: "hoopctl: a reviewed statement runs alone and exactly as approved; this text holds \(analyses.count) statements or differs from the approval")
            recordBestEffort([LedgerEntry(EventBody(name: "review.refused", message: statement.normalized, details: ["request": request]),
                                          identity: statement.identity, target: target.name, session: statement.sessionID)])
            return outcome
        }
        let pool: AdminPool, parameters: [String: String]
        do {
            pool = try self.pool(target.name)
            parameters = try AdminPool.conninfo(for: target).parameters
        } catch {
            return .failedAsOwner(request: request, role: "-", sqlState: "58000", message: "hoopctl: \(error)")
        }
        // A session revoked since the approval was used runs nothing more.
        guard let session = sessions.byID[statement.sessionID], session.revocation == nil, session.info.state == .active else {
            return .failedAsOwner(request: request, role: "-", sqlState: "57P01", message: "hoopctl: session \(statement.sessionID) has ended")
        }
        let runAs = target.guardrails.runAs
        let timeout = TimeInterval(target.roles[statement.role]?.statementTimeout?.seconds ?? 300)
        let outcome: ReviewOutcome = await (try? pool.run { db in
            try Self.executeAsOwner(db, statement: statement, request: request, runAs: runAs, timeout: timeout) { user, password, options in
                var own = parameters
                for key in ["user", "password", "passfile", "options", "service"] { own[key] = nil }
                own["user"] = user
                own["password"] = password
                own["options"] = options
                own["application_name"] = ReviewedStatement.applicationName(session: statement.sessionID)
                return try PostgresConnection(conninfo: own.sorted { $0.key < $1.key }
                    .map { "\($0.key)=\(ConnectionString.quote($0.value))" }.joined(separator: " "))
            }
        }) ?? .failedAsOwner(request: request, role: "-", sqlState: "58000", message: "hoopctl: the admin connection of '\(target.name)' failed")
        var details = ["request": request, "fingerprint": ran.fingerprint]
        switch outcome {
        case .ranAsOwner(_, let role, let tag):
            details["role"] = role
            details["tag"] = tag
        case .failedAsOwner(_, let role, let sqlState, _):
            details["role"] = role
            details["sqlstate"] = sqlState
        default: break
        }
        recordBestEffort([LedgerEntry(EventBody(name: "review.ran-as-owner", message: ran.normalized, details: details),
                                      identity: statement.identity, target: target.name, session: statement.sessionID)])
        // The schema may have changed (or views were dropped for it): masking views follow (a
        // new version; sessions keep theirs until they end).
        _ = try? await initializeTarget(target, identity: nil)
        return outcome
    }

    private static func executeAsOwner(_ db: PostgresConnection, statement: StatementUnderReview, request: String, runAs: String?,
                                       timeout: TimeInterval, connect: ReviewedStatement.Connect) throws -> ReviewOutcome {
        // Resolved as the run's login will resolve them (its path is the database's default,
        // "$user", public, and it has no schema of its own); the admin connection itself sees
        // only pg_catalog by name.
        let relations = statement.relations.map { $0.contains(".") ? $0 : "public.\($0)" }
        let owners = try db.execute("""
            SELECT DISTINCT r.rolname, r.rolsuper FROM unnest($1::text[]) AS t(name)
            JOIN pg_class c ON c.oid = to_regclass(t.name) JOIN pg_roles r ON r.oid = c.relowner
            """, [textArray(relations)]).rows
        let role: String
        if let runAs {
            role = runAs
        } else if owners.count == 1, let name = owners[0][0] {
            guard owners[0][1] != "t" else {
                return .failedAsOwner(request: request, role: name, sqlState: "42501",
                                      message: "hoopctl: what it touches is owned by superuser \(name); name a role in guardrails.approval.run_as to run reviewed statements as")
            }
            role = name
        } else {
            let found = owners.compactMap { $0[0] }.sorted()
            return .failedAsOwner(request: request, role: "-", sqlState: "42501",
                                  message: "hoopctl: " + (found.isEmpty ? "it touches no existing relation" : "it touches relations of several owners (\(found.joined(separator: ", ")))")
                                      + ", so there is no owner to run it as; name one in guardrails.approval.run_as")
        }
        do {
            let tag = try ReviewedStatement.run(statement.sql, as: role, admin: db, timeout: timeout, connect: connect) { db in
                // Masking views depend on what it drops or alters: they go first, and are rebuilt after.
                try dropMaskingViews(db, dependingOn: relations)
            }
            return .ranAsOwner(request: request, role: role, tag: tag)
        } catch {
            return .failedAsOwner(request: request, role: role, sqlState: error.sqlState, message: error.message)
        }
    }

    /// Views in hoopctl's masking schemas that read any of `relations`.
    private static func dropMaskingViews(_ db: PostgresConnection, dependingOn relations: [String]) throws {
        let views = try db.execute("""
            SELECT DISTINCT v.oid::regclass::text FROM unnest($1::text[]) AS t(name)
            JOIN pg_depend d ON d.refobjid = to_regclass(t.name) AND d.classid = 'pg_rewrite'::regclass
            JOIN pg_rewrite w ON w.oid = d.objid JOIN pg_class v ON v.oid = w.ev_class
            JOIN pg_namespace n ON n.oid = v.relnamespace
            WHERE n.nspname LIKE 'hoop\\_%' AND v.oid <> d.refobjid
            """, [textArray(relations)]).rows.compactMap { $0[0] }
        // regclass text is already quoted as an identifier.
        for view in views { try db.execute("DROP VIEW IF EXISTS \(view)") }
    }

    /// A text[] literal, passed as a parameter (never spliced into SQL).
    private static func textArray(_ items: [String]) -> String {
        "{" + items.map { "\"" + $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }
            .joined(separator: ",") + "}"
    }

    /// What a statement approval is bound to: who asked, in which session, the exact text.
    static func statementBinding(requester: String, target: String, session: String, sql: String) -> String {
        let canonical = ["statement", requester, target, session, sql].map { "\($0.utf8.count):\($0)" }.joined(separator: "\n")
        return SHA256.hash(data: Array(canonical.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
