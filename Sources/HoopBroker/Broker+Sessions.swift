import Foundation
import HoopBrokerAPI
import HoopCommon
import HoopControlStore
import HoopDetectors
import HoopLedger
import HoopPolicy
import HoopPostgres
import HoopProvisioning
import HoopProxy
import HoopWire

extension Broker {
    // MARK: Opening

    /// Checks policy, provisions an ephemeral role and returns how to connect as it.
    /// The ledger holds the session and the credential before the role exists.
    /// A `remote` caller (from the network) is handed the proxy's TLS listener, verify-full.
    public func createSession(_ request: SessionRequest, identity: Identity, caller: CallingProcess?,
                              remote: Bool = false) async throws(BrokerFailure) -> SessionGrant {
        if remote, proxy.network == nil {
            throw BrokerFailure(.unavailable, "this broker's guard proxy does not listen on the network (hoopctl serve --proxy-listen): sessions are for callers on its host")
        }
        var request = request
        if let asked = request.request, request.role == nil {
            // An approved request names its role.
            request.role = try findRequest(asked, identity: identity).info.role
        }
        let (target, role) = try sessionRole(request, identity: identity)
        let id = Broker.newSessionID()
        var ttl = request.ttlSeconds.map { TimeSpan(seconds: Int64($0)) } ?? role.defaultTTL
        var reason = request.reason
        var approval: (request: RequestInfo, entries: [LedgerEntry])?
        if let rule = role.approval {
            guard let requestID = request.request else {
                throw BrokerFailure(.approvalRequired,
                                    "role '\(role.name)' on '\(target.name)' needs \(rule.count) approval\(rule.count == 1 ? "" : "s") from \(rule.from.map(\.description).joined(separator: ", "))",
                                    details: rule.from.map(\.description))
            }
            // Reserved now (so it cannot be used twice meanwhile), handed back if the session does not start.
            approval = try useApproval(requestID, session: request, identity: identity, sessionID: id)
            ttl = TimeSpan(seconds: Int64(approval!.request.ttlSeconds))
            reason = approval!.request.reason
        } else if request.request != nil {
            throw BrokerFailure(.invalid, "role '\(role.name)' on '\(target.name)' needs no approval: drop --request")
        }
        do {
            return try await startSession(id: id, target: target, role: role, ttl: ttl, reason: reason, identity: identity,
                                          caller: caller, remote: remote, client: request.kind, approval: approval,
                                          correlation: request.correlation, agent: request.agent.map { String($0.prefix(200)) })
        } catch {
            if let approval { releaseApproval(approval.request.id, session: id) }
            throw error
        }
    }

    /// The target and role a session request names, if the policy lets the caller have them.
    private func sessionRole(_ request: SessionRequest, identity: Identity) throws(BrokerFailure) -> (Target, Role) {
        if let correlation = request.correlation, !SessionRequest.isValidCorrelation(correlation) {
            throw BrokerFailure(.invalid, SessionRequest.correlationRule)
        }
        guard let target = policy.targets[request.target] else {
            let mine = policy.targets(of: identity)
            throw BrokerFailure(.notFound, "unknown target '\(request.target)'" + (mine.isEmpty ? "" : "; yours: \(mine.joined(separator: ", "))"))
        }
        let allowed = policy.roles(of: identity, on: target.name)
        guard !allowed.isEmpty else {
            throw BrokerFailure(.denied, "\(identity) has no access to target '\(target.name)'")
        }
        if let asked = request.role {
            guard allowed.contains(asked) else {
                let known = target.roles[asked] == nil ? "target '\(target.name)' has no role '\(asked)'" : "\(identity) may not use role '\(asked)' on '\(target.name)'"
                throw BrokerFailure(target.roles[asked] == nil ? .invalid : .denied, "\(known) (yours: \(allowed.joined(separator: ", ")))")
            }
            return (target, target.roles[asked]!)
        }
        guard let first = allowed.first(where: { target.roles[$0]?.approval == nil }) else {
            throw BrokerFailure(.invalid, "choose a role with --role (yours: \(allowed.joined(separator: ", ")))")
        }
        return (target, target.roles[first]!)
    }

