/// A typed record body. Bodies never hold secrets or literal values from SQL.
public protocol LedgerBody: Codable, Sendable {
    static var kind: RecordKind { get }
    /// The stored JSON: sorted keys, no nulls. Hot bodies write it by hand.
    func canonicalJSON() -> String
}

extension LedgerBody {
    public func canonicalJSON() -> String { LedgerCoding.encode(self) }
}

/// Who someone is, and how we know.
public struct IdentityBody: LedgerBody, Equatable {
    public static let kind = RecordKind.identity
    public var principal: String
    /// `peer` (kernel peer credentials), `token` (the broker's own) or `oidc`.
    public var method: String
    public var uid: Int?
    public var groups: [String]?
    public var tokenID: String?
    /// Who issued the token, nearest first.
    public var issuers: [String]?
    /// For `oidc`: the provider (the token's `iss`), its name for the user (`sub`), and the
    /// groups it said the user is in.
    public var provider: String?
    public var subject: String?
    public var providerGroups: [String]?

    public init(principal: String, method: String, uid: Int? = nil, groups: [String]? = nil, tokenID: String? = nil,
                issuers: [String]? = nil) {
        self.issuers = issuers
        self.principal = principal
        self.method = method
        self.uid = uid
        self.groups = groups
        self.tokenID = tokenID
    }
}

/// The calling process of a session: how an agent job is traced.
public struct CallerProcess: Codable, Sendable, Equatable {
    public var pid: Int
    public var uid: Int
    public var executable: String?
    public var arguments: [String]?
    /// Kernel start time (clock ticks since boot): with the pid, names exactly one process.
    public var startTime: UInt64?
    public var parentPID: Int?
    /// The parent's command line: the script or agent that ran hoopctl.
    public var parentArguments: [String]?

    public init(pid: Int, uid: Int, executable: String? = nil, arguments: [String]? = nil, startTime: UInt64? = nil,
                parentPID: Int? = nil, parentArguments: [String]? = nil) {
        self.pid = pid
        self.uid = uid
        self.executable = executable
        self.arguments = arguments
        self.startTime = startTime
        self.parentPID = parentPID
        self.parentArguments = parentArguments
    }
}

/// A session starting or ending.
public struct SessionBody: LedgerBody, Equatable {
    public static let kind = RecordKind.session
    public enum Phase: String, Codable, Sendable { case started, ended }

    public var phase: Phase
    public var role: String?
    public var reason: String?
    public var ttlSeconds: Int?
    public var process: CallerProcess?
    public var exitCode: Int?
    /// How it ended: `exit`, `signal`, `ttl`, `revoked`, `client-gone`, `reconcile`, ...
    public var endedBy: String?
    /// The ephemeral database role.
    public var roleName: String?
    /// ISO 8601 UTC.
    public var expiresAt: String?
    /// `exec`, `connect`, ...
    public var client: String?
    /// The job it belongs to (`exec --correlation-id`, `$HOOPCTL_CORRELATION_ID`).
    public var correlation: String?
    /// For `mcp` sessions: the MCP client as it declared itself (`name version`).
    public var agent: String?
    /// The id of the bearer token it was opened with: revoking the token ends it.
    public var token: String?
    /// The command lines as they were (`process` holds them masked), sealed to the auditor's key.
    public var sealedProcess: String?
    /// The broker that opened it (`started`: brokers sharing a control store each take back their
    /// own after a restart) or ended it (`ended`: one broker ends a session, maybe not its own).
    public var broker: String?

    public init(phase: Phase, role: String? = nil, reason: String? = nil, ttlSeconds: Int? = nil,
                process: CallerProcess? = nil, exitCode: Int? = nil, endedBy: String? = nil,
                roleName: String? = nil, expiresAt: String? = nil, client: String? = nil, correlation: String? = nil) {
        self.correlation = correlation
        self.phase = phase
        self.role = role
        self.reason = reason
        self.ttlSeconds = ttlSeconds
        self.process = process
        self.exitCode = exitCode
        self.endedBy = endedBy
        self.roleName = roleName
        self.expiresAt = expiresAt
        self.client = client
    }
}

/// An ephemeral database role: created, then each step of its revocation. Never its password.
public struct CredentialBody: LedgerBody, Equatable {
    public static let kind = RecordKind.credential
    public var action: String
    public var roleName: String
    public var expiresAt: String?
    public var detail: String?

