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
    }

    /// The first bad record (for `truncated`, the last good one).
    public var recordID: Int64
    public var reason: Reason

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
        }
    }
}

/// Checks records one by one, in id order. I/O-free so it can be tested on its own.
public struct ChainVerifier {
    private var expectedID: Int64 = 1
    private var previousHash = HashChain.genesis
    private var previousID: Int64?
    public private(set) var report = VerificationReport(verified: 0, headID: nil, headHash: nil, failure: nil, schemaProblems: [])

    public init() {}

    /// Returns false once the chain is broken (further records are not checked).
    public mutating func consume(_ record: LedgerRecord) -> Bool {
        guard report.failure == nil else { return false }
        let computed = HashChain.hash(id: record.id, timestamp: record.timestamp, kind: record.kind,
                                      identity: record.identity, target: record.target, session: record.session,
                                      body: record.body, previousHash: record.previousHash)
        if computed != record.hash {
            report.failure = .init(recordID: record.id, reason: .edited)
        } else if record.previousHash != previousHash {
            report.failure = .init(recordID: record.id, reason: .brokenLink(previousID: previousID))
        } else if record.id != expectedID {
            report.failure = .init(recordID: record.id, reason: .gap(expectedID: expectedID))
        }
        guard report.failure == nil else { return false }
        report.verified += 1
        report.headID = record.id
        report.headHash = record.hash
        previousHash = record.hash
        previousID = record.id
        expectedID = record.id + 1
        return true
    }

    /// Compares the end of the chain with the separately kept head.
    public mutating func finish(recordedHead: (id: Int64, hash: String)?) {
        guard report.failure == nil else { return }
        let lastID = report.headID ?? 0
        guard let recordedHead else {
            if lastID > 0 { report.failure = .init(recordID: lastID, reason: .headMismatch(recordedHeadID: 0)) }
            return
        }
        if recordedHead.id > lastID {
            report.failure = .init(recordID: lastID, reason: .truncated(recordedHeadID: recordedHead.id))
        } else if recordedHead.id != lastID || recordedHead.hash != report.headHash {
            report.failure = .init(recordID: lastID, reason: .headMismatch(recordedHeadID: recordedHead.id))
        }
    }
}
