import HoopDetectors
import NIOCore

/// How one value of a result is read by the detectors, from its type and format.
enum ValueShape: Equatable {
    /// Cannot hold what the detectors look for: booleans, small integers, dates and times, uuids.
    case clear
    /// The bytes are text (text types in either format, arrays of them in text format): masked in place.
    case text
    /// JSON text: masked in place where every match is inside a string, else withheld (a card
    /// number written as a JSON number cannot become `[redacted]`).
    case json
    /// Binary jsonb: a version byte, then JSON text.
    case jsonb
    /// Binary int8 and numeric: their decimal text is scanned (a card number cast to a number).
    case integer, numeric
    /// Binary arrays and records: rebuilt element by element, inner lengths fixed.
    case array, record
    /// Anything else: withheld whole when the detectors find something in it.
    case opaque(binary: Bool)

    /// text, varchar, bpchar, name, unknown, xml.
    static let textTypes: Set<UInt32> = [25, 1043, 1042, 19, 705, 142]
    /// Arrays of those and of "char": text in text format, each element a string. (Records and
    /// arrays of JSON hold values of other types, which a rewrite could break: opaque.)
    static let textFormatStructures: Set<UInt32> = [1009, 1015, 1014, 1003, 1002, 143]
    /// bool, "char", int2, int4, oid, float4, date, time, timestamp, timestamptz, timetz, interval, uuid.
    static let clearTypes: Set<UInt32> = [16, 18, 21, 23, 26, 700, 1082, 1083, 1114, 1184, 1266, 1186, 2950]
    /// Arrays of text types, of jsonb, int8, numeric and records, read as arrays in binary format.
    static let binaryArrays: Set<UInt32> = [1009, 1015, 1014, 1003, 1002, 199, 143, 3807, 2287, 1016, 1231, 1000, 1005, 1007, 1021, 1022]

    init(type: UInt32, binary: Bool) {
        if Self.clearTypes.contains(type) { self = .clear; return }
        if Self.textTypes.contains(type) { self = .text; return }
        if type == 114 || type == 3802 && !binary { self = .json; return }
        if !binary { self = Self.textFormatStructures.contains(type) ? .text : .opaque(binary: false); return }
        switch type {
        case 3802: self = .jsonb
        case 20: self = .integer
        case 1700: self = .numeric
        case 2249: self = .record
        default: self = Self.binaryArrays.contains(type) ? .array : .opaque(binary: true)
        }
    }
}

/// Masks one value by its shape. I/O-free.
struct ValueMasker {
    enum Outcome { case unchanged, masked, withheld }

    let engine: DetectorEngine

    /// Writes the masked value to `output` when the outcome is `.masked`; otherwise what it
    /// wrote is to be discarded by the caller.
    func mask(_ value: ByteBuffer, as shape: ValueShape, into output: inout ByteBuffer) -> Outcome {
        switch shape {
        case .clear:
            return .unchanged
        case .text:
            return value.withUnsafeReadableBytes { engine.mask($0, into: &output) } ? .masked : .unchanged
        case .json:
            return json(value, into: &output)
        case .jsonb:
            guard value.getInteger(at: value.readerIndex, as: UInt8.self) == 1 else { return opaque(value, binary: true) }
            output.writeInteger(UInt8(1))
            return json(value.getSlice(at: value.readerIndex + 1, length: value.readableBytes - 1)!, into: &output)
        case .integer:
            guard value.readableBytes == 8, let number = value.getInteger(at: value.readerIndex, as: Int64.self) else { return opaque(value, binary: true) }
            return finds(Array(String(number).utf8)) ? .withheld : .unchanged
        case .numeric:
            guard let text = Self.numericText(value) else { return opaque(value, binary: true) }
            return finds(Array(text.utf8)) ? .withheld : .unchanged
        case .array, .record:
            return structure(value, isArray: shape == .array, into: &output) ?? opaque(value, binary: true)
        case .opaque(let binary):
            return opaque(value, binary: binary)
        }
    }

    private func finds(_ bytes: [UInt8]) -> Bool { bytes.withUnsafeBytes { engine.finds($0) } }

