import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// How many connections each caller may hold on a listener, and in all: a local user with no
/// access must not exhaust the broker's file descriptors for everyone else. Counted per uid
/// (from the kernel; TCP callers, whose uid the proxy does not learn, count as one); a refusal
/// is reported once per caller until its count falls below the limit again.
public final class ConnectionLimits<Caller: Hashable & Sendable>: Sendable {
    public let perCaller: Int
    public let total: Int
    private let counts = NIOLockedValueBox<(byCaller: [Caller: Int], total: Int, reported: Set<Caller>)>(([:], 0, []))

    public init(perCaller: Int, total: Int) {
        self.perCaller = perCaller
        self.total = total
    }

    public enum Admission: Equatable, Sendable {
        case admitted
        /// Refused; `firstTime` is true the first time this caller hit the limit since it was last under it.
        case refused(limit: String, firstTime: Bool)
    }

    public func admit(_ caller: Caller) -> Admission {
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

    public func release(_ caller: Caller) {
        counts.withLockedValue { state in
            let mine = state.byCaller[caller, default: 1] - 1
            state.byCaller[caller] = mine > 0 ? mine : nil
            state.total -= 1
            if mine < perCaller { state.reported.remove(caller) }
        }
    }
}

/// Whom the proxy counts a connection against before it logs in.
public enum ProxyCaller: Hashable, Sendable, CustomStringConvertible {
    /// A local user, as the kernel says (unix socket, or loopback TCP through sock_diag).
    case uid(UInt32)
    /// A loopback TCP client whose uid could not be learned: they count as one.
    case unknownLocal
    /// A client from the network (TLS listener), by its address.
    case address(String)

    public var description: String {
        switch self {
        case .uid(let uid): "uid \(uid)"
        case .unknownLocal: "TCP clients of unknown uid"
        case .address(let address): address
        }
    }
}
