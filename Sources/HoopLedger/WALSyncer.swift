import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// For `Durability.batched`: fsyncs the ledger's write-ahead log and intake journal a short while after appends,
/// from a thread of its own, so appends never wait for the disk and at most `interval` of
/// committed records is exposed to a power loss (a crash of the process loses nothing).
final class WALSyncer: @unchecked Sendable {
    private let paths: [String]
    private let interval: Duration
    private let condition = NSCondition()
    private var pending = false
    private var stopped = false

    init(paths: [String], interval: Duration) {
        self.paths = paths
        self.interval = interval
        let thread = Thread { [self] in run() }
        thread.name = "hoopctl-ledger-sync"
        thread.start()
    }

    func dirty() {
        condition.withLock {
            pending = true
            condition.signal()
        }
    }

    /// Syncs what is pending and ends the thread.
    func stop() {
        condition.withLock {
            stopped = true
            condition.signal()
        }
    }

    private func run() {
        let micros = UInt32(interval.components.seconds * 1_000_000 + interval.components.attoseconds / 1_000_000_000_000)
        while true {
            let stop = condition.withLock { () -> Bool in
                while !pending && !stopped { condition.wait() }
                return stopped
            }
            if !stop { usleep(micros) }
            condition.withLock { pending = false }
            // fsync on our own descriptor flushes the file's pages, whoever wrote them.
            for path in paths {
                let fd = open(path, O_RDONLY | O_CLOEXEC)
                if fd >= 0 {
                    fsync(fd)
                    close(fd)
                }
            }
            if stop { return }
        }
    }
}
