import Foundation

/// `POST /v1/policy/reload`
public struct PolicyReloadResult: Codable, Sendable {
    public var applied: Bool
    public var file: String
    /// `FILE:LINE:COL: severity: message` lines.
    public var diagnostics: [String]
    public var summary: String?

    public init(applied: Bool, file: String, diagnostics: [String], summary: String?) {
        self.applied = applied
        self.file = file
        self.diagnostics = diagnostics
        self.summary = summary
    }
}

/// `POST /v1/targets/{name}/init`
public struct TargetInitReport: Codable, Sendable {
    public struct RoleSchema: Codable, Sendable {
        public var role: String
        public var schema: String
        public var readerRole: String
        public var views: Int
        public var maskedColumns: Int
        public var created: Bool

        public init(role: String, schema: String, readerRole: String, views: Int, maskedColumns: Int, created: Bool) {
            self.role = role
            self.schema = schema
            self.readerRole = readerRole
            self.views = views
            self.maskedColumns = maskedColumns
            self.created = created
        }
    }

    public var target: String
    public var roles: [RoleSchema]
    /// Schemas of older policy versions dropped because no session used them any more.
    public var dropped: [String]
    /// Old schemas kept because sessions still use them.
    public var kept: [String]

    public init(target: String, roles: [RoleSchema], dropped: [String], kept: [String]) {
        self.target = target
        self.roles = roles
        self.dropped = dropped
        self.kept = kept
    }
}

/// `GET /v1/targets/{name}/doctor`
public struct DoctorReport: Codable, Sendable {
    public struct Finding: Codable, Sendable, Equatable {
        public enum Severity: String, Codable, Sendable {
            /// A session role could read an unmasked value: sessions are refused.
            case bypass
            /// Weakens a guarantee (guardrails, cleanup) without exposing values.
            case risk
        }

        public var severity: Severity
        public var check: String
        public var object: String
        public var message: String

        public init(severity: Severity, check: String, object: String, message: String) {
            self.severity = severity
            self.check = check
            self.object = object
            self.message = message
        }
    }

    public var target: String
    public var findings: [Finding]

    public init(target: String, findings: [Finding]) {
        self.target = target
        self.findings = findings
    }

    public var hasBypass: Bool { findings.contains { $0.severity == .bypass } }
}

/// `GET /v1/status`: anyone learns the broker answers and its version; the rest is for admins.
public struct BrokerStatus: Codable, Sendable {
    public var version: String
    public var pid: Int?
    public var startedAt: Date?
    public var policyFile: String?
    public var ledger: String?
    public var activeSessions: Int?
    public var targets: [String]?
    /// `host:port` of the guard proxy.
    public var proxy: String?

    public init(version: String, pid: Int? = nil, startedAt: Date? = nil, policyFile: String? = nil, ledger: String? = nil,
                activeSessions: Int? = nil, targets: [String]? = nil, proxy: String? = nil) {
        self.version = version
        self.pid = pid
        self.startedAt = startedAt
        self.policyFile = policyFile
        self.ledger = ledger
        self.activeSessions = activeSessions
        self.targets = targets
        self.proxy = proxy
    }
}
