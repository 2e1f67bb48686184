import Crypto
import Foundation
import HoopDetectors
import HoopBrokerAPI
import HoopCommon
import HoopControlStore
import HoopLedger
import HoopOIDC
import HoopPolicy
import HoopProvisioning
import HoopProxy
import Logging

/// The broker's state and every decision it makes. It alone holds the policy, the ledger and
/// the admin connections; the HTTP layer only turns requests into calls on it.
public actor Broker {
    public static let version = "0.2.0"

    let configuration: BrokerConfiguration
    let logger: Logger
    let startedAt = Date()
    private(set) var policy: Policy
    /// Names this broker in the comments of the roles it creates: brokers sharing a cluster
    /// leave each other's live sessions alone. Random, made once and kept in the state
    /// directory (`broker.id`): two hosts with the same layout are still two brokers.
    let brokerID: String

    // The stores (SQLite and local for one broker, a PostgreSQL control store for several).
    let ledger: any LedgerStore
    /// The brokers sharing the state (this one alone on a SQLite ledger).
    let roster: any BrokerRoster
    /// Keys all brokers sharing a store hold alike (the targets' masking hash keys).
    let secrets: any SharedSecrets

    // The state, one component per concern (BrokerComponents.swift).
    var sessions: SessionBook
    var requests: RequestBook
    var tokens: TokenBook
    var targets = TargetBook()
    var proxy = ProxyEndpoints()
    var recording = RecordingState()

    let notifier: Notifier
    /// Signs the ledger's checkpoints (`checkpoint-signing.key`, apart from the tokens' key).
    let checkpointKey: Data
    let ranBefore: Bool

    static func brokerID(stateDirectory: String) throws -> String {
        let path = URL(fileURLWithPath: stateDirectory).appendingPathComponent("broker.id").path
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            let id = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard id.count == 16, id.allSatisfy(\.isHexDigit) else {
                throw BrokerFailure(.internal, "\(path) is damaged: expected 16 hex digits")
            }
            return id
        }
        let id = randomHex(bytes: 8)
        try PrivateFile.write(id + "\n", to: path)
        return id
    }

    public init(configuration: BrokerConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        policy = try PolicyLoader.load(path: configuration.policyPath).get()
        let (ledger, roster, sessionStore, requestStore, secrets) = try Broker.openState(configuration)
        (self.ledger, self.roster, self.secrets) = (ledger, roster, secrets)
        sessions = SessionBook(store: sessionStore)
        requests = RequestBook(store: requestStore)
        tokens = TokenBook(authority: try TokenAuthority(stateDirectory: configuration.stateDirectory),
                           oidc: Broker.verifier(for: policy, keeping: nil))
        brokerID = try Broker.brokerID(stateDirectory: configuration.stateDirectory)
        // A broker ran on this state directory before when its checkpoint key is there already.
        ranBefore = FileManager.default.fileExists(atPath: URL(fileURLWithPath: configuration.stateDirectory).appendingPathComponent("checkpoint-signing.key").path)
        checkpointKey = try SigningKeyFile.loadOrCreate("checkpoint-signing.key", stateDirectory: configuration.stateDirectory)
        notifier = Notifier(ledger: ledger, logger: logger)
        let (pools, errors) = Broker.makePools(policy)
        targets.policyChanged(pools: pools, errors: errors)
    }

    /// The SQLite file, or the control store in PostgreSQL when the configuration names one.
    static func openState(_ configuration: BrokerConfiguration) throws
        -> (any LedgerStore, any BrokerRoster, any SessionStore, any RequestStore, any SharedSecrets) {
        guard let dsnFile = configuration.storeDSNFile else {
            return (try Ledger(path: configuration.ledgerPath, durability: configuration.ledgerDurability), LocalBrokerRoster(), LocalSessionStore(),
                    LocalRequestStore(), LocalSecrets())
        }
        do {
            let store = try ControlStore(address: try StoreAddress(dsnFile: dsnFile))
            return (store.ledger, store.roster, store.sessions, store.requests, store.secrets)
        } catch let error as StoreError {
            throw BrokerFailure(.unavailable, "\(error)")
        }
    }

    /// This broker as the others sharing its state see it.
    func presence(now: Date = Date()) -> BrokerPresence? {
        guard let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: checkpointKey) else { return nil }
        var presence = BrokerPresence(id: brokerID, host: ProcessInfo.processInfo.hostName, pid: Int(getpid()),
                                      checkpointKey: key.publicKey.rawRepresentation, started: startedAt, heartbeat: now)
        presence.tokenKey = tokens.authority.publicKey
        return presence
    }

    /// Says this broker is alive to the others sharing its state (a failure is logged: the
    /// others will treat it as dead after `BrokerRosterTiming.deadAfter`, and take over its sessions).
    public func heartbeat() {
        guard let presence = presence() else { return }
        do { try roster.heartbeat(presence) } catch {
            logger.error("heartbeat to the control store failed", metadata: ["error": "\(error)"])
        }
        refreshPeerTokenKeys()
    }

    /// The token keys of the other brokers sharing the store, as the roster has them now.
    func refreshPeerTokenKeys() {
        guard let brokers = try? roster.brokers() else { return }
        tokens.peerKeys = brokers.filter { $0.id != brokerID && !$0.tokenKey.isEmpty }.map(\.tokenKey)
    }

    /// At a clean stop: the others need not wait for the heartbeat to go stale.
    public func leaveRoster() {
        try? roster.leave(brokerID)
    }

    /// The verifier for the policy's provider: the current one (its cached keys) when the
    /// provider's settings did not change.
    static func verifier(for policy: Policy, keeping current: OIDCTokenVerifier?) -> OIDCTokenVerifier? {
        guard let provider = policy.identity.oidc else { return nil }
        let settings = OIDCSettings(issuer: provider.issuer, audience: provider.audience, usernameClaim: provider.usernameClaim,
                                    groupsClaim: provider.groupsClaim, caFile: provider.caFile)
        if let current, current.settings == settings { return current }
        return OIDCTokenVerifier(settings: settings)
    }

    static func makePools(_ policy: Policy) -> ([String: AdminPool], [String: String]) {
        var pools: [String: AdminPool] = [:], errors: [String: String] = [:]
        for target in policy.targets.values {
            do {
                pools[target.name] = AdminPool(target: target.name, conninfo: try AdminPool.conninfo(for: target).conninfo)
            } catch {
                errors[target.name] = "\(error)"
            }
        }
        return (pools, errors)
    }

    func pool(_ target: String) throws(BrokerFailure) -> AdminPool {
        guard let pool = targets.pools[target] else {
            throw BrokerFailure(.unavailable, targets.poolErrors[target] ?? "target '\(target)' has no admin connection")
        }
        return pool
    }

    // MARK: Ledger

    /// Appends to the ledger; a ledger that cannot be written stops the operation (fail closed).
    @discardableResult
    func record(_ entries: [LedgerEntry]) throws(BrokerFailure) -> [LedgerRecord] {
        do {
            return noteOwn(try ledger.append(entries))
        } catch {
            logger.error("ledger append failed", metadata: ["error": "\(error)"])
            throw BrokerFailure(.internal, "the ledger cannot be written; nothing was done")
        }
    }

    /// Records of this broker of the kinds others follow, which `followLedger` must not apply twice.
    @discardableResult
    func noteOwn(_ records: [LedgerRecord]) -> [LedgerRecord] {
        if requests.store.isShared {
            for record in records where PostgresRequestStore.followed.contains(where: { $0.rawValue == record.kind }) {
                requests.ownRecords.insert(record.id)
            }
        }
        return records
    }

    /// Records that must not stop what they describe (a revocation step that already happened).
    func recordBestEffort(_ entries: [LedgerEntry]) {
        do { noteOwn(try ledger.append(entries)) } catch {
            logger.critical("ledger append failed", metadata: ["error": "\(error)"])
        }
    }

    /// A caller hit a limit of a listener: one event per limit and caller (the listener reports
    /// only the first refusal until the caller is under the limit again).
    public func limitReached(_ name: String, origin: CallOrigin, limit: String) {
        switch origin {
        case .local(let peer):
            let user = OSUser.name(of: peer.uid)
            recordBestEffort([LedgerEntry(EventBody(name: name, message: "uid \(peer.uid) (\(user)) reached \(limit)",
                                                    details: ["uid": String(peer.uid), "limit": limit]))])
        case .remote(let address):
            recordBestEffort([LedgerEntry(EventBody(name: name, message: "\(address) reached \(limit)",
                                                    details: ["address": address, "limit": limit]))])
        }
    }

    func identityEntries(_ identity: Identity) -> [LedgerEntry] {
        let key = "\(identity.principal) \(identity.method) \(identity.tokenID ?? "") \(identity.issuer ?? "") \(identity.subject ?? "") \(identity.providerGroups)"
        guard !recording.recordedIdentities.contains(key) else { return [] }
        recording.recordedIdentities.insert(key)
        var body = IdentityBody(principal: identity.principal.description, method: identity.method,
                                uid: identity.uid.map(Int.init), groups: identity.osGroups, tokenID: identity.tokenID,
                                issuers: identity.issuers.isEmpty ? nil : identity.issuers)
        body.provider = identity.issuer
        body.subject = identity.subject
        body.providerGroups = identity.providerGroups.isEmpty ? nil : identity.providerGroups
        return [LedgerEntry(body,
                            identity: identity.principal.description)]
    }

    // MARK: Who

    public func signInInfo() -> SignInInfo {
        SignInInfo(oidc: policy.identity.oidc.map { .init(issuer: $0.issuer, clientID: $0.clientID) })
    }

    public func whoami(_ identity: Identity) -> WhoAmI {
        let mine = policy.principals(of: identity)
        var access: [String: [String]] = [:]
        for target in policy.targets(of: identity) { access[target] = policy.roles(of: identity, on: target) }
        return WhoAmI(principal: identity.principal.description, method: identity.method, uid: identity.uid,
                      osGroups: identity.osGroups, groups: mine.filter { $0.kind == .group }.map(\.name).sorted(),
                      admin: policy.isAdmin(identity), auditor: policy.isAuditor(identity), access: access,
                      tokenID: identity.tokenID, providerGroups: identity.providerGroups, issuer: identity.issuer)
    }

    /// What the broker is and holds, for admins; the version alone for anyone else.
    public func status(_ identity: Identity) -> BrokerStatus {
        guard policy.isAdmin(identity) else { return BrokerStatus(version: Broker.version) }
        return BrokerStatus(version: Broker.version, pid: Int(getpid()), startedAt: startedAt, policyFile: configuration.policyPath,
                     ledger: ledger.location, activeSessions: sessions.byID.values.filter { $0.info.state != .ended }.count,
                     targets: policy.targets.keys.sorted(), proxy: proxy.address.map { "\($0.host):\($0.port)" })
    }

    /// Set once the proxy listens: sessions are then handed the proxy instead of the database.
    public func useProxy(host: String, port: Int, socketDirectory: String?, network: (host: String, port: Int)? = nil) {
        proxy.address = (host, port)
        proxy.socketDirectory = socketDirectory
        proxy.network = network
    }

    /// Whether the identity may call an endpoint at all (its handler checks ownership and policy after).
    func admit(_ identity: Identity, to access: Access, action: String) throws(BrokerFailure) {
        switch access {
        case .anyone, .everyone:
            return
        case .admins:
            try requireAdmin(identity, to: action)
        case .auditors:
            guard policy.isAuditor(identity) else { throw BrokerFailure(.denied, "\(identity) may not \(action): admins and auditors only") }
        }
    }

    func requireAdmin(_ identity: Identity, to action: String) throws(BrokerFailure) {
        guard policy.isAdmin(identity) else {
            throw BrokerFailure(.denied, "\(identity) may not \(action): admins only")
        }
    }

    // MARK: Policy

    /// Loads the policy file again; a broken file is rejected whole and the old policy stays.
    public func reloadPolicy(_ identity: Identity?) throws(BrokerFailure) -> PolicyReloadResult {
        if let identity { try requireAdmin(identity, to: "reload the policy") }
        let result = PolicyLoader.load(path: configuration.policyPath)
        let lines = result.diagnostics.map(\.description)
        guard let newPolicy = result.policy else {
            recordBestEffort([LedgerEntry(EventBody(name: "policy.rejected", message: "\(result.errors.count) errors; the previous policy stays"),
                                          identity: identity?.principal.description)])
            logger.warning("policy reload rejected", metadata: ["errors": "\(result.errors.count)"])
            return PolicyReloadResult(applied: false, file: configuration.policyPath, diagnostics: lines, summary: nil)
        }
        let (newPools, errors) = Broker.makePools(newPolicy)
        policy = newPolicy
        tokens.oidc = Broker.verifier(for: newPolicy, keeping: tokens.oidc)
        targets.policyChanged(pools: newPools, errors: errors)
        let summary = "\(newPolicy.targets.count) targets, \(newPolicy.access.count) access rules"
        recordBestEffort([LedgerEntry(EventBody(name: "policy.reloaded", message: summary), identity: identity?.principal.description)])
        endSessionsThePolicyNoLongerAllows(by: identity?.principal.description)
        logger.info("policy reloaded", metadata: ["summary": "\(summary)"])
        return PolicyReloadResult(applied: true, file: configuration.policyPath, diagnostics: lines, summary: summary)
    }

    /// SIGHUP: the network listeners' certificate and key are read again; a pair that cannot
    /// be used leaves the current one serving, and says why.
    func reloadCertificate(_ tls: ServerTLS) {
        do {
            try tls.reload()
            recordBestEffort([LedgerEntry(EventBody(name: "tls.reloaded", message: "certificate \(tls.certificateFile) reloaded"))])
            logger.info("certificate reloaded", metadata: ["file": "\(tls.certificateFile)"])
        } catch {
            recordBestEffort([LedgerEntry(EventBody(name: "tls.reload-failed", message: "\(error); the current certificate stays"))])
            logger.error("certificate reload failed; the current one stays", metadata: ["error": "\(error)"])
        }
    }

    // MARK: Audit

    public func auditRecords(_ query: LedgerQuery, identity: Identity) throws(BrokerFailure) -> AuditRecords {
        guard policy.isAuditor(identity) else { throw BrokerFailure(.denied, "\(identity) may not read the audit log: admins and auditors only") }
        do {
            return AuditRecords(records: try ledger.records(query))
        } catch {
            throw BrokerFailure(.internal, "\(error)")
        }
    }

    public func auditTrace(_ query: TraceQuery, identity: Identity) throws(BrokerFailure) -> AuditTrace {
        guard policy.isAuditor(identity) else { throw BrokerFailure(.denied, "\(identity) may not read the audit log: admins and auditors only") }
        guard !query.items.isEmpty, query.items.count <= 8 else { throw BrokerFailure(.invalid, "trace one table or column") }
        do {
            return AuditTrace(lines: try ledger.trace(query), verification: try ledger.lineageVerification())
        } catch {
            throw BrokerFailure(.internal, "\(error)")
        }
    }

    public func auditReport(_ period: ReportPeriod, identity: Identity) async throws(BrokerFailure) -> AuditReport {
        guard policy.isAuditor(identity) else { throw BrokerFailure(.denied, "\(identity) may not read the audit log: admins and auditors only") }
        do {
            var report = try ledger.report(since: period.since, until: period.until ?? Date())
            // Its integrity section holds the chain against the checkpoints too, as verify does.
            try await checkCheckpoints(into: &report.verification)
            return report
        } catch let failure as BrokerFailure {
            throw failure
        } catch {
            throw BrokerFailure(.internal, "\(error)")
        }
    }

    /// Recorded before anything is revealed: the CLI opens the values only once this is written.
    public func recordReveal(_ reveal: RevealRequest, identity: Identity) throws(BrokerFailure) -> RevealRecorded {
        guard policy.isAuditor(identity) else { throw BrokerFailure(.denied, "\(identity) may not reveal sealed values: admins and auditors only") }
        let reason = reveal.reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !reason.isEmpty, reason.count <= 500 else { throw BrokerFailure(.invalid, "a reveal needs a reason (--reason), at most 500 characters") }
        guard Self.isSessionID(reveal.session), reveal.key.count <= 64, reveal.key.allSatisfy(\.isHexDigit) else {
            throw BrokerFailure(.invalid, "not a session id or key id")
        }
        let records = try record([LedgerEntry(EventBody(name: "audit.reveal", message: reason, details: ["key": reveal.key]),
                                              identity: identity.principal.description, session: reveal.session)])
        logger.notice("sealed values revealed", metadata: ["session": "\(reveal.session)", "identity": "\(identity.principal)"])
        return RevealRecorded(record: records[0].id)
    }

    public func auditVerify(identity: Identity) async throws(BrokerFailure) -> VerificationReport {
        guard policy.isAuditor(identity) else { throw BrokerFailure(.denied, "\(identity) may not read the audit log: admins and auditors only") }
        do {
            var report = try ledger.verify()
            try await checkCheckpoints(into: &report)
            // What `audit trace` tells its reader about the lineage index it reads.
            let lineage = report.lineageProblems.map { $0.isEmpty ? "verified" : "failed" } ?? "not checked"
            recordBestEffort([LedgerEntry(EventBody(name: "ledger.verified", message: report.passed ? "passed" : "FAILED",
                                                    details: ["head": String(report.headID ?? 0), "lineage": lineage,
                                                              "checkpoints": String(report.checkpoints ?? 0)]),
                                          identity: identity.principal.description)])
            return report
        } catch let failure as BrokerFailure {
            throw failure
        } catch {
            throw BrokerFailure(.internal, "\(error)")
        }
    }
}

/// A session the broker is responsible for.
/// An account at an identity provider: its issuer and its subject there (OpenID Connect's
/// stable identifier of a user, unlike an email).
struct ProviderAccount: Sendable, Equatable {
    var issuer: String
    var subject: String
}

struct ActiveSession: Sendable {
    var info: SessionInfo
    var caller: CallingProcess?
    /// The bearer token it was opened with (nil: the kernel's word about the caller).
    var tokenID: String?
    /// Who opened it, as the broker knew them then (nil for sessions taken back from the ledger).
    var identity: Identity?
    /// Running revocation, awaited by whoever asks for the end.
    var revocation: Task<Void, Never>?
    /// What the proxy needs to let the session's clients in; nil for direct sessions, and for
    /// sessions recovered after a restart (their secrets died with the old process).
    var ticket: ProxyTicket?
    /// A session opened from the network has no process the broker can watch: its client
    /// renews it (with a valid sign-in) before this, or it ends.
    var lease: Date?
}
