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
            // Held alone before more is appended: a large message arriving in many reads grows
            // one buffer (amortised) instead of being copied whole at every read.
            pending = nil
            var input = input
            held.writeBuffer(&input)
            buffer = held
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
            case UInt8(ascii: "c"), UInt8(ascii: "Z"):
                copyingOut = false
                output.writeImmutableBuffer(message)
            case UInt8(ascii: "E"), UInt8(ascii: "N"):
                // Errors quote values (`invalid input syntax for type integer: "<a note>"`).
                if type == UInt8(ascii: "E") { copyingOut = false }
                errorOrNotice(message, into: &output)
            default:
                output.writeImmutableBuffer(message)
            }
        }
        if buffer.readableBytes > 0 {
            // Only the incomplete message is kept: what was sent on is let go of.
            if buffer.readerIndex > 0 { buffer.discardReadBytes() }
            pending = buffer
        }
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
        let body = message.getSlice(at: message.readerIndex + 5, length: message.readableBytes - 5)!
        var fields = body
        guard let count = fields.readInteger(as: Int16.self) else { output.writeImmutableBuffer(message); return }
        // Most rows go through as they came: the message is rebuilt from the first changed value on.
        let outputStart = output.writerIndex
        var rewritten = false
        for index in 0..<Int(count) {
            let fieldStart = fields.readerIndex
            guard let length = fields.readInteger(as: Int32.self),
                  length < 0 || fields.readableBytes >= Int(length) else {
                output.moveWriterIndex(to: outputStart)
                output.writeImmutableBuffer(message)
                return
            }
            guard length > 0 else {
                if rewritten { output.writeInteger(length) }
                continue
            }
            let scan = scanned.map { index < $0.count && $0[index] } ?? true
            if scan {
                // The masked value is written where it goes; the output is rolled back when nothing was found.
                let mark = output.writerIndex
                if !rewritten {
                    output.writeInteger(UInt8(ascii: "D"))
                    output.writeInteger(Int32(0))
                    output.writeInteger(count)
                    output.writeImmutableBuffer(body.getSlice(at: 2, length: fieldStart - 2)!)
                }
                let lengthIndex = output.writerIndex
                output.writeInteger(Int32(0))
                let masked = fields.withUnsafeReadableBytes { engine.mask(UnsafeRawBufferPointer(rebasing: $0.prefix(Int(length))), into: &output) }
                if masked {
                    rewritten = true
                    output.setInteger(Int32(output.writerIndex - lengthIndex - 4), at: lengthIndex)
                    fields.moveReaderIndex(forwardBy: Int(length))
                    continue
                }
                output.moveWriterIndex(to: mark)
            }
            if rewritten { output.writeImmutableBuffer(body.getSlice(at: fieldStart, length: 4 + Int(length))!) }
            fields.moveReaderIndex(forwardBy: Int(length))
        }
        guard rewritten else { output.writeImmutableBuffer(message); return }
        output.setInteger(Int32(output.writerIndex - outputStart - 1), at: outputStart + 1)
    }

    /// Field types of ErrorResponse and NoticeResponse that carry text a value can end up in:
    /// message, detail, hint, context, and the names of schema, table, column, type, constraint.
    static let quotingFields: Set<UInt8> = Set("MDHWstcdn".utf8)

    private func errorOrNotice(_ message: ByteBuffer, into output: inout ByteBuffer) {
        var body = message.getSlice(at: message.readerIndex + 5, length: message.readableBytes - 5)!
        let start = output.writerIndex
        output.writeInteger(message.getInteger(at: message.readerIndex, as: UInt8.self)!)
        output.writeInteger(Int32(0))
        var changed = false
        while let field = body.readInteger(as: UInt8.self), field != 0 {
            guard let end = body.readableBytesView.firstIndex(of: 0) else { break }
            let value = body.readSlice(length: end - body.readerIndex)!
            body.moveReaderIndex(forwardBy: 1)
            output.writeInteger(field)
            if Self.quotingFields.contains(field), value.withUnsafeReadableBytes({ engine.mask($0, into: &output) }) {
                changed = true
            } else {
                output.writeImmutableBuffer(value)
            }
            output.writeInteger(UInt8(0))
        }
        output.writeInteger(UInt8(0))
        guard changed, body.readableBytes == 0 else {
            output.moveWriterIndex(to: start)
            output.writeImmutableBuffer(message)
            return
        }
        output.setInteger(Int32(output.writerIndex - start - 1), at: start + 1)
    }

    private func copyData(_ message: ByteBuffer, into output: inout ByteBuffer) {
        let row = message.getSlice(at: message.readerIndex + 5, length: message.readableBytes - 5)!
        let start = output.writerIndex
        output.writeInteger(UInt8(ascii: "d"))
        output.writeInteger(Int32(0))
        if row.withUnsafeReadableBytes({ engine.mask($0, into: &output) }) {
            output.setInteger(Int32(output.writerIndex - start - 1), at: start + 1)
        } else {
            output.moveWriterIndex(to: start)
            output.writeImmutableBuffer(message)
        }
    }
}
