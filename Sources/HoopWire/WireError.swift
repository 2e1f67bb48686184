/// Why bytes on the wire were not a PostgreSQL protocol message we accept. The connection that
/// sent them is closed; the message never quotes the bytes themselves.
public enum WireError: Error, Equatable, CustomStringConvertible, Sendable {
    case malformed(String)
    case tooLarge(type: UInt8?, length: Int, limit: Int)
    case unexpectedMessage(UInt8)
    case unsupportedProtocol(major: Int, minor: Int)

    public var description: String {
        switch self {
        case .malformed(let reason): return "malformed message: \(reason)"
        case .tooLarge(let type, let length, let limit):
            return "message \(type.map(Self.name) ?? "startup") of \(length) bytes exceeds the limit of \(limit)"
        case .unexpectedMessage(let type): return "unexpected message \(Self.name(type))"
        case .unsupportedProtocol(let major, let minor): return "unsupported frontend protocol \(major).\(minor): server supports 3.0"
        }
    }

    static func name(_ type: UInt8) -> String {
        (32..<127).contains(type) ? "'\(Character(UnicodeScalar(type)))'" : "0x\(String(type, radix: 16))"
    }
}
