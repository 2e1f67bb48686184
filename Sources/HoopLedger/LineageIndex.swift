import Foundation
import GRDB

/// The `lineage` table: for `audit trace`, how many statements of each session and shape
/// touched each table and column in each hour. Fed by appended statement records, counted in
/// memory and written at most once a second (or before a trace or report reads it), so a
/// statement costs a dictionary update, not index writes. Derived data: the statement records
/// (hash-chained) keep each statement's lineage; a crash loses at most the last second of it.
public final class LineageIndex: @unchecked Sendable {
    public struct Key: Hashable, Sendable {
        public var item: String
        public var hour: Int64
        public var session: String
        public var fingerprint: String
        public var access: String
        public var masking: String
        public var identity: String
        public var target: String
        public var job: String

        public init(item: String, hour: Int64, session: String, fingerprint: String, access: String, masking: String, identity: String,
                    target: String, job: String) {
            (self.item, self.hour, self.session, self.fingerprint, self.access) = (item, hour, session, fingerprint, access)
            (self.masking, self.identity, self.target, self.job) = (masking, identity, target, job)
        }
    }

    public struct Counts: Sendable {
        public var statements = 0
        public var first = Int64.max
        public var last = Int64.min

        public init(statements: Int = 0, first: Int64 = .max, last: Int64 = .min) {
            (self.statements, self.first, self.last) = (statements, first, last)
        }
    }

    /// One row of a lineage table.
    public struct Row: Sendable {
        public var key: Key
        public var counts: Counts
        public init(key: Key, counts: Counts) {
            self.key = key
            self.counts = counts
        }
    }

    public init() {}

    private let lock = NSLock()
    private var pending: [Key: Counts] = [:]
    private var lastFlush = Date()
    static let flushInterval: TimeInterval = 1

    public static let hourMicros: Int64 = 3_600_000_000

    public func add(_ lineage: StatementLineage, timestamp: Int64, identity: String?, target: String?, session: String?) {
        let hour = timestamp / Self.hourMicros * Self.hourMicros
        lock.withLock {
            for item in lineage.items {
                let key = Key(item: item.item, hour: hour, session: session ?? "", fingerprint: lineage.fingerprint, access: item.access.rawValue,
                              masking: item.masking ?? "", identity: identity ?? "", target: target ?? "", job: lineage.job ?? "")
                var counts = pending[key, default: Counts()]
                counts.statements += 1
                counts.first = min(counts.first, timestamp)
                counts.last = max(counts.last, timestamp)
                pending[key] = counts
            }
        }
    }

    var isDue: Bool { lock.withLock { !pending.isEmpty && Date().timeIntervalSince(lastFlush) >= Self.flushInterval } }

    /// Writes what was counted, in the caller's transaction.
    func flush(into db: Database) throws {
        let batch: [Key: Counts] = lock.withLock {
            defer { pending.removeAll(keepingCapacity: true); lastFlush = Date() }
            return pending
        }
        // Every record up to the head is in the table now (also when nothing was pending): a
        // broker that restarts after a crash counts the records after this again
        // (`Ledger.catchUpLineage`), and after a clean stop none.
        try db.cachedStatement(sql: "UPDATE lineage_state SET through = (SELECT coalesce(max(id), 0) FROM records) WHERE one = 1").execute()
        guard !batch.isEmpty else { return }
        let upsert = try db.cachedStatement(sql: """
            INSERT INTO lineage (item, hour, session, fingerprint, access, masking, identity, target, job, statements, first, last)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (item, hour, session, fingerprint, access, masking) DO UPDATE SET
                statements = statements + excluded.statements, first = min(first, excluded.first), last = max(last, excluded.last)
            """)
        for (key, counts) in batch {
            try upsert.execute(arguments: [key.item, key.hour, key.session, key.fingerprint, key.access, key.masking, key.identity, key.target,
                                           key.job, counts.statements, counts.first, counts.last])
        }
    }
}

extension LineageIndex {
    /// Counts what the statement records say, as `add` would have (a session's job comes from
    /// its `started` record).
    public struct Recount {
        private var jobs: [String: String?] = [:]
        /// The `started` record of each session whose job no statement asked for yet: decoded
        /// when one does (a full decode of every session record made `audit verify` 2.5× slower).
        private var startedBodies: [String: String] = [:]
        public private(set) var index = LineageIndex()

        public init() {}

