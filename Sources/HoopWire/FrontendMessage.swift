import NIOCore

/// A message from a client, decoded only as far as the proxy needs. `raw` is the message's own
/// bytes (type, length, body), forwarded unchanged.
public enum FrontendMessage: Sendable {
    // The startup phase: untyped, length-prefixed packets.
    case sslRequest
    case gssEncRequest
    case cancel(processID: Int32, secretKey: Int32)
    case startup(major: Int, minor: Int, parameters: [String: String])

    // After startup: typed messages.
    case query(sql: String, raw: ByteBuffer)
    case parse(name: String, sql: String, raw: ByteBuffer)
    case bind(portal: String, statement: String, raw: ByteBuffer)
    case execute(portal: String, maxRows: Int32, raw: ByteBuffer)
    /// `S` statement or `P` portal.
    case describe(kind: UInt8, name: String, raw: ByteBuffer)
    case close(kind: UInt8, name: String, raw: ByteBuffer)
    case sync(raw: ByteBuffer)
    case flush(raw: ByteBuffer)
    case copyData(raw: ByteBuffer)
    case copyDone(raw: ByteBuffer)
    case copyFail(raw: ByteBuffer)
    case functionCall(oid: UInt32, raw: ByteBuffer)
    case terminate(raw: ByteBuffer)
    /// `p`: a password, SASLInitialResponse or SASLResponse; what it is depends on the exchange.
    case authentication(body: ByteBuffer)

    public static let sslRequestCode: Int32 = 80877103
    public static let gssEncRequestCode: Int32 = 80877104
    public static let cancelRequestCode: Int32 = 80877102
    public static let protocolVersion3: Int32 = 196608

    /// The bytes to forward upstream, for messages that are relayed.
    public var raw: ByteBuffer? {
        switch self {
        case .query(_, let raw), .parse(_, _, let raw), .bind(_, _, let raw), .execute(_, _, let raw), .describe(_, _, let raw),
             .close(_, _, let raw), .sync(let raw), .flush(let raw), .copyData(let raw), .copyDone(let raw), .copyFail(let raw),
             .functionCall(_, let raw), .terminate(let raw):
            return raw
        default:
            return nil
        }
    }
}

extension FrontendMessage {
    /// The parameter types a Parse declared, from its raw bytes (type, length, name, query,
    /// count, types); the decoder has checked the framing, so what does not read is none.
    public static func parameterTypes(ofParse raw: ByteBuffer) -> [Int32] {
        var buffer = raw
        buffer.moveReaderIndex(forwardBy: 5)
        guard buffer.readNullTerminatedString() != nil, buffer.readNullTerminatedString() != nil,
              let count = buffer.readInteger(as: Int16.self), count > 0 else { return [] }
        return (0..<Int(count)).compactMap { _ in buffer.readInteger(as: Int32.self) }
    }
}

/// Whether a connection's client has logged in, shared by its decoder and its handler (on one
/// event loop): until then every message must be small.
public final class LoginGate: @unchecked Sendable {
    public var loggedIn = false
    public init() {}
}