    /// From the policy decision to the role: TTL limits, the doctor, the masking views, the
    /// ledger records (before the role exists), the role itself.
    private func startSession(id: String, target: Target, role: Role, ttl: TimeSpan, reason: String?, identity: Identity,
                              caller: CallingProcess?, remote: Bool = false, client: String?,
                              approval: (request: RequestInfo, entries: [LedgerEntry])?, correlation: String? = nil,
                              agent: String? = nil) async throws(BrokerFailure) -> SessionGrant {
        guard ttl.seconds > 0 else { throw BrokerFailure(.invalid, "--ttl must be longer than 0s") }
        // Its command line is recorded, listed and used as the job's name: secrets and what the
        // detectors find are masked first (the process is still watched by pid and start time).
        let original = caller
        let detectors = detectorEngine(for: target.name) ?? Self.commandLineDetectors
        let caller = caller?.masked(detectors: detectors)
        // A job's id is recorded, listed and looked up as it is: one the detectors flag is refused.
        if let correlation, let found = detectors?.matches(in: Array(correlation.utf8)).first {
            throw BrokerFailure(.invalid, "--correlation-id looks like personal data (\(found.detector)): job ids are recorded and listed in clear; choose another")
        }
        guard ttl <= role.maxTTL else {
            throw BrokerFailure(.invalid, "--ttl \(ttl) is longer than the max_ttl \(role.maxTTL) of role '\(role.name)'")
        }
        // Nothing outlives what allowed it: a session ends when the identity that opened it does.
        var ttl = ttl
        // (A provider's access token lives minutes and is refreshed: its sessions live by the role's TTL.)
        if identity.method == "token", let until = identity.expiresAt {
            let left = Int64(until.timeIntervalSinceNow.rounded(.down))
            guard left > 0 else { throw BrokerFailure(.unauthenticated, "token \(identity.tokenID ?? "-") expired") }
            ttl = min(ttl, TimeSpan(seconds: left))
        }
        let pool = try pool(target.name)
        try await refuseIfMaskingCanBeBypassed(target, pool: pool)
        var schema = try await maskingSchema(target: target, role: role, pool: pool, identity: identity)

        let now = Date()
        let expires = now.addingTimeInterval(TimeInterval(ttl.seconds))
        let dbRole = SessionRoles.roleName(session: id)
        let password = Broker.randomHex(bytes: 32)
        let principal = identity.principal.description
        let process = caller.map {
            HoopLedger.CallerProcess(pid: Int($0.pid), uid: Int($0.uid), executable: $0.executable, arguments: $0.arguments,
                                     startTime: $0.startTime, parentPID: $0.parentPID.map(Int.init), parentArguments: $0.parentArguments)
        }
        // The reason is free text: masked as a command line is (the sealed copy keeps it whole).
        let recordedReason = reason.map { CommandLineMask.mask([$0], detectors: detectors)[0] }
        var started = SessionBody(phase: .started, role: role.name, reason: recordedReason, ttlSeconds: Int(ttl.seconds),
                                  process: process, roleName: dbRole, expiresAt: UTCTime.seconds(Broker.micros(expires)),
                                  client: client, correlation: correlation)
        started.agent = agent
        started.token = identity.tokenID
        started.broker = brokerID
        started.sealedProcess = sealedCommandLines(original, reason: reason, target: target, role: role, session: id)
        try record(identityEntries(identity) + (approval?.entries ?? []) + [
            LedgerEntry(started,
                        identity: principal, target: target.name, session: id, time: now),
            LedgerEntry(CredentialBody(action: "created", roleName: dbRole, expiresAt: UTCTime.seconds(Broker.micros(expires))),
                        identity: principal, target: target.name, session: id, time: now),
        ])
        var spec = SessionRoles.Specification(
            roleName: dbRole, password: password, validUntil: expires, readerRole: schema.reader, schemas: schema.schemas,
            connectionLimit: role.connectionLimit, statementTimeout: role.statementTimeout.map { TimeInterval($0.seconds) },
            idleInTransactionTimeout: role.idleInTransactionTimeout.map { TimeInterval($0.seconds) },
            comment: "hoopctl session \(id) for \(principal) until \(UTCTime.seconds(Broker.micros(expires))) broker \(brokerID)",
            maxRowsPerWrite: role.privileges.contains(.update) || role.privileges.contains(.delete) ? target.guardrails.maxRowsPerWrite : nil)
        let info = SessionInfo(id: id, identity: principal, target: target.name, role: role.name, roleName: dbRole,
                               reason: recordedReason, startedAt: now, expiresAt: expires, state: .active,
                               pid: caller.map { Int($0.pid) }, command: caller?.arguments, request: approval?.request.id)
        do {
            // Every broker sharing the state knows the role is in use before it exists (their reconcilers leave it be).
            try sessions.store.opening(StoredSession(info: info, broker: brokerID, lease: remote ? now.addingTimeInterval(leaseSeconds) : nil))
            do {
                try await pool.run { [spec] in try SessionRoles.create($0, spec) }
            } catch let error as PostgresError where error.sqlState == "42704" || error.sqlState == "3F000" {
                // The cached views are gone (another init dropped that version): look again, once.
                targets.maskingSchemas[target.name] = nil
                schema = try await maskingSchema(target: target, role: role, pool: pool, identity: identity)
                spec.readerRole = schema.reader
                spec.schemas = schema.schemas
                try await pool.run { [spec] in try SessionRoles.create($0, spec) }
            }
        } catch {
            var entries = [
                LedgerEntry(CredentialBody(action: "create-failed", roleName: dbRole, detail: "\(error)"),
                            identity: principal, target: target.name, session: id),
                LedgerEntry(SessionBody(phase: .ended, endedBy: "provisioning-failed"), identity: principal, target: target.name, session: id),
            ]
            if let request = approval?.request {
                // The approval was recorded as used by this session, which never started: it is usable again.
                entries.append(LedgerEntry(RequestBody(requestID: request.id, state: "approved",
                                                       approvalExpiresAt: request.approvalExpiresAt.map(Broker.iso)),
                                           identity: principal, target: target.name))
            }
            recordBestEffort(entries)
            try? sessions.store.ended(ended(info, by: "provisioning-failed", exitCode: nil))
            throw BrokerFailure(.unavailable, "could not create the session role on '\(target.name)': \(error)")
        }
        let parameters = (try? AdminPool.conninfo(for: target).parameters) ?? [:]
        let host = parameters["host"].flatMap { $0.split(separator: ",").first.map(String.init) } ?? parameters["hostaddr"] ?? "localhost"
        let port = parameters["port"].flatMap { $0.split(separator: ",").first.flatMap { Int($0) } } ?? 5432
        // TLS as the admin connection holds to it (the stricter of policy and DSN), with the DSN's certificates.
        var upstream = UpstreamEndpoint(host: host, port: port, database: target.database, user: dbRole, password: password,
                                        sslMode: parameters["sslmode"] ?? SSLMode.verifyFull.rawValue, rootCertificate: parameters["sslrootcert"])
        upstream.clientCertificate = parameters["sslcert"]
        upstream.clientKey = parameters["sslkey"]
        var session = ActiveSession(info: info, caller: caller, tokenID: identity.tokenID, identity: identity)
        if remote { session.lease = Date().addingTimeInterval(leaseSeconds) }
        let connection: ConnectionSettings
        if let address = proxy.address, !role.direct {
            // The client gets the proxy and a secret of its own; the role's password stays here.
            let secret = Broker.randomHex(bytes: 32)
            do {
                session.ticket = ProxyTicket(sessionID: id, identity: principal, target: target.name, role: role.name, expiresAt: expires,
                                             verifier: try SCRAMVerifier(password: secret), upstream: upstream)
                session.ticket?.job = StatementLineage.job(correlation: correlation, arguments: caller?.arguments)
                session.ticket?.statementTimeout = role.statementTimeout.map { TimeInterval($0.seconds) }
                session.ticket?.idleInTransactionTimeout = role.idleInTransactionTimeout.map { TimeInterval($0.seconds) }
            } catch {
                throw BrokerFailure(.internal, "cannot derive the session's proxy verifier: \(error)")
            }
            // A client of the broker's own OS user can reach the proxy's unix socket (in the
            // broker's private state directory): faster than loopback TCP.
            if remote, let network = proxy.network {
                // From elsewhere: TLS, the name in the broker's certificate checked by the client.
                connection = ConnectionSettings(host: network.host, port: network.port, user: id, password: secret,
                                                database: target.database, sslMode: "verify-full")
            } else {
                let host = caller.map { $0.uid == getuid() } == true && proxy.socketDirectory != nil ? proxy.socketDirectory! : address.host
                connection = ConnectionSettings(host: host, port: address.port, user: id, password: secret, database: target.database,
                                                sslMode: "disable")
            }
        } else {
            if role.direct {
                recordBestEffort([LedgerEntry(EventBody(name: "session.direct", message: "role \(role.name) connects straight to the database"),
                                              identity: principal, target: target.name, session: id)])
            }
            connection = ConnectionSettings(host: host, port: port, user: dbRole, password: password, database: target.database,
                                            sslMode: parameters["sslmode"] ?? SSLMode.verifyFull.rawValue)
        }
        sessions.byID[id] = session
        // The token may have been revoked while the role was being made (the broker answers
        // other calls while it waits for the database): then the session ends before it is used.
        if let token = identity.tokenID, tokenIsRevoked(token) {
            await revoke(id, endedBy: "token-revoked", exitCode: nil, by: nil)
            throw BrokerFailure(.unauthenticated, "token \(token) was revoked")
        }
        logger.info("session started", metadata: ["session": "\(id)", "identity": "\(principal)", "target": "\(target.name)", "role": "\(role.name)"])
        var grant = SessionGrant(session: info, connection: connection)
        if remote { grant.renewSeconds = max(1, Int(leaseSeconds / 3)) }
        return grant
    }

