/// `schema.table.column`, as written in `masking:` keys.
public struct ColumnName: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var schema: String
    public var table: String
    public var column: String

    public init(schema: String, table: String, column: String) {
        self.schema = schema
        self.table = table
        self.column = column
    }

    public var description: String { "\(schema).\(table).\(column)" }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.description < rhs.description }
}

/// How the database masks a column for session roles (installed by `hoopctl target init`).
public enum MaskingFunction: Sendable, Hashable, CustomStringConvertible {
    /// `a***@example.com`
    case email
    /// A constant placeholder.
    case redact
    /// Keeps the last N characters: `************1111`.
    case partial(Int)
    /// Keyed HMAC-SHA-256: deterministic, so joins and GROUP BY still work.
    case hash
    case null

    public static let spellings = "email, redact, partial(N), hash or null"

    public var description: String {
        switch self {
        case .email: return "email"
        case .redact: return "redact"
        case .partial(let n): return "partial(\(n))"
        case .hash: return "hash"
        case .null: return "null"
        }
    }
}

/// A detector of sensitive values inside free text, applied to result rows in flight.
public struct Detector: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        case builtin(BuiltinDetector)
        case custom(name: String, pattern: String)
    }

    public var kind: Kind
    public var strategy: DetectorStrategy

    public init(kind: Kind, strategy: DetectorStrategy) {
        self.kind = kind
        self.strategy = strategy
    }

    public var name: String {
        switch kind {
        case .builtin(let builtin): return builtin.rawValue
        case .custom(let name, _): return name
        }
    }
}

public enum BuiltinDetector: String, Sendable, CaseIterable {
    case email
    case creditCard = "credit_card"
    case ssn, iban, phone, jwt
    case apiKey = "api_key"
}

/// What a detector puts in place of what it found. Never a keyed hash: a session chooses
/// what goes through the detectors, so a deterministic keyed value would be an oracle.
public enum DetectorStrategy: Sendable, Hashable, CustomStringConvertible {
    case redact
    case partial(Int)

    public static let spellings = "redact or partial(N)"

    public var description: String {
        switch self {
        case .redact: return "redact"
        case .partial(let n): return "partial(\(n))"
        }
    }
}