/// Splits a client's byte stream into messages: the startup packets first, then typed messages.
/// Total: any input yields messages or a `WireError`, never a crash or an unbounded buffer.
public struct FrontendDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = FrontendMessage

    /// Startup packets are small; PostgreSQL itself allows 10 000 bytes.
    public static let maxStartupLength = 10_000
    /// Before login only SASL messages come, and they are small: a client with no session
    /// cannot make the proxy hold a large message.
    public static let maxLengthBeforeLogin = 10_000
    public let maxMessageLength: Int
    /// True until the startup packet (after any SSL or GSS requests).
    public private(set) var inStartup = true
    private let gate: LoginGate?
    /// The listener answers SSLRequest with TLS: nothing may follow the request before the
    /// handshake (bytes sent in the clear then would be read as if they had come encrypted).
    private let encryptionOffered: Bool

    public init(maxMessageLength: Int = 64 << 20, gate: LoginGate? = nil, encryptionOffered: Bool = false) {
        self.maxMessageLength = maxMessageLength
        self.gate = gate
        self.encryptionOffered = encryptionOffered
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> FrontendMessage? {
        inStartup ? try decodeStartup(&buffer) : try decodeTyped(&buffer)
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> FrontendMessage? {
        try decode(buffer: &buffer)
    }

    private mutating func decodeStartup(_ buffer: inout ByteBuffer) throws -> FrontendMessage? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: Int32.self) else { return nil }
        guard length >= 8 else { throw WireError.malformed("startup packet length \(length)") }
        guard length <= Self.maxStartupLength else { throw WireError.tooLarge(type: nil, length: Int(length), limit: Self.maxStartupLength) }
        guard var packet = buffer.readSlice(length: Int(length)) else { return nil }
        packet.moveReaderIndex(forwardBy: 4)
        let code = packet.readInteger(as: Int32.self)!
        switch code {
        case FrontendMessage.sslRequestCode:
            guard length == 8 else { throw WireError.malformed("SSLRequest of \(length) bytes") }
            guard !encryptionOffered || buffer.readableBytes == 0 else {
                throw WireError.malformed("unencrypted data after an SSLRequest")
            }
            return .sslRequest
        case FrontendMessage.gssEncRequestCode:
            guard length == 8 else { throw WireError.malformed("GSSENCRequest of \(length) bytes") }
            return .gssEncRequest
        case FrontendMessage.cancelRequestCode:
            guard length == 16, let pid = packet.readInteger(as: Int32.self), let key = packet.readInteger(as: Int32.self) else {
                throw WireError.malformed("CancelRequest of \(length) bytes")
            }
            return .cancel(processID: pid, secretKey: key)
        default:
            let major = Int(code >> 16), minor = Int(code & 0xffff)
            guard major == 3 else { throw WireError.unsupportedProtocol(major: major, minor: minor) }
            var parameters: [String: String] = [:]
            while true {
                let name = try Self.readText(&packet, "a startup parameter name")
                if name.isEmpty { break }
                let value = try Self.readText(&packet, "the value of startup parameter '\(name.prefix(64))'")
                guard parameters[name] == nil else { throw WireError.malformed("startup parameter '\(name.prefix(64))' given twice") }
                parameters[name] = value
            }
            guard packet.readableBytes == 0 else { throw WireError.malformed("bytes after the startup parameters") }
            inStartup = false
            return .startup(major: major, minor: minor, parameters: parameters)
        }
    }

    private func decodeTyped(_ buffer: inout ByteBuffer) throws -> FrontendMessage? {
        guard let (type, length) = Frame.header(buffer) else { return nil }
        guard length >= 4 else { throw WireError.malformed("message \(WireError.name(type)) with length \(length)") }
        let limit = gate?.loggedIn == false ? Self.maxLengthBeforeLogin : maxMessageLength
        guard length <= limit else { throw WireError.tooLarge(type: type, length: length, limit: limit) }
        guard let raw = buffer.readSlice(length: length + 1) else { return nil }
        var body = raw.getSlice(at: raw.readerIndex + 5, length: length - 4)!
        return try Self.message(type: type, body: &body, raw: raw)
    }

    static func message(type: UInt8, body: inout ByteBuffer, raw: ByteBuffer) throws -> FrontendMessage {
        func string(_ what: String) throws -> String { try readText(&body, "\(WireError.name(type)): \(what)") }
        func end() throws {
            guard body.readableBytes == 0 else { throw WireError.malformed("\(WireError.name(type)): \(body.readableBytes) stray bytes") }
        }
        switch type {
        case UInt8(ascii: "Q"):
            let sql = try string("the query")
            try end()
            return .query(sql: sql, raw: raw)
        case UInt8(ascii: "P"):
            let name = try string("the statement name"), sql = try string("the query")
            guard let count = body.readInteger(as: Int16.self), count >= 0, body.readableBytes == Int(count) * 4 else {
                throw WireError.malformed("'P': parameter types do not match their count")
            }
            return .parse(name: name, sql: sql, raw: raw)
        case UInt8(ascii: "B"):
            let portal = try string("the portal name"), statement = try string("the statement name")
            try Self.checkBind(&body)
            return .bind(portal: portal, statement: statement, raw: raw)
        case UInt8(ascii: "E"):
            let portal = try string("the portal name")
            guard let maxRows = body.readInteger(as: Int32.self) else { throw WireError.malformed("'E': no row limit") }
            try end()
            return .execute(portal: portal, maxRows: maxRows, raw: raw)
        case UInt8(ascii: "D"), UInt8(ascii: "C"):
            guard let kind = body.readInteger(as: UInt8.self), kind == UInt8(ascii: "S") || kind == UInt8(ascii: "P") else {
                throw WireError.malformed("\(WireError.name(type)): the target is neither 'S' nor 'P'")
            }
            let name = try string("the name")
            try end()
            return type == UInt8(ascii: "D") ? .describe(kind: kind, name: name, raw: raw) : .close(kind: kind, name: name, raw: raw)
        case UInt8(ascii: "S"):
            try end()
            return .sync(raw: raw)
        case UInt8(ascii: "H"):
            try end()
            return .flush(raw: raw)
        case UInt8(ascii: "d"):
            return .copyData(raw: raw)
        case UInt8(ascii: "c"):
            try end()
            return .copyDone(raw: raw)
        case UInt8(ascii: "f"):
            _ = try string("the error message")
            try end()
            return .copyFail(raw: raw)
        case UInt8(ascii: "F"):
            guard let oid = body.readInteger(as: UInt32.self) else { throw WireError.malformed("'F': no function") }
            return .functionCall(oid: oid, raw: raw)
        case UInt8(ascii: "X"):
            try end()
            return .terminate(raw: raw)
        case UInt8(ascii: "p"):
            return .authentication(body: body)
        default:
            throw WireError.unexpectedMessage(type)
        }
    }

    /// A null-terminated string that must be UTF-8: the proxy analyses exactly the text the
    /// server will run (the upstream session's client_encoding is pinned to UTF8), so bytes
    /// that would decode differently are refused rather than repaired.
    static func readText(_ buffer: inout ByteBuffer, _ what: @autoclosure () -> String) throws -> String {
        guard let end = buffer.readableBytesView.firstIndex(of: 0) else { throw WireError.malformed("\(what()) is not null-terminated") }
        guard let text = String(validating: buffer.readableBytesView[..<end], as: UTF8.self) else {
            throw WireError.malformed("\(what()) is not valid UTF-8")
        }
        buffer.moveReaderIndex(to: end + 1)
        return text
    }

    /// Bind's body: format codes, parameters (length-prefixed, -1 for NULL), result format codes.
    static func checkBind(_ body: inout ByteBuffer) throws {
        func count() throws -> Int {
            guard let value = body.readInteger(as: Int16.self), value >= 0 else { throw WireError.malformed("'B': a negative count") }
            return Int(value)
        }
        let formats = try count()
        guard body.readSlice(length: formats * 2) != nil else { throw WireError.malformed("'B': truncated format codes") }
        for _ in 0..<(try count()) {
            guard let length = body.readInteger(as: Int32.self), length >= -1 else { throw WireError.malformed("'B': a bad parameter length") }
            if length > 0, body.readSlice(length: Int(length)) == nil { throw WireError.malformed("'B': truncated parameter") }
        }
        let results = try count()
        guard body.readSlice(length: results * 2) != nil, body.readableBytes == 0 else {
            throw WireError.malformed("'B': truncated or stray result format codes")
        }
    }
}

/// The common frame: a type byte and a big-endian length that counts itself but not the type.
enum Frame {
    static func header(_ buffer: ByteBuffer) -> (type: UInt8, length: Int)? {
        guard let type = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
              let length = buffer.getInteger(at: buffer.readerIndex + 1, as: Int32.self) else { return nil }
        return (type, Int(length))
    }
}
