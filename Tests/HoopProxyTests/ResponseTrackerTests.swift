import HoopProxy
import HoopWire
import XCTest

final class ResponseTrackerTests: XCTestCase {
    typealias Completion = ResponseTracker.Completion
    let error: BackendEvent = .error(fields: [UInt8(ascii: "C"): "42P01"])
    let ready: BackendEvent = .readyForQuery(status: UInt8(ascii: "I"))

    func feed(_ tracker: inout ResponseTracker, _ events: [BackendEvent]) -> [Completion] {
        events.flatMap { tracker.received($0) }
    }

    func testASimpleQueryWithSeveralStatements() {
        var tracker = ResponseTracker()
        tracker.sent(.query([1, 2, 3]))
        let completions = feed(&tracker, [.rowDescription(columns: ["a"]), .commandComplete(tag: "SELECT 2"), .commandComplete(tag: "INSERT 0 1"),
                                          error, ready])
        XCTAssertEqual(completions, [Completion(token: 1, outcome: .completed, rows: 2), Completion(token: 2, outcome: .completed, rows: 1),
                                     Completion(token: 3, outcome: .failed, sqlState: "42P01")])
        XCTAssertTrue(tracker.isIdle)
    }

    func testAnErrorSkipsTheRestOfTheString() {
        var tracker = ResponseTracker()
        tracker.sent(.query([1, 2, 3]))
        XCTAssertEqual(feed(&tracker, [error, ready]), [Completion(token: 1, outcome: .failed, sqlState: "42P01"),
                                                        Completion(token: 2, outcome: .skipped), Completion(token: 3, outcome: .skipped)])
    }

    func testTheExtendedProtocolPipelined() {
        var tracker = ResponseTracker()
        for request: ResponseTracker.Request in [.parse, .bind, .describe(statement: false), .execute(1), .sync, .bind, .execute(2), .sync] {
            tracker.sent(request)
        }
        let completions = feed(&tracker, [.parseComplete, .bindComplete, .rowDescription(columns: ["a"]), .commandComplete(tag: "SELECT 1"), ready,
                                          .bindComplete, .portalSuspended, ready])
        XCTAssertEqual(completions, [Completion(token: 1, outcome: .completed, rows: 1), Completion(token: 2, outcome: .suspended)])
        XCTAssertTrue(tracker.isIdle)
    }

    func testAnErrorSkipsToTheSyncEvenWhatCameAfterIt() {
        var tracker = ResponseTracker()
        tracker.sent(.parse)
        tracker.sent(.bind)
        tracker.sent(.execute(1))
        XCTAssertEqual(feed(&tracker, [error]), [Completion(token: 1, outcome: .skipped)])
        // The client, not yet aware, sends more before its Sync.
        tracker.sent(.execute(2))
        tracker.sent(.sync)
        XCTAssertEqual(feed(&tracker, [ready]), [Completion(token: 2, outcome: .skipped)])
        XCTAssertTrue(tracker.isIdle)
    }

    func testAFailedExecuteAndAFunctionCall() {
        var tracker = ResponseTracker()
        tracker.sent(.execute(1))
        tracker.sent(.sync)
        tracker.sent(.functionCall(2))
        XCTAssertEqual(feed(&tracker, [error, ready, .functionCallResponse, ready]),
                       [Completion(token: 1, outcome: .failed, sqlState: "42P01"), Completion(token: 2, outcome: .completed)])
        XCTAssertTrue(tracker.isIdle)
    }

    func testCopyAndAsynchronousMessages() {
        var tracker = ResponseTracker()
        tracker.sent(.query([1]))
        XCTAssertEqual(feed(&tracker, [.copyInResponse, .parameterStatus(name: "x", value: "y"), .commandComplete(tag: "COPY 5"), ready]),
                       [Completion(token: 1, outcome: .completed, rows: 5)])
    }

    func testTheConnectionEndingInterruptsWhatWaits() {
        var tracker = ResponseTracker()
        tracker.sent(.query([1, 2]))
        tracker.sent(.execute(3))
        _ = tracker.received(.commandComplete(tag: "SELECT 1"))
        XCTAssertEqual(tracker.interruptAll(), [Completion(token: 2, outcome: .interrupted), Completion(token: 3, outcome: .interrupted)])
    }

    func testAnExecuteSinceTheLastSyncIsKnown() {
        var tracker = ResponseTracker()
        XCTAssertFalse(tracker.executedSinceSync)
        tracker.sent(.parse)
        tracker.sent(.bind)
        XCTAssertFalse(tracker.executedSinceSync, "nothing has run yet")
        tracker.sent(.execute(1))
        tracker.sent(.parse)
        XCTAssertTrue(tracker.executedSinceSync)
        tracker.sent(.sync)
        XCTAssertFalse(tracker.executedSinceSync)
        tracker.sent(.query([2]))
        XCTAssertFalse(tracker.executedSinceSync)
    }
}
