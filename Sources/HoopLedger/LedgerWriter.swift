import Foundation

/// Group commit on a thread of its own: callers (the proxy's event loops) only queue records
/// and are told, through `done`, when the batch holding them is committed (in the ledger's
/// intake journal: one `write` per batch). Batches grow with the load: whatever queued while
/// one commits goes in the next. So a slow disk delays only the statements waiting for their
/// records; event loops go on relaying everything else. The journal is copied into SQLite
/// behind, every `Ledger.indexDelay` or `Ledger.indexRecords` records, between batches.
///
/// Outcomes (rows, time, SQLSTATE) and events need no answer: they ride along with a batch at
/// most every `ridersDelay` (so a session's outcomes share one record, not one per batch), or
/// are written on their own when no statements come.
public final class LedgerWriter: @unchecked Sendable {
    public typealias Done = @Sendable (Result<[Int64], LedgerError>) -> Void

    private struct Outcome {
        let session: String
        let identity: String
        let target: String
        let result: ResultBody.Outcome
    }

    private struct Waiting {
        let entries: [LedgerEntry]
        let done: Done
    }

    private enum State { case idle, running, stopping, stopped }

    public let ledger: any LedgerStore
    /// A test hook: each commit takes this much longer (a slow disk).
    private let commitDelay: Duration
    private let onFailure: @Sendable (LedgerError) -> Void
    private let condition = NSCondition()
    private var waiting: [Waiting] = []
    private var outcomes: [Outcome] = []
    private var events: [LedgerEntry] = []
    private var state = State.idle
    /// When outcomes and events were last taken.
    private var ridersTaken = DispatchTime.now()
    static let ridersDelay: TimeInterval = 0.05

    public init(ledger: any LedgerStore, commitDelay: Duration = .zero, onFailure: @escaping @Sendable (LedgerError) -> Void = { _ in }) {
        self.ledger = ledger
        self.commitDelay = commitDelay
        self.onFailure = onFailure
    }

    /// Starts the writer's thread.
    public func start() {
        condition.withLock {
            guard state == .idle else { return }
            state = .running
            let thread = Thread { [self] in
                Thread.current.name = "ledger-writer"  // set from the thread itself, so profiles show it
                run()
            }
            thread.start()
        }
    }

    /// Queues the entries; `done` gets their record ids once their batch committed, or the
    /// error (then what they describe must not happen). `done` runs on the writer's thread
    /// (on the caller's, at once, when the writer has stopped).
    public func append(_ entries: [LedgerEntry], then done: @escaping Done) {
        let accepted = condition.withLock { () -> Bool in
            guard state == .running else { return false }
            waiting.append(Waiting(entries: entries, done: done))
            condition.signal()
            return true
        }
        if !accepted { done(.failure(.storage(path: ledger.location, message: "the broker is stopping"))) }
    }

    /// Notes how a recorded statement ended; written with the next batch.
    public func outcome(_ result: ResultBody.Outcome, session: String, identity: String, target: String) {
        condition.withLock {
            wakeForRiders()
            outcomes.append(Outcome(session: session, identity: identity, target: target, result: result))
        }
    }

    /// An event (a refused login, a protocol violation), written with the next batch.
    public func event(_ entry: LedgerEntry) {
        condition.withLock {
            wakeForRiders()
            events.append(entry)
        }
    }

    /// The writer waits without a deadline while nothing at all is queued: the first rider
    /// wakes it, so it writes the riders within `ridersDelay`.
    private func wakeForRiders() {
        if outcomes.isEmpty, events.isEmpty, waiting.isEmpty { condition.signal() }
    }

    /// Writes everything queued, then ends the thread; later appends fail.
    public func stop() {
        condition.withLock {
            switch state {
            case .idle: state = .stopped
            case .running: state = .stopping
            case .stopping, .stopped: break
            }
            condition.broadcast()
            while state != .stopped { condition.wait() }
        }
        // Riders queued after the thread ended (a connection closing late) are written here.
        let (batch, results, others) = condition.withLock { take(riders: true) }
        write(batch, results, others)
        index(force: true)
    }

