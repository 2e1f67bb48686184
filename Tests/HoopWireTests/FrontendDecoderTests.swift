import HoopTestSupport
import HoopWire
import NIOCore
import NIOTestUtils
import XCTest

final class FrontendDecoderTests: XCTestCase {
    func message(_ type: Character, _ body: (inout ByteBuffer) -> Void) -> ByteBuffer { WireFixture.message(type, body) }

    func decodeAll(_ bytes: ByteBuffer, startup: Bool = false) throws -> [FrontendMessage] {
        var decoder = FrontendDecoder()
        if !startup {
            var start = MessageWriter.startup(parameters: [("user", "x")])
            _ = try decoder.decode(buffer: &start)
        }
        var buffer = bytes
        var messages: [FrontendMessage] = []
        while let message = try decoder.decode(buffer: &buffer) { messages.append(message) }
        XCTAssertEqual(buffer.readableBytes, 0, "everything consumed")
        return messages
    }

    func testAParsesParameterTypes() {
        XCTAssertEqual(FrontendMessage.parameterTypes(ofParse: WireFixture.parse("select $1, $2", name: "p", types: [23, 25])), [23, 25])
        XCTAssertEqual(FrontendMessage.parameterTypes(ofParse: WireFixture.parse("select 1")), [])
    }

    /// Where TLS is offered, bytes after an SSLRequest came before the handshake, in the clear:
    /// read as if encrypted, they would let a man in the middle speak first (CVE-2021-23214's class).
    func testBytesAfterAnSSLRequestWhereTLSIsOfferedAreRefused() throws {
        var bytes = MessageWriter.sslRequest()
        var startup = MessageWriter.startup(parameters: [("user", "x")])
        bytes.writeBuffer(&startup)
        var offered = FrontendDecoder(encryptionOffered: true)
        XCTAssertThrowsError(try offered.decode(buffer: &bytes)) { XCTAssertTrue("\($0)".contains("unencrypted data after an SSLRequest")) }
        var alone = MessageWriter.sslRequest()
        var separate = FrontendDecoder(encryptionOffered: true)
        guard case .sslRequest = try separate.decode(buffer: &alone) else { return XCTFail("the request alone is fine") }
    }

    func testTheStartupPhase() throws {
        var bytes = MessageWriter.sslRequest()
        var startup = MessageWriter.startup(parameters: [("user", "7f3a9c2e1b4d"), ("database", "shop"), ("application_name", "psql")])
        bytes.writeBuffer(&startup)
        let messages = try decodeAll(bytes, startup: true)
        XCTAssertEqual(messages.count, 2)
        guard case .sslRequest = messages[0], case .startup(3, 0, let parameters) = messages[1] else { return XCTFail("\(messages)") }
        XCTAssertEqual(parameters, ["user": "7f3a9c2e1b4d", "database": "shop", "application_name": "psql"])
        guard case .cancel(42, -7) = try decodeAll(MessageWriter.cancelRequest(processID: 42, secretKey: -7), startup: true).first else {
            return XCTFail("cancel")
        }
    }

    func testMessagesSplitAnywhereDecodeTheSame() throws {
        var stream = message("Q") { $0.writeNullTerminatedString("select 1; select 'a;b'") }
        var parse = message("P") { $0.writeNullTerminatedString("s1"); $0.writeNullTerminatedString("select $1"); $0.writeInteger(Int16(1)); $0.writeInteger(Int32(23)) }
        var bind = message("B") { b in
            b.writeNullTerminatedString(""); b.writeNullTerminatedString("s1")
            b.writeInteger(Int16(0)); b.writeInteger(Int16(2)); b.writeInteger(Int32(1)); b.writeString("7"); b.writeInteger(Int32(-1))
            b.writeInteger(Int16(1)); b.writeInteger(Int16(1))
        }
        var execute = message("E") { $0.writeNullTerminatedString(""); $0.writeInteger(Int32(0)) }
        var sync = message("S") { _ in }
        stream.writeBuffer(&parse); stream.writeBuffer(&bind); stream.writeBuffer(&execute); stream.writeBuffer(&sync)
        let whole = try decodeAll(stream)
        XCTAssertEqual(whole.count, 5)
        // Byte by byte: the same messages.
        var decoder = FrontendDecoder()
        var start = MessageWriter.startup(parameters: [("user", "x")])
        _ = try decoder.decode(buffer: &start)
        var pending = ByteBuffer(), count = 0
        for byte in stream.readableBytesView {
            pending.writeInteger(byte)
            while let _ = try decoder.decode(buffer: &pending) { count += 1 }
        }
        XCTAssertEqual(count, 5)
        guard case .query(let sql, let raw) = whole[0] else { return XCTFail() }
        XCTAssertEqual(sql, "select 1; select 'a;b'")
        XCTAssertEqual(raw.readableBytes, 1 + 4 + sql.utf8.count + 1, "raw is the whole message")
        guard case .bind("", "s1", _) = whole[2], case .execute("", 0, _) = whole[3], case .sync = whole[4] else { return XCTFail("\(whole)") }
    }

