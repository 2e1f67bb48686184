import HoopDetectors
import NIOCore

/// Rewrites what the server sends so that every value that can carry data passes the in-flight
/// detectors: the fields of DataRow, the rows of COPY ... TO STDOUT in text or CSV format,
/// FunctionCallResponse, NotificationResponse, ParameterStatus, and the text of errors and
/// notices. I/O-free: fed the server's bytes in any cuts, it returns the bytes to send on,
/// holding back only an incomplete message.
///
/// A DataRow is read by the RowDescription that describes it, never by one that came before for
/// something else: the proxy sends a Describe of the portal before every Execute the client did
/// not describe itself (`expect(.describe(forwarded: false))`), and its answer is used here and
/// not sent on. Rows nothing describes are read as opaque values (fail closed).
///
/// Each value is either masked in place (text, and text inside text-format arrays and records,
/// binary text and jsonb, binary arrays and records rebuilt with their inner lengths fixed) or,
/// when the detectors find something in a value that cannot be rewritten without corrupting it
/// (a number, a tsvector, a type of the database's own in binary), withheld whole as NULL.
struct ResultMasker {
    /// What the server answers next, in order, as far as row descriptions go.
    enum Expected: Equatable {
        /// A simple Query or FunctionCall: its RowDescriptions describe its rows; ends at ReadyForQuery.
        case query
        /// A Describe: its RowDescription or NoData is sent on only when the client asked for it.
        case describe(forwarded: Bool)
        /// Parse, Bind, Close or Execute: answered by one completion (an error in one makes the
        /// server skip to the Sync, Queries included).
        case step
        /// A Sync: ends at ReadyForQuery; an error before it makes the server skip to it.
        case sync
    }

    let engine: DetectorEngine
    private var pending: ByteBuffer?
    private var expected: [Expected] = []
    private var expectedStart = 0
    /// How each column of the rows that come next is read; nil: nothing describes them.
    private var columns: [ValueShape]?
    private var copyingOut = false

    init(engine: DetectorEngine) { self.engine = engine }

    /// Tells the masker what was sent upstream, in order.
    mutating func expect(_ next: Expected) {
        if expectedStart > 64, expectedStart * 2 > expected.count {
            expected.removeFirst(expectedStart)
            expectedStart = 0
        }
        expected.append(next)
    }

    private var head: Expected? { expectedStart < expected.count ? expected[expectedStart] : nil }
    private mutating func popHead() { if expectedStart < expected.count { expectedStart += 1 } }

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
            case UInt8(ascii: "T"), UInt8(ascii: "n"):
                var forward = true
                if case .describe(let forwarded) = head {
                    popHead()
                    forward = forwarded
                }
                columns = type == UInt8(ascii: "T") ? Self.shapes(of: message) : nil
                if forward { output.writeImmutableBuffer(message) }
            case UInt8(ascii: "D"): dataRow(message, into: &output)
            case UInt8(ascii: "H"):
                // CopyOutResponse: overall format 0 (text, csv) or 1 (binary; refused before it runs).
                copyingOut = message.getInteger(at: message.readerIndex + 5, as: UInt8.self) == 0
                output.writeImmutableBuffer(message)
            case UInt8(ascii: "d") where copyingOut: wholeText(message, from: 5, into: &output)
            case UInt8(ascii: "1"), UInt8(ascii: "2"), UInt8(ascii: "3"):
                if head == .step { popHead() }
                output.writeImmutableBuffer(message)
            case UInt8(ascii: "C"), UInt8(ascii: "s"), UInt8(ascii: "I"):
                // The end of an Execute, or of one statement of a Query (which goes on to its ReadyForQuery).
                if head == .step { popHead() }
                copyingOut = false
                columns = nil
                output.writeImmutableBuffer(message)
            case UInt8(ascii: "Z"):
                copyingOut = false
                columns = nil
                // Ends the Query or Sync it answers, with whatever the server skipped before it.
                while let next = head {
                    popHead()
                    if next == .query || next == .sync { break }
                }
                output.writeImmutableBuffer(message)
            case UInt8(ascii: "E"), UInt8(ascii: "N"):
                if type == UInt8(ascii: "E") {
                    copyingOut = false
                    columns = nil
                    // An error in an extended step: the server skips everything up to the Sync.
                    if let first = head, first != .query {
                        while let next = head, next != .sync { popHead() }
                    }
                }
                // Errors quote values (`invalid input syntax for type integer: "<a note>"`).
                errorOrNotice(message, into: &output)
            case UInt8(ascii: "A"): notification(message, into: &output)
            case UInt8(ascii: "S"): parameterStatus(message, into: &output)
            case UInt8(ascii: "V"): functionResult(message, into: &output)
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

