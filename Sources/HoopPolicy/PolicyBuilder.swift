import Foundation
import HoopCommon
import Yams

/// Turns the YAML tree into a `Policy`, reporting every problem to the reader and carrying on
/// with what it could make sense of, so later sections are still checked.
struct PolicyBuilder {
    let reader: NodeReader
    let baseDirectory: String

    static let topLevelKeys = ["version", "identity", "admins", "auditors", "groups", "targets", "access", "notify"]
    static let oidcKeys = ["issuer", "client_id", "audience", "username_claim", "groups_claim", "ca_file"]
    static let targetKeys = ["admin_dsn_file", "admin_dsn_env", "admin_dsn", "database", "sslmode", "roles",
                             "masking", "detectors", "guardrails", "allow_masking_bypass", "agents", "capture"]
    static let roleKeys = ["tables", "privileges", "max_ttl", "default_ttl", "statement_timeout",
                           "idle_in_transaction_timeout", "connection_limit", "direct", "approval", "capture"]
    static let approvalKeys = ["from", "count", "every_group", "request_ttl", "approval_ttl", "max_session",
                               "allow_self_approval"]
    static let guardrailClassKeys = StatementClass.allCases.map(\.rawValue)
    static let guardrailKeys = guardrailClassKeys + ["unbounded_write", "privileged_functions", "max_rows_per_write", "rules", "approval"]
    /// Statement reviews: the approval keys, without max_session (no session comes of it), and run_as.
    static let reviewApprovalKeys = approvalKeys.filter { $0 != "max_session" } + ["run_as"]
    static let guardrailRuleKeys = ["tables", "functions", "classes", "action", "reason"]
    static let detectorKeys = ["name", "pattern", "strategy"]
    static let accessKeys = ["who", "target", "roles"]
    static let notifyKeys = ["webhook", "webhook_env", "events"]

    /// Group references are checked once all groups are known.
    private final class Pending {
        var groupReferences: [(Principal, SourceLocation)] = []
        var providerGroupReferences: [(Principal, SourceLocation)] = []
    }
    private let pending = Pending()

    init(reader: NodeReader, baseDirectory: String) {
        self.reader = reader
        self.baseDirectory = baseDirectory
    }

    func build(_ root: Node) -> Policy? {
        guard let top = reader.mapping(root, "the policy file", allowed: Self.topLevelKeys) else { return nil }

        var version = Policy.supportedVersion
        if let node = top["version"] {
            if let value = reader.int(node, "'version'", in: 0...Int.max) {
                if value != Policy.supportedVersion {
                    reader.error("unsupported policy version \(value); this hoopctl reads version \(Policy.supportedVersion)", at: node.location)
                }
                version = value
            }
        } else {
            reader.error("missing required key 'version' (write 'version: 1')", at: top.location)
        }

        let identity = top["identity"].map(buildIdentity) ?? IdentityProviders()
        let groups = top["groups"].map(buildGroups) ?? [:]
        let admins = top["admins"].map { principals($0, "'admins'") } ?? []
        let auditors = top["auditors"].map { principals($0, "'auditors'") } ?? []
        if admins.isEmpty, top["admins"] == nil {
            reader.warning("no 'admins': nobody can revoke other people's sessions or read the audit log", at: top.location)
        }
        let targets = top["targets"].map(buildTargets) ?? [:]
        if top["targets"] == nil {
            reader.error("missing required key 'targets' (the databases hoopctl brokers)", at: top.location)
        }
        let access = top["access"].map { buildAccess($0, targets: targets) } ?? []
        let notifications = top["notify"].map(buildNotifications) ?? []

        for (principal, location) in pending.groupReferences where groups[principal.name] == nil {
            let known = groups.keys.sorted()
            let hint = known.isEmpty ? "no groups are defined" : "groups are: \(known.joined(separator: ", "))"
            reader.error("unknown group '\(principal.name)'; \(hint)", at: location)
        }

        for (principal, location) in pending.providerGroupReferences where identity.oidc == nil {
            reader.error("\(principal) names a group of an identity provider, and 'identity' names none", at: location)
        }

        return Policy(version: version, identity: identity, admins: admins, auditors: auditors, groups: groups, targets: targets,
                      access: access, notifications: notifications)
    }

    // MARK: Principals and groups

    /// A principal or a list of them; `group:` references are checked at the end.
    private func principals(_ node: Node, _ what: String) -> [Principal] {
        guard let items = reader.list(node, what, scalarIsList: true) else { return [] }
        return items.compactMap { item in
            guard let principal = reader.principal(item, "an entry of \(what)") else { return nil }
            if principal.kind == .group { pending.groupReferences.append((principal, item.location ?? .start)) }
            if principal.kind == .idpgroup { pending.providerGroupReferences.append((principal, item.location ?? .start)) }
            return principal
        }
    }