    /// The proxy asks: may a client log in as this session, and where does it go?
    public func proxyTicket(forSession id: String) -> ProxyTicket? {
        guard let session = sessions.byID[id], session.info.state == .active, session.revocation == nil,
              Date() < session.info.expiresAt, var ticket = session.ticket,
              !(session.tokenID.map(tokenIsRevoked) ?? false) else { return nil }
        // The guardrails and detectors of the policy in force now: a reload applies to the next connection.
        ticket.guardrails = policy.targets[ticket.target]?.guardrails ?? .defaults
        ticket.detectors = detectorEngine(for: ticket.target)
        ticket.visibleTables = visibleTables(target: ticket.target, role: ticket.role)
        ticket.capture = valueCapture(target: ticket.target, role: ticket.role)
        return ticket
    }

    /// The caller's command lines as they were, sealed to the target's auditor key like
    /// statement values (what the session record shows is masked).
    func sealedCommandLines(_ caller: CallingProcess?, reason: String?, target: Target, role: Role, session: String) -> String? {
        let capture = target.capture(for: role.name)
        guard caller != nil || reason != nil, capture.values == .sealed, let key = capture.auditorKeys.last,
              let sealer = try? ValueSealer(to: AuditorPublicKey(parsing: key)),
              let json = try? JSONSerialization.data(withJSONObject: ["arguments": caller?.arguments ?? [], "parentArguments": caller?.parentArguments ?? [],
                                                                      "reason": reason.map { [$0] } ?? []],
                                                     options: [.sortedKeys]) else { return nil }
        return try? sealer.seal([UInt8](json), context: session)
    }

