import HoopTestSupport
import HoopWire
import NIOCore
import XCTest

final class BackendScannerTests: XCTestCase {
    func message(_ type: Character, _ body: (inout ByteBuffer) -> Void) -> ByteBuffer { WireFixture.message(type, body) }

    var stream: ByteBuffer {
        var stream = ByteBuffer()
        var parts = [
            message("T") {
                $0.writeInteger(Int16(2))
                for name in ["id", "email"] { $0.writeNullTerminatedString(name); $0.writeRepeatingByte(0, count: 18) }
            },
            message("D") { $0.writeInteger(Int16(1)); $0.writeInteger(Int32(5000)); $0.writeRepeatingByte(0x61, count: 5000) },
            message("C") { $0.writeNullTerminatedString("SELECT 1") },
            message("E") { $0.writeInteger(UInt8(ascii: "C")); $0.writeNullTerminatedString("42703"); $0.writeInteger(UInt8(0)) },
            MessageWriter.readyForQuery(UInt8(ascii: "I")),
        ]
        for index in parts.indices { stream.writeBuffer(&parts[index]) }
        return stream
    }

    func testEventsAreTheSameHoweverTheStreamIsCut() throws {
        let expected: [BackendEvent] = [.rowDescription(columns: ["id", "email"]), .commandComplete(tag: "SELECT 1"), .error(fields: [UInt8(ascii: "C"): "42703"]),
                                        .readyForQuery(status: UInt8(ascii: "I"))]
        var whole = BackendScanner()
        XCTAssertEqual(try whole.scan(stream), expected)
        for cut in [1, 2, 3, 5, 7, 64, 4096] {
            var scanner = BackendScanner()
            var events: [BackendEvent] = []
            var input = stream
            while input.readableBytes > 0 {
                events += try scanner.scan(input.readSlice(length: min(cut, input.readableBytes))!)
            }
            XCTAssertEqual(events, expected, "cut every \(cut) bytes")
            XCTAssertFalse(scanner.isMidMessage)
        }
    }

    func testAnImpossibleLengthIsAnError() {
        var scanner = BackendScanner()
        XCTAssertThrowsError(try scanner.scan(ByteBuffer(bytes: [UInt8(ascii: "C"), 0, 0, 0, 2])))
        var big = BackendScanner()
        XCTAssertThrowsError(try big.scan(ByteBuffer(bytes: [UInt8(ascii: "E"), 0x7f, 0, 0, 0])), "an error of 2 GB is not kept")
    }

    func testRowCounts() {
        XCTAssertEqual(rowCount(ofCommandTag: "SELECT 12"), 12)
        XCTAssertEqual(rowCount(ofCommandTag: "INSERT 0 3"), 3)
        XCTAssertEqual(rowCount(ofCommandTag: "COPY 1000"), 1000)
        XCTAssertNil(rowCount(ofCommandTag: "CREATE TABLE"))
        XCTAssertNil(rowCount(ofCommandTag: "BEGIN"))
    }
}
