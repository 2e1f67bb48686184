import Foundation
import NIOConcurrencyHelpers

/// The keys the proxy hands clients instead of the server's, so a CancelRequest comes to the
/// proxy and goes on to the right backend (and only a client that holds the key can cancel).
public final class CancelRegistry: Sendable {
    public struct Backend: Sendable {
        let endpoint: UpstreamEndpoint
        let processID: Int32
        let secretKey: Int32
    }

    private let entries = NIOLockedValueBox<[Int64: Backend]>([:])

    public init() {}

    /// A fresh key pair for a backend.
    func register(_ backend: Backend) -> (processID: Int32, secretKey: Int32) {
        var generator = SystemRandomNumberGenerator()
        while true {
            let pid = Int32.random(in: 1...Int32.max, using: &generator), key = Int32.random(in: Int32.min...Int32.max, using: &generator)
            let stored = entries.withLockedValue { entries -> Bool in
                let id = Self.id(pid, key)
                guard entries[id] == nil else { return false }
                entries[id] = backend
                return true
            }
            if stored { return (pid, key) }
        }
    }

    func backend(processID: Int32, secretKey: Int32) -> Backend? {
        entries.withLockedValue { $0[Self.id(processID, secretKey)] }
    }

    func remove(processID: Int32, secretKey: Int32) {
        _ = entries.withLockedValue { $0.removeValue(forKey: Self.id(processID, secretKey)) }
    }

    private static func id(_ pid: Int32, _ key: Int32) -> Int64 { Int64(pid) << 32 | Int64(UInt32(bitPattern: key)) }
}
