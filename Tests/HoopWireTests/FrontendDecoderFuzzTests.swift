import HoopWire
import NIOCore
import XCTest

/// A property-based fuzzer of the frontend decoder: valid client streams, mutated (bit flips,
/// truncation, insertions, damaged lengths, spliced streams, random bytes), then decoded whole
/// and in random cuts. Properties: decoding never traps or loops, yields the same messages and
/// the same end whatever the cuts, and every message's raw bytes are exactly what it consumed.
/// HOOPCTL_FUZZ_SEED and HOOPCTL_FUZZ_RUNS replay or extend a run.
final class FrontendDecoderFuzzTests: XCTestCase {
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ bound: Int) -> Int { bound <= 0 ? 0 : Int(next() % UInt64(bound)) }
    }

    static func typed(_ type: Character, _ body: [UInt8]) -> [UInt8] {
        let length = UInt32(body.count + 4)
        return [UInt8(ascii: type.unicodeScalars.first!), UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff),
                UInt8(length & 0xff)] + body
    }

    static func z(_ text: String) -> [UInt8] { Array(text.utf8) + [0] }

    /// Streams a real client could send: startup phase, simple and extended query, COPY, function call.
    static let corpus: [[UInt8]] = {
        let startup = Array(MessageWriter.startup(parameters: [("user", "7f3a9c2e1b4d"), ("database", "shop"), ("application_name", "psql")]).readableBytesView)
        let ssl = Array(MessageWriter.sslRequest().readableBytesView)
        let cancel = Array(MessageWriter.cancelRequest(processID: 42, secretKey: 7).readableBytesView)
        let parse = typed("P", z("s1") + z("select $1::int, 'é'") + [0, 1, 0, 0, 0, 23])
        let bind = typed("B", z("") + z("s1") + [0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0x37, 0, 1, 0, 1])
        let execute = typed("E", z("") + [0, 0, 0, 0])
        let describe = typed("D", [UInt8(ascii: "S")] + z("s1"))
        let close = typed("C", [UInt8(ascii: "P")] + z(""))
        let sync = typed("S", []), flush = typed("H", [])
        let query = typed("Q", z("select 1; select 'a;b' -- x"))
        let copy = typed("Q", z("copy t from stdin")) + typed("d", Array("1\tx\n".utf8)) + typed("c", []) + typed("f", z("stop"))
        let call = typed("F", [0, 0, 4, 0xd2, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0x31, 0, 0])
        let sasl = typed("p", z("SCRAM-SHA-256") + [0, 0, 0, 8] + Array("n,,n=,r=".utf8))
        return [
            ssl + startup + query + typed("X", []),
            startup + parse + bind + describe + execute + sync,
            startup + parse + bind + execute + flush + close + sync + typed("X", []),
            startup + copy + sync,
            startup + call + query,
            startup + sasl + typed("p", Array("c=biws,r=x,p=y".utf8)),
            cancel,
            ssl + ssl + startup,
        ]
    }()

    enum End: Equatable {
        case incomplete(Int)  // bytes left waiting for more
        case error(WireError)
    }

    struct Broken: Error { let reason: String }

    /// Every message (as comparable text) and how decoding ended.
    static func decode(_ input: [UInt8], cuts: [Int]) throws -> (messages: [String], end: End) {
        var decoder = FrontendDecoder(maxMessageLength: 1 << 16)
        var buffer = ByteBuffer()
        var messages: [String] = []
        var written = 0, consumed = 0
        for cut in cuts + [input.count] where cut >= written {
            buffer.writeBytes(input[written..<cut])
            written = cut
            do {
                while true {
                    let before = buffer.readerIndex
                    guard let message = try decoder.decode(buffer: &buffer) else { break }
                    let length = buffer.readerIndex - before
                    guard length > 0 else { throw Broken(reason: "a message from no bytes") }
                    if let raw = message.raw, Array(raw.readableBytesView) != Array(input[consumed..<consumed + length]) {
                        throw Broken(reason: "raw bytes are not the bytes consumed")
                    }
                    consumed += length
                    messages.append(describe(message))
                }
            } catch let error as WireError {
                return (messages, .error(error))
            }
        }
        return (messages, .incomplete(buffer.readableBytes))
    }

    static func describe(_ message: FrontendMessage) -> String {
        switch message {
        case .startup(let major, let minor, let parameters): return "startup \(major).\(minor) \(parameters.sorted { $0.key < $1.key })"
        case .cancel(let pid, let key): return "cancel \(pid) \(key)"
        case .sslRequest: return "ssl"
        case .gssEncRequest: return "gss"
        case .authentication(let body): return "auth \(Array(body.readableBytesView))"
        default: return "\(message.raw.map { Array($0.readableBytesView) } ?? [])"
        }
    }

    func mutate(_ input: [UInt8], _ random: inout Generator) -> [UInt8] {
        var bytes = input
        for _ in 0...random.below(3) {
            switch random.below(7) {
            case 0: if !bytes.isEmpty { bytes[random.below(bytes.count)] ^= UInt8(1 << random.below(8)) }
            case 1: bytes = Array(bytes.prefix(random.below(bytes.count + 1)))
            case 2: bytes.insert(UInt8(truncatingIfNeeded: random.next()), at: random.below(bytes.count + 1))
            case 3: // a length field: set one of its bytes to an extreme
                if bytes.count > 8 { bytes[random.below(bytes.count - 4)] = [0, 0xff, 0x7f, 0x80, 3, 4][random.below(6)] }
            case 4: if !bytes.isEmpty { bytes.remove(at: random.below(bytes.count)) }
            case 5: bytes += Self.corpus[random.below(Self.corpus.count)]  // spliced streams
            default: bytes = (0..<random.below(48)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            }
        }
        return bytes
    }

    func testMutatedStreamsDecodeTotallyAndTheSameInAnyCuts() throws {
        let environment = ProcessInfo.processInfo.environment
        var random = Generator(state: UInt64(environment["HOOPCTL_FUZZ_SEED"] ?? "") ?? 0x686f6f70)
        let runs = Int(environment["HOOPCTL_FUZZ_RUNS"] ?? "") ?? 100_000
        var errors = 0, incomplete = 0, messages = 0
        for _ in 0..<runs {
            let input = mutate(Self.corpus[random.below(Self.corpus.count)], &random)
            let cuts = (0..<random.below(6)).map { _ in random.below(input.count + 1) }.sorted()
            let whole: (messages: [String], end: End), pieces: (messages: [String], end: End)
            do {
                whole = try Self.decode(input, cuts: [])
                pieces = try Self.decode(input, cuts: cuts)
            } catch {
                return XCTFail("\(error) for \(input) cut at \(cuts)")
            }
            guard whole.messages == pieces.messages, whole.end == pieces.end else {
                return XCTFail("cuts \(cuts) change the result of \(input): \(whole) vs \(pieces)")
            }
            messages += whole.messages.count
            if case .error = whole.end { errors += 1 } else { incomplete += 1 }
        }
        XCTAssertGreaterThan(errors, runs / 4, "the mutations reach the error paths")
        print("fuzzed the frontend decoder: \(runs) inputs, \(messages) messages, \(errors) rejected, \(incomplete) complete or waiting")
    }
}
