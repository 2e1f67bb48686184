import Foundation
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// The uid of the process at the other end of a loopback TCP connection, asked of the kernel
/// with one sock_diag query for exactly that socket (the client's: its port is the one we see
/// as remote). Lets TCP callers be counted per user, as unix-socket callers are through
/// SO_PEERCRED, at a cost that does not grow with the number of sockets on the host (reading
/// /proc/net/tcp did: a user holding thousands of sockets made every accept slow).
enum LoopbackPeer {
    /// nil when the kernel does not say (no such socket, no sock_diag): the caller is then unknown.
    static func uid(client: SocketAddressParts, server: SocketAddressParts) -> UInt32? {
        let fd = socket(AF_NETLINK, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 4 /* NETLINK_SOCK_DIAG */)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))

        // nlmsghdr (16 bytes) + inet_diag_req_v2 (56 bytes), host byte order but for the ports and addresses.
        var request = [UInt8](repeating: 0, count: 72)
        func put32(_ value: UInt32, at offset: Int) { withUnsafeBytes(of: value) { request.replaceSubrange(offset..<offset + 4, with: $0) } }
        func put16(_ value: UInt16, at offset: Int) { withUnsafeBytes(of: value) { request.replaceSubrange(offset..<offset + 2, with: $0) } }
        put32(72, at: 0)                           // nlmsg_len
        put16(20, at: 4)                           // SOCK_DIAG_BY_FAMILY
        put16(1, at: 6)                            // NLM_F_REQUEST: one socket, matched exactly
        put32(1, at: 8)                            // nlmsg_seq
        request[16] = UInt8(client.family)         // sdiag_family
        request[17] = UInt8(IPPROTO_TCP)           // sdiag_protocol
        put32(UInt32.max, at: 20)                  // idiag_states: any
        put16(client.port.bigEndian, at: 24)       // id.idiag_sport (the client's socket)
        put16(server.port.bigEndian, at: 26)       // id.idiag_dport
        request.replaceSubrange(28..<44, with: client.address)  // id.idiag_src
        request.replaceSubrange(44..<60, with: server.address)  // id.idiag_dst
        put32(0, at: 60)                           // id.idiag_if
        put32(UInt32.max, at: 64)                  // id.idiag_cookie: INET_DIAG_NOCOOKIE
        put32(UInt32.max, at: 68)
        // With no address a netlink socket sends to the kernel.
        let sent = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        guard sent == 72 else { return nil }
        var answer = [UInt8](repeating: 0, count: 512)
        let received = answer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        // nlmsghdr, then inet_diag_msg: family, state, timer, retrans (4), id (48), expires, rqueue, wqueue (12), uid.
        guard received >= 84, answer[4] == 20, answer[5] == 0 else { return nil }
        return answer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 16 + 64, as: UInt32.self) }
    }

    /// An IPv4 or IPv6 address and port, as sock_diag wants them (addresses in network order, 16 bytes).
    struct SocketAddressParts {
        var family: Int32
        var address: [UInt8]
        var port: UInt16

        init?(_ address: SocketAddress) {
            switch address {
            case .v4(let v4):
                family = AF_INET
                var bytes = withUnsafeBytes(of: v4.address.sin_addr) { Array($0) }
                bytes += [UInt8](repeating: 0, count: 12)
                self.address = bytes
                port = UInt16(bigEndian: v4.address.sin_port)
            case .v6(let v6):
                family = AF_INET6
                self.address = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
                port = UInt16(bigEndian: v6.address.sin6_port)
            default:
                return nil
            }
        }
    }
}
