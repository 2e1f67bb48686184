import HoopWire
import NIOCore
import XCTest

/// The server's authentication requests and the client's first SASL message, from their bytes.
final class AuthenticationRequestTests: XCTestCase {
    func data(_ write: (inout ByteBuffer) -> Void) -> ByteBuffer {
        var buffer = ByteBuffer()
        write(&buffer)
        return buffer
    }

    func testEachRequestTheProxyActsOn() {
        XCTAssertEqual(AuthenticationRequest(code: 0, data: ByteBuffer()), .ok)
        XCTAssertEqual(AuthenticationRequest(code: 3, data: ByteBuffer()), .cleartextPassword)
        XCTAssertEqual(AuthenticationRequest(code: 5, data: data { $0.writeBytes([1, 2, 3, 4]) }), .md5Password(salt: [1, 2, 3, 4]))
        XCTAssertEqual(AuthenticationRequest(code: 10, data: data {
            $0.writeNullTerminatedString("SCRAM-SHA-256-PLUS")
            $0.writeNullTerminatedString("SCRAM-SHA-256")
            $0.writeInteger(UInt8(0))
        }), .sasl(mechanisms: ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]))
        XCTAssertEqual(AuthenticationRequest(code: 11, data: ByteBuffer(string: "r=abc,s=c2FsdA==,i=4096")), .saslContinue("r=abc,s=c2FsdA==,i=4096"))
        XCTAssertEqual(AuthenticationRequest(code: 12, data: ByteBuffer(string: "v=c2lnbmF0dXJl")), .saslFinal("v=c2lnbmF0dXJl"))
    }

    func testWhatTheProxyDoesNotSpeakOrCannotRead() {
        XCTAssertEqual(AuthenticationRequest(code: 7, data: ByteBuffer()), .other(code: 7), "GSSAPI")
        XCTAssertEqual(AuthenticationRequest(code: 5, data: data { $0.writeBytes([1, 2]) }), .malformed(code: 5), "a short MD5 salt")
        XCTAssertEqual(AuthenticationRequest(code: 11, data: data { $0.writeBytes([0xff, 0xfe]) }), .malformed(code: 11), "SASL data that is not UTF-8")
    }

    func testTheClientsFirstSASLMessage() {
        let initial = SASLInitialResponse(data {
            $0.writeNullTerminatedString("SCRAM-SHA-256")
            $0.writeInteger(Int32(8))
            $0.writeString("n,,n=,r=")
        })
        XCTAssertEqual(initial?.mechanism, "SCRAM-SHA-256")
        XCTAssertEqual(initial?.data, "n,,n=,r=")
        XCTAssertNil(SASLInitialResponse(data {
            $0.writeNullTerminatedString("SCRAM-SHA-256")
            $0.writeInteger(Int32(100))
            $0.writeString("short")
        }), "a length past the message")
        XCTAssertNil(SASLInitialResponse(data { $0.writeNullTerminatedString("SCRAM-SHA-256"); $0.writeInteger(Int32(-2)) }))
        XCTAssertNil(SASLInitialResponse(ByteBuffer(string: "no terminator")))
    }
}
