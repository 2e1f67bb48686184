#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Asks the kernel about TCP ports on 127.0.0.1. Another process may take a port between
/// our question and its use; callers that bind later should be ready to retry.
public enum FreePort {
    /// A port nothing listens on (bind to port 0 and read back what the kernel chose).
    public static func find() -> UInt16? {
        withBoundSocket(port: 0) { fd in
            var address = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let named = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            return named == 0 ? UInt16(bigEndian: address.sin_port) : nil
        } ?? nil
    }

    /// Whether nothing listens on 127.0.0.1:port right now.
    public static func isFree(_ port: UInt16) -> Bool {
        withBoundSocket(port: port) { _ in true } ?? false
    }

    /// Runs `body` with a TCP socket bound to 127.0.0.1:port, or returns nil if it cannot bind.
    private static func withBoundSocket<T>(port: UInt16, _ body: (Int32) -> T) -> T? {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        return bound == 0 ? body(fd) : nil
    }
}
