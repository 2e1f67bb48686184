import HoopDetectors
import HoopPolicy
@testable import HoopProxy
import HoopTestSupport
import NIOCore
import XCTest

final class ResultMaskerTests: XCTestCase {
    func message(_ type: Character, _ body: (inout ByteBuffer) -> Void) -> ByteBuffer { WireFixture.message(type, body) }

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

    /// A number cannot be rewritten without corrupting it: one holding a card number is withheld
    /// (NULL); text is masked in place; an ordinary number and an int4 pass.
    func testANumberHoldingACardIsWithheldNotRewritten() throws {
        let engine = try DetectorEngine(detectors: [Detector(kind: .builtin(.creditCard), strategy: .redact)])
        var masker = ResultMasker(engine: engine)
        var stream = rowDescription([("n", 20), ("t", 25), ("m", 20), ("i", 23)])
        var row = dataRow(["4111111111111111", "4111111111111111", "42", "1234567"])
        stream.writeBuffer(&row)
        let result = messages(masker.process(stream))
        XCTAssertEqual(fields(result[1].1), [nil, "[redacted]", "42", "1234567"])
    }

    func binaryRowDescription(_ types: [Int32]) -> ByteBuffer {
        message("T") { b in
            b.writeInteger(Int16(types.count))
            for type in types {
                b.writeNullTerminatedString("c")
                b.writeInteger(Int32(0)); b.writeInteger(Int16(0)); b.writeInteger(type); b.writeInteger(Int16(-1)); b.writeInteger(Int32(-1))
                b.writeInteger(Int16(1))
            }
        }
    }

    func binaryRow(_ values: [[UInt8]?]) -> ByteBuffer {
        message("D") { b in
            b.writeInteger(Int16(values.count))
            for value in values {
                if let value { b.writeInteger(Int32(value.count)); b.writeBytes(value) } else { b.writeInteger(Int32(-1)) }
            }
        }
    }

    func binaryTextArray(_ elements: [String?]) -> [UInt8] {
        var b = ByteBuffer()
        b.writeInteger(Int32(1)); b.writeInteger(Int32(elements.contains(nil) ? 1 : 0)); b.writeInteger(UInt32(25))
        b.writeInteger(Int32(elements.count)); b.writeInteger(Int32(1))
        for element in elements {
            if let element { b.writeInteger(Int32(element.utf8.count)); b.writeString(element) } else { b.writeInteger(Int32(-1)) }
        }
        return Array(b.readableBytesView)
    }

    func binaryRecord(_ fields: [(UInt32, [UInt8]?)]) -> [UInt8] {
        var b = ByteBuffer()
        b.writeInteger(Int32(fields.count))
        for (type, value) in fields {
            b.writeInteger(type)
            if let value { b.writeInteger(Int32(value.count)); b.writeBytes(value) } else { b.writeInteger(Int32(-1)) }
        }
        return Array(b.readableBytesView)
    }

    func binaryFields(_ body: [UInt8]) -> [[UInt8]?] {
        var buffer = ByteBuffer(bytes: body)
        let count = buffer.readInteger(as: Int16.self)!
        let values: [[UInt8]?] = (0..<Int(count)).map { _ in
            let length = buffer.readInteger(as: Int32.self)!
            return length < 0 ? nil : buffer.readBytes(length: Int(length))!
        }
        XCTAssertEqual(buffer.readableBytes, 0)
        return values
    }

