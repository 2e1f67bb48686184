import NIOCore

/// A server message the proxy acts on. Rows, copy data and notifications are not among them:
/// they pass through without being looked at (or buffered).
public enum BackendEvent: Equatable, Sendable {
    case authentication(code: Int32, data: ByteBuffer)
    case parameterStatus(name: String, value: String)
    case backendKeyData(processID: Int32, secretKey: Int32)
    /// `I` idle, `T` in a transaction, `E` in a failed transaction.
    case readyForQuery(status: UInt8)
    case commandComplete(tag: String)
    case emptyQueryResponse
    case portalSuspended
    /// The fields of an ErrorResponse, by field code (`C` SQLSTATE, `M` message, ...).
    case error(fields: [UInt8: String])
    case parseComplete
    case bindComplete
    case closeComplete
    case noData
    /// The names of the columns (for the ledger: which kind of data came back, never the values).
    case rowDescription(columns: [String])
    case parameterDescription
    case copyInResponse
    case copyOutResponse
    case copyBothResponse
    case functionCallResponse
    case negotiateProtocolVersion
}

/// Follows message boundaries in the server's byte stream, however it is cut into reads, and
/// reports the messages the proxy acts on. The bytes themselves are relayed by the caller
/// unchanged, so a large row is never buffered whole here.
public struct BackendScanner: Sendable {
    /// A message the proxy keeps (an error, a command tag) may not be larger than this.
    public static let maxKeptMessage = 1 << 20

    private var header: [UInt8] = []
    private var type: UInt8 = 0
    private var remaining = 0
    private var kept: ByteBuffer?

    public init() {}

    /// Scans one read's worth of bytes; returns the messages it completed, in order.
    public mutating func scan(_ buffer: ByteBuffer) throws -> [BackendEvent] {
        var input = buffer
        var events: [BackendEvent] = []
        while input.readableBytes > 0 {
            if remaining == 0 && kept == nil {
                // Collect the five header bytes (they may straddle reads).
                while header.count < 5, let byte = input.readInteger(as: UInt8.self) { header.append(byte) }
                guard header.count == 5 else { break }
                type = header[0]
                let length = Int(Int32(bitPattern: UInt32(header[1]) << 24 | UInt32(header[2]) << 16 | UInt32(header[3]) << 8 | UInt32(header[4])))
                header.removeAll(keepingCapacity: true)
                guard length >= 4 else { throw WireError.malformed("server message \(WireError.name(type)) with length \(length)") }
                remaining = length - 4
                if Self.kept.contains(type) {
                    guard remaining <= Self.maxKeptMessage else {
                        throw WireError.tooLarge(type: type, length: remaining, limit: Self.maxKeptMessage)
                    }
                    kept = ByteBufferAllocator().buffer(capacity: remaining)
                }
                if remaining == 0 {
                    if let event = try finish() { events.append(event) }
                    continue
                }
            }
            let take = min(remaining, input.readableBytes)
            if kept != nil {
                var slice = input.readSlice(length: take)!
                kept!.writeBuffer(&slice)
            } else {
                input.moveReaderIndex(forwardBy: take)
            }
            remaining -= take
            if remaining == 0, let event = try finish() { events.append(event) }
        }
        return events
    }

    /// Whether a message is cut off in the middle (the stream must not end here).
    public var isMidMessage: Bool { !header.isEmpty || remaining > 0 }

    static let kept: Set<UInt8> = Set("RSKZCIsE123ntTGHWVv".utf8)

    private mutating func finish() throws -> BackendEvent? {
        var body = kept ?? ByteBuffer()
        kept = nil
        switch type {
        case UInt8(ascii: "R"):
            guard let code = body.readInteger(as: Int32.self) else { throw WireError.malformed("authentication request without a code") }
            return .authentication(code: code, data: body)
        case UInt8(ascii: "S"):
            guard let name = body.readNullTerminatedString(), let value = body.readNullTerminatedString() else {
                throw WireError.malformed("ParameterStatus")
            }
            return .parameterStatus(name: name, value: value)
        case UInt8(ascii: "K"):
            guard let pid = body.readInteger(as: Int32.self), let key = body.readInteger(as: Int32.self) else {
                throw WireError.malformed("BackendKeyData")
            }
            return .backendKeyData(processID: pid, secretKey: key)
        case UInt8(ascii: "Z"):
            guard let status = body.readInteger(as: UInt8.self) else { throw WireError.malformed("ReadyForQuery") }
            return .readyForQuery(status: status)
        case UInt8(ascii: "C"):
            guard let tag = body.readNullTerminatedString() else { throw WireError.malformed("CommandComplete") }
            return .commandComplete(tag: tag)
        case UInt8(ascii: "E"):
            var fields: [UInt8: String] = [:]
            while let code = body.readInteger(as: UInt8.self), code != 0 {
                guard let value = body.readNullTerminatedString() else { throw WireError.malformed("ErrorResponse") }
                fields[code] = value
            }
            return .error(fields: fields)
        case UInt8(ascii: "I"): return .emptyQueryResponse
        case UInt8(ascii: "s"): return .portalSuspended
        case UInt8(ascii: "1"): return .parseComplete
        case UInt8(ascii: "2"): return .bindComplete
        case UInt8(ascii: "3"): return .closeComplete
        case UInt8(ascii: "n"): return .noData
        case UInt8(ascii: "t"): return .parameterDescription
        case UInt8(ascii: "T"):
            guard let count = body.readInteger(as: Int16.self), count >= 0 else { throw WireError.malformed("RowDescription") }
            var columns: [String] = []
            for _ in 0..<Int(count) {
                guard let name = body.readNullTerminatedString(), body.readSlice(length: 18) != nil else { throw WireError.malformed("RowDescription") }
                columns.append(name)
            }
            return .rowDescription(columns: columns)
        case UInt8(ascii: "G"): return .copyInResponse
        case UInt8(ascii: "H"): return .copyOutResponse
        case UInt8(ascii: "W"): return .copyBothResponse
        case UInt8(ascii: "V"): return .functionCallResponse
        case UInt8(ascii: "v"): return .negotiateProtocolVersion
        default: return nil
        }
    }
}

/// The number of rows a CommandComplete tag reports (`SELECT 5`, `INSERT 0 1`, `UPDATE 3`, `COPY 10`).
public func rowCount(ofCommandTag tag: String) -> Int? {
    let words = tag.split(separator: " ")
    guard words.count >= 2, ["SELECT", "INSERT", "UPDATE", "DELETE", "COPY", "MOVE", "FETCH", "MERGE"].contains(words[0]) else { return nil }
    return Int(words.last!)
}