    /// JSON: in place when every match lies inside one string (the replacement is string
    /// content too); withheld when one is a number, a key's neighbour or spans tokens.
    private func json(_ value: ByteBuffer, into output: inout ByteBuffer) -> Outcome {
        // nil: nothing found; false: a match outside a string, or a value the detectors cannot read.
        let inside: Bool? = value.withUnsafeReadableBytes { bytes in
            guard let ranges = engine.ranges(in: bytes) else { return false }
            guard !ranges.isEmpty else { return nil }
            // Which bytes are the content of a string: after an opening quote, before its closing one.
            var content = [Bool](repeating: false, count: bytes.count)
            var inString = false, escaped = false
            for index in 0..<bytes.count {
                let byte = bytes[index]
                if inString {
                    if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false; continue }
                    content[index] = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = true
                }
            }
            return ranges.allSatisfy { range in content[range].allSatisfy { $0 } && !bytes[range].contains(UInt8(ascii: "\"")) }
        }
        switch inside {
        case nil: return .unchanged
        case true?: return value.withUnsafeReadableBytes { engine.mask($0, into: &output) } ? .masked : .unchanged
        case false?: return .withheld
        }
    }

    /// Withheld when the detectors find anything in the bytes, or, for a binary value that reads
    /// as an array or a record, in any of its elements (length bytes between elements could hide
    /// a match from a scan of the whole).
    private func opaque(_ value: ByteBuffer, binary: Bool) -> Outcome {
        if value.withUnsafeReadableBytes({ engine.finds($0) }) { return .withheld }
        guard binary else { return .unchanged }
        var scratch = ByteBuffer()
        for isArray in [true, false] {
            if let outcome = structure(value, isArray: isArray, into: &scratch, opaqueElements: true), outcome != .unchanged { return .withheld }
        }
        return .unchanged
    }

    /// A binary array or record, rebuilt with each element masked and its length fixed; nil
    /// when the bytes are not one. An element that must be withheld withholds the whole value.
    private func structure(_ value: ByteBuffer, isArray: Bool, into output: inout ByteBuffer, opaqueElements: Bool = false) -> Outcome? {
        var input = value
        let start = output.writerIndex
        var elements: [(type: UInt32, slice: ByteBuffer?)] = []
        if isArray {
            guard let dimensions = input.readInteger(as: Int32.self), (0...6).contains(dimensions),
                  let flags = input.readInteger(as: Int32.self), flags == 0 || flags == 1,
                  let type = input.readInteger(as: UInt32.self) else { return nil }
            var count = dimensions == 0 ? 0 : 1
            output.writeInteger(dimensions); output.writeInteger(flags); output.writeInteger(type)
            for _ in 0..<dimensions {
                guard let size = input.readInteger(as: Int32.self), size >= 0, let lower = input.readInteger(as: Int32.self) else { return nil }
                count = count.multipliedReportingOverflow(by: Int(size)).partialValue
                guard count <= input.readableBytes / 4 else { return nil }
                output.writeInteger(size); output.writeInteger(lower)
            }
            for _ in 0..<count {
                guard let length = input.readInteger(as: Int32.self) else { return nil }
                if length < 0 { elements.append((type, nil)); continue }
                guard let slice = input.readSlice(length: Int(length)) else { return nil }
                elements.append((type, slice))
            }
        } else {
            guard let count = input.readInteger(as: Int32.self), count >= 0, Int(count) <= input.readableBytes / 8 else { return nil }
            output.writeInteger(count)
            for _ in 0..<count {
                guard let type = input.readInteger(as: UInt32.self), let length = input.readInteger(as: Int32.self) else { return nil }
                if length < 0 { elements.append((type, nil)); continue }
                guard let slice = input.readSlice(length: Int(length)) else { return nil }
                elements.append((type, slice))
            }
        }
        guard input.readableBytes == 0 else { return nil }
        var changed = false
        for element in elements {
            if !isArray { output.writeInteger(element.type) }
            guard let slice = element.slice else { output.writeInteger(Int32(-1)); continue }
            let lengthIndex = output.writerIndex
            output.writeInteger(Int32(0))
            let shape = opaqueElements ? .opaque(binary: true) : ValueShape(type: element.type, binary: true)
            switch mask(slice, as: shape, into: &output) {
            case .unchanged:
                output.moveWriterIndex(to: lengthIndex + 4)
                output.writeImmutableBuffer(slice)
            case .masked:
                changed = true
            case .withheld:
                output.moveWriterIndex(to: start)
                return .withheld
            }
            output.setInteger(Int32(output.writerIndex - lengthIndex - 4), at: lengthIndex)
        }
        return changed ? .masked : .unchanged
    }

    /// The decimal text of a binary numeric: digits in base 10000, the first `weight + 1` before the point.
    static func numericText(_ value: ByteBuffer) -> String? {
        var input = value
        guard let count = input.readInteger(as: Int16.self), count >= 0, let weight = input.readInteger(as: Int16.self),
              let sign = input.readInteger(as: UInt16.self), input.readInteger(as: Int16.self) != nil,
              input.readableBytes == Int(count) * 2 else { return nil }
        guard sign != 0xC000 else { return "NaN" }
        var text = sign == 0x4000 ? "-" : ""
        for index in 0..<Int(count) {
            let digit = input.readInteger(as: Int16.self)!
            if index == Int(weight) + 1 { text += "." }
            let group = String(digit)
            text += index == 0 && weight >= 0 ? group : String(repeating: "0", count: 4 - group.count) + group
        }
        if Int(weight) >= Int(count) { text += String(repeating: "0000", count: Int(weight) - Int(count) + 1) }
        return text
    }
}