    private func buildGroups(_ node: Node) -> [String: [Principal]] {
        guard let fields = reader.mapping(node, "'groups'", allowed: []) else { return [:] }
        var groups: [String: [Principal]] = [:]
        for entry in fields.entries {
            guard Principal.isValidName(entry.key) else {
                reader.error("'\(entry.key)' is not a valid group name (letters, digits, '.', '_', '-')", at: entry.keyLocation)
                continue
            }
            guard let items = reader.list(entry.value, "group '\(entry.key)'") else { continue }
            var members: [Principal] = []
            for item in items {
                guard let member = reader.principal(item, "a member of group '\(entry.key)'") else { continue }
                if member.kind == .group {
                    reader.error("group '\(entry.key)' cannot contain another group (\(member)); list its members instead", at: item.location)
                    continue
                }
                if member.kind == .idpgroup { pending.providerGroupReferences.append((member, item.location ?? .start)) }
                members.append(member)
            }
            groups[entry.key] = members
        }
        return groups
    }

    // MARK: Identity providers

    /// `identity: { oidc: { issuer, client_id, audience, username_claim, groups_claim, ca_file } }`.
    private func buildIdentity(_ node: Node) -> IdentityProviders {
        guard let fields = reader.mapping(node, "'identity'", allowed: ["oidc"]), let oidcNode = fields["oidc"],
              let oidc = reader.mapping(oidcNode, "'identity.oidc'", allowed: Self.oidcKeys) else { return IdentityProviders() }
        let what = "'identity.oidc'"
        guard let issuerNode = oidc["issuer"], let issuer = reader.string(issuerNode, "'issuer' of \(what)") else {
            if oidc["issuer"] == nil { reader.error("\(what) is missing 'issuer' (the provider's URL, as its tokens' iss says)", at: oidc.location) }
            return IdentityProviders()
        }
        if let problem = OIDCProvider.problem(issuer: issuer) { reader.error(problem, at: issuerNode.location) }
        guard let clientNode = oidc["client_id"], let clientID = reader.string(clientNode, "'client_id' of \(what)") else {
            if oidc["client_id"] == nil { reader.error("\(what) is missing 'client_id' (the id 'hoopctl login' signs in with)", at: oidc.location) }
            return IdentityProviders()
        }
        let audience = oidc["audience"].flatMap { reader.string($0, "'audience' of \(what)") } ?? clientID
        if audience == clientID {
            reader.warning("the broker takes tokens meant for the client '\(clientID)': any other service that client signs in to can replay them here; give this broker an 'audience' of its own", at: oidc["audience"]?.location ?? oidc.location)
        }
        let username = oidc["username_claim"].flatMap { reader.string($0, "'username_claim' of \(what)") } ?? "email"
        let groups = oidc["groups_claim"].flatMap { reader.string($0, "'groups_claim' of \(what)") }
        var caFile: String?
        if let node = oidc["ca_file"], let path = reader.string(node, "'ca_file' of \(what)") {
            caFile = path.hasPrefix("/") ? path : URL(fileURLWithPath: baseDirectory).appendingPathComponent(path).standardizedFileURL.path
            if let caFile, !FileManager.default.isReadableFile(atPath: caFile) {
                reader.error("'ca_file' of \(what): cannot read \(caFile)", at: node.location)
            }
        }
        return IdentityProviders(oidc: OIDCProvider(issuer: issuer, clientID: clientID, audience: audience, usernameClaim: username,
                                                    groupsClaim: groups, caFile: caFile))
    }

    // MARK: Targets

    private func buildTargets(_ node: Node) -> [String: Target] {
        guard let fields = reader.mapping(node, "'targets'", allowed: []) else { return [:] }
        if fields.entries.isEmpty { reader.error("'targets' is empty; define at least one database", at: node.location) }
        var targets: [String: Target] = [:]
        for entry in fields.entries {
            guard Principal.isValidName(entry.key) else {
                reader.error("'\(entry.key)' is not a valid target name (letters, digits, '.', '_', '-')", at: entry.keyLocation)
                continue
            }
            if let target = buildTarget(entry.key, entry.value, at: entry.keyLocation) { targets[entry.key] = target }
        }
        return targets
    }