    /// What a connection's statements keep of their values, with its own HPKE encapsulation to
    /// the newest auditor key (the broker holds public keys only); with `values: none`, only the
    /// detectors every recorded text goes through.
    func valueCapture(target name: String, role: String) -> ValueCapture? {
        guard let target = policy.targets[name] else { return nil }
        let capture = target.capture(for: role)
        var sealer: ValueSealer?
        if capture.values == .sealed, let key = capture.auditorKeys.last {
            do {
                sealer = try ValueSealer(to: AuditorPublicKey(parsing: key))
            } catch {
                logger.error("values cannot be sealed to the auditor key; only previews are kept", metadata: ["target": "\(name)", "error": "\(error)"])
            }
        }
        let detectors = detectorEngine(for: name) ?? Self.commandLineDetectors ?? .withholdingEverything
        return ValueCapture(policy: capture, values: sealer == nil && capture.values == .sealed ? .preview : capture.values,
                            masking: target.masking, detectors: detectors, sealer: sealer)
    }

    /// Sessions are refused while the doctor finds a way around masking (unless the policy allows it).
    func refuseIfMaskingCanBeBypassed(_ target: Target, pool: AdminPool) async throws(BrokerFailure) {
        guard !target.allowMaskingBypass else { return }
        let report = try await doctor(target: target, pool: pool, maxAge: 30)
        guard report.hasBypass else { return }
        throw BrokerFailure(.unavailable, "target '\(target.name)' refuses sessions: 'hoopctl target doctor \(target.name)' finds a way around masking",
                            details: report.findings.filter { $0.severity == .bypass }.map(\.message))
    }

    /// The current masking schema of a role; built on first use after a policy or schema change.
    func maskingSchema(target: Target, role: Role, pool: AdminPool, identity: Identity) async throws(BrokerFailure) -> (schemas: [String], reader: String) {
        if let cached = targets.maskingSchemas[target.name]?[role.name] { return cached }
        let current: [String: (schemas: [String], reader: String)?]
        do {
            let found = try await pool.run { try MaskingInstaller.currentSchemas($0, target: target) }
            current = found.schemas
            targets.catalogs[target.name] = found.catalog
            targets.systemRelations[target.name] = found.systemRelations
        } catch {
            throw BrokerFailure(.unavailable, "cannot read the catalog of '\(target.name)': \(error)")
        }
        if let found = current[role.name] ?? nil {
            targets.maskingSchemas[target.name, default: [:]][role.name] = found
            return found
        }
        _ = try await initializeTarget(target, identity: identity)
        guard let built = targets.maskingSchemas[target.name]?[role.name] else {
            throw BrokerFailure(.internal, "masking views for role '\(role.name)' were not built")
        }
        return built
    }

    /// The tables a role's sessions see, for lineage: built from the catalog the views were
    /// made from, once per policy and catalog.
    func visibleTables(target name: String, role roleName: String) -> VisibleTables? {
        if let cached = targets.visibleTables[name]?[roleName] { return cached }
        guard let target = policy.targets[name], let role = target.roles[roleName], let catalog = targets.catalogs[name] else { return nil }
        let plan = MaskingPlan(target: target, role: role, catalog: catalog)
        let scanned = !(target.detectors.isEmpty)
        let tables = plan.tables.map { table in
            VisibleTables.Table(
                base: "\(table.schema).\(table.name)", view: "\(plan.viewSchema(for: table.schema)).\(table.name)",
                columns: plan.columns(of: table).map { column, mask in
                    let masking: VisibleTables.Masking = switch mask {
                    case .detect?: .viewDetect
                    case _?: .view
                    case nil: scanned && Self.isScannedType(column.type) ? .detector : .clear
                    }
                    return VisibleTables.Column(column.name, column.type, masking)
                })
        }
        // Every relation a name could reach: the target's own tables and the system schemas.
        var others = targets.systemRelations[name] ?? [:]
        for table in catalog { others[table.schema, default: []].insert(table.name) }
        let visible = VisibleTables(tables, searchPath: plan.viewSchemas, others: others)
        targets.visibleTables[name, default: [:]][roleName] = visible
        return visible
    }

