import HoopCommon
import Yams

/// Walks a composed YAML tree, turning wrong shapes into diagnostics instead of failing,
/// so one run reports every problem of the file.
final class NodeReader {
    let file: String
    private(set) var diagnostics: [PolicyDiagnostic] = []

    init(file: String) { self.file = file }

    var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }

    func error(_ message: String, at location: SourceLocation?) {
        diagnostics.append(.init(file: file, location: location ?? .start, severity: .error, message: message))
    }

    func warning(_ message: String, at location: SourceLocation?) {
        diagnostics.append(.init(file: file, location: location ?? .start, severity: .warning, message: message))
    }

    // MARK: Shapes

    /// A mapping's entries in file order, with unknown keys reported (with a suggestion when one is close).
    func mapping(_ node: Node, _ what: String, allowed: [String]) -> Fields? {
        guard case .mapping(let mapping) = node else {
            error("\(what) must be a mapping, found \(node.kindName)", at: node.location)
            return nil
        }
        var fields = Fields(location: node.location ?? .start)
        for (keyNode, value) in mapping {
            guard case .scalar(let scalar) = keyNode else {
                error("keys of \(what) must be plain names, found \(keyNode.kindName)", at: keyNode.location)
                continue
            }
            let key = scalar.string
            if !allowed.isEmpty, !allowed.contains(key) {
                var message = "unknown key '\(key)' in \(what)"
                if let suggestion = closestMatch(to: key, in: allowed) {
                    message += "; did you mean '\(suggestion)'?"
                } else {
                    message += "; expected one of: \(allowed.joined(separator: ", "))"
                }
                error(message, at: keyNode.location)
                continue
            }
            fields.entries.append(.init(key: key, keyLocation: keyNode.location ?? fields.location, value: value))
        }
        return fields
    }

    /// A sequence; a single scalar counts as a one-element list when `scalarIsList`.
    func list(_ node: Node, _ what: String, scalarIsList: Bool = false) -> [Node]? {
        switch node {
        case .sequence(let sequence): return Array(sequence)
        case .scalar where scalarIsList && !node.isNull: return [node]
        default:
            error("\(what) must be a list, found \(node.kindName)", at: node.location)
            return nil
        }
    }

    func string(_ node: Node, _ what: String) -> String? {
        guard case .scalar(let scalar) = node, !node.isNull else {
            error("\(what) must be a string, found \(node.kindName)", at: node.location)
            return nil
        }
        guard !scalar.string.isEmpty else {
            error("\(what) must not be empty", at: node.location)
            return nil
        }
        return scalar.string
    }

    func int(_ node: Node, _ what: String, in range: ClosedRange<Int>) -> Int? {
        guard case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any,
              let value = Int(scalar.string) else {
            error("\(what) must be a whole number, found \(node.valueDescription)", at: node.location)
            return nil
        }
        guard range.contains(value) else {
            let bound = range.upperBound == Int.max ? "at least \(range.lowerBound)" : "between \(range.lowerBound) and \(range.upperBound)"
            error("\(what) must be \(bound), found \(value)", at: node.location)
            return nil
        }
        return value
    }

    func bool(_ node: Node, _ what: String) -> Bool? {
        guard case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any else {
            error("\(what) must be true or false, found \(node.valueDescription)", at: node.location)
            return nil
        }
        switch scalar.string {
        case "true": return true
        case "false": return false
        default:
            error("\(what) must be true or false, found \(node.valueDescription)", at: node.location)
            return nil
        }
    }

    func timeSpan(_ node: Node, _ what: String) -> TimeSpan? {
        guard let text = string(node, what) else { return nil }
        do {
            let span = try TimeSpan(parsing: text)
            guard span.seconds > 0 else {
                error("\(what) must be longer than 0s", at: node.location)
                return nil
            }
            return span
        } catch {
            var message = "\(what) must be a duration like 90s, 30m, 8h or 1d, found '\(text)'"
            switch error {
            case .unknownUnit(let unit): message += " (unknown unit '\(unit)')"
            case .missingUnit: message += " (no unit)"
            case .tooLarge: message += " (too large)"
            case .empty, .notANumber: break
            }
            self.error(message, at: node.location)
            return nil
        }
    }

    func principal(_ node: Node, _ what: String) -> Principal? {
        guard let text = string(node, what) else { return nil }
        do {
            return try Principal(parsing: text)
        } catch {
            self.error("\(error)", at: node.location)
            return nil
        }
    }

    /// One of a fixed set of words.
    func choice<T: RawRepresentable & CaseIterable>(_ node: Node, _ what: String, _ type: T.Type) -> T? where T.RawValue == String {
        guard let text = string(node, what) else { return nil }
        if let value = T(rawValue: text) { return value }
        let spellings = T.allCases.map(\.rawValue)
        error("\(what) must be \(spellings.joinedAsChoice()), found '\(text)'", at: node.location)
        return nil
    }
}

/// A mapping's accepted entries, in file order.
struct Fields {
    struct Entry {
        let key: String
        let keyLocation: SourceLocation
        let value: Node
    }

    let location: SourceLocation
    var entries: [Entry] = []

    subscript(key: String) -> Node? { entries.first { $0.key == key }?.value }

    func has(_ key: String) -> Bool { entries.contains { $0.key == key } }

    func keyLocation(_ key: String) -> SourceLocation { entries.first { $0.key == key }?.keyLocation ?? location }
}

extension Node {
    var location: SourceLocation? { mark.map { SourceLocation(line: $0.line, column: $0.column) } }

    var isNull: Bool {
        guard case .scalar(let scalar) = self else { return false }
        return scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    var kindName: String {
        switch self {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .scalar: return isNull ? "nothing" : "'\(scalar!.string)'"
        }
    }

    /// What the user wrote, for messages about a wrong value.
    var valueDescription: String {
        if case .scalar(let scalar) = self, !isNull { return "'\(scalar.string)'" }
        return kindName
    }
}

extension Array where Element == String {
    /// `a, b or c`
    func joinedAsChoice() -> String {
        guard count > 1 else { return first ?? "" }
        return dropLast().joined(separator: ", ") + " or " + last!
    }
}

/// The allowed word nearest to a misspelling, if it is near enough to be the intended one.
func closestMatch(to word: String, in candidates: [String]) -> String? {
    let scored = candidates.map { ($0, editDistance(word.lowercased(), $0)) }
    guard let best = scored.min(by: { $0.1 < $1.1 }) else { return nil }
    return best.1 <= max(1, best.0.count / 3) ? best.0 : nil
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    guard !a.isEmpty else { return b.count }
    guard !b.isEmpty else { return a.count }
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...b.count {
            current[j] = Swift.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[b.count]
}
