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
    /// Free text: the target's detectors, applied by the database in the view, so SQL only
    /// ever transforms text that is already masked.
    case detect

    public static let spellings = "email, redact, partial(N), hash, null or detect"

    public var description: String {
        switch self {
        case .email: return "email"
        case .redact: return "redact"
        case .partial(let n): return "partial(\(n))"
        case .hash: return "hash"
        case .null: return "null"
        case .detect: return "detect"
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

/// Custom detector patterns that mean the same to NSRegularExpression (ICU) and to PostgreSQL's
/// advanced regular expressions: ASCII literals, escaped punctuation, bracket classes of
/// literals and ranges, groups, and greedy quantifiers. No alternation (ICU takes the first
/// alternative that matches, PostgreSQL the longest), no class escapes (\d and \w are Unicode in
/// ICU), no anchors, lookaround, backreferences or lazy quantifiers.
public enum PortablePattern {
    /// The first construct outside the portable subset, described; nil when there is none.
    public static func unportable(_ pattern: String) -> String? {
        var scalars = Array(pattern.unicodeScalars)[...]
        var inClass = false
        var previous: Unicode.Scalar?
        while let scalar = scalars.popFirst() {
            defer { previous = scalar }
            guard scalar.isASCII, scalar.value >= 0x20 else { return "a character outside printable ASCII" }
            if scalar == "\\" {
                guard let next = scalars.popFirst() else { return "a trailing backslash" }
                guard next.isASCII, !next.properties.isAlphabetic, !("0"..."9").contains(next) else { return "the escape \\\(next)" }
                continue
            }
            if inClass {
                if scalar == "]" { inClass = false }
                if scalar == "[" { return "a nested class or [: :] in a class" }
                continue
            }
            switch scalar {
            case "[":
                inClass = true
                if scalars.first == "^" { scalars.removeFirst() }
                if scalars.first == "]" { return "']' first in a class" }
            case "|": return "alternation (|)"
            case "^", "$": return "an anchor (\(scalar))"
            case "(" where scalars.first == "?":
                if scalars.dropFirst().first != ":" { return "a group of the form (?...)" }
            case "?", "+", "*", "}":
                if scalars.first == "?" || scalars.first == "+" { return "a lazy or possessive quantifier" }
            case "{":
                guard previous != nil, let close = scalars.firstIndex(of: "}"),
                      String(String.UnicodeScalarView(scalars[scalars.startIndex..<close])).range(of: #"^[0-9]+(,[0-9]*)?$"#, options: .regularExpression) != nil
                else { return "a brace that is not a quantifier {n,m}" }
            default: break
            }
        }
        return inClass ? "an unclosed class" : nil
    }
}
