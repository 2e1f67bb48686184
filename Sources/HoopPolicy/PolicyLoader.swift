import Foundation
import HoopCommon
import Yams

/// What loading a policy file produced: the policy when there were no errors, and every
/// diagnostic (errors and warnings) in file order.
public struct PolicyLoadResult: Sendable {
    public let policy: Policy?
    public let diagnostics: [PolicyDiagnostic]

    public var errors: [PolicyDiagnostic] { diagnostics.filter { $0.severity == .error } }
    public var warnings: [PolicyDiagnostic] { diagnostics.filter { $0.severity == .warning } }

    /// The policy, or every diagnostic as a `PolicyError`. Nothing is half-applied.
    public func get() throws(PolicyError) -> Policy {
        guard let policy else { throw PolicyError(diagnostics: diagnostics) }
        return policy
    }
}

/// Reads and validates a policy file. A file with any error yields no policy at all.
public enum PolicyLoader {
    public static func load(path: String) -> PolicyLoadResult {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot be read" : "does not exist"
            return PolicyLoadResult(policy: nil, diagnostics: [
                .init(file: path, location: .start, severity: .error, message: "policy file \(reason)"),
            ])
        }
        let base = URL(fileURLWithPath: path).deletingLastPathComponent().path
        return parse(yaml: text, file: path, baseDirectory: base)
    }

    /// `baseDirectory` anchors relative paths (`admin_dsn_file`).
    public static func parse(yaml: String, file: String, baseDirectory: String) -> PolicyLoadResult {
        let reader = NodeReader(file: file)
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            let (message, location) = describe(error)
            reader.error(message, at: location)
            return PolicyLoadResult(policy: nil, diagnostics: reader.diagnostics)
        } catch {
            reader.error("YAML: \(error)", at: .start)
            return PolicyLoadResult(policy: nil, diagnostics: reader.diagnostics)
        }
        guard let root, !root.isNull else {
            reader.error("policy file is empty; it needs at least 'version: 1'", at: .start)
            return PolicyLoadResult(policy: nil, diagnostics: reader.diagnostics)
        }
        let policy = PolicyBuilder(reader: reader, baseDirectory: baseDirectory).build(root)
        let diagnostics = reader.diagnostics.sorted { ($0.location, $0.message) < ($1.location, $1.message) }
        return PolicyLoadResult(policy: reader.hasErrors ? nil : policy, diagnostics: diagnostics)
    }

    private static func describe(_ error: YamlError) -> (String, SourceLocation) {
        func at(_ mark: Mark) -> SourceLocation { SourceLocation(line: mark.line, column: mark.column) }
        /// "while parsing a flow mapping", and where that mapping starts when it is elsewhere.
        func context(_ context: YamlError.Context?, _ mark: Mark) -> String {
            guard let context, !context.text.isEmpty else { return "" }
            guard (context.mark.line, context.mark.column) != (mark.line, mark.column) else { return " \(context.text)" }
            return " \(context.text) that starts at \(context.mark.line):\(context.mark.column)"
        }
        switch error {
        case let .scanner(ctx, problem, mark, _):
            return ("YAML syntax: \(problem)\(context(ctx, mark))", at(mark))
        case let .parser(ctx, problem, mark, _):
            return ("YAML syntax: \(problem)\(context(ctx, mark))", at(mark))
        case let .composer(ctx, problem, mark, _):
            return ("YAML: \(problem)\(context(ctx, mark))", at(mark))
        case let .duplicatedKeysInMapping(duplicates, ctx):
            let keys = duplicates.map { "'\($0)'" }.joined(separator: ", ")
            return ("key \(keys) appears more than once in the same mapping", at(ctx.mark))
        case let .reader(problem, offset, _, yaml):
            var location = SourceLocation.start
            if let offset {
                let prefix = yaml.utf8.prefix(offset)
                let line = prefix.filter { $0 == UInt8(ascii: "\n") }.count + 1
                let column = prefix.reversed().prefix { $0 != UInt8(ascii: "\n") }.count + 1
                location = SourceLocation(line: line, column: column)
            }
            return ("YAML: \(problem)", location)
        default:
            return ("YAML: \(error)", .start)
        }
    }
}
