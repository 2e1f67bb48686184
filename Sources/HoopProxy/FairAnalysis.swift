import Dispatch
import HoopSQL
import Synchronization

/// Where the proxy analyses texts too large to analyse on an event loop, shared fairly between
/// the identities that send them: each identity's texts wait in a line of their own and the
/// lines take turns, in two lanes (texts over `ParserLimits.sharedBytes` one at a time, the
/// rest a few at a time, as the parser's own limits allow). So a user sending many costly texts
/// from many connections delays another user's text by at most one turn of each line, not by
/// everything queued before it (red team rt18 and rt19: first-come order let one user hold
/// everybody's texts for tens of seconds).
final class FairAnalysis: Sendable {
    typealias Work = @Sendable () -> Void

    private struct Lane {
        let limit: Int
        var running = 0
        var lines: [String: [Work]] = [:]
        /// Whose turn comes next, each identity once.
        var turns: [String] = []

        /// The next work to start, if a place is free.
        mutating func next() -> Work? {
            guard running < limit, !turns.isEmpty else { return nil }
            let key = turns.removeFirst()
            var line = lines[key] ?? []
            guard !line.isEmpty else { return next() }
            let work = line.removeFirst()
            if line.isEmpty {
                lines[key] = nil
            } else {
                lines[key] = line
                turns.append(key)
            }
            running += 1
            return work
        }
    }

    /// Texts over `ParserLimits.sharedBytes`, and the others.
    private enum LaneID: Int { case large = 0, others = 1 }
    private let lanes: Mutex<[Lane]>
    private let queue = DispatchQueue(label: "proxy-analysis", attributes: .concurrent)

    init(largeAtOnce: Int = 1, othersAtOnce: Int = ParserLimits.mediumAtOnce) {
        lanes = Mutex([Lane(limit: largeAtOnce), Lane(limit: othersAtOnce)])  // in LaneID order
    }

    /// Runs `work` (the analysis of a text of `bytes` bytes sent by `identity`) when its turn comes.
    func submit(identity: String, bytes: Int, _ work: @escaping Work) {
        let lane = (bytes > ParserLimits.sharedBytes ? LaneID.large : .others).rawValue
        lanes.withLock { lanes in
            if lanes[lane].lines[identity] == nil { lanes[lane].turns.append(identity) }
            lanes[lane].lines[identity, default: []].append(work)
        }
        pump(lane)
    }

    /// Starts what has a free place.
    private func pump(_ lane: Int) {
        while let work = lanes.withLock({ $0[lane].next() }) {
            queue.async { [self] in
                work()
                lanes.withLock { $0[lane].running -= 1 }
                pump(lane)
            }
        }
    }
}
