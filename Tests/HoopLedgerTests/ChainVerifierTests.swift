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
}
