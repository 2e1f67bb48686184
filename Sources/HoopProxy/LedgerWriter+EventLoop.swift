import HoopLedger
import NIOCore

extension LedgerWriter {
    /// Queues the proxy's entries for a statement; the future holds their record ids once
    /// committed, or fails (and the statement must not be forwarded).
    func record(_ entries: [LedgerEntry], on eventLoop: EventLoop) -> EventLoopFuture<[Int64]> {
        let promise = eventLoop.makePromise(of: [Int64].self)
        append(entries) { promise.completeWith($0.mapError { $0 as any Error }) }
        return promise.futureResult
    }
}
