import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The uid of the process at the other end of a loopback TCP connection, as the kernel lists
/// it in /proc/net/tcp (the client's own socket, whose local port is the one we see as remote).
/// Lets TCP callers be counted per user, as unix-socket callers are through SO_PEERCRED.
enum LoopbackPeer {
    static func uid(clientPort: Int, serverPort: Int) -> UInt32? {
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            guard let text = read(table) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                guard fields.count > 7, port(of: fields[1]) == clientPort, port(of: fields[2]) == serverPort else { continue }
                return UInt32(fields[7])
            }
        }
        return nil
    }

    /// The whole of a /proc file (whose size stat reports as 0, so it is read to the end).
    private static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = [], chunk = [UInt8](repeating: 0, count: 65536)
        while bytes.count < 64 << 20 {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            bytes += chunk[..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `0100007F:1F90` → 8080.
    private static func port(of address: Substring) -> Int? {
        address.split(separator: ":").last.flatMap { Int($0, radix: 16) }
    }
}
