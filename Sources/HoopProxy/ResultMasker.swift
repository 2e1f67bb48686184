import HoopDetectors
import NIOCore

/// Rewrites what the server sends so that text values pass the in-flight detectors: the fields
/// of DataRow messages whose columns are text, and the rows of COPY ... TO STDOUT in text or
/// CSV format. Everything else passes unchanged. I/O-free: fed the server's bytes in any cuts,
/// it returns the bytes to send on, holding back only an incomplete message.
struct ResultMasker {
    let engine: DetectorEngine
    private var pending: ByteBuffer?
    /// Whether each column of the current result is scanned (nil: no RowDescription seen yet,
    /// so every field is, as the simple protocol sends text).
    private var scanned: [Bool]?
    private var copyingOut = false

    /// Types whose values are text in either format: text, varchar, char, name, "char", json,
    /// jsonb (a version byte then text), xml, unknown.
    static let textTypes: Set<Int32> = [25, 1043, 1042, 19, 18, 114, 3802, 142, 705]
    /// Arrays of those, scanned in text format only (a binary array has inner lengths).
    static let textArrayTypes: Set<Int32> = [1009, 1015, 1014, 1003, 199, 3807, 143]
    /// Above this, types are the database's own (domains over text, enums): scanned in text format.
    static let firstUserType: Int32 = 16384

    init(engine: DetectorEngine) { self.engine = engine }

    mutating func process(_ input: ByteBuffer) -> ByteBuffer {
        var buffer: ByteBuffer
        if var held = pending {
            var input = input
            held.writeBuffer(&input)
            buffer = held
            pending = nil
        } else {
            buffer = input
        }
        var output = ByteBufferAllocator().buffer(capacity: buffer.readableBytes + 64)
        while buffer.readableBytes >= 5 {
            let start = buffer.readerIndex
            let type = buffer.getInteger(at: start, as: UInt8.self)!
            let length = Int(buffer.getInteger(at: start + 1, as: Int32.self)!)
            guard length >= 4 else { break }  // the scanner reports the broken stream
            guard buffer.readableBytes >= length + 1 else { break }
            let message = buffer.readSlice(length: length + 1)!
            switch type {
            case UInt8(ascii: "T"): rowDescription(message); output.writeImmutableBuffer(message)
            case UInt8(ascii: "D"): dataRow(message, into: &output)
            case UInt8(ascii: "H"):
                // CopyOutResponse: overall format 0 (text, csv) or 1 (binary; refused before it runs).
                copyingOut = message.getInteger(at: message.readerIndex + 5, as: UInt8.self) == 0
                output.writeImmutableBuffer(message)
            case UInt8(ascii: "d") where copyingOut: copyData(message, into: &output)
            case UInt8(ascii: "c"), UInt8(ascii: "Z"), UInt8(ascii: "E"):
                copyingOut = false
                output.writeImmutableBuffer(message)
            default:
                output.writeImmutableBuffer(message)
            }
        }
        if buffer.readableBytes > 0 { pending = buffer.slice() }
        return output
    }

    private mutating func rowDescription(_ message: ByteBuffer) {
        var body = message.getSlice(at: message.readerIndex + 5, length: message.readableBytes - 5)!
        guard let count = body.readInteger(as: Int16.self) else { return }
        var columns: [Bool] = []
        for _ in 0..<max(0, Int(count)) {
            guard body.readNullTerminatedString() != nil, body.readInteger(as: Int32.self) != nil, body.readInteger(as: Int16.self) != nil,
                  let type = body.readInteger(as: Int32.self), body.readInteger(as: Int16.self) != nil, body.readInteger(as: Int32.self) != nil,
                  let format = body.readInteger(as: Int16.self) else { scanned = nil; return }
            let text = format == 0
            columns.append(Self.textTypes.contains(type) || (text && (Self.textArrayTypes.contains(type) || type >= Self.firstUserType)))
        }
        scanned = columns
    }

    private func dataRow(_ message: ByteBuffer, into output: inout ByteBuffer) {
        var body = message.getSlice(at: message.readerIndex + 5, length: message.readableBytes - 5)!
        guard let count = body.readInteger(as: Int16.self) else { output.writeImmutableBuffer(message); return }
        // Only rebuilt when a value changes; most rows go through as they came.
        var fields: [ByteBuffer?] = []
        var changed = false
        for index in 0..<Int(count) {
            guard let length = body.readInteger(as: Int32.self) else { output.writeImmutableBuffer(message); return }
            guard length >= 0 else { fields.append(nil); continue }
            guard let value = body.readSlice(length: Int(length)) else { output.writeImmutableBuffer(message); return }
            let scan = scanned.map { index < $0.count && $0[index] } ?? true
            if scan, let masked = value.withUnsafeReadableBytes({ engine.mask($0) }) {
                fields.append(ByteBuffer(bytes: masked))
                changed = true
            } else {
                fields.append(value)
            }
        }
        guard changed else { output.writeImmutableBuffer(message); return }
        let lengthIndex = output.writerIndex + 1
        output.writeInteger(UInt8(ascii: "D"))
        output.writeInteger(Int32(0))
        output.writeInteger(count)
        for field in fields {
            if var field {
                output.writeInteger(Int32(field.readableBytes))
                output.writeBuffer(&field)
            } else {
                output.writeInteger(Int32(-1))
            }
        }
        output.setInteger(Int32(output.writerIndex - lengthIndex), at: lengthIndex)
    }

    private func copyData(_ message: ByteBuffer, into output: inout ByteBuffer) {
        let row = message.getSlice(at: message.readerIndex + 5, length: message.readableBytes - 5)!
        guard let masked = row.withUnsafeReadableBytes({ engine.mask($0) }) else { output.writeImmutableBuffer(message); return }
        output.writeInteger(UInt8(ascii: "d"))
        output.writeInteger(Int32(masked.count + 4))
        output.writeBytes(masked)
    }
}
