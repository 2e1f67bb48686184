import ArgumentParser

/// The documented exit codes (README, `hoopctl --help`). `exec` exits with its child's code.
public enum ExitStatus {
    public static let success = ExitCode(0)
    public static let failure = ExitCode(1)
    /// A policy file (or other input file) has errors.
    public static let invalid = ExitCode(2)
    /// The ledger failed verification.
    public static let tampered = ExitCode(3)
    /// `target doctor` found something.
    public static let findings = ExitCode(4)
    /// Bad flags or arguments (ArgumentParser's validation failure), an unknown target or role.
    public static let usage = ExitCode.validationFailure
    /// The broker cannot be reached (EX_UNAVAILABLE).
    public static let brokerUnreachable = ExitCode(69)
    /// Policy denies the request, or the token is not valid (EX_NOPERM).
    public static let denied = ExitCode(77)
    /// A request waits for approval (`--no-wait`, or `--wait` ran out) (EX_TEMPFAIL).
    public static let pending = ExitCode(75)
    /// A reviewer denied the request.
    public static let approvalDenied = ExitCode(76)
    /// The request or its approval expired, was withdrawn, or was used already.
    public static let approvalExpired = ExitCode(78)
}

/// A failure to report to the user in one line, with its exit code. Never carries secrets.
public struct CLIError: Error, CustomStringConvertible {
    public let message: String
    public let exitCode: ExitCode

    public init(_ message: String, exitCode: ExitCode = ExitStatus.failure) {
        self.message = message
        self.exitCode = exitCode
    }

    public init(_ error: any Error, exitCode: ExitCode = ExitStatus.failure) {
        self.init("\(error)", exitCode: exitCode)
    }

    public var description: String { message }
}