    /// Column types whose values the in-flight detectors read (text-like, and types the
    /// database defines: domains, enums); numbers, times and the like they leave alone.
    static func isScannedType(_ type: String) -> Bool {
        let notText = ["smallint", "integer", "bigint", "numeric", "real", "double precision", "boolean", "date", "time", "timestamp",
                       "interval", "uuid", "bytea", "inet", "cidr", "macaddr", "money", "oid", "bit", "point", "tsvector", "int4range",
                       "int8range", "numrange", "tsrange", "tstzrange", "daterange"]
        return !notText.contains { type == $0 || type.hasPrefix($0 + "(") || type.hasPrefix($0 + " ") || type.hasPrefix($0 + "[") }
    }

    /// The target's detectors, built once per policy (custom patterns compiled, hash key read).
    /// nil when the target has none; a target whose detectors cannot be built refuses logins
    /// rather than pass values unscanned.
    /// For a target without detectors, command lines still go through every built-in one: a
    /// command line is never data the policy chose to let through.
    static let commandLineDetectors = try? DetectorEngine(detectors: BuiltinDetector.allCases.map { Detector(kind: .builtin($0), strategy: .redact) })

    func detectorEngine(for target: String) -> DetectorEngine? {
        if let cached = targets.detectorEngines[target] { return cached }
        guard let detectors = policy.targets[target]?.detectors, !detectors.isEmpty else { return nil }
        do {
            let engine = try DetectorEngine(detectors: detectors)
            targets.detectorEngines[target] = engine
            return engine
        } catch {
            logger.error("the detectors of target cannot be built", metadata: ["target": "\(target)", "error": "\(error)"])
            return DetectorEngine.withholdingEverything
        }
    }

    // MARK: Ending

    /// The client is done: revoke now and answer once the role is gone (or being retried).
    public func endSession(_ id: String, end: SessionEnd, identity: Identity) async throws(BrokerFailure) -> SessionInfo {
        if sessions.byID[id] == nil, let done = sessions.ended[id], done.identity == identity.principal.description || policy.isAdmin(identity) {
            return done  // already revoked (TTL, revoke, vanished client): nothing left to do
        }
        let session = try findSession(id, identity: identity, action: "end", adopting: true)
        await revoke(session.info.id, endedBy: end.endedBy, exitCode: end.exitCode, by: identity.principal.description)
        return sessions.byID[session.info.id]?.info ?? sessions.ended[session.info.id] ?? ended(session.info, by: end.endedBy, exitCode: end.exitCode)
    }

    /// After a reload, a session whose identity may no longer use its role on its target (the
    /// identity, the access rule, the role or the target is gone) ends now, as a revocation.
    /// Requests are judged again under the new policy (`judgeRequestsAgain`).
    func endSessionsThePolicyNoLongerAllows(by actor: String?) {
        for session in sessions.byID.values where session.revocation == nil {
            guard let principal = try? Principal(parsing: session.info.identity) else { continue }
            let identity = session.identity ?? Self.identity(of: principal, tokenID: session.tokenID)
            guard !policy.roles(of: identity, on: session.info.target).contains(session.info.role) else { continue }
            let id = session.info.id
            logger.info("session ends: the policy no longer allows it", metadata: ["session": "\(id)"])
            Task { await self.revoke(id, endedBy: "policy-reload", exitCode: nil, by: actor) }
        }
        judgeRequestsAgain(by: actor)
    }

    /// An identity as the policy sees it, for one known only by name (taken back from the
    /// ledger): the operating system's groups are read again.
    static func identity(of principal: Principal, tokenID: String?) -> Identity {
        Identity(principal: principal, osGroups: principal.kind == .user
                    ? OSUser.lookup(principal.name).map { PeerCredentials.groups(user: principal.name, gid: $0.gid) } ?? [] : [],
                 method: tokenID == nil ? "peer" : "token", tokenID: tokenID)
    }

    /// `hoopctl revoke`: the session's owner or an admin.
    public func revokeSession(_ id: String, identity: Identity) async throws(BrokerFailure) -> SessionInfo {
        let session = try findSession(id, identity: identity, action: "revoke", adopting: true)
        let by = session.info.identity == identity.principal.description ? "revoked" : "revoked-by-admin"
        await revoke(session.info.id, endedBy: by, exitCode: nil, by: identity.principal.description)
        return sessions.byID[session.info.id]?.info ?? sessions.ended[session.info.id] ?? ended(session.info, by: by, exitCode: nil)
    }

    func ended(_ info: SessionInfo, by: String, exitCode: Int?) -> SessionInfo {
        var info = info
        info.state = .ended
        info.endedAt = Date()
        info.endedBy = by
        info.exitCode = exitCode
        return info
    }

    /// A session by id or unambiguous prefix (at least 4 characters), if the caller may act on it.
    /// Others' sessions are invisible to a non-admin: not found, as a session that does not exist.
    var leaseSeconds: TimeInterval {
        let (seconds, attoseconds) = configuration.remoteLease.components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }

