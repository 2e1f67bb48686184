@testable import HoopLedger
import XCTest

/// The verifier on its own, over records made in memory.
final class ChainVerifierTests: XCTestCase {
    private func chain(_ count: Int) -> [LedgerRecord] {
        var previous = HashChain.genesis
        return (1...Int64(count)).map { id in
            let body = #"{"n":\#(id)}"#
            let hash = HashChain.hash(id: id, timestamp: id * 1000, kind: "event", identity: "user:a", target: nil,
                                      session: nil, body: body, previousHash: previous)
            defer { previous = hash }
            return LedgerRecord(id: id, timestamp: id * 1000, kind: "event", identity: "user:a", target: nil, session: nil,
                                body: body, previousHash: previous, hash: hash)
        }
    }

    private func verify(_ records: [LedgerRecord], head: (Int64, String)?) -> VerificationReport {
        var verifier = ChainVerifier()
        for record in records where !verifier.consume(record) { break }
        verifier.finish(recordedHead: head.map { (id: $0.0, hash: $0.1) })
        return verifier.report
    }

    func testAnIntactChainPasses() {
        let records = chain(5)
        let report = verify(records, head: (5, records[4].hash))
        XCTAssertNil(report.failure)
        XCTAssertEqual(report.verified, 5)
    }

    /// Statement and result bodies are encoded by hand on the proxy's hot path: byte for byte
    /// what JSONEncoder writes, with every field set and with none of the optional ones.
    func testHandWrittenEncodingsAreJSONEncoders() {
        var full = StatementBody(sql: "select \"a\"/1 -- é\n", fingerprint: "f0", statementClass: "read", decision: "approved", via: "query",
                                 rows: 3, durationMicros: 12, sqlState: "42501", relations: ["public.t", "u"], request: "abc123")
        full.lineage = ["read public.t.a view", "write public.u"]
        let bare = StatementBody(sql: "select 1", fingerprint: "", statementClass: "read", decision: "allow")
        for body in [full, bare] { XCTAssertEqual(body.canonicalJSON(), LedgerCoding.encode(body)) }
        let result = ResultBody(results: [.init(statement: 7, outcome: "failed", rows: nil, durationMicros: 4, sqlState: "57014"),
                                           .init(statement: 8, outcome: "completed", rows: 2, durationMicros: nil, sqlState: nil)])
        XCTAssertEqual(result.canonicalJSON(), LedgerCoding.encode(result))
    }

    /// The encoding is fixed (records written by every earlier version verify): a known vector,
    /// computed apart from this code, with a null, an empty string, a multibyte name, a negative
    /// timestamp and an escape in the body.
    func testTheEncodingIsThatOfEveryEarlierVersion() {
        XCTAssertEqual(HashChain.hash(id: 42, timestamp: -7, kind: "event", identity: nil, target: "", session: "séance",
                                      body: #"{"a":"b\n"}"#, previousHash: HashChain.genesis),
                       "1b3ac29c821cc279b065f594497512388533fd6dff953ee2075056e163d92525")
    }

    func testNullAndEmptyEncodeDifferently() {
        let a = HashChain.hash(id: 1, timestamp: 1, kind: "event", identity: nil, target: "", session: nil, body: "{}", previousHash: HashChain.genesis)
        let b = HashChain.hash(id: 1, timestamp: 1, kind: "event", identity: "", target: nil, session: nil, body: "{}", previousHash: HashChain.genesis)
        XCTAssertNotEqual(a, b)
    }

    func testAGapIsReportedWhereItIs() {
        // Records 3 and 4 removed, and record 5 re-chained onto 2 by someone who knows the algorithm.
        var records = chain(2)
        let hash = HashChain.hash(id: 5, timestamp: 5, kind: "event", identity: nil, target: nil, session: nil, body: "{}",
                                  previousHash: records[1].hash)
        records.append(LedgerRecord(id: 5, timestamp: 5, kind: "event", identity: nil, target: nil, session: nil, body: "{}",
                                    previousHash: records[1].hash, hash: hash))
        let report = verify(records, head: (5, hash))
        XCTAssertEqual(report.failure, VerificationFailure(recordID: 5, reason: .gap(expectedID: 3)))
        XCTAssertEqual(report.failure?.description, "record #5 comes where #3 should: records #3…#4 were removed")
    }

    func testAMissingHeadIsReported() {
        let report = verify(chain(3), head: nil)
        XCTAssertEqual(report.failure, VerificationFailure(recordID: 3, reason: .headMismatch(recordedHeadID: 0)))
    }

    /// `audit verify` on PostgreSQL hashes the bytes libpq holds: the same encoding as the strings'.
    func testHashingBytesAgreesWithHashingStrings() {
        let cases: [(String, String?, String?, String?, String)] = [
            ("event", "user:alice", "prod", nil, #"{"name":"one"}"#),
            ("statement", nil, nil, nil, ""),
            ("session", "user:ünïcödé", "", "0123456789ab", #"{"reason":"naïve \"quoted\" 🙂","phase":"started"}"#),
            ("event", "", "t", "s", String(repeating: "x", count: 5000)),
        ]
        var scratch: [UInt8] = []
        for (index, (kind, identity, target, session, body)) in cases.enumerated() {
            let previous = index == 0 ? HashChain.genesis : String(repeating: "ab", count: 32)
            let id = Int64(index + 1), ts = Int64(1_700_000_000_000_000 + index)
            let hash = HashChain.hash(id: id, timestamp: ts, kind: kind, identity: identity, target: target, session: session, body: body, previousHash: previous)
            func bytes(_ text: String?) -> [UInt8]? { text.map { Array($0.utf8) } }
            func check(_ stored: String, body: String = body, id: Int64 = id) -> Bool {
                let fields = [bytes(kind), bytes(identity), bytes(target), bytes(session), bytes(body), bytes(previous), bytes(stored)]
                return fields[0]!.withUnsafeBufferPointer { k in fields[4]!.withUnsafeBufferPointer { b in fields[5]!.withUnsafeBufferPointer { p in
                    fields[6]!.withUnsafeBufferPointer { h in
                        let i = fields[1], t = fields[2], s = fields[3]
                        return (i ?? []).withUnsafeBufferPointer { ib in (t ?? []).withUnsafeBufferPointer { tb in (s ?? []).withUnsafeBufferPointer { sb in
                            HashChain.matches(id: id, timestamp: ts, kind: k, identity: i == nil ? nil : ib, target: t == nil ? nil : tb,
                                              session: s == nil ? nil : sb, body: b, previousHash: p, storedHash: h, scratch: &scratch)
                        } } }
                    } } } }
            }
            XCTAssertTrue(check(hash), "case \(index)")
            XCTAssertFalse(check(String(hash.dropLast()) + (hash.last == "0" ? "1" : "0")), "a hash one digit off, case \(index)")
            XCTAssertFalse(check(hash, body: body + " "), "a body one byte longer, case \(index)")
            XCTAssertFalse(check(hash, id: id + 1), "another id, case \(index)")
        }
    }
}
