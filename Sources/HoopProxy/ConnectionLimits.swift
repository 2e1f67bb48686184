import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// How many connections each caller may hold on a listener, and in all: a local user with no
/// access must not exhaust the broker's file descriptors for everyone else. Counted per uid
/// (from the kernel; TCP callers, whose uid the proxy does not learn, count as one); a refusal
/// is reported once per caller until its count falls below the limit again.
public final class ConnectionLimits: Sendable {
    public let perCaller: Int
    public let total: Int
    private let counts = NIOLockedValueBox<(byCaller: [UInt32: Int], total: Int, reported: Set<UInt32>)>(([:], 0, []))

    public init(perCaller: Int, total: Int) {
        self.perCaller = perCaller
        self.total = total
    }

    public enum Admission: Equatable, Sendable {
        case admitted
        /// Refused; `firstTime` is true the first time this caller hit the limit since it was last under it.
        case refused(limit: String, firstTime: Bool)
    }

    /// The caller of a TCP connection, whose uid is not known.
    public static let network = UInt32.max

    public func admit(_ caller: UInt32) -> Admission {
        counts.withLockedValue { state in
            let mine = state.byCaller[caller, default: 0]
            let limit = mine >= perCaller ? "\(perCaller) connections per caller" : state.total >= total ? "\(total) connections in all" : nil
            if let limit {
                let first = state.reported.insert(caller).inserted
                return .refused(limit: limit, firstTime: first)
            }
            state.byCaller[caller] = mine + 1
            state.total += 1
            return .admitted
        }
    }

    public func release(_ caller: UInt32) {
        counts.withLockedValue { state in
            let mine = state.byCaller[caller, default: 1] - 1
            state.byCaller[caller] = mine > 0 ? mine : nil
            state.total -= 1
            if mine < perCaller { state.reported.remove(caller) }
        }
    }
}