    /// Whether the last copy into SQLite failed (said once, not at every retry). Records stay in
    /// the journal meanwhile, read and verified from there, until it is full (`IntakeJournal.limit`).
    private var indexFailed = false
    /// After a failed copy, the next is tried no sooner than this.
    private var indexRetry = DispatchTime(uptimeNanoseconds: 0)
    static let indexRetryDelay: TimeInterval = 1

    /// Copies the journal into SQLite (when due, or now with `force`).
    private func index(force: Bool = false) {
        guard force || DispatchTime.now() >= indexRetry else { return }
        do {
            if force { try ledger.indexJournal(checkpoint: true, flushLineage: false) } else { try ledger.indexJournalIfDue() }
            indexFailed = false
        } catch {
            if !indexFailed { onFailure(error) }
            indexFailed = true
            indexRetry = .now() + Self.indexRetryDelay
        }
    }

    private func run() {
        condition.lock()
        while true {
            while waiting.isEmpty, state == .running {
                if let due = ledger.indexDeadline {
                    let deadline = max(due, indexRetry)
                    // Records wait in the journal: copied into SQLite when due, statements or not.
                    let now = DispatchTime.now()
                    if deadline <= now {
                        condition.unlock()
                        index()
                        condition.lock()
                        continue
                    }
                    let wait = min(Double(deadline.uptimeNanoseconds - now.uptimeNanoseconds) / 1e9,
                                   outcomes.isEmpty && events.isEmpty ? .infinity : Self.ridersDelay)
                    if !condition.wait(until: Date(timeIntervalSinceNow: wait)), !(outcomes.isEmpty && events.isEmpty) { break }
                } else if outcomes.isEmpty, events.isEmpty {
                    condition.wait()
                } else if !condition.wait(until: Date(timeIntervalSinceNow: Self.ridersDelay)) {
                    break
                }
            }
            let stopping = state == .stopping
            let (batch, results, others) = take(riders: stopping || waiting.isEmpty
                || DispatchTime.now().uptimeNanoseconds - ridersTaken.uptimeNanoseconds >= UInt64(Self.ridersDelay * 1e9))
            condition.unlock()
            write(batch, results, others)
            condition.lock()
            if stopping, waiting.isEmpty {
                state = .stopped
                condition.broadcast()
                condition.unlock()
                return
            }
        }
    }

    /// The statements queued, and with `riders` the outcomes and events (with the condition's lock held).
    private func take(riders: Bool) -> ([Waiting], [Outcome], [LedgerEntry]) {
        let batch = waiting
        waiting.removeAll(keepingCapacity: true)
        guard riders else { return (batch, [], []) }
        ridersTaken = .now()
        defer {
            outcomes.removeAll(keepingCapacity: true)
            events.removeAll(keepingCapacity: true)
        }
        return (batch, outcomes, events)
    }

    private func write(_ batch: [Waiting], _ results: [Outcome], _ others: [LedgerEntry]) {
        guard !(batch.isEmpty && results.isEmpty && others.isEmpty) else { return }
        var entries: [LedgerEntry] = []
        entries.reserveCapacity(batch.count + others.count + 4)
        for item in batch { entries += item.entries }
        entries += others
        if !results.isEmpty {
            var bySession: [String: [Outcome]] = [:]
            for outcome in results { bySession[outcome.session, default: []].append(outcome) }
            for (session, outcomes) in bySession.sorted(by: { $0.key < $1.key }) {
                entries.append(LedgerEntry(ResultBody(results: outcomes.map(\.result)), identity: outcomes[0].identity,
                                           target: outcomes[0].target, session: session))
            }
        }
        do {
            // (Before the commit, as a slow disk would: nothing is durable until it ends.)
            if commitDelay > .zero { Thread.sleep(forTimeInterval: Double(commitDelay.components.seconds) + Double(commitDelay.components.attoseconds) / 1e18) }
            let records = try ledger.append(entries, checkpoint: false, index: false)
            var offset = 0
            for item in batch {
                item.done(.success(records[offset..<offset + item.entries.count].map(\.id)))
                offset += item.entries.count
            }
            // Once the batch's callers have their answer: statements that come meanwhile wait, none already waiting.
            index()
        } catch {
            onFailure(error)
            for item in batch { item.done(.failure(error)) }
        }
    }
}
