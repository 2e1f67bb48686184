import Dispatch
@testable import HoopProxy
import HoopSQL
import Synchronization
import XCTest

/// Large texts' analyses take turns by identity (red team rt19): one user's queue of costly
/// texts delays another user's by one turn, not by the whole queue.
final class FairAnalysisTests: XCTestCase {
    final class Runs: Sendable {
        let started = Mutex<[String]>([])
        let begun = DispatchSemaphore(value: 0)
        let gates = Mutex<[String: DispatchSemaphore]>([:])

        /// Work that notes it started, then waits until `release(name)`.
        func work(_ name: String) -> FairAnalysis.Work {
            let gate = DispatchSemaphore(value: 0)
            gates.withLock { $0[name] = gate }
            return { [self] in
                started.withLock { $0.append(name) }
                begun.signal()
                gate.wait()
            }
        }

        func release(_ name: String) { gates.withLock { $0[name] }?.signal() }
    }

    func testAnotherIdentityWaitsOneTurnNotTheWholeQueue() {
        let analysis = FairAnalysis(largeAtOnce: 1, othersAtOnce: 1)
        let runs = Runs()
        let large = ParserLimits.sharedBytes + 1
        analysis.submit(identity: "user:mallory", bytes: large, runs.work("m1"))
        XCTAssertEqual(runs.begun.wait(timeout: .now() + 5), .success)
        for name in ["m2", "m3", "m4"] { analysis.submit(identity: "user:mallory", bytes: large, runs.work(name)) }
        analysis.submit(identity: "user:alice", bytes: large, runs.work("a1"))
        // Texts up to sharedBytes have a lane of their own: never behind the large ones.
        analysis.submit(identity: "user:bob", bytes: 2048, runs.work("b1"))
        XCTAssertEqual(runs.begun.wait(timeout: .now() + 5), .success)
        XCTAssertEqual(runs.started.withLock { $0 }, ["m1", "b1"])
        for name in ["m1", "m2", "a1", "m3"] {
            runs.release(name)
            XCTAssertEqual(runs.begun.wait(timeout: .now() + 5), .success)
        }
        XCTAssertEqual(runs.started.withLock { $0 }, ["m1", "b1", "m2", "a1", "m3", "m4"])
        for name in ["m4", "b1"] { runs.release(name) }
    }
}
