/// What `audit verify` found.
public struct VerificationReport: Sendable, Equatable, Codable {
    public var verified: Int
    public var headID: Int64?
    public var headHash: String?
    /// The first record that breaks the chain, and why.
    public var failure: VerificationFailure?
    /// Protections missing from the ledger's schema.
    public var schemaProblems: [String]
    /// Rows of the lineage index (for `audit trace` and the report) that the statement records
    /// do not bear out, or that they lack.
    public var lineageProblems: [String]?
    /// The signed checkpoints published outside the file that the chain does not hold, and how
    /// many were checked (nil: none could be reached, as when reading a file by hand).
    public var checkpointProblems: [String]?
    public var checkpoints: Int?
    /// Places whose checkpoints could not be read (a target database down): not a failure.
    public var checkpointWarnings: [String]?

    public init(verified: Int, headID: Int64? = nil, headHash: String? = nil, failure: VerificationFailure? = nil, schemaProblems: [String], lineageProblems: [String]? = nil, checkpointProblems: [String]? = nil, checkpoints: Int? = nil, checkpointWarnings: [String]? = nil) {
        self.verified = verified
        self.headID = headID
        self.headHash = headHash
        self.failure = failure
        self.schemaProblems = schemaProblems
        self.lineageProblems = lineageProblems
        self.checkpointProblems = checkpointProblems
        self.checkpoints = checkpoints
        self.checkpointWarnings = checkpointWarnings
    }

    public var passed: Bool {
        failure == nil && schemaProblems.isEmpty && (lineageProblems ?? []).isEmpty && (checkpointProblems ?? []).isEmpty
    }
}

public struct VerificationFailure: Sendable, Equatable, Codable, CustomStringConvertible {
    public enum Reason: Sendable, Equatable, Codable {
        /// The record's contents no longer match its hash.
        case edited
        /// The record does not follow the one before it (something was inserted, removed or moved).
        case brokenLink(previousID: Int64?)
        /// Records are missing before this one.
        case gap(expectedID: Int64)
        /// Records were cut off the end: the chain stops before the recorded head.
        case truncated(recordedHeadID: Int64)
        /// The recorded head does not match the last record.
        case headMismatch(recordedHeadID: Int64)
        /// The intake journal holds another record under this id than SQLite does: one of them
        /// was written behind the broker.
        case forked
        /// The intake journal has bytes that are no record before whole records (`recordID` is
        /// the last one read before them).
        case journalDamaged(byte: Int)
    }

    /// The first bad record (for `truncated`, the last good one).
    public var recordID: Int64
    public var reason: Reason

    public init(recordID: Int64, reason: Reason) {
        self.recordID = recordID
        self.reason = reason
    }

    public var description: String {
        switch reason {
        case .edited:
            return "record #\(recordID) does not match its hash: it was edited"
        case .brokenLink(let previous):
            let after = previous.map { "record #\($0)" } ?? "the start of the ledger"
            return "record #\(recordID) does not follow \(after): records were inserted, removed or reordered"
        case .gap(let expected):
            return "record #\(recordID) comes where #\(expected) should: records #\(expected)…#\(recordID - 1) were removed"
        case .truncated(let head):
            return "the ledger ends at record #\(recordID) but its head is #\(head): records after #\(recordID) were removed"
        case .headMismatch(let head):
            return "the ledger's head (#\(head)) does not match its last record (#\(recordID))"
        case .forked:
            return "the intake journal's record #\(recordID) is not the ledger's record #\(recordID): records were written behind the broker"
        case .journalDamaged(let byte):
            return "the intake journal is damaged at byte \(byte), after record #\(recordID): the records after it cannot be read"
        }
    }
}
