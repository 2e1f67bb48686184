import Foundation
import HoopWire
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// A blocking PostgreSQL wire client over a unix socket, for tests that send what no real
/// client would: it logs in with SCRAM-SHA-256 like libpq, then writes any bytes.
public final class RawPostgresClient {
    public struct Message: Sendable {
        public let type: UInt8
        public let body: [UInt8]

        /// The fields of an ErrorResponse or NoticeResponse, by their one-letter codes.
        public var fields: [Character: String] {
            var result: [Character: String] = [:]
            var rest = body[...]
            while let code = rest.first, code != 0, let end = rest.dropFirst().firstIndex(of: 0) {
                result[Character(UnicodeScalar(code))] = String(decoding: rest[rest.startIndex + 1..<end], as: UTF8.self)
                rest = rest[(end + 1)...]
            }
            return result
        }
    }

    private let fd: Int32
    private var pending: [UInt8] = []

    public init(socketPath: String, timeout: TimeInterval = 5) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestSetupError("socket: \(errno)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array(socketPath.utf8)
        guard path.count < MemoryLayout.size(ofValue: address.sun_path) else { throw TestSetupError("socket path too long") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path)
            raw[path.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw TestSetupError("connect to \(socketPath): errno \(errno)")
        }
        var limit = timeval(tv_sec: Int(timeout), tv_usec: Int(timeout.truncatingRemainder(dividingBy: 1) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    /// Writes the bytes; false when the server has already closed the connection.
    @discardableResult
    public func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { return false }
            offset += written
        }
        return true
    }

    @discardableResult
    public func send(_ buffer: ByteBuffer) -> Bool { send(Array(buffer.readableBytesView)) }

    /// No more bytes from us: the server sees end of file.
    public func shutdownWrites() { shutdown(fd, Int32(SHUT_WR)) }

    /// The next backend message; nil at end of file or on timeout.
    public func read() -> Message? {
        while true {
            if pending.count >= 5 {
                let length = Int(pending[1]) << 24 | Int(pending[2]) << 16 | Int(pending[3]) << 8 | Int(pending[4])
                if length >= 4, pending.count >= length + 1 {
                    let message = Message(type: pending[0], body: Array(pending[5..<length + 1]))
                    pending.removeFirst(length + 1)
                    return message
                }
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { return nil }
            pending += chunk[..<count]
        }
    }

    /// Every message until the server closes the connection (or the timeout passes).
    public func readUntilClosed() -> [Message] {
        var messages: [Message] = []
        while let message = read() { messages.append(message) }
        return messages
    }

    /// Whether the server has closed the connection (reads end of file within the timeout).
    public func isClosed() -> Bool {
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, 0) == 0
    }

    /// Startup and SCRAM-SHA-256, then every message up to ReadyForQuery; throws on an ErrorResponse.
    public func login(user: String, password: String, database: String) throws {
        send(MessageWriter.startup(parameters: [("user", user), ("database", database)]))
        var client = SCRAMClient(password: password)
        while let message = read() {
            switch message.type {
            case UInt8(ascii: "R"):
                let code = Int32(message.body[0]) << 24 | Int32(message.body[1]) << 16 | Int32(message.body[2]) << 8 | Int32(message.body[3])
                let data = String(decoding: message.body[4...], as: UTF8.self)
                switch code {
                case 10: send(MessageWriter.saslInitialResponse(mechanism: SCRAM.mechanism, data: client.clientFirst))
                case 11: send(MessageWriter.saslResponse(try client.receiveServerFirst(data)))
                case 12: try client.receiveServerFinal(data)
                case 0: break
                default: throw TestSetupError("unexpected authentication request \(code)")
                }
            case UInt8(ascii: "E"):
                throw TestSetupError("login refused: \(message.fields["M"] ?? "?")")
            case UInt8(ascii: "Z"):
                return
            default:
                break
            }
        }
        throw TestSetupError("the server closed the connection during login")
    }

    /// A typed frontend message: type byte, length, body.
    public static func message(_ type: Character, _ body: [UInt8]) -> [UInt8] {
        let length = UInt32(body.count + 4)
        return [UInt8(ascii: type.unicodeScalars.first!), UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff),
                UInt8(length & 0xff)] + body
    }
}
