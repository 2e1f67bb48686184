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
        return consume(id: record.id, hashMatches: computed == record.hash, linksToPrevious: record.previousHash == previousHash, hash: record.hash)
    }

    /// The same for a record the caller checked itself (hashed and compared as bytes, in
    /// parallel): whether its hash is its content's, and whether it names the hash before it.
    public mutating func consume(id: Int64, hashMatches: Bool, linksToPrevious: Bool, hash: String) -> Bool {
        guard report.failure == nil else { return false }
        if !hashMatches {
            report.failure = .init(recordID: id, reason: .edited)
        } else if !linksToPrevious {
            report.failure = .init(recordID: id, reason: .brokenLink(previousID: previousID))
        } else if id != expectedID {
            report.failure = .init(recordID: id, reason: .gap(expectedID: expectedID))
        }
        guard report.failure == nil else { return false }
        report.verified += 1
        report.headID = id
        report.headHash = hash
        previousHash = hash
        previousID = id
        expectedID = id + 1
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
