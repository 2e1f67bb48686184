import Foundation

/// Where the hash-chained ledger lives: the broker's SQLite file (`Ledger`, one broker) or a
/// PostgreSQL control database that several brokers share (`HoopControlStore.PostgresLedger`).
/// Everything that appends, reads or verifies records goes through this, never through a file.
public protocol LedgerStore: AnyObject, Sendable {
    /// Where it is, for messages: a path, or a database named without its credentials.
    var location: String { get }

    /// Appends entries as one group: all are chained and committed, or none is. When it
    /// returns, the records are committed (what they describe may happen). `index`/`checkpoint`:
    /// the SQLite ledger's copy from its intake journal (see `Ledger.append`); ignored elsewhere.
    func append(_ entries: [LedgerEntry], checkpoint: Bool, index: Bool) throws(LedgerError) -> [LedgerRecord]

    /// When records appended with `index: false` must be made readable by SQL (nil: none waiting).
    var indexDeadline: DispatchTime? { get }
    func indexJournalIfDue() throws(LedgerError)
    func indexJournal(checkpoint: Bool, flushLineage: Bool) throws(LedgerError)
    /// At shutdown: whatever is still held in memory is written, if it can be.
    func flushPendingLineage()

    func records(_ query: LedgerQuery) throws(LedgerError) -> [LedgerRecord]
    func count() throws(LedgerError) -> Int
    /// The last record's id and hash (nil for an empty ledger).
    func head() throws(LedgerError) -> (id: Int64, hash: String)?
    /// The hash of the first record: what checkpoints name the ledger by.
    func origin() throws(LedgerError) -> String?
    /// Walks the whole chain; names the first record that breaks it.
    func verify() throws(LedgerError) -> VerificationReport
    func trace(_ query: TraceQuery) throws(LedgerError) -> [TraceLine]
    func lineageVerification() throws(LedgerError) -> String
    func report(since: Date, until: Date) throws(LedgerError) -> AuditReport
    func checkpointProblems(_ checkpoints: [LedgerCheckpoint]) throws(LedgerError) -> [String]
    func recordedCheckpoints() throws(LedgerError) -> [LedgerCheckpoint]
}

extension LedgerStore {
    @discardableResult
    public func append(_ entries: [LedgerEntry]) throws(LedgerError) -> [LedgerRecord] {
        try append(entries, checkpoint: true, index: true)
    }

    @discardableResult
    public func append(_ entry: LedgerEntry) throws(LedgerError) -> LedgerRecord {
        try append([entry], checkpoint: true, index: true)[0]
    }

    public func records() throws(LedgerError) -> [LedgerRecord] { try records(LedgerQuery()) }

    public func report(since: Date) throws(LedgerError) -> AuditReport { try report(since: since, until: Date()) }
}

extension Ledger: LedgerStore {
    public var location: String { path }
}
