import Foundation
import HoopLedgerModel

/// `POST /v1/audit/records` takes a `LedgerQuery` and answers this.
public struct AuditRecords: Codable, Sendable {
    public var records: [LedgerRecord]
    public init(records: [LedgerRecord]) { self.records = records }
}

/// `POST /v1/audit/verify` answers a `VerificationReport`; both travel as they are.
public typealias AuditVerification = VerificationReport

/// `POST /v1/audit/trace` takes a `TraceQuery` and answers this.
public struct AuditTrace: Codable, Sendable {
    public var lines: [TraceLine]
    /// Whether the lineage index the lines come from was checked against the records.
    public var verification: String?
    public init(lines: [TraceLine], verification: String? = nil) {
        self.lines = lines
        self.verification = verification
    }
}

/// `POST /v1/audit/report` takes this and answers an `AuditReport`.
public struct ReportPeriod: Codable, Sendable {
    public var since: Date
    public var until: Date?
    public init(since: Date, until: Date? = nil) {
        self.since = since
        self.until = until
    }
}

/// `POST /v1/audit/reveal`: an auditor is about to open a session's sealed values. The broker
/// records who, which session, with which key and why, and answers only once that is written.
public struct RevealRequest: Codable, Sendable {
    public var session: String
    public var reason: String
    /// The id of the auditor key the values will be opened with.
    public var key: String
    public init(session: String, reason: String, key: String) {
        self.session = session
        self.reason = reason
        self.key = key
    }
}

public struct RevealRecorded: Codable, Sendable {
    /// The id of the ledger record of the reveal.
    public var record: Int64
    public init(record: Int64) { self.record = record }
}

/// `POST /v1/audit/checkpoint` answers the id of the checkpoint's own record.
public struct LedgerCheckpointMade: Codable, Sendable {
    public var record: Int64
    public init(record: Int64) { self.record = record }
}
