import NIOCore

/// Protocol messages as a client or a server sends them, written from the protocol's
/// description (not by the code under test), for tests that play one side of a connection.
public enum WireFixture {
    public static func message(_ type: Character, _ body: (inout ByteBuffer) -> Void = { _ in }) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt8(ascii: type.unicodeScalars.first!))
        buffer.writeInteger(Int32(0))
        body(&buffer)
        buffer.setInteger(Int32(buffer.writerIndex - 1), at: 1)
        return buffer
    }

    public static func join(_ messages: ByteBuffer...) -> ByteBuffer { join(messages) }

    public static func join(_ messages: [ByteBuffer]) -> ByteBuffer {
        var all = ByteBuffer()
        for var message in messages { all.writeBuffer(&message) }
        return all
    }

    // MARK: Client

    public static func startup(user: String, database: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(Int32(0))
        buffer.writeInteger(Int32(196608))
        for (name, value) in [("user", user), ("database", database)] {
            buffer.writeNullTerminatedString(name)
            buffer.writeNullTerminatedString(value)
        }
        buffer.writeInteger(UInt8(0))
        buffer.setInteger(Int32(buffer.writerIndex), at: 0)
        return buffer
    }

    public static func cancelRequest(processID: Int32, secretKey: Int32) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(Int32(16))
        buffer.writeInteger(Int32(80877102))
        buffer.writeInteger(processID)
        buffer.writeInteger(secretKey)
        return buffer
    }

    public static func saslInitialResponse(_ data: String) -> ByteBuffer {
        message("p") { $0.writeNullTerminatedString("SCRAM-SHA-256"); $0.writeInteger(Int32(data.utf8.count)); $0.writeString(data) }
    }

    public static func saslResponse(_ data: String) -> ByteBuffer { message("p") { $0.writeString(data) } }

    public static func query(_ sql: String) -> ByteBuffer { message("Q") { $0.writeNullTerminatedString(sql) } }

    public static func parse(_ sql: String, name: String = "", types: [Int32] = []) -> ByteBuffer {
        message("P") { b in
            b.writeNullTerminatedString(name)
            b.writeNullTerminatedString(sql)
            b.writeInteger(Int16(types.count))
            for type in types { b.writeInteger(type) }
        }
    }

    /// A Bind of text parameters with text results.
    public static func bind(portal: String = "", statement: String = "", _ parameters: [String?] = []) -> ByteBuffer {
        message("B") { b in
            b.writeNullTerminatedString(portal)
            b.writeNullTerminatedString(statement)
            b.writeInteger(Int16(0))
            b.writeInteger(Int16(parameters.count))
            for parameter in parameters {
                if let parameter { b.writeInteger(Int32(parameter.utf8.count)); b.writeString(parameter) } else { b.writeInteger(Int32(-1)) }
            }
            b.writeInteger(Int16(0))
        }
    }

    public static func describe(portal: String = "") -> ByteBuffer {
        message("D") { $0.writeInteger(UInt8(ascii: "P")); $0.writeNullTerminatedString(portal) }
    }

    public static func execute(portal: String = "", maxRows: Int32 = 0) -> ByteBuffer {
        message("E") { $0.writeNullTerminatedString(portal); $0.writeInteger(maxRows) }
    }

    public static func sync() -> ByteBuffer { message("S") }
    public static func terminate() -> ByteBuffer { message("X") }

    // MARK: Either side

    public static func copyData(_ text: String) -> ByteBuffer { message("d") { $0.writeString(text) } }
    public static func copyDone() -> ByteBuffer { message("c") }

    // MARK: Server

    public static func authenticationOk() -> ByteBuffer { message("R") { $0.writeInteger(Int32(0)) } }

    public static func parameterStatus(_ name: String, _ value: String) -> ByteBuffer {
        message("S") { $0.writeNullTerminatedString(name); $0.writeNullTerminatedString(value) }
    }

    public static func backendKeyData(processID: Int32, secretKey: Int32) -> ByteBuffer {
        message("K") { $0.writeInteger(processID); $0.writeInteger(secretKey) }
    }

    public static func readyForQuery(_ status: Character = "I") -> ByteBuffer {
        message("Z") { $0.writeInteger(UInt8(ascii: status.unicodeScalars.first!)) }
    }

    /// Text columns.
    public static func rowDescription(_ columns: [String]) -> ByteBuffer {
        message("T") { b in
            b.writeInteger(Int16(columns.count))
            for name in columns {
                b.writeNullTerminatedString(name)
                b.writeInteger(Int32(0)); b.writeInteger(Int16(0)); b.writeInteger(Int32(25)); b.writeInteger(Int16(-1)); b.writeInteger(Int32(-1))
                b.writeInteger(Int16(0))
            }
        }
    }

    public static func dataRow(_ values: [String?]) -> ByteBuffer {
        message("D") { b in
            b.writeInteger(Int16(values.count))
            for value in values {
                if let value { b.writeInteger(Int32(value.utf8.count)); b.writeString(value) } else { b.writeInteger(Int32(-1)) }
            }
        }
    }

    public static func commandComplete(_ tag: String) -> ByteBuffer { message("C") { $0.writeNullTerminatedString(tag) } }
    public static func parseComplete() -> ByteBuffer { message("1") }
    public static func bindComplete() -> ByteBuffer { message("2") }
    public static func noData() -> ByteBuffer { message("n") }

    /// CopyInResponse or CopyOutResponse (`G` or `H`) of text columns.
    public static func copyResponse(_ type: Character, columns: Int) -> ByteBuffer {
        message(type) { b in
            b.writeInteger(UInt8(0))
            b.writeInteger(Int16(columns))
            for _ in 0..<columns { b.writeInteger(Int16(0)) }
        }
    }

    public static func error(_ code: String, _ text: String, severity: String = "ERROR") -> ByteBuffer {
        message("E") { b in
            for (field, value) in [("S", severity), ("V", severity), ("C", code), ("M", text)] {
                b.writeInteger(UInt8(ascii: field.unicodeScalars.first!))
                b.writeNullTerminatedString(value)
            }
            b.writeInteger(UInt8(0))
        }
    }

    /// The messages of a stream, by their type letters.
    public static func types(_ buffer: ByteBuffer) -> String {
        var buffer = buffer, letters = ""
        while let type = buffer.readInteger(as: UInt8.self), let length = buffer.readInteger(as: Int32.self) {
            letters.append(Character(UnicodeScalar(type)))
            buffer.moveReaderIndex(forwardBy: Int(length) - 4)
        }
        return letters
    }
}
