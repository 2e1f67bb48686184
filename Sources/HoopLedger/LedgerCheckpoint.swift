import Foundation
import GRDB
import HoopCommon

extension Ledger {
    /// The hash of the first record: what checkpoints name the ledger by.
    public func origin() throws(LedgerError) -> String? {
        let tail = try journalTail()
        do {
            return try pool.read { db in try String.fetchOne(db, sql: "SELECT hash FROM records ORDER BY id LIMIT 1") } ?? tail?.records.first?.hash
        } catch {
            throw .storage(path: path, message: Ledger.describe(error))
        }
    }

    /// The last record's id and hash (nil for an empty ledger).
    public func head() throws(LedgerError) -> (id: Int64, hash: String)? {
        let tail = try journalTail()
        if let last = tail?.records.last { return (last.id, last.hash) }
        do {
            return try pool.read { db in
                try Row.fetchOne(db, sql: "SELECT id, hash FROM records ORDER BY id DESC LIMIT 1").map { ($0[0], $0[1]) }
            }
        } catch {
            throw .storage(path: path, message: Ledger.describe(error))
        }
    }

    /// What the chain does not hold of the checkpoints: records cut off the end (the missing
    /// range), or records rewritten (the first checkpoint whose hash the chain no longer has).
    public func checkpointProblems(_ checkpoints: [LedgerCheckpoint]) throws(LedgerError) -> [String] {
        indexBeforeReading()
        do {
            return try pool.read { db in
                let last = try Int64.fetchOne(db, sql: "SELECT max(id) FROM records") ?? 0
                let lookup = try db.makeStatement(sql: "SELECT hash FROM records WHERE id = ?")
                return try LedgerCheckpoint.problems(checkpoints, ledgerEndsAt: last) { try String.fetchOne(lookup, arguments: [$0]) }
            }
        } catch {
            throw .storage(path: path, message: Ledger.describe(error))
        }
    }
}

extension Ledger {
    /// The checkpoints the ledger itself recorded (`ledger.checkpoint` records), as signed.
    public func recordedCheckpoints() throws(LedgerError) -> [LedgerCheckpoint] {
        indexBeforeReading()
        do {
            return try pool.read { db in
                try Row.fetchAll(db, sql: """
                    SELECT json_extract(body, '$.details.broker'), json_extract(body, '$.details.record'), json_extract(body, '$.details.hash'),
                           json_extract(body, '$.details.origin'),
                           json_extract(body, '$.details.ts'), json_extract(body, '$.details.signature'), json_extract(body, '$.details.kept') FROM records
                    WHERE kind = 'event' AND json_extract(body, '$.name') = 'ledger.checkpoint' ORDER BY id
                    """).compactMap { row in
                    guard let broker = row[0] as String?, let id = (row[1] as String?).flatMap({ Int64($0) }), let hash = row[2] as String?,
                          let origin = row[3] as String?, let ts = (row[4] as String?).flatMap({ Int64($0) }), let signature = row[5] as String?
                    else { return nil }
                    var checkpoint = LedgerCheckpoint(broker: broker, origin: origin, recordID: id, hash: hash, timestamp: ts, signature: signature,
                                                      source: "the ledger")
                    checkpoint.kept = (row[6] as String?)?.split(separator: ",").map(String.init) ?? []
                    return checkpoint
                }
            }
        } catch {
            throw .storage(path: path, message: Ledger.describe(error))
        }
    }

    /// Whether the lineage index that `audit trace` reads was checked against the statement
    /// records: from the last `ledger.verified` record (the broker writes one per `audit verify`).
    public func lineageVerification() throws(LedgerError) -> String {
        indexBeforeReading()
        do {
            return try pool.read { db in
                let through = try Ledger.lineageThrough(db) ?? 0
                guard let row = try Row.fetchOne(db, sql: """
                    SELECT ts, json_extract(body, '$.details.head'), json_extract(body, '$.details.lineage') FROM records
                    WHERE kind = 'event' AND json_extract(body, '$.name') = 'ledger.verified' ORDER BY id DESC LIMIT 1
                    """) else {
                    return "UNVERIFIED: the lineage index was never checked against the statement records (hoopctl audit verify does)"
                }
                let when = UTCTime.seconds(row[0] as Int64)
                let head = Int64(row[1] as String? ?? "") ?? 0
                guard (row[2] as String?) == "verified" else {
                    return "UNVERIFIED: the last check of the lineage index (\(when)) found problems; hoopctl audit verify names them"
                }
                let later = try Int.fetchOne(db, sql: """
                    SELECT count(*) FROM records WHERE kind = 'statement' AND id > ? AND id <= ? AND instr(body, '"lineage":[') > 0
                    """, arguments: [head, through]) ?? 0
                if later > 0 {
                    return "partly unverified: the lineage index was verified through record #\(head) (\(when)); what \(later) statement\(later == 1 ? "" : "s") after it added is not checked yet"
                }
                return "verified: the lineage index matched the statement records through record #\(head) (\(when))"
            }
        } catch {
            throw .storage(path: path, message: Ledger.describe(error))
        }
    }
}

extension LedgerCheckpoint {
    /// What a chain ending at `last` does not hold of the checkpoints, any store's: records cut off
    /// the end (the missing range), or records rewritten (the first checkpoint whose hash the chain
    /// no longer has). `hash` reads a record's hash by id.
    public static func problems(_ checkpoints: [LedgerCheckpoint], ledgerEndsAt last: Int64, hash: (Int64) throws -> String?) throws -> [String] {
        var problems: [String] = []
        var rewritten = false
        for checkpoint in checkpoints.sorted(by: { $0.recordID < $1.recordID }) {
            let when = UTCTime.seconds(checkpoint.timestamp) + (checkpoint.source.map { " (kept in \($0))" } ?? "")
            guard let stored = try hash(checkpoint.recordID) else {
                let range = checkpoint.recordID == last + 1 ? "record #\(last + 1) was" : "records #\(last + 1)–#\(checkpoint.recordID) were"
                problems.append("the checkpoint of \(when) names record #\(checkpoint.recordID), but the ledger ends at #\(last): \(range) cut off the end")
                break
            }
            if stored != checkpoint.hash, !rewritten {
                rewritten = true
                problems.append("record #\(checkpoint.recordID) is not the one the checkpoint of \(when) signed: "
                                + "the chain up to it was rewritten (its hash is \(stored.prefix(12))…, the checkpoint's \(checkpoint.hash.prefix(12))…)")
            }
        }
        return problems
    }
}
