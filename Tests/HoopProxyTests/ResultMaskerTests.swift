import HoopDetectors
import HoopPolicy
@testable import HoopProxy
import NIOCore
import XCTest

final class ResultMaskerTests: XCTestCase {
    func message(_ type: Character, _ body: (inout ByteBuffer) -> Void) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt8(ascii: type.unicodeScalars.first!))
        buffer.writeInteger(Int32(0))
        body(&buffer)
        buffer.setInteger(Int32(buffer.writerIndex - 1), at: 1)
        return buffer
    }

    func rowDescription(_ columns: [(String, Int32)]) -> ByteBuffer {
        message("T") { b in
            b.writeInteger(Int16(columns.count))
            for (name, type) in columns {
                b.writeNullTerminatedString(name)
                b.writeInteger(Int32(0)); b.writeInteger(Int16(0)); b.writeInteger(type); b.writeInteger(Int16(-1)); b.writeInteger(Int32(-1))
                b.writeInteger(Int16(0))
            }
        }
    }

    func dataRow(_ values: [String?]) -> ByteBuffer {
        message("D") { b in
            b.writeInteger(Int16(values.count))
            for value in values {
                if let value { b.writeInteger(Int32(value.utf8.count)); b.writeString(value) } else { b.writeInteger(Int32(-1)) }
            }
        }
    }

    /// The messages of a stream, as (type, body) pairs.
    func messages(_ buffer: ByteBuffer) -> [(Character, [UInt8])] {
        var buffer = buffer, result: [(Character, [UInt8])] = []
        while let type = buffer.readInteger(as: UInt8.self), let length = buffer.readInteger(as: Int32.self) {
            result.append((Character(UnicodeScalar(type)), buffer.readBytes(length: Int(length) - 4)!))
        }
        XCTAssertEqual(buffer.readableBytes, 0)
        return result
    }

    func testTextValuesAreMaskedInRowsAndCopyWhateverTheCuts() throws {
        let engine = try DetectorEngine(detectors: [Detector(kind: .builtin(.email), strategy: .redact)])
        var stream = rowDescription([("id", 23), ("notes", 25), ("contact", 1043)])
        var parts = [dataRow(["7", "mail ann@example.com today", nil]), dataRow(["8", "nothing here", "bo@ex.org"]),
                     message("C") { $0.writeNullTerminatedString("SELECT 2") },
                     message("H") { b in b.writeInteger(UInt8(0)); b.writeInteger(Int16(1)); b.writeInteger(Int16(0)) },
                     message("d") { $0.writeString("9\tcc ann@example.com\n") }, message("c") { _ in },
                     message("C") { $0.writeNullTerminatedString("COPY 1") }, message("Z") { $0.writeInteger(UInt8(ascii: "I")) }]
        for index in parts.indices { stream.writeBuffer(&parts[index]) }
        let bytes = Array(stream.readableBytesView)
        var random = SystemRandomNumberGenerator()
        for _ in 0..<50 {
            var masker = ResultMasker(engine: engine)
            var output = ByteBuffer()
            var position = 0
            while position < bytes.count {
                let cut = min(bytes.count, position + Int.random(in: 1...40, using: &random))
                var piece = masker.process(ByteBuffer(bytes: bytes[position..<cut]))
                output.writeBuffer(&piece)
                position = cut
            }
            let result = messages(output)
            XCTAssertEqual(result.map(\.0), ["T", "D", "D", "C", "H", "d", "c", "C", "Z"])
            let text = result.map { String(decoding: $0.1, as: UTF8.self) }
            XCTAssertTrue(text[1].contains("mail [redacted] today") && text[1].contains("7"), text[1])
            XCTAssertTrue(text[2].contains("nothing here") && text[2].contains("[redacted]") && !text[2].contains("bo@"), text[2])
            XCTAssertEqual(text[5], "9\tcc [redacted]\n")
        }
    }

    /// A value of many megabytes arriving in many reads is masked whole, once, and the rows
    /// around it pass (issue 14: each read used to copy everything held so far).
    func testALargeValueInManyReadsIsMaskedOnce() throws {
        let engine = try DetectorEngine(detectors: [Detector(kind: .builtin(.email), strategy: .redact)])
        let big = String(repeating: "a", count: 16 << 20) + " ann@example.com"
        var stream = rowDescription([("notes", 25)])
        var parts = [dataRow(["before bo@ex.org"]), dataRow([big]), dataRow(["after"]),
                     message("C") { $0.writeNullTerminatedString("SELECT 3") }]
        for index in parts.indices { stream.writeBuffer(&parts[index]) }
        var masker = ResultMasker(engine: engine)
        var output = ByteBuffer()
        while stream.readableBytes > 0 {
            var piece = masker.process(stream.readSlice(length: min(65_536, stream.readableBytes))!)
            output.writeBuffer(&piece)
        }
        let result = messages(output)
        XCTAssertEqual(result.map(\.0), ["T", "D", "D", "D", "C"])
        let row = result[2].1
        XCTAssertEqual(row.count, 2 + 4 + (16 << 20) + " [redacted]".utf8.count)
        XCTAssertTrue(row.suffix(" [redacted]".utf8.count).elementsEqual(" [redacted]".utf8))
        XCTAssertTrue(String(decoding: result[1].1, as: UTF8.self).hasSuffix("before [redacted]"))
    }

    func testAnIntegerColumnIsLeftAloneWhileTextIsNot() throws {
        let engine = try DetectorEngine(detectors: [Detector(kind: .builtin(.creditCard), strategy: .redact)])
        var masker = ResultMasker(engine: engine)
        var stream = rowDescription([("n", 20), ("t", 25)])
        var row = dataRow(["4111111111111111", "4111111111111111"])
        stream.writeBuffer(&row)
        let result = messages(masker.process(stream))
        XCTAssertEqual(String(decoding: result[1].1, as: UTF8.self).components(separatedBy: "4111111111111111").count - 1, 1,
                       "the bigint stays a number; the text is masked")
    }

    /// A rebuilt row keeps every other field as it was: empty strings, NULLs, fields before and after.
    func testARebuiltRowKeepsItsOtherFieldsExactly() throws {
        let engine = try DetectorEngine(detectors: [Detector(kind: .builtin(.email), strategy: .redact)])
        var masker = ResultMasker(engine: engine)
        var stream = dataRow(["", nil, "x ann@example.com", "tail", nil, "bo@ex.org"])
        var unchanged = dataRow(["", nil, "plain"])
        stream.writeBuffer(&unchanged)
        let result = messages(masker.process(stream))
        XCTAssertEqual(result.count, 2)
        XCTAssertEqual(fields(result[0].1), ["", nil, "x [redacted]", "tail", nil, "[redacted]"])
        XCTAssertEqual(fields(result[1].1), ["", nil, "plain"])
    }

    func fields(_ body: [UInt8]) -> [String?] {
        var buffer = ByteBuffer(bytes: body)
        let count = buffer.readInteger(as: Int16.self)!
        let values: [String?] = (0..<Int(count)).map { _ in
            let length = buffer.readInteger(as: Int32.self)!
            return length < 0 ? nil : buffer.readString(length: Int(length))!
        }
        XCTAssertEqual(buffer.readableBytes, 0)
        return values
    }

    /// Errors and notices quote values; their text fields are masked, their codes left alone.
    func testErrorsAndNoticesAreMaskedFieldByField() throws {
        let engine = try DetectorEngine(detectors: [Detector(kind: .builtin(.email), strategy: .redact)])
        func notice(_ type: Character, _ fields: [(Character, String)]) -> ByteBuffer {
            message(type) { b in
                for (field, value) in fields { b.writeInteger(UInt8(ascii: field.unicodeScalars.first!)); b.writeNullTerminatedString(value) }
                b.writeInteger(UInt8(0))
            }
        }
        var stream = notice("E", [("S", "ERROR"), ("C", "22P02"), ("M", "invalid input syntax for type integer: \"mail ann@example.com\""),
                                  ("D", "Key (email)=(bo@ex.org) exists."), ("P", "8")])
        var plain = notice("N", [("S", "NOTICE"), ("C", "00000"), ("M", "nothing here")])
        stream.writeBuffer(&plain)
        var masker = ResultMasker(engine: engine)
        let result = messages(masker.process(stream))
        XCTAssertEqual(result.map(\.0), ["E", "N"])
        let fields = result[0].1.split(separator: 0).map { (Character(UnicodeScalar($0.first!)), String(decoding: $0.dropFirst(), as: UTF8.self)) }
        XCTAssertEqual(fields.map(\.0), ["S", "C", "M", "D", "P"])
        XCTAssertEqual(fields.map(\.1), ["ERROR", "22P02", "invalid input syntax for type integer: \"mail [redacted]\"", "Key (email)=([redacted]) exists.", "8"])
        XCTAssertEqual(result[0].1.last, 0, "the field list still ends with its terminator")
        XCTAssertEqual(String(decoding: result[1].1, as: UTF8.self), "SNOTICE\u{0}C00000\u{0}Mnothing here\u{0}\u{0}")
    }
}
