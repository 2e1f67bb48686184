/// What the guard proxy does with a statement.
public enum GuardAction: String, Sendable, CaseIterable {
    case allow, deny, review
}

/// The class of a statement, from PostgreSQL's parse tree. Most severe first.
public enum StatementClass: String, Sendable, CaseIterable {
    case unparseable, opaque, admin, dcl, ddl, write, session, read
}

/// Per-class actions, the two special cases, pattern rules and the write row limit.
public struct Guardrails: Sendable {
    public var classes: [StatementClass: GuardAction]
    /// UPDATE/DELETE without a WHERE that can be false.
    public var unboundedWrite: GuardAction
    /// Server-admin and file functions (pg_read_file, pg_terminate_backend, dblink, ...).
    public var privilegedFunctions: GuardAction
    public var rules: [GuardrailRule]
    /// An UPDATE or DELETE touching more rows is rolled back.
    public var maxRowsPerWrite: Int?
    /// Who approves statements under review (nil: nobody, so review refuses like deny).
    public var approval: ApprovalRule?
    /// The database role reviewed DDL and DCL run as (nil: the owner of what they touch).
    public var runAs: String?

    /// The defaults of DESIGN.md: fail closed on what cannot be seen through.
    public static let defaults = Guardrails(
        classes: [.read: .allow, .session: .allow, .write: .allow, .ddl: .review, .dcl: .review,
                  .admin: .deny, .opaque: .deny, .unparseable: .deny],
        unboundedWrite: .review, privilegedFunctions: .deny, rules: [], maxRowsPerWrite: nil, approval: nil, runAs: nil)

    public func action(for statementClass: StatementClass) -> GuardAction {
        classes[statementClass] ?? Guardrails.defaults.classes[statementClass]!
    }
}

/// A guardrail for statements that touch given tables or call given functions.
public struct GuardrailRule: Sendable {
    public var tables: [TablePattern]
    public var functions: [String]
    /// Empty means every class.
    public var classes: [StatementClass]
    public var action: GuardAction
    public var reason: String?
    public var location: SourceLocation
}

/// `schema.table` where either part may use `*` as a wildcard: `public.*`, `sales.order_*`.
public struct TablePattern: Sendable, Hashable, CustomStringConvertible {
    public let schema: String
    public let table: String

    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2,
              parts.allSatisfy({ TablePattern.isPatternPart($0) }) else { return nil }
        schema = String(parts[0])
        table = String(parts[1])
    }

    public var description: String { "\(schema).\(table)" }

    public func matches(schema: String, table: String) -> Bool {
        TablePattern.glob(self.schema, schema) && TablePattern.glob(self.table, table)
    }

    static func isPatternPart(_ part: Substring) -> Bool {
        guard let first = part.unicodeScalars.first else { return false }
        guard first == "*" || first == "_" || first.properties.isAlphabetic else { return false }
        return part.unicodeScalars.allSatisfy {
            $0 == "*" || $0 == "_" || $0 == "$" || $0.properties.isAlphabetic || ("0"..."9").contains($0)
        }
    }

    /// `*` matches any run of characters; everything else matches itself.
    public static func glob(_ pattern: String, _ text: String) -> Bool {
        let p = Array(pattern.unicodeScalars), t = Array(text.unicodeScalars)
        var pi = 0, ti = 0, star = -1, mark = 0
        while ti < t.count {
            if pi < p.count, p[pi] != "*", p[pi] == t[ti] {
                pi += 1; ti += 1
            } else if pi < p.count, p[pi] == "*" {
                star = pi; mark = ti; pi += 1
            } else if star >= 0 {
                pi = star + 1; mark += 1; ti = mark
            } else {
                return false
            }
        }
        while pi < p.count, p[pi] == "*" { pi += 1 }
        return pi == p.count
    }
}
