import Foundation

/// The uid of the process at the other end of a loopback TCP connection, as the kernel lists
/// it in /proc/net/tcp (the client's own socket, whose local port is the one we see as remote).
/// Lets TCP callers be counted per user, as unix-socket callers are through SO_PEERCRED.
enum LoopbackPeer {
    static func uid(clientPort: Int, serverPort: Int) -> UInt32? {
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            guard let text = try? String(contentsOfFile: table, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                guard fields.count > 7, port(of: fields[1]) == clientPort, port(of: fields[2]) == serverPort else { continue }
                return UInt32(fields[7])
            }
        }
        return nil
    }

    /// `0100007F:1F90` → 8080.
    private static func port(of address: Substring) -> Int? {
        address.split(separator: ":").last.flatMap { Int($0, radix: 16) }
    }
}
