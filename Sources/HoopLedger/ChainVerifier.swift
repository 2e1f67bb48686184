/// Checks records one by one, in id order. I/O-free so it can be tested on its own.
public struct ChainVerifier {
    private var expectedID: Int64 = 1
    private var previousHash = HashChain.genesis
    private var previousID: Int64?
    public private(set) var report = VerificationReport(verified: 0, headID: nil, headHash: nil, failure: nil, schemaProblems: [])

    public init() {}

    /// Returns false once the chain is broken (further records are not checked). `computedHash`:
    /// the record's hash as `HashChain.hash(of:)` computes it, when the caller hashed records
    /// in parallel (the links between them are checked here, in order).
    public mutating func consume(_ record: LedgerRecord, computedHash: String? = nil) -> Bool {
        guard report.failure == nil else { return false }
        let computed = computedHash ?? HashChain.hash(of: record)
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