    private func buildTarget(_ name: String, _ node: Node, at location: SourceLocation) -> Target? {
        let what = "target '\(name)'"
        guard let fields = reader.mapping(node, what, allowed: Self.targetKeys) else { return nil }

        let dsn = buildDSNSource(fields, what, targetLocation: location)
        var database: String?
        if let node = fields["database"] {
            database = reader.string(node, "'database' of \(what)")
        } else {
            reader.error("\(what) is missing 'database' (the database name sessions connect to)", at: location)
        }
        let sslMode = fields["sslmode"].flatMap { reader.choice($0, "'sslmode' of \(what)", SSLMode.self) } ?? .prefer
        var roles: [String: Role] = [:]
        if let node = fields["roles"] {
            roles = buildRoles(node, target: name)
        } else {
            reader.error("\(what) is missing 'roles' (what sessions may do)", at: location)
        }
        let masking = fields["masking"].map { buildMasking($0, target: name) } ?? [:]
        let declaresFreeText = masking.values.contains(.detect)
        let detectors = fields["detectors"].map { buildDetectors($0, target: name, inDatabase: declaresFreeText) } ?? []
        if declaresFreeText, detectors.isEmpty {
            reader.error("\(what) declares free-text columns ('detect') but has no 'detectors' to mask them with", at: fields["masking"]?.location ?? location)
        }
        let guardrails = fields["guardrails"].map { buildGuardrails($0, target: name) } ?? .defaults
        let allowBypass = fields["allow_masking_bypass"].flatMap { reader.bool($0, "'allow_masking_bypass' of \(what)") } ?? false
        if allowBypass {
            reader.warning("\(what) allows sessions although masking can be bypassed", at: fields.keyLocation("allow_masking_bypass"))
        }

        for column in masking.keys.sorted() where !roles.values.contains(where: { role in
            role.tables.contains { $0.matches(schema: column.schema, table: column.table) }
        }) {
            reader.warning("masked column \(column) is in no role's tables of \(what)", at: fields["masking"]?.location)
        }

        var agentLimits = AgentLimits()
        if let node = fields["agents"], let agents = reader.mapping(node, "'agents' of \(what)", allowed: ["max_rows", "max_bytes"]) {
            if let rows = agents["max_rows"].flatMap({ reader.int($0, "'max_rows' of the agents of \(what)", in: 1...1_000_000) }) {
                agentLimits.maxRows = rows
            }
            if let bytes = agents["max_bytes"].flatMap({ reader.int($0, "'max_bytes' of the agents of \(what)", in: 1024...1_073_741_824) }) {
                agentLimits.maxBytes = bytes
            }
        }
        let capture = fields["capture"].map { buildCapture($0, what: what) } ?? CapturePolicy()
        guard let dsn, let database else { return nil }
        var target = Target(name: name, adminDSN: dsn, database: database, sslMode: sslMode, roles: roles, masking: masking,
                            detectors: detectors, guardrails: guardrails, allowMaskingBypass: allowBypass, location: location)
        target.agentLimits = agentLimits
        target.capture = capture
        for role in roles.values.sorted(by: { $0.name < $1.name }) where role.captureValues == .sealed && capture.auditorKeys.isEmpty {
            reader.error("role '\(role.name)' of \(what) captures values sealed, but the target lists no 'auditor_keys' under 'capture'", at: role.location)
        }
        return target
    }

    /// `capture: { values: sealed | preview | none, max_value_bytes: N, auditor_keys: [...] }`.
    /// Without `values`, it is `sealed` when auditor keys are listed, else `preview`.
    private func buildCapture(_ node: Node, what: String) -> CapturePolicy {
        var capture = CapturePolicy()
        guard let fields = reader.mapping(node, "'capture' of \(what)", allowed: ["values", "max_value_bytes", "auditor_keys"]) else { return capture }
        if let node = fields["auditor_keys"], let items = reader.list(node, "'auditor_keys' of \(what)", scalarIsList: true) {
            for item in items {
                guard let text = reader.string(item, "an auditor key") else { continue }
                if let problem = AuditorKeyText.problem(text) {
                    reader.error("auditor key of \(what): \(problem)", at: item.location)
                } else {
                    capture.auditorKeys.append(text)
                }
            }
        }
        capture.values = capture.auditorKeys.isEmpty ? .preview : .sealed
        if let node = fields["values"], let values = reader.choice(node, "'values' of the capture of \(what)", CapturePolicy.Values.self) {
            if values == .sealed, capture.auditorKeys.isEmpty {
                reader.error("\(what) captures values sealed but lists no 'auditor_keys' (make one with `hoopctl audit keygen`)", at: node.location)
            }
            capture.values = values
        }
        if let node = fields["max_value_bytes"], let bytes = reader.int(node, "'max_value_bytes' of the capture of \(what)", in: 16...1_048_576) {
            capture.maxValueBytes = bytes
        }
        return capture
    }

