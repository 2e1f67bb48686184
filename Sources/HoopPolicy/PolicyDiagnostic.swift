/// One problem found in a policy file, printed the way compilers print them:
/// `FILE:LINE:COL: error: MESSAGE`.
public struct PolicyDiagnostic: Sendable, Hashable, CustomStringConvertible {
    public enum Severity: String, Sendable { case error, warning }

    public let file: String
    public let location: SourceLocation
    public let severity: Severity
    public let message: String

    public init(file: String, location: SourceLocation, severity: Severity, message: String) {
        self.file = file
        self.location = location
        self.severity = severity
        self.message = message
    }

    public var description: String { "\(file):\(location.line):\(location.column): \(severity.rawValue): \(message)" }
}

/// A policy file that did not load: every error found, in file order.
public struct PolicyError: Error, CustomStringConvertible, Sendable {
    public let diagnostics: [PolicyDiagnostic]

    public var errors: [PolicyDiagnostic] { diagnostics.filter { $0.severity == .error } }

    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}