    /// `POST /v1/sessions/{id}/renew`: the client of a session opened from the network is still
    /// there, and its sign-in still valid (this call's authentication says so). Its owner only.
    /// The caller's access is decided again, as they are now (a provider's groups come fresh
    /// with each token): a user taken out of the group that gave the role loses the session.
    public func renewSession(_ id: String, identity: Identity) async throws(BrokerFailure) -> SessionInfo {
        if sessions.byID[id] == nil, let stored = try findStoredSession(id, identity: identity, action: "renew"), stored.info.id == id {
            // Another broker's: its lease moves in the store, where that broker reads it.
            guard stored.info.identity == identity.principal.description else { throw BrokerFailure(.denied, "only the session's owner renews it") }
            guard policy.roles(of: identity, on: stored.info.target).contains(stored.info.role) else {
                _ = adopt(stored)
                await revoke(id, endedBy: "access-removed", exitCode: nil, by: nil)
                throw BrokerFailure(.denied, "\(identity.principal) may no longer use role \(stored.info.role) on \(stored.info.target): the session ended")
            }
            do { try sessions.store.renew(id, until: Date().addingTimeInterval(leaseSeconds)) } catch {
                throw BrokerFailure(.unavailable, "the control store cannot be written: \(error)")
            }
            return stored.info
        }
        let session = try findSession(id, identity: identity, action: "renew")
        guard session.info.identity == identity.principal.description else {
            throw BrokerFailure(.denied, "only the session's owner renews it")
        }
        guard policy.roles(of: identity, on: session.info.target).contains(session.info.role) else {
            await revoke(session.info.id, endedBy: "access-removed", exitCode: nil, by: nil)
            throw BrokerFailure(.denied, "\(identity.principal) may no longer use role \(session.info.role) on \(session.info.target): the session ended")
        }
        // The identity as it is now is the one a policy reload judges.
        sessions.byID[session.info.id]?.identity = identity
        if session.lease != nil {
            let lease = Date().addingTimeInterval(leaseSeconds)
            sessions.byID[session.info.id]?.lease = lease
            try? sessions.store.renew(session.info.id, until: lease)
        }
        return session.info
    }

    /// With `adopting`, another broker's session (sharing a control store) is taken in to be ended here.
    func findSession(_ id: String, identity: Identity, action: String, adopting: Bool = false) throws(BrokerFailure) -> ActiveSession {
        let admin = policy.isAdmin(identity)
        let visible = sessions.byID.values.filter { admin || $0.info.identity == identity.principal.description }
        let matches = id.count >= 4 ? visible.filter { $0.info.id.hasPrefix(id) } : visible.filter { $0.info.id == id }
        if matches.isEmpty, adopting, let stored = try findStoredSession(id, identity: identity, action: action) { return adopt(stored) }
        guard !matches.isEmpty else { throw BrokerFailure(.notFound, "no active session '\(id.prefix(64))'") }
        guard matches.count == 1 else {
            throw BrokerFailure(.invalid, "'\(id)' matches \(matches.count) sessions: \(matches.map(\.info.id).sorted().joined(separator: ", "))")
        }
        let session = matches[0]
        guard session.info.identity == identity.principal.description || policy.isAdmin(identity) else {
            throw BrokerFailure(.denied, "\(identity) may not \(action) session \(session.info.id) of \(session.info.identity)")
        }
        return session
    }