    /// The admin DSN comes from a file or an environment variable, never from the policy itself.
    private func buildDSNSource(_ fields: Fields, _ what: String, targetLocation: SourceLocation) -> DSNSource? {
        if let node = fields["admin_dsn"] {
            // Never echo the value: it may be a password.
            let text = node.scalar?.string ?? ""
            if Self.looksLikeInlinePassword(text) {
                reader.error("'admin_dsn' of \(what) holds an inline password; put the connection string in a file (admin_dsn_file) or an environment variable (admin_dsn_env)", at: node.location)
            } else {
                reader.error("inline 'admin_dsn' is not allowed in \(what); put the connection string in a file (admin_dsn_file) or an environment variable (admin_dsn_env)", at: node.location)
            }
            return nil
        }
        let fileNode = fields["admin_dsn_file"], envNode = fields["admin_dsn_env"]
        switch (fileNode, envNode) {
        case (nil, nil):
            reader.error("\(what) needs 'admin_dsn_file' or 'admin_dsn_env' (where the broker reads its admin connection string)", at: targetLocation)
            return nil
        case (.some, .some):
            reader.error("\(what) has both 'admin_dsn_file' and 'admin_dsn_env'; keep one", at: fields.keyLocation("admin_dsn_env"))
            return nil
        case (let node?, nil):
            guard case .scalar(let scalar) = node, !node.isNull, !scalar.string.isEmpty else {
                reader.error("'admin_dsn_file' of \(what) must be a path, found \(node.kindName)", at: node.location)
                return nil
            }
            if Self.looksLikeInlinePassword(scalar.string) || scalar.string.contains("://") || scalar.string.contains("=") {
                reader.error("'admin_dsn_file' of \(what) must be the path of a file holding the connection string, not the connection string itself", at: node.location)
                return nil
            }
            let path = scalar.string.hasPrefix("/") ? scalar.string
                : URL(fileURLWithPath: baseDirectory).appendingPathComponent(scalar.string).standardizedFileURL.path
            return .file(path)
        case (nil, let node?):
            guard let name = reader.string(node, "'admin_dsn_env' of \(what)") else { return nil }
            guard Self.isEnvironmentName(name) else {
                reader.error("'admin_dsn_env' of \(what) must name an environment variable (like PROD_DB_DSN), found '\(name)'", at: node.location)
                return nil
            }
            return .environment(name)
        }
    }