    /// How each column of a RowDescription is read, by its type and format.
    static func shapes(of message: ByteBuffer) -> [ValueShape]? {
        var body = message.getSlice(at: message.readerIndex + 5, length: message.readableBytes - 5)!
        guard let count = body.readInteger(as: Int16.self) else { return nil }
        var shapes: [ValueShape] = []
        for _ in 0..<max(0, Int(count)) {
            guard body.readNullTerminatedString() != nil, body.readInteger(as: Int32.self) != nil, body.readInteger(as: Int16.self) != nil,
                  let type = body.readInteger(as: UInt32.self), body.readInteger(as: Int16.self) != nil, body.readInteger(as: Int32.self) != nil,
                  let format = body.readInteger(as: Int16.self) else { return nil }
            shapes.append(ValueShape(type: type, binary: format == 1))
        }
        return shapes
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
            let shape = columns.map { index < $0.count ? $0[index] : .opaque(binary: true) } ?? .opaque(binary: true)
            guard length > 0, shape != .clear else {
                if rewritten { output.writeImmutableBuffer(body.getSlice(at: fieldStart, length: 4 + max(0, Int(length)))!) }
                fields.moveReaderIndex(forwardBy: max(0, Int(length)))
                continue
            }
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
            let value = fields.getSlice(at: fields.readerIndex, length: Int(length))!
            switch ValueMasker(engine: engine).mask(value, as: shape, into: &output) {
            case .unchanged:
                output.moveWriterIndex(to: mark)
                if rewritten { output.writeImmutableBuffer(body.getSlice(at: fieldStart, length: 4 + Int(length))!) }
            case .masked:
                rewritten = true
                output.setInteger(Int32(output.writerIndex - lengthIndex - 4), at: lengthIndex)
            case .withheld:
                rewritten = true
                output.moveWriterIndex(to: lengthIndex)
                output.writeInteger(Int32(-1))
            }
            fields.moveReaderIndex(forwardBy: Int(length))
        }
        guard rewritten else { output.writeImmutableBuffer(message); return }
        output.setInteger(Int32(output.writerIndex - outputStart - 1), at: outputStart + 1)
    }

    /// Field types of ErrorResponse and NoticeResponse that carry text a value can end up in:
    /// message, detail, hint, context, internal query, and the names of schema, table, column,
    /// type, constraint. (The SQLSTATE, severity, positions and the server's source location
    /// cannot be rewritten without breaking clients; a value reaches them only through a DO
    /// block, which the opaque guardrail refuses by default.)
    static let quotingFields: Set<UInt8> = Set("MDHWqstcdn".utf8)

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
        finishRebuilt(message, from: start, changed: changed && body.readableBytes == 0, into: &output)
    }

    /// Ends a message rebuilt from `start`: its length set when something was masked, otherwise
    /// the message as it came.
    private func finishRebuilt(_ message: ByteBuffer, from start: Int, changed: Bool, into output: inout ByteBuffer) {
        guard changed else {
            output.moveWriterIndex(to: start)
            output.writeImmutableBuffer(message)
            return
        }
        output.setInteger(Int32(output.writerIndex - start - 1), at: start + 1)
    }

    /// A message whose bytes from `offset` on are one text (a COPY row).
    private func wholeText(_ message: ByteBuffer, from offset: Int, into output: inout ByteBuffer) {
        let text = message.getSlice(at: message.readerIndex + offset, length: message.readableBytes - offset)!
        let start = output.writerIndex
        output.writeImmutableBuffer(message.getSlice(at: message.readerIndex, length: offset)!)
        let changed = text.withUnsafeReadableBytes { engine.mask($0, into: &output) }
        finishRebuilt(message, from: start, changed: changed, into: &output)
    }

    /// NotificationResponse: process id, channel, payload; the two strings masked as text.
    private func notification(_ message: ByteBuffer, into output: inout ByteBuffer) {
        nullTerminatedStrings(message, skipping: 4, into: &output)
    }

    /// ParameterStatus: name and value (`set_config('application_name', notes, false)`).
    private func parameterStatus(_ message: ByteBuffer, into output: inout ByteBuffer) {
        nullTerminatedStrings(message, skipping: 0, into: &output)
    }

    /// A message of fixed bytes then NUL-terminated strings, each masked as text.
    private func nullTerminatedStrings(_ message: ByteBuffer, skipping fixed: Int, into output: inout ByteBuffer) {
        var body = message.getSlice(at: message.readerIndex + 5, length: message.readableBytes - 5)!
        let start = output.writerIndex
        output.writeImmutableBuffer(message.getSlice(at: message.readerIndex, length: 5 + min(fixed, body.readableBytes))!)
        body.moveReaderIndex(forwardBy: min(fixed, body.readableBytes))
        var changed = false
        while body.readableBytes > 0, let end = body.readableBytesView.firstIndex(of: 0) {
            let text = body.readSlice(length: end - body.readerIndex)!
            body.moveReaderIndex(forwardBy: 1)
            if text.withUnsafeReadableBytes({ engine.mask($0, into: &output) }) { changed = true } else { output.writeImmutableBuffer(text) }
            output.writeInteger(UInt8(0))
        }
        finishRebuilt(message, from: start, changed: changed && body.readableBytes == 0, into: &output)
    }

    /// FunctionCallResponse: a value of a type the proxy does not know, in a format it does not
    /// know either: withheld whole (NULL) when the detectors find anything in it.
    private func functionResult(_ message: ByteBuffer, into output: inout ByteBuffer) {
        guard let length = message.getInteger(at: message.readerIndex + 5, as: Int32.self), length > 0,
              let value = message.getSlice(at: message.readerIndex + 9, length: Int(length)) else {
            output.writeImmutableBuffer(message)
            return
        }
        let mark = output.writerIndex
        if case .unchanged = ValueMasker(engine: engine).mask(value, as: .opaque(binary: true), into: &output) {
            output.moveWriterIndex(to: mark)
            output.writeImmutableBuffer(message)
            return
        }
        output.moveWriterIndex(to: mark)
        output.writeInteger(UInt8(ascii: "V"))
        output.writeInteger(Int32(8))
        output.writeInteger(Int32(-1))
    }
}
