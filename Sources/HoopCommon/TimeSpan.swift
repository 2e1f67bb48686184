import Foundation

/// A span of time written the way people write TTLs: `30s`, `15m`, `8h`, `1d`, `1h30m`.
public struct TimeSpan: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let seconds: Int64

    public init(seconds: Int64) { self.seconds = seconds }

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case empty
        case missingUnit(String)
        case unknownUnit(Character)
        case notANumber(String)
        case tooLarge

        public var description: String {
            switch self {
            case .empty: return "empty duration"
            case .missingUnit(let digits): return "'\(digits)' needs a unit (s, m, h or d)"
            case .unknownUnit(let unit): return "unknown unit '\(unit)' (use s, m, h or d)"
            case .notANumber(let text): return "'\(text)' is not a duration"
            case .tooLarge: return "duration is too large"
            }
        }
    }

    /// Parses one or more `<digits><unit>` parts; units s, m, h, d, each used at most once, largest first.
    public init(parsing text: String) throws(ParseError) {
        let trimmed = text.trimmingWhitespace()
        guard !trimmed.isEmpty else { throw .empty }
        var total: Int64 = 0
        var digits = ""
        var lastUnitSize = Int64.max
        for character in trimmed {
            if character.isASCII, character.isNumber {
                digits.append(character)
                continue
            }
            let unitSize: Int64
            switch character {
            case "s": unitSize = 1
            case "m": unitSize = 60
            case "h": unitSize = 3600
            case "d": unitSize = 86400
            default:
                if digits.isEmpty { throw .notANumber(trimmed) }
                throw .unknownUnit(character)
            }
            guard !digits.isEmpty, unitSize < lastUnitSize else { throw .notANumber(trimmed) }
            guard digits.count <= 12, let value = Int64(digits) else { throw .tooLarge }
            let (product, overflow) = value.multipliedReportingOverflow(by: unitSize)
            guard !overflow else { throw .tooLarge }
            let (sum, overflow2) = total.addingReportingOverflow(product)
            guard !overflow2 else { throw .tooLarge }
            total = sum
            digits = ""
            lastUnitSize = unitSize
        }
        guard digits.isEmpty else { throw .missingUnit(digits) }
        self.seconds = total
    }

    /// The shortest spelling: `1h30m`, `45s`, `0s`.
    public var description: String {
        if seconds == 0 { return "0s" }
        var rest = seconds
        var out = ""
        for (size, unit) in [(Int64(86400), "d"), (3600, "h"), (60, "m"), (1, "s")] where rest >= size {
            out += "\(rest / size)\(unit)"
            rest %= size
        }
        return out
    }

    public static func < (lhs: TimeSpan, rhs: TimeSpan) -> Bool { lhs.seconds < rhs.seconds }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
