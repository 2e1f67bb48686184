import Foundation
import HoopLedger
import Logging
import NIOCore

/// Group commit for the proxy: statement records from every connection are appended together,
/// one SQLite transaction per batch. A statement is forwarded only once the batch holding its
/// record has committed.
///
/// The first caller to find no batch in progress writes, on its own thread, everything queued
/// by then and by the time it finishes (so a lone statement waits for no other thread); others
/// queue behind it. Outcomes (rows, time, SQLSTATE) and events ride along with the next batch,
/// or are written by a timer when no statements come.
public final class StatementRecorder: @unchecked Sendable {
    struct Pending {
        let entries: [LedgerEntry]
        let promise: EventLoopPromise<[Int64]>
    }

    struct Outcome {
        let session: String
        let identity: String
        let target: String
        let result: ResultBody.Outcome
    }

    private let ledger: Ledger
    private let logger: Logger
    private let lock = NSLock()
    private var pending: [Pending] = []
    private var outcomes: [Outcome] = []
    private var events: [LedgerEntry] = []
    private var writing = false
    private var stopped = false
    private var timer: Thread?
    static let outcomeDelay: UInt32 = 50_000

    public init(ledger: Ledger, logger: Logger) {
        self.ledger = ledger
        self.logger = logger
    }

    /// Starts the timer that writes outcomes and events when no statements carry them.
    public func start() {
        let thread = Thread { [self] in
            while !lock.withLock({ stopped }) {
                usleep(Self.outcomeDelay)
                writeQueued()
            }
        }
        thread.name = "hoopctl-ledger-outcomes"
        timer = thread
        thread.start()
    }

    /// Appends the entries; the future holds their record ids once committed, or fails (and
    /// the statement must not be forwarded).
    public func record(_ entries: [LedgerEntry], on eventLoop: EventLoop) -> EventLoopFuture<[Int64]> {
        let promise = eventLoop.makePromise(of: [Int64].self)
        let stop = lock.withLock { () -> Bool in
            guard !stopped else { return true }
            pending.append(Pending(entries: entries, promise: promise))
            return false
        }
        if stop { promise.fail(RecorderStopped()) } else { writeQueued() }
        return promise.futureResult
    }

    /// Notes how a recorded statement ended; written with the next batch.
    public func outcome(_ result: ResultBody.Outcome, session: String, identity: String, target: String) {
        lock.withLock { outcomes.append(Outcome(session: session, identity: identity, target: target, result: result)) }
    }

    /// An event (a refused login, a protocol violation), written with the next batch.
    public func event(_ entry: LedgerEntry) {
        lock.withLock { events.append(entry) }
    }

    /// Writes what is left; later records fail.
    public func stop() {
        lock.withLock { stopped = true }
        writeQueued()
        while timer?.isFinished == false { usleep(1_000) }
    }

    /// Becomes the writer unless one is at work (it will take what was queued meanwhile).
    private func writeQueued() {
        while true {
            let work = lock.withLock { () -> (batch: [Pending], results: [Outcome], others: [LedgerEntry])? in
                guard !writing, !(pending.isEmpty && outcomes.isEmpty && events.isEmpty) else { return nil }
                writing = true
                defer {
                    pending.removeAll(keepingCapacity: true)
                    outcomes.removeAll(keepingCapacity: true)
                    events.removeAll(keepingCapacity: true)
                }
                return (pending, outcomes, events)
            }
            guard let work else { return }
            write(work.batch, work.results, work.others)
            lock.withLock { writing = false }
        }
    }

    private func write(_ batch: [Pending], _ results: [Outcome], _ others: [LedgerEntry]) {
        var entries = batch.flatMap(\.entries) + others
        if !results.isEmpty {
            var bySession: [String: [Outcome]] = [:]
            for outcome in results { bySession[outcome.session, default: []].append(outcome) }
            for (session, outcomes) in bySession.sorted(by: { $0.key < $1.key }) {
                entries.append(LedgerEntry(ResultBody(results: outcomes.map(\.result)), identity: outcomes[0].identity,
                                           target: outcomes[0].target, session: session))
            }
        }
        do {
            let records = try ledger.append(entries)
            var offset = 0
            for pending in batch {
                pending.promise.succeed(records[offset..<offset + pending.entries.count].map(\.id))
                offset += pending.entries.count
            }
        } catch {
            logger.critical("ledger append failed; statements are refused", metadata: ["error": "\(error)"])
            for pending in batch { pending.promise.fail(error) }
        }
    }
}

struct RecorderStopped: Error, CustomStringConvertible {
    var description: String { "the broker is stopping" }
}