    static func looksLikeInlinePassword(_ text: String) -> Bool {
        let lower = text.lowercased()
        if lower.range(of: #"(^|\s)password\s*="#, options: .regularExpression) != nil { return true }
        // postgresql://user:secret@host
        return lower.range(of: #"^[a-z][a-z0-9+.-]*://[^/@\s]*:[^/@\s]*@"#, options: .regularExpression) != nil
    }

    static func isEnvironmentName(_ name: String) -> Bool {
        name.range(of: #"^[A-Za-z_][A-Za-z0-9_]*$"#, options: .regularExpression) != nil
    }

    // MARK: Roles

    private func buildRoles(_ node: Node, target: String) -> [String: Role] {
        guard let fields = reader.mapping(node, "'roles' of target '\(target)'", allowed: []) else { return [:] }
        if fields.entries.isEmpty { reader.error("target '\(target)' has no roles", at: node.location) }
        var roles: [String: Role] = [:]
        for entry in fields.entries {
            guard Self.isRoleName(entry.key) else {
                reader.error("'\(entry.key)' is not a valid role name (lower-case letters, digits and '_', at most 20)", at: entry.keyLocation)
                continue
            }
            if let role = buildRole(entry.key, entry.value, target: target, at: entry.keyLocation) { roles[entry.key] = role }
        }
        return roles
    }

    /// Role names become part of database role names, so they stay short and plain.
    static func isRoleName(_ name: String) -> Bool {
        name.range(of: #"^[a-z][a-z0-9_]{0,19}$"#, options: .regularExpression) != nil
    }

    private func buildRole(_ name: String, _ node: Node, target: String, at location: SourceLocation) -> Role? {
        let what = "role '\(name)'"
        guard let fields = reader.mapping(node, what, allowed: Self.roleKeys) else { return nil }

        var tables: [TablePattern] = []
        if let node = fields["tables"] {
            tables = tablePatterns(node, "'tables' of \(what)")
        } else {
            reader.error("\(what) is missing 'tables' (the tables its sessions may read, like public.*)", at: location)
        }
        var privileges: Set<Privilege> = [.select]
        if let node = fields["privileges"], let items = reader.list(node, "'privileges' of \(what)", scalarIsList: true) {
            privileges = Set(items.compactMap { item in
                guard let word = reader.string(item, "a privilege") else { return nil }
                guard let privilege = Privilege(rawValue: word.lowercased()) else {
                    reader.error("unknown privilege '\(word)'; expected \(Privilege.allCases.map(\.rawValue).joinedAsChoice())", at: item.location)
                    return nil
                }
                return privilege
            })
            privileges.insert(.select)
        }
        let maxTTL = fields["max_ttl"].flatMap { reader.timeSpan($0, "'max_ttl' of \(what)") } ?? Role.defaultMaxTTL
        var defaultTTL = maxTTL
        if let node = fields["default_ttl"], let span = reader.timeSpan(node, "'default_ttl' of \(what)") {
            if span > maxTTL {
                reader.error("'default_ttl' of \(what) (\(span)) is longer than its 'max_ttl' (\(maxTTL))", at: node.location)
            }
            defaultTTL = span
        }
        let statementTimeout = fields["statement_timeout"].flatMap { reader.timeSpan($0, "'statement_timeout' of \(what)") }
        let idleTimeout = fields["idle_in_transaction_timeout"].flatMap { reader.timeSpan($0, "'idle_in_transaction_timeout' of \(what)") }
        let connectionLimit = fields["connection_limit"].flatMap { reader.int($0, "'connection_limit' of \(what)", in: 1...1000) } ?? 5
        let direct = fields["direct"].flatMap { reader.bool($0, "'direct' of \(what)") } ?? false
        let approval = fields["approval"].flatMap { buildApproval($0, role: name) }
        var captureValues: CapturePolicy.Values?
        if let node = fields["capture"], let capture = reader.mapping(node, "'capture' of \(what)", allowed: ["values"]) {
            captureValues = capture["values"].flatMap { reader.choice($0, "'values' of the capture of \(what)", CapturePolicy.Values.self) }
        }
        if let approval, let maxSession = approval.maxSession, maxSession > maxTTL {
            reader.error("'max_session' of the approval of \(what) (\(maxSession)) is longer than the role's 'max_ttl' (\(maxTTL))",
                         at: fields["approval"]?.location)
        }
        return Role(name: name, tables: tables, privileges: privileges, maxTTL: maxTTL, defaultTTL: min(defaultTTL, maxTTL),
                    statementTimeout: statementTimeout, idleInTransactionTimeout: idleTimeout,
                    connectionLimit: connectionLimit, direct: direct, approval: approval, captureValues: captureValues, location: location)
    }

    private func tablePatterns(_ node: Node, _ what: String) -> [TablePattern] {
        guard let items = reader.list(node, what, scalarIsList: true) else { return [] }
        return items.compactMap { item in
            guard let text = reader.string(item, "a table pattern") else { return nil }
            guard let pattern = TablePattern(text) else {
                reader.error("table pattern '\(text)' must be schema.table, where either part may use '*' (like public.customers or public.*)", at: item.location)
                return nil
            }
            return pattern
        }
    }

    private func buildApproval(_ node: Node, role: String) -> ApprovalRule? {
        buildApproval(node, what: "the approval of role '\(role)'", allowed: Self.approvalKeys)?.rule
    }

    private func buildApproval(_ node: Node, what: String, allowed: [String]) -> (rule: ApprovalRule, fields: Fields)? {
        guard let fields = reader.mapping(node, what, allowed: allowed) else { return nil }
        var from: [Principal] = []
        if let node = fields["from"] {
            from = principals(node, "'from' of \(what)")
            if from.isEmpty, node.isNull || (node.sequence?.isEmpty ?? false) {
                reader.error("'from' of \(what) names nobody", at: node.location)
            }
            for item in Array(node.sequence ?? [node]) {
                guard let text = item.string, let principal = try? Principal(parsing: text), principal.kind == .service else { continue }
                reader.error("'from' of \(what) names \(principal): a service decides nothing (approvals are made by people, and the broker refuses a service's vote)",
                             at: item.location)
            }
        } else {
            reader.error("\(what) is missing 'from' (who may approve, like group:dba)", at: fields.location)
        }
        let count = fields["count"].flatMap { reader.int($0, "'count' of \(what)", in: 1...100) } ?? 1
        if let countNode = fields["count"], !from.isEmpty, !from.contains(where: { $0.kind == .group || $0.kind == .osgroup }),
           count > Set(from).count {
            reader.error("'count' of \(what) asks for \(count) approvals but lists only \(Set(from).count) approver\(Set(from).count == 1 ? "" : "s")", at: countNode.location)
        }
        let everyGroup = fields["every_group"].flatMap { reader.bool($0, "'every_group' of \(what)") } ?? false
        let requestTTL = fields["request_ttl"].flatMap { reader.timeSpan($0, "'request_ttl' of \(what)") } ?? ApprovalRule.defaultRequestTTL
        let approvalTTL = fields["approval_ttl"].flatMap { reader.timeSpan($0, "'approval_ttl' of \(what)") } ?? ApprovalRule.defaultApprovalTTL
        let maxSession = fields["max_session"].flatMap { reader.timeSpan($0, "'max_session' of \(what)") }
        let selfApproval = fields["allow_self_approval"].map { principals($0, "'allow_self_approval' of \(what)") } ?? []
        if let node = fields["allow_self_approval"], selfApproval.contains(where: { $0.kind != .group }) {
            reader.error("'allow_self_approval' of \(what) takes policy groups only (group:NAME)", at: node.location)
        }
        return (ApprovalRule(from: from, count: count, everyGroup: everyGroup, requestTTL: requestTTL, approvalTTL: approvalTTL,
                             maxSession: maxSession, allowSelfApproval: selfApproval), fields)
    }

    // MARK: Masking and detectors

    private func buildMasking(_ node: Node, target: String) -> [ColumnName: MaskingFunction] {
        guard let fields = reader.mapping(node, "'masking' of target '\(target)'", allowed: []) else { return [:] }
        var masking: [ColumnName: MaskingFunction] = [:]
        for entry in fields.entries {
            let parts = entry.key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 3, parts.allSatisfy(Self.isIdentifier) else {
                reader.error("masking key '\(entry.key)' must name a column as schema.table.column (like public.customers.email)", at: entry.keyLocation)
                continue
            }
            if entry.value.isNull {  // `null` unquoted is YAML's null, and means the null masking function
                masking[ColumnName(schema: parts[0], table: parts[1], column: parts[2])] = .null
                continue
            }
            guard let text = reader.string(entry.value, "the masking function of \(entry.key)") else { continue }
            guard let function = Self.maskingFunction(text) else {
                if text.hasPrefix("partial") {
                    reader.error("'\(text)' needs a number of characters to keep from 0 to 64, like partial(4)", at: entry.value.location)
                } else {
                    reader.error("unknown masking function '\(text)'; expected \(MaskingFunction.spellings)", at: entry.value.location)
                }
                continue
            }
            masking[ColumnName(schema: parts[0], table: parts[1], column: parts[2])] = function
        }
        return masking
    }

    static func isIdentifier(_ text: String) -> Bool {
        text.range(of: #"^[A-Za-z_][A-Za-z0-9_$]*$"#, options: .regularExpression) != nil
    }

    static func maskingFunction(_ text: String) -> MaskingFunction? {
        switch text {
        case "email": return .email
        case "redact": return .redact
        case "hash": return .hash
        case "null": return .null
        case "detect": return .detect
        default: return partialArgument(text).map(MaskingFunction.partial)
        }
    }

    /// `partial(4)` → 4
    static func partialArgument(_ text: String) -> Int? {
        guard text.hasPrefix("partial("), text.hasSuffix(")") else { return nil }
        let inner = text.dropFirst("partial(".count).dropLast()
        guard let n = Int(inner), (0...64).contains(n) else { return nil }
        return n
    }

    /// `inDatabase`: the detectors also run in the database, for columns declared `detect`, so a
    /// custom pattern must mean the same to PostgreSQL's regular expressions as to ours.
    private func buildDetectors(_ node: Node, target: String, inDatabase: Bool) -> [Detector] {
        guard let items = reader.list(node, "'detectors' of target '\(target)'") else { return [] }
        let builtins = BuiltinDetector.allCases.map(\.rawValue)
        var detectors: [Detector] = []
        for item in items {
            if case .scalar = item {
                guard let name = reader.string(item, "a detector") else { continue }
                guard let builtin = BuiltinDetector(rawValue: name) else {
                    reader.error("unknown detector '\(name)'; expected \(builtins.joined(separator: ", ")), or a custom one as { name: NAME, pattern: REGEX }", at: item.location)
                    continue
                }
                detectors.append(Detector(kind: .builtin(builtin), strategy: .redact))
                continue
            }
            guard let fields = reader.mapping(item, "a detector", allowed: Self.detectorKeys) else { continue }
            guard let nameNode = fields["name"] else {
                reader.error("a detector needs a 'name'", at: fields.location)
                continue
            }
            guard let name = reader.string(nameNode, "'name' of a detector") else { continue }
            var strategy = DetectorStrategy.redact
            if let node = fields["strategy"], let text = reader.string(node, "'strategy' of detector '\(name)'") {
                if let parsed = Self.detectorStrategy(text) {
                    strategy = parsed
                } else if text == "hash" {
                    reader.error("detector '\(name)' cannot use 'hash': a session can send text of its choice through the detectors "
                                 + "(select 'EMP-' || n from generate_series(...)) and compare, so a keyed hash in flight is an oracle "
                                 + "for every value it masks; use redact or partial(N)", at: node.location)
                } else {
                    reader.error("unknown strategy '\(text)' of detector '\(name)'; expected \(DetectorStrategy.spellings)", at: node.location)
                }
            }
            if let builtin = BuiltinDetector(rawValue: name) {
                if let node = fields["pattern"] {
                    reader.error("detector '\(name)' is built in and takes no 'pattern'; give a custom detector another name", at: node.location)
                }
                detectors.append(Detector(kind: .builtin(builtin), strategy: strategy))
                continue
            }
            guard let patternNode = fields["pattern"] else {
                reader.error("unknown detector '\(name)'; a custom detector needs a 'pattern' (a regular expression)", at: nameNode.location)
                continue
            }
            guard let pattern = reader.string(patternNode, "'pattern' of detector '\(name)'") else { continue }
            do {
                _ = try NSRegularExpression(pattern: pattern)
            } catch {
                reader.error("'pattern' of detector '\(name)' is not a valid regular expression", at: patternNode.location)
                continue
            }
            if inDatabase, let construct = PortablePattern.unportable(pattern) {
                reader.error("'pattern' of detector '\(name)' uses \(construct), which PostgreSQL's regular expressions read differently; "
                             + "columns declared 'detect' run the detectors in the database too, so keep to literals, [classes], "
                             + "groups and the quantifiers ? * + {n,m}", at: patternNode.location)
                continue
            }
            detectors.append(Detector(kind: .custom(name: name, pattern: pattern), strategy: strategy))
        }
        return detectors
    }

    static func detectorStrategy(_ text: String) -> DetectorStrategy? {
        switch text {
        case "redact": return .redact
        default: return partialArgument(text).map(DetectorStrategy.partial)
        }
    }

    // MARK: Guardrails

    private func buildGuardrails(_ node: Node, target: String) -> Guardrails {
        let what = "'guardrails' of target '\(target)'"
        guard let fields = reader.mapping(node, what, allowed: Self.guardrailKeys) else { return .defaults }
        var guardrails = Guardrails.defaults
        for statementClass in StatementClass.allCases {
            guard let node = fields[statementClass.rawValue],
                  let action = reader.choice(node, "guardrail '\(statementClass.rawValue)'", GuardAction.self) else { continue }
            guardrails.classes[statementClass] = action
            if statementClass == .unparseable, action == .allow {
                reader.warning("allowing unparseable statements turns off fail-closed analysis for target '\(target)'", at: node.location)
            }
        }
        if let node = fields["unbounded_write"], let action = reader.choice(node, "guardrail 'unbounded_write'", GuardAction.self) {
            guardrails.unboundedWrite = action
        }
        if let node = fields["privileged_functions"], let action = reader.choice(node, "guardrail 'privileged_functions'", GuardAction.self) {
            guardrails.privilegedFunctions = action
        }
        if let node = fields["max_rows_per_write"] {
            guardrails.maxRowsPerWrite = reader.int(node, "'max_rows_per_write'", in: 1...Int(Int32.max))
        }
        if let node = fields["rules"], let items = reader.list(node, "'rules' of \(what)") {
            guardrails.rules = items.compactMap(buildGuardrailRule)
        }
        if let node = fields["approval"], let (rule, approval) = buildApproval(node, what: "the statement reviews of target '\(target)'",
                                                                              allowed: Self.reviewApprovalKeys) {
            guardrails.approval = rule
            if let runAs = approval["run_as"] { guardrails.runAs = reader.string(runAs, "'run_as' of the statement reviews of target '\(target)'") }
        }
        return guardrails
    }

    private func buildGuardrailRule(_ node: Node) -> GuardrailRule? {
        guard let fields = reader.mapping(node, "a guardrail rule", allowed: Self.guardrailRuleKeys) else { return nil }
        let tables = fields["tables"].map { tablePatterns($0, "'tables' of a guardrail rule") } ?? []
        var functions: [String] = []
        if let node = fields["functions"], let items = reader.list(node, "'functions' of a guardrail rule", scalarIsList: true) {
            for item in items {
                guard let name = reader.string(item, "a function name") else { continue }
                let parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
                guard (1...2).contains(parts.count), parts.allSatisfy(Self.isIdentifier) else {
                    reader.error("'\(name)' is not a function name (name or schema.name)", at: item.location)
                    continue
                }
                functions.append(name.lowercased())
            }
        }
        var classes: [StatementClass] = []
        if let node = fields["classes"], let items = reader.list(node, "'classes' of a guardrail rule", scalarIsList: true) {
            classes = items.compactMap { reader.choice($0, "a statement class", StatementClass.self) }
        }
        if fields["tables"] == nil, fields["functions"] == nil {
            reader.error("a guardrail rule needs 'tables' or 'functions' to match", at: fields.location)
        }
        var action: GuardAction?
        if let node = fields["action"] {
            action = reader.choice(node, "'action' of a guardrail rule", GuardAction.self)
        } else {
            reader.error("a guardrail rule needs an 'action' (allow, deny or review)", at: fields.location)
        }
        let reason = fields["reason"].flatMap { reader.string($0, "'reason' of a guardrail rule") }
        guard let action else { return nil }
        return GuardrailRule(tables: tables, functions: functions, classes: classes, action: action, reason: reason, location: fields.location)
    }

    // MARK: Access and notifications

    private func buildAccess(_ node: Node, targets: [String: Target]) -> [AccessRule] {
        guard let items = reader.list(node, "'access'") else { return [] }
        var rules: [AccessRule] = []
        for item in items {
            guard let fields = reader.mapping(item, "an access rule", allowed: Self.accessKeys) else { continue }
            var who: [Principal] = []
            if let node = fields["who"] { who = principals(node, "'who' of an access rule") }
            else { reader.error("an access rule needs 'who' (like group:analysts)", at: fields.location) }

            var targetName: String?
            if let node = fields["target"], let name = reader.string(node, "'target' of an access rule") {
                if targets[name] == nil {
                    let known = targets.keys.sorted()
                    reader.error("access rule names unknown target '\(name)'; targets are: \(known.isEmpty ? "(none)" : known.joined(separator: ", "))", at: node.location)
                } else {
                    targetName = name
                }
            } else if fields["target"] == nil {
                reader.error("an access rule needs 'target'", at: fields.location)
            }

            var roles: [String] = []
            if let node = fields["roles"], let items = reader.list(node, "'roles' of an access rule", scalarIsList: true) {
                for roleNode in items {
                    guard let role = reader.string(roleNode, "a role name") else { continue }
                    if let targetName, let target = targets[targetName], target.roles[role] == nil {
                        reader.error("target '\(targetName)' has no role '\(role)'; its roles are: \(target.roles.keys.sorted().joined(separator: ", "))", at: roleNode.location)
                        continue
                    }
                    roles.append(role)
                }
            } else if fields["roles"] == nil {
                reader.error("an access rule needs 'roles'", at: fields.location)
            }
            if let targetName, !who.isEmpty, !roles.isEmpty {
                rules.append(AccessRule(who: who, target: targetName, roles: roles, location: fields.location))
            }
        }
        return rules
    }

    private func buildNotifications(_ node: Node) -> [NotificationRule] {
        guard let items = reader.list(node, "'notify'") else { return [] }
        return items.compactMap { item in
            guard let fields = reader.mapping(item, "a notification", allowed: Self.notifyKeys) else { return nil }
            var endpoint: NotificationRule.Endpoint?
            switch (fields["webhook"], fields["webhook_env"]) {
            case (let node?, nil):
                if let url = reader.string(node, "'webhook'") {
                    if let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil {
                        endpoint = .url(url)
                    } else {
                        reader.error("'webhook' must be an http:// or https:// URL", at: node.location)
                    }
                }
            case (nil, let node?):
                if let name = reader.string(node, "'webhook_env'") {
                    if Self.isEnvironmentName(name) { endpoint = .environment(name) }
                    else { reader.error("'webhook_env' must name an environment variable, found '\(name)'", at: node.location) }
                }
            case (.some, .some):
                reader.error("a notification has both 'webhook' and 'webhook_env'; keep one", at: fields.keyLocation("webhook_env"))
            case (nil, nil):
                reader.error("a notification needs 'webhook' (a URL) or 'webhook_env' (a variable holding it)", at: fields.location)
            }
            var events = NotificationEvent.allCases
            if let node = fields["events"], let items = reader.list(node, "'events' of a notification", scalarIsList: true) {
                events = items.compactMap { reader.choice($0, "an event", NotificationEvent.self) }
            }
            return endpoint.map { NotificationRule(endpoint: $0, events: events) }
        }
    }
}