        public mutating func consume(_ record: LedgerRecord) {
            switch record.kind {
            case RecordKind.session.rawValue:
                // Canonical JSON: `"phase":"started"` can only be the key and its value.
                guard let session = record.session, Self.find(Self.startedMark, in: Array(record.body.utf8)[...]) != nil else { return }
                startedBodies[session] = record.body
                jobs[session] = nil
            case RecordKind.statement.rawValue:
                guard let (fingerprint, lines) = Self.lineage(ofCanonical: record.body) else { return }
                let items = lines.compactMap(Self.item(fromSummary:))
                guard !items.isEmpty else { return }
                index.add(StatementLineage(fingerprint: fingerprint, items: items, job: record.session.flatMap { job(of: $0) }),
                          timestamp: record.timestamp, identity: record.identity, target: record.target, session: record.session)
            default:
                return
            }
        }

        static let startedMark = Array(#""phase":"started""#.utf8)

        /// A session's job (its correlation id, else its command), from its `started` record.
        private mutating func job(of session: String) -> String? {
            if let known = jobs[session] { return known }
            guard let body = startedBodies.removeValue(forKey: session),
                  let started = try? LedgerCoding.decoder.decode(SessionBody.self, from: Data(body.utf8)) else { return nil }
            let job = StatementLineage.job(correlation: started.correlation, arguments: started.process?.arguments)
            jobs[session] = .some(job)
            return job
        }

        /// The fingerprint and lineage lines of a statement record's body, read straight from its
        /// canonical JSON: a full decode per statement made `audit verify` twelve times slower.
        /// Keys are top-level and a quote inside a string is always escaped, so `"lineage":[`
        /// can only be the key itself.
        static func lineage(ofCanonical body: String) -> (String, [String])? {
            let utf8 = Array(body.utf8)[...]
            guard var position = find(Array(#""lineage":["#.utf8), in: utf8),
                  let fingerprintAt = find(Array(#""fingerprint":""#.utf8), in: utf8),
                  let fingerprint = string(utf8, from: fingerprintAt - 1) else { return nil }
            var lines: [String] = []
            while position < utf8.endIndex, utf8[position] != UInt8(ascii: "]") {
                if utf8[position] == UInt8(ascii: ",") { position += 1; continue }
                guard let end = stringEnd(utf8, from: position), let line = string(utf8, from: position) else { return nil }
                lines.append(line)
                position = end + 1
            }
            return (fingerprint, lines)
        }

        /// Where `needle` ends in `haystack` (the index after it).
        static func find(_ needle: [UInt8], in haystack: ArraySlice<UInt8>) -> Int? {
            guard needle.count <= haystack.count else { return nil }
            var start = haystack.startIndex
            while start + needle.count <= haystack.endIndex {
                if haystack[start] == needle[0], haystack[start..<(start + needle.count)].elementsEqual(needle) { return start + needle.count }
                start += 1
            }
            return nil
        }

        /// The JSON string whose opening quote is at `from`, escapes undone.
        static func string(_ utf8: ArraySlice<UInt8>, from: Int) -> String? {
            guard from < utf8.endIndex, utf8[from] == UInt8(ascii: "\""), let end = stringEnd(utf8, from: from) else { return nil }
            let inner = utf8[(from + 1)..<end]
            guard inner.contains(UInt8(ascii: "\\")) else { return String(decoding: inner, as: UTF8.self) }
            return (try? JSONSerialization.jsonObject(with: Data(utf8[from...end]), options: [.fragmentsAllowed])) as? String
        }

        /// The index of the closing quote of the JSON string whose opening quote is at `from`.
        static func stringEnd(_ utf8: ArraySlice<UInt8>, from: Int) -> Int? {
            var index = from + 1
            while index < utf8.endIndex {
                switch utf8[index] {
                case UInt8(ascii: "\\"): index += 2
                case UInt8(ascii: "\""): return index
                default: index += 1
                }
            }
            return nil
        }

        /// `read public.customers.email view` → the item; nil for a line it does not read. A
        /// name may hold spaces: the access is the first word, and a read's masking the last when it is one.
        static func item(fromSummary line: String) -> StatementLineage.Item? {
            var parts = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            guard parts.count >= 2, let access = StatementLineage.Access(rawValue: parts.removeFirst()) else { return nil }
            // Only reads of columns say how they came back.
            let masking = access == .read && parts.count >= 2 && maskings.contains(parts.last!) ? parts.removeLast() : nil
            return .init(item: parts.joined(separator: " "), access: access, masking: masking)
        }

        static let maskings: Set<String> = ["view", "view-detect", "detector", "clear"]
    }

    /// The counts not yet written, by key (for comparing a recount with the table).
    public var counted: [Key: Counts] { lock.withLock { pending } }

    /// Takes what was counted, leaving the index empty.
    public func take() -> [Key: Counts] {
        lock.withLock {
            defer { pending.removeAll(keepingCapacity: true); lastFlush = Date() }
            return pending
        }
    }
}
