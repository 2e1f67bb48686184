import NIOCore

/// Builds the messages the proxy itself sends, to clients (backend messages) and to servers
/// (frontend messages).
public enum MessageWriter {
    private static func message(_ type: UInt8, _ body: (inout ByteBuffer) -> Void) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: 64)
        buffer.writeInteger(type)
        let lengthIndex = buffer.writerIndex
        buffer.writeInteger(Int32(0))
        body(&buffer)
        buffer.setInteger(Int32(buffer.writerIndex - lengthIndex), at: lengthIndex)
        return buffer
    }

    // MARK: To clients

    public static func authenticationOk() -> ByteBuffer { message(UInt8(ascii: "R")) { $0.writeInteger(Int32(0)) } }

    public static func authenticationSASL(mechanisms: [String]) -> ByteBuffer {
        message(UInt8(ascii: "R")) { buffer in
            buffer.writeInteger(Int32(10))
            for mechanism in mechanisms { buffer.writeNullTerminatedString(mechanism) }
            buffer.writeInteger(UInt8(0))
        }
    }

    public static func authenticationSASLContinue(_ data: String) -> ByteBuffer {
        message(UInt8(ascii: "R")) { $0.writeInteger(Int32(11)); $0.writeString(data) }
    }

    public static func authenticationSASLFinal(_ data: String) -> ByteBuffer {
        message(UInt8(ascii: "R")) { $0.writeInteger(Int32(12)); $0.writeString(data) }
    }

    /// The newest minor version of protocol 3 the proxy speaks, and the `_pq_.` options it does not know.
    public static func negotiateProtocolVersion(newestMinor: Int32, unrecognized: [String]) -> ByteBuffer {
        message(UInt8(ascii: "v")) { buffer in
            buffer.writeInteger(newestMinor)
            buffer.writeInteger(Int32(unrecognized.count))
            for option in unrecognized { buffer.writeNullTerminatedString(option) }
        }
    }

    public static func backendKeyData(processID: Int32, secretKey: Int32) -> ByteBuffer {
        message(UInt8(ascii: "K")) { $0.writeInteger(processID); $0.writeInteger(secretKey) }
    }

    public static func parameterStatus(_ name: String, _ value: String) -> ByteBuffer {
        message(UInt8(ascii: "S")) { $0.writeNullTerminatedString(name); $0.writeNullTerminatedString(value) }
    }

    public static func readyForQuery(_ status: UInt8) -> ByteBuffer {
        message(UInt8(ascii: "Z")) { $0.writeInteger(status) }
    }

    /// `severity` is ERROR or FATAL; the message is what the client shows.
    public static func errorResponse(severity: String = "FATAL", code: String, message text: String, detail: String? = nil,
                                     hint: String? = nil) -> ByteBuffer {
        message(UInt8(ascii: "E")) { buffer in
            for (field, value) in [("S", severity), ("V", severity), ("C", code), ("M", text), ("D", detail), ("H", hint)] {
                guard let value else { continue }
                buffer.writeInteger(UInt8(ascii: Unicode.Scalar(field)!))
                buffer.writeNullTerminatedString(value)
            }
            buffer.writeInteger(UInt8(0))
        }
    }

    /// The single byte that answers an SSLRequest with yes: the TLS handshake follows.
    public static func willEncrypt() -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: 1)
        buffer.writeInteger(UInt8(ascii: "S"))
        return buffer
    }

    /// The single byte that answers an SSLRequest or GSSENCRequest: not here.
    public static func noEncryption() -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: 1)
        buffer.writeInteger(UInt8(ascii: "N"))
        return buffer
    }

    // MARK: To servers

    public static func startup(parameters: [(String, String)]) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: 128)
        buffer.writeInteger(Int32(0))
        buffer.writeInteger(FrontendMessage.protocolVersion3)
        for (name, value) in parameters {
            buffer.writeNullTerminatedString(name)
            buffer.writeNullTerminatedString(value)
        }
        buffer.writeInteger(UInt8(0))
        buffer.setInteger(Int32(buffer.writerIndex), at: 0)
        return buffer
    }

    public static func sslRequest() -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: 8)
        buffer.writeInteger(Int32(8))
        buffer.writeInteger(FrontendMessage.sslRequestCode)
        return buffer
    }

    public static func cancelRequest(processID: Int32, secretKey: Int32) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: 16)
        buffer.writeInteger(Int32(16))
        buffer.writeInteger(FrontendMessage.cancelRequestCode)
        buffer.writeInteger(processID)
        buffer.writeInteger(secretKey)
        return buffer
    }

    public static func saslInitialResponse(mechanism: String, data: String) -> ByteBuffer {
        message(UInt8(ascii: "p")) { buffer in
            buffer.writeNullTerminatedString(mechanism)
            buffer.writeInteger(Int32(data.utf8.count))
            buffer.writeString(data)
        }
    }

    public static func saslResponse(_ data: String) -> ByteBuffer {
        message(UInt8(ascii: "p")) { $0.writeString(data) }
    }

    public static func password(_ text: String) -> ByteBuffer {
        message(UInt8(ascii: "p")) { $0.writeNullTerminatedString(text) }
    }

    public static func terminate() -> ByteBuffer { message(UInt8(ascii: "X")) { _ in } }

    public static func query(_ sql: String) -> ByteBuffer {
        message(UInt8(ascii: "Q")) { $0.writeNullTerminatedString(sql) }
    }

    /// Describe of a portal: the proxy asks before an Execute the client did not describe, so
    /// the rows that come back are read by their own description.
    public static func describePortal(_ name: String) -> ByteBuffer {
        message(UInt8(ascii: "D")) { $0.writeInteger(UInt8(ascii: "P")); $0.writeNullTerminatedString(name) }
    }

    /// A client's message with its leading names replaced (Parse: statement; Bind: portal and
    /// statement; Execute: portal; Describe and Close: kind byte kept, then the name), the rest
    /// of its bytes as they were. `raw` is a whole message as the decoder returned it.
    public static func renaming(_ raw: ByteBuffer, to names: [String]) -> ByteBuffer {
        var body = raw
        let type = body.readInteger(as: UInt8.self)!
        body.moveReaderIndex(forwardBy: 4)
        let kind = type == UInt8(ascii: "D") || type == UInt8(ascii: "C") ? body.readInteger(as: UInt8.self) : nil
        for _ in names { _ = body.readNullTerminatedString() }
        return message(type) { buffer in
            if let kind { buffer.writeInteger(kind) }
            for name in names { buffer.writeNullTerminatedString(name) }
            buffer.writeImmutableBuffer(body)
        }
    }

    public static func parse(name: String, sql: String, parameterTypes: [Int32]) -> ByteBuffer {
        message(UInt8(ascii: "P")) { buffer in
            buffer.writeNullTerminatedString(name)
            buffer.writeNullTerminatedString(sql)
            buffer.writeInteger(Int16(parameterTypes.count))
            for type in parameterTypes { buffer.writeInteger(type) }
        }
    }
}