    /// Binary arrays and records are rebuilt with their inner lengths fixed (a client decodes
    /// them); text and jsonb are masked in place; a numeric holding a card is withheld.
    func testBinaryValuesAreMaskedWithoutCorruption() throws {
        let engine = try DetectorEngine(detectors: [Detector(kind: .builtin(.email), strategy: .redact),
                                                    Detector(kind: .builtin(.creditCard), strategy: .redact)])
        var masker = ResultMasker(engine: engine)
        let nested = binaryRecord([(25, Array("to ann@example.com".utf8)), (23, [0, 0, 0, 7]),
                                   (1009, binaryTextArray(["bo@ex.org"]))])
        // numeric 4111111111111111: weight 3, digits 4111 1111 1111 1111.
        var numeric = ByteBuffer()
        numeric.writeInteger(Int16(4)); numeric.writeInteger(Int16(3)); numeric.writeInteger(UInt16(0)); numeric.writeInteger(Int16(0))
        for digit in [4111, 1111, 1111, 1111] { numeric.writeInteger(Int16(digit)) }
        var stream = binaryRowDescription([1009, 2249, 25, 3802, 1700, 1700])
        var row = binaryRow([binaryTextArray(["a ann@example.com", nil, "plain"]), nested, Array("x bo@ex.org".utf8),
                             [1] + Array(#"{"m": "ann@example.com"}"#.utf8), Array(numeric.readableBytesView), [0, 1, 0, 0, 0, 0, 0, 0, 0, 42]])
        stream.writeBuffer(&row)
        let result = messages(masker.process(stream))
        let values = binaryFields(result[1].1)
        XCTAssertEqual(values[0], binaryTextArray(["a [redacted]", nil, "plain"]))
        XCTAssertEqual(values[1], binaryRecord([(25, Array("to [redacted]".utf8)), (23, [0, 0, 0, 7]), (1009, binaryTextArray(["[redacted]"]))]))
        XCTAssertEqual(values[2], Array("x [redacted]".utf8))
        XCTAssertEqual(values[3], [1] + Array(#"{"m": "[redacted]"}"#.utf8))
        XCTAssertNil(values[4], "a number cannot be rewritten: withheld")
        XCTAssertEqual(values[5], [0, 1, 0, 0, 0, 0, 0, 0, 0, 42])
        XCTAssertEqual(ValueMasker.numericText(ByteBuffer(bytes: numeric.readableBytesView)), "4111111111111111")
    }

    /// The masker's own Describe is answered and not sent on; its rows are read by it, whatever
    /// the client saw last. An error before it makes the server skip it: the next description
    /// is the client's again.
    func testRowsAreReadByTheirOwnDescriptionAndOursIsNotSentOn() throws {
        let engine = try DetectorEngine(detectors: [Detector(kind: .builtin(.email), strategy: .redact)])
        var masker = ResultMasker(engine: engine)
        // The client: a zero-column query; then Bind/Execute with no Describe (ours goes first); Sync.
        masker.expect(.query)
        masker.expect(.describe(forwarded: false))
        masker.expect(.sync)
        var parts = [rowDescription([]), dataRow([]), message("C") { $0.writeNullTerminatedString("SELECT 1") }, message("Z") { $0.writeInteger(UInt8(ascii: "I")) },
                     message("2") { _ in }, rowDescription([("notes", 25)]), dataRow(["mail ann@example.com"]),
                     message("C") { $0.writeNullTerminatedString("SELECT 1") }, message("Z") { $0.writeInteger(UInt8(ascii: "I")) }]
        var stream = ByteBuffer()
        for index in parts.indices { stream.writeBuffer(&parts[index]) }
        let result = messages(masker.process(stream))
        XCTAssertEqual(result.map(\.0), ["T", "D", "C", "Z", "2", "D", "C", "Z"], "our Describe's answer is not sent on")
        XCTAssertEqual(fields(result[5].1), ["mail [redacted]"])

        // A failed Bind: the server skips our Describe and the Execute; ReadyForQuery ends the batch.
        masker.expect(.describe(forwarded: false))
        masker.expect(.sync)
        masker.expect(.describe(forwarded: true))
        masker.expect(.sync)
        parts = [message("E") { $0.writeInteger(UInt8(ascii: "M")); $0.writeNullTerminatedString("no"); $0.writeInteger(UInt8(0)) },
                 message("Z") { $0.writeInteger(UInt8(ascii: "I")) }, rowDescription([("n", 25)]), message("Z") { $0.writeInteger(UInt8(ascii: "I")) }]
        stream = ByteBuffer()
        for index in parts.indices { stream.writeBuffer(&parts[index]) }
        XCTAssertEqual(messages(masker.process(stream)).map(\.0), ["E", "Z", "T", "Z"], "the client's own Describe is answered")

        // An Execute fails; the server skips a Query, our Describe and the next Execute up to the
        // Sync; then a Query and our Describe for a later Execute are answered in order.
        for next: ResultMasker.Expected in [.step, .query, .describe(forwarded: false), .step, .sync, .query, .describe(forwarded: false), .step, .sync] {
            masker.expect(next)
        }
        parts = [message("E") { $0.writeInteger(UInt8(ascii: "M")); $0.writeNullTerminatedString("no"); $0.writeInteger(UInt8(0)) },
                 message("Z") { $0.writeInteger(UInt8(ascii: "I")) },
                 rowDescription([("q", 25)]), dataRow(["q ann@example.com"]), message("C") { $0.writeNullTerminatedString("SELECT 1") },
                 message("Z") { $0.writeInteger(UInt8(ascii: "I")) },
                 rowDescription([("n", 23)]), dataRow(["7"]), message("C") { $0.writeNullTerminatedString("SELECT 1") },
                 message("Z") { $0.writeInteger(UInt8(ascii: "I")) }]
        stream = ByteBuffer()
        for index in parts.indices { stream.writeBuffer(&parts[index]) }
        let afterError = messages(masker.process(stream))
        XCTAssertEqual(afterError.map(\.0), ["E", "Z", "T", "D", "C", "Z", "D", "C", "Z"], "the Query's description is sent on, ours is not")
        XCTAssertEqual(fields(afterError[3].1), ["q [redacted]"])

        // Rows nothing describes are opaque: withheld whole when anything is found.
        let rows = dataRow(["mail ann@example.com", "plain"])
        XCTAssertEqual(fields(messages(masker.process(rows))[0].1), [nil, "plain"])
    }

    /// Notifications, parameter statuses and function results carry values too.
    func testNotificationsSettingsAndFunctionResultsAreMasked() throws {
        let engine = try DetectorEngine(detectors: [Detector(kind: .builtin(.email), strategy: .redact)])
        var masker = ResultMasker(engine: engine)
        var stream = message("A") { b in b.writeInteger(Int32(77)); b.writeNullTerminatedString("leak"); b.writeNullTerminatedString("to ann@example.com") }
        var status = message("S") { b in b.writeNullTerminatedString("application_name"); b.writeNullTerminatedString("ann@example.com") }
        var function = message("V") { b in b.writeInteger(Int32(15)); b.writeString("ann@example.com") }
        var clean = message("V") { b in b.writeInteger(Int32(2)); b.writeString("ok") }
        stream.writeBuffer(&status); stream.writeBuffer(&function); stream.writeBuffer(&clean)
        let result = messages(masker.process(stream))
        XCTAssertEqual(result.map(\.0), ["A", "S", "V", "V"])
        XCTAssertEqual(result[0].1, [0, 0, 0, 77] + Array("leak\u{0}to [redacted]\u{0}".utf8))
        XCTAssertEqual(result[1].1, Array("application_name\u{0}[redacted]\u{0}".utf8))
        XCTAssertEqual(result[2].1, [255, 255, 255, 255], "withheld: its type is not known")
        XCTAssertEqual(result[3].1, [0, 0, 0, 2] + Array("ok".utf8))
    }

    /// A rebuilt row keeps every other field as it was: empty strings, NULLs, fields before and after.
    func testARebuiltRowKeepsItsOtherFieldsExactly() throws {
        let engine = try DetectorEngine(detectors: [Detector(kind: .builtin(.email), strategy: .redact)])
        var masker = ResultMasker(engine: engine)
        var stream = rowDescription(Array(repeating: ("t", 25), count: 6))
        var first = dataRow(["", nil, "x ann@example.com", "tail", nil, "bo@ex.org"])
        stream.writeBuffer(&first)
        var unchanged = dataRow(["", nil, "plain"])
        stream.writeBuffer(&unchanged)
        let result = messages(masker.process(stream))
        XCTAssertEqual(result.count, 3)
        XCTAssertEqual(fields(result[1].1), ["", nil, "x [redacted]", "tail", nil, "[redacted]"])
        XCTAssertEqual(fields(result[2].1), ["", nil, "plain"])
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
                                  ("D", "Key (email)=(bo@ex.org) exists."), ("q", "select 'ann@example.com'"), ("P", "8")])
        var plain = notice("N", [("S", "NOTICE"), ("C", "00000"), ("M", "nothing here")])
        stream.writeBuffer(&plain)
        var masker = ResultMasker(engine: engine)
        let result = messages(masker.process(stream))
        XCTAssertEqual(result.map(\.0), ["E", "N"])
        let fields = result[0].1.split(separator: 0).map { (Character(UnicodeScalar($0.first!)), String(decoding: $0.dropFirst(), as: UTF8.self)) }
        XCTAssertEqual(fields.map(\.0), ["S", "C", "M", "D", "q", "P"])
        XCTAssertEqual(fields.map(\.1), ["ERROR", "22P02", "invalid input syntax for type integer: \"mail [redacted]\"", "Key (email)=([redacted]) exists.",
                                          "select '[redacted]'", "8"])
        XCTAssertEqual(result[0].1.last, 0, "the field list still ends with its terminator")
        XCTAssertEqual(String(decoding: result[1].1, as: UTF8.self), "SNOTICE\u{0}C00000\u{0}Mnothing here\u{0}\u{0}")
    }
}
