import Foundation
import HoopLedger

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
    public init(lines: [TraceLine]) { self.lines = lines }
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