    /// Revokes a session's role, retrying with backoff until it is gone; every step is recorded.
    /// Returns when the first attempt succeeded, or after 15 s while retries go on.
    func revoke(_ id: String, endedBy: String, exitCode: Int?, by actor: String?) async {
        guard var session = sessions.byID[id] else { return }
        if session.revocation == nil {
            // One broker ends a session: this one, unless another already took it on. (A store
            // that cannot be reached does not stop a revocation: a role dropped twice is no harm.)
            if (try? sessions.store.claim(id, for: brokerID)) == false {
                handOver(id, (try? sessions.store.session(id))?.info ?? ended(session.info, by: "ended-elsewhere", exitCode: nil))
                return
            }
            session.info.state = .ending
            let target = session.info.target, roleName = session.info.roleName, principal = session.info.identity
            session.revocation = Task { [weak self] in
                var delay: Duration = .seconds(1)
                while let self {
                    if await self.attemptRevocation(id: id, target: target, roleName: roleName, principal: principal,
                                                    endedBy: endedBy, exitCode: exitCode, by: actor) { return }
                    try? await Task.sleep(for: delay)
                    delay = min(delay * 2, .seconds(60))
                }
            }
            sessions.byID[id] = session
        }
        guard let task = sessions.byID[id]?.revocation else { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await task.value }
            group.addTask { try? await Task.sleep(for: .seconds(15)) }
            await group.next()
            group.cancelAll()
        }
    }

    /// One try; true when the role is gone and the session recorded as ended.
    func attemptRevocation(id: String, target: String, roleName: String, principal: String, endedBy: String,
                           exitCode: Int?, by actor: String?) async -> Bool {
        do {
            let pool = try pool(target)
            let steps = try await pool.run { db in
                // A reviewed statement of the session still running (waiting for a lock) ends with it.
                try ReviewedStatement.endRuns(db, session: id)
                return try SessionRoles.revoke(db, roleName: roleName)
            }
            var entries = steps.map {
                LedgerEntry(CredentialBody(action: $0.action, roleName: roleName, detail: $0.detail), identity: principal, target: target, session: id)
            }
            var end = SessionBody(phase: .ended, exitCode: exitCode, endedBy: endedBy, roleName: roleName)
            end.broker = brokerID
            entries.append(LedgerEntry(end, identity: principal, target: target, session: id))
            recordBestEffort(entries)
            if let info = sessions.byID[id]?.info { try? sessions.store.ended(ended(info, by: endedBy, exitCode: exitCode)) }
            if let session = sessions.byID.removeValue(forKey: id) {
                sessions.ended[id] = ended(session.info, by: endedBy, exitCode: exitCode)
                // Its statement reviews could only ever run in it.
                for (requestID, request) in requests.byID where request.info.kind == "statement" && request.info.session == id {
                    withdraw(requestID, reason: "session \(id) ended", by: actor)
                }
                if sessions.ended.count > 10_000 {
                    for old in sessions.ended.values.sorted(by: { ($0.endedAt ?? .distantPast) < ($1.endedAt ?? .distantPast) }).prefix(1_000) {
                        sessions.ended[old.id] = nil
                    }
                }
            }
            logger.info("session ended", metadata: ["session": "\(id)", "by": "\(endedBy)"])
            return true
        } catch {
            recordBestEffort([LedgerEntry(CredentialBody(action: "revoke-failed", roleName: roleName, detail: "\(error)"),
                                          identity: principal, target: target, session: id)])
            logger.warning("revocation failed; retrying", metadata: ["session": "\(id)", "error": "\(error)"])
            return false
        }
    }

    // MARK: Listing

    public func listSessions(identity: Identity, all: Bool) -> SessionList {
        let admin = policy.isAdmin(identity)
        let others = ((try? sessions.store.open()) ?? []).filter { sessions.byID[$0.info.id] == nil }.map(\.info)
        let visible = (sessions.byID.values.map(\.info) + others).filter { admin || $0.identity == identity.principal.description }
        var list = visible
        if all {
            // Recently ended sessions, from the ledger.
            let since = Date().addingTimeInterval(-86400)
            let ended = ((try? recoverSessions(since: since, includeEnded: true, everyBroker: true)) ?? []).map(\.info)
            list += ended.filter { $0.state == .ended && (admin || $0.identity == identity.principal.description) }
        }
        return SessionList(sessions: list.sorted { $0.startedAt < $1.startedAt })
    }

    // MARK: Enforcement

    /// Revokes sessions past their TTL and sessions whose client process is gone.
    public func reap(now: Date = Date()) async {
        expireRequests(now: now)
        await followOtherBrokers(now: now)
        for session in sessions.byID.values where session.revocation == nil {
            if now >= session.info.expiresAt {
                await revokeInBackground(session.info.id, endedBy: "ttl")
            } else if let caller = session.caller, !caller.isAlive {
                await revokeInBackground(session.info.id, endedBy: "client-gone")
            } else if let lease = session.lease, now >= lease {
                // A remote client that stopped renewing: gone, or its sign-in is (logged out, refused).
                await revokeInBackground(session.info.id, endedBy: "lease-expired")
            }
        }
    }

    private func revokeInBackground(_ id: String, endedBy: String) async {
        // Start the revocation, but do not hold the reaper up for it.
        Task { await self.revoke(id, endedBy: endedBy, exitCode: nil, by: nil) }
        await Task.yield()
    }

    /// At start-up: sessions the ledger holds as active come back under the broker's watch
    /// (revoked at once when expired); then the database is reconciled.
    public func recover() async {
        recoverTokens()
        recoverProviderAccounts()
        recoverRequests()
        let horizon = policy.targets.values.flatMap { $0.roles.values.map(\.maxTTL.seconds) }.max() ?? 86400
        let since = Date().addingTimeInterval(-TimeInterval(horizon + 3600))
        var active = (try? recoverSessions(since: since, includeEnded: false)) ?? []
        if sessions.store.isShared, let open = try? sessions.store.open() {
            // Ended (or being ended) by another broker while this one was down.
            let stillMine = Set(open.filter { $0.info.state == .active }.map(\.info.id))
            active = active.filter { stillMine.contains($0.info.id) }
        }
        for recovered in active {
            var caller: CallingProcess?
            if let pid = recovered.info.pid, let start = recovered.clientStartTime {
                caller = CallingProcess(pid: Int32(pid), uid: 0, startTime: start, executable: nil, arguments: recovered.info.command,
                                        parentPID: nil, parentArguments: nil)
            }
            var session = ActiveSession(info: recovered.info, caller: caller, tokenID: recovered.tokenID)
            // A session without a process to watch was opened from the network: its client has
            // one lease from now to renew it.
            if caller == nil, recovered.info.pid == nil { session.lease = Date().addingTimeInterval(leaseSeconds) }
            sessions.byID[recovered.info.id] = session
        }
        if !active.isEmpty { logger.info("sessions recovered from the ledger", metadata: ["count": "\(active.count)"]) }
        await reap()
        await reconcile()
    }

    /// Session roles in the database that the broker does not hold as active are dropped;
    /// active sessions whose role has vanished are closed.
    public func reconcile() async {
        for (target, pool) in targets.pools {
            // One broker at a time reconciles a target (brokers sharing a store): the lease holder.
            let interval = configuration.reconcileInterval.components
            guard (try? roster.lease("reconcile:\(target)", for: brokerID, seconds: 2 * (Double(interval.seconds) + 1))) ?? true else { continue }
            let found: [SessionRoles.Existing]
            do {
                found = try await pool.run { try SessionRoles.existing($0) }
            } catch {
                logger.warning("reconcile: cannot list session roles", metadata: ["target": "\(target)", "error": "\(error)"])
                continue
            }
            let existing = found.map(\.name)
            let known = Set(sessions.byID.values.map(\.info.roleName)).union(((try? sessions.store.open()) ?? []).map(\.info.roleName))
            // Another broker's live session (several brokers may serve one cluster) is its to end;
            // anything else in the namespace goes: ours, expired, or made by hand.
            let others = Set(found.filter { role in
                role.live && SessionRoles.broker(inComment: role.comment).map { $0 != brokerID } == true
            }.map(\.name))
            for roleName in existing where !known.contains(roleName) && !others.contains(roleName) {
                let id = String(roleName.dropFirst("hoop_s_".count))
                recordBestEffort([LedgerEntry(CredentialBody(action: "orphan-found", roleName: roleName,
                                                             detail: "a session role the ledger does not hold as active"),
                                              target: target, session: id)])
                _ = await attemptRevocation(id: id, target: target, roleName: roleName, principal: "-", endedBy: "reconcile",
                                            exitCode: nil, by: nil)
            }
            for session in sessions.byID.values where session.info.target == target && session.revocation == nil
                && !existing.contains(session.info.roleName) {
                recordBestEffort([LedgerEntry(SessionBody(phase: .ended, endedBy: "role-missing", roleName: session.info.roleName),
                                              identity: session.info.identity, target: target, session: session.info.id)])
                sessions.byID.removeValue(forKey: session.info.id)
            }
        }
    }

    /// A session rebuilt from the ledger, with the start time of its client (to watch it again).
    struct RecoveredSession {
        var info: SessionInfo
        var clientStartTime: UInt64?
        var tokenID: String?
    }

    /// Sessions from the ledger's session records since `since`.
    /// `everyBroker`: also the sessions of the other brokers sharing the ledger (else this one's own).
    func recoverSessions(since: Date, includeEnded: Bool, everyBroker: Bool = false) throws -> [RecoveredSession] {
        let records = try ledger.records(LedgerQuery(since: since, kinds: [.session]))
        var started: [String: RecoveredSession] = [:]
        var order: [String] = []
        for record in records {
            guard let id = record.session, let body = record.decode(SessionBody.self) else { continue }
            switch body.phase {
            case .started:
                // Another broker's, in a shared store: it is that broker's to watch and end.
                if !everyBroker, let broker = body.broker, broker != brokerID { continue }
                let expires = body.expiresAt.flatMap { ISO8601DateFormatter().date(from: $0) } ?? record.time
                let info = SessionInfo(id: id, identity: record.identity ?? "-", target: record.target ?? "-", role: body.role ?? "-",
                                       roleName: body.roleName ?? SessionRoles.roleName(session: id), reason: body.reason,
                                       startedAt: record.time, expiresAt: expires, state: .active,
                                       pid: body.process?.pid, command: body.process?.arguments)
                started[id] = RecoveredSession(info: info, clientStartTime: body.process?.startTime, tokenID: body.token)
                order.append(id)
            case .ended:
                guard var session = started[id] else { continue }
                session.info = ended(session.info, by: body.endedBy ?? "-", exitCode: body.exitCode)
                session.info.endedAt = record.time
                started[id] = session
            }
        }
        return order.compactMap { started[$0] }.filter { includeEnded || $0.info.state != .ended }
    }
}

extension Broker {
    static func newSessionID() -> String { randomHex(bytes: 6) }
    static func isSessionID(_ text: String) -> Bool { text.count == 12 && text.allSatisfy(\.isHexDigit) }

    static func randomHex(bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<bytes).map { _ in
            let byte = generator.next() as UInt8
            return (byte < 16 ? "0" : "") + String(byte, radix: 16)
        }.joined()
    }

    static func micros(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1_000_000).rounded()) }
}