    func testTheVerifierAgrees() throws {
        let query = message("Q") { $0.writeNullTerminatedString("select 1") }
        let terminate = message("X") { _ in }
        // NIO's verifier feeds the input whole, byte by byte and in other cuts, and compares.
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: [(query, [FrontendMessageShape.query("select 1")]),
                                                                         (terminate, [.terminate])]) {
            StartedDecoder()
        }
    }

    func testMalformedInputIsAnErrorNeverACrash() {
        var decoder = FrontendDecoder()
        func fails(_ bytes: [UInt8], startup: Bool = false, _ file: StaticString = #filePath, line: UInt = #line) {
            var decoder = FrontendDecoder()
            if !startup { var start = MessageWriter.startup(parameters: [("user", "x")]); _ = try? decoder.decode(buffer: &start) }
            var buffer = ByteBuffer(bytes: bytes)
            XCTAssertThrowsError(try { while try decoder.decode(buffer: &buffer) != nil {} }(), file: file, line: line)
        }
        fails([0, 0, 0, 4, 0, 0, 0, 0], startup: true)                 // startup too short
        fails([0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0], startup: true)     // startup too long
        fails([0, 0, 0, 8, 0, 2, 0, 0], startup: true)                 // protocol 2.0
        fails([0, 0, 0, 12, 0, 3, 0, 0, 0x75, 0, 0x78, 0x79], startup: true)   // a parameter without a value
        fails([UInt8(ascii: "Q"), 0, 0, 0, 3])                         // length below 4
        fails([UInt8(ascii: "Q"), 0, 0, 0, 6, 0x61, 0x62])             // no terminator
        fails([UInt8(ascii: "Z"), 0, 0, 0, 4])                         // not a frontend message
        fails([UInt8(ascii: "Q"), 0x7f, 0xff, 0xff, 0xff])             // over the size limit
        fails([UInt8(ascii: "B"), 0, 0, 0, 10, 0, 0, 0, 0, 0xff, 0xff]) // a negative count
        fails([UInt8(ascii: "Q"), 0, 0, 0, 7, 0x61, 0xe9, 0])          // not UTF-8: never repaired, refused
        fails([0, 0, 0, 14, 0, 3, 0, 0, 0x75, 0, 0xff, 0, 0, 0], startup: true)  // a parameter value that is not UTF-8
        _ = decoder
    }
}

/// What the verifier compares: the messages without their raw bytes.
enum FrontendMessageShape: Equatable {
    case query(String)
    case terminate
    case other
}

struct StartedDecoder: NIOSingleStepByteToMessageDecoder {
    typealias InboundOut = FrontendMessageShape
    var inner: FrontendDecoder = {
        var decoder = FrontendDecoder()
        var start = MessageWriter.startup(parameters: [("user", "x")])
        _ = try! decoder.decode(buffer: &start)
        return decoder
    }()

    mutating func decode(buffer: inout ByteBuffer) throws -> FrontendMessageShape? {
        guard let message = try inner.decode(buffer: &buffer) else { return nil }
        switch message {
        case .query(let sql, _): return .query(sql)
        case .terminate: return .terminate
        default: return .other
        }
    }

    mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> FrontendMessageShape? {
        try decode(buffer: &buffer)
    }
}