    public init(action: String, roleName: String, expiresAt: String? = nil, detail: String? = nil) {
        self.action = action
        self.roleName = roleName
        self.expiresAt = expiresAt
        self.detail = detail
    }
}

/// An access or statement request changing state. The `created` record holds all of it, so
/// the broker can rebuild its requests from the ledger.
public struct RequestBody: LedgerBody, Equatable {
    public static let kind = RecordKind.request
    public var requestID: String
    /// `created`, `approved`, `denied`, `withdrawn`, `expired`, `used`
    public var state: String
    public var role: String?
    public var reason: String?
    public var ttlSeconds: Int?
    public var fingerprint: String?
    /// `access` or `statement`.
    public var requestKind: String?
    /// ISO 8601: a pending request expires then; an approval must be used before `approvalExpiresAt`.
    public var expiresAt: String?
    public var approvalExpiresAt: String?
    /// SHA-256 of exactly what was asked.
    public var binding: String?
    public var approvers: [String]?
    public var needed: Int?
    public var everyGroup: Bool?
    /// The session an approval produced (access), or the session a statement was sent in.
    public var session: String?
    /// A statement under review, normalized (its literals are not kept).
    public var statement: String?
    /// The id of the bearer token it was asked with: revoking the token withdraws it.
    public var token: String?
    /// Who issued the requester's token, nearest first: none of them may decide it.
    public var issuers: [String]?
    /// When the requester's identity (its token) expires: the request goes with it.
    public var identityExpiresAt: String?
    /// The rest of the rule it is decided under (created, and `rerouted` after a reload), so a
    /// restart brings back exactly the same rule.
    public var requestTTLSeconds: Int?
    public var approvalTTLSeconds: Int?
    public var maxSessionSeconds: Int?
    public var allowSelfApproval: [String]?
    /// `rerouted`: the approvers whose votes still count under the new rule, and what each
    /// counts as now (user, groups).
    public var kept: [String]?
    public var counted: [String: [String]]?

    public init(requestID: String, state: String, role: String? = nil, reason: String? = nil,
                ttlSeconds: Int? = nil, fingerprint: String? = nil, requestKind: String? = nil, expiresAt: String? = nil,
                approvalExpiresAt: String? = nil, binding: String? = nil, approvers: [String]? = nil, needed: Int? = nil,
                everyGroup: Bool? = nil, session: String? = nil, statement: String? = nil) {
        self.statement = statement
        self.requestID = requestID
        self.state = state
        self.role = role
        self.reason = reason
        self.ttlSeconds = ttlSeconds
        self.fingerprint = fingerprint
        self.requestKind = requestKind
        self.expiresAt = expiresAt
        self.approvalExpiresAt = approvalExpiresAt
        self.binding = binding
        self.approvers = approvers
        self.needed = needed
        self.everyGroup = everyGroup
        self.session = session
    }
}

/// One reviewer's vote on a request.
public struct DecisionBody: LedgerBody, Equatable {
    public static let kind = RecordKind.decision
    public var requestID: String
    /// `approve` or `deny`
    public var verdict: String
    public var comment: String?
    public var selfApproval: Bool?
    /// What the voter counted as when voting (user, groups), for `every_group` rules.
    public var principals: [String]?
    /// Who issued the voter's token, nearest first (none for peer credentials).
    public var issuers: [String]?
    /// The token the voter voted with: revoking it takes the vote back.
    public var token: String?

    public init(requestID: String, verdict: String, comment: String? = nil, selfApproval: Bool? = nil, principals: [String]? = nil,
                issuers: [String]? = nil, token: String? = nil) {
        self.issuers = issuers
        self.token = token
        self.requestID = requestID
        self.verdict = verdict
        self.comment = comment
        self.selfApproval = selfApproval
        self.principals = principals
    }
}

/// One statement through the guard proxy, recorded before it reaches the database: normalized
/// text (no literals); its values only as a masked preview and sealed to the auditor's key.
/// Its outcome follows in a `ResultBody`.
public struct StatementBody: LedgerBody, Equatable {
    public static let kind = RecordKind.statement
    public var sql: String
    public var fingerprint: String
    public var statementClass: String
    public var decision: String
    /// `query` (simple protocol), `execute` (a prepared statement), `function` (a function call).
    public var via: String?
    public var rows: Int?
    public var durationMicros: Int?
    public var sqlState: String?
    public var relations: [String]?
    /// The statement review that let it run (or that it waits for).
    public var request: String?
    /// Base tables and columns it read and wrote, and how each column read came back:
    /// `read public.customers.email view`, `read public.customers.id clear`, `write public.orders`.
    public var lineage: [String]?
    /// The statement with its values put back, masked (`capture: preview` or `sealed`).
    public var preview: String?
    /// Its exact values (`CapturedValues` JSON), sealed to an auditor's key (`capture: sealed`).
    public var sealed: String?

    public init(sql: String, fingerprint: String, statementClass: String, decision: String, via: String? = nil, rows: Int? = nil,
                durationMicros: Int? = nil, sqlState: String? = nil, relations: [String]? = nil, request: String? = nil,
                lineage: [String]? = nil) {
        self.request = request
        self.lineage = lineage
        self.sql = sql
        self.fingerprint = fingerprint
        self.statementClass = statementClass
        self.decision = decision
        self.via = via
        self.rows = rows
        self.durationMicros = durationMicros
        self.sqlState = sqlState
        self.relations = relations
    }

    enum CodingKeys: String, CodingKey {
        case sql, fingerprint, decision, via, rows, durationMicros, sqlState, relations, request, lineage, preview, sealed
        case statementClass = "class"
    }

    /// By hand, for the proxy's hot path; the same JSON JSONEncoder would write (sorted keys).
    public func canonicalJSON() -> String {
        var json = JSONObjectWriter(capacity: sql.utf8.count + (preview?.utf8.count ?? 0) + (sealed?.utf8.count ?? 0) + 160)
        json.field("class", statementClass)
        json.field("decision", decision)
        json.field("durationMicros", durationMicros)
        json.field("fingerprint", fingerprint)
        json.field("lineage", lineage)
        json.field("preview", preview)
        json.field("relations", relations)
        json.field("request", request)
        json.field("rows", rows)
        json.field("sealed", sealed)
        json.field("sql", sql)
        json.field("sqlState", sqlState)
        json.field("via", via)
        return json.finish()
    }
}

/// How statements of one session ended: rows, time, SQLSTATE. Written beside the statement
/// records (in the next group commit), one record for several statements.
public struct ResultBody: LedgerBody, Equatable {
    public static let kind = RecordKind.result

    public struct Outcome: Codable, Sendable, Equatable {
        /// The id of the statement record.
        public var statement: Int64
        /// `completed`, `failed`, `suspended` (a portal ran out of rows), `skipped` (an earlier
        /// error stopped it), `interrupted` (the connection ended first).
        public var outcome: String
        public var rows: Int?
        public var durationMicros: Int?
        public var sqlState: String?
        /// The names of the columns it returned (never their values).
        public var columns: [String]?

        public init(statement: Int64, outcome: String, rows: Int?, durationMicros: Int?, sqlState: String?, columns: [String]? = nil) {
            self.columns = columns
            self.statement = statement
            self.outcome = outcome
            self.rows = rows
            self.durationMicros = durationMicros
            self.sqlState = sqlState
        }
    }

    public var results: [Outcome]

    public init(results: [Outcome]) { self.results = results }

    public func canonicalJSON() -> String {
        var json = "{\"results\":["
        json.reserveCapacity(24 + results.count * 96)
        for (index, result) in results.enumerated() {
            var item = JSONObjectWriter(capacity: 96)
            item.field("columns", result.columns)
            item.field("durationMicros", result.durationMicros)
            item.field("outcome", result.outcome)
            item.field("rows", result.rows)
            item.field("sqlState", result.sqlState)
            item.field("statement", Int(result.statement))
            if index > 0 { json += "," }
            json += item.finish()
        }
        return json + "]}"
    }
}

/// Anything else worth keeping: the sandbox started, the policy reloaded, a client misbehaved.
public struct EventBody: LedgerBody, Equatable {
    public static let kind = RecordKind.event
    public var name: String
    public var message: String?
    public var details: [String: String]?

    public init(name: String, message: String? = nil, details: [String: String]? = nil) {
        self.name = name
        self.message = message
        self.details = details
    }
}
