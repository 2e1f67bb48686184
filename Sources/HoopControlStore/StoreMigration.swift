import Foundation
import HoopLedger
import HoopPostgres

/// `hoopctl store migrate --from FILE`: a broker's SQLite ledger copied into an empty control
/// store, record for record (same ids, times, bodies and hashes), in one transaction: the
/// store holds the whole chain or nothing of it. The lineage index is counted again from the
/// statement records, as `audit verify` would.
public enum StoreMigration {
    public struct Outcome: Sendable {
        public var records: Int
        public var sourceHead: (id: Int64, hash: String)?
        public var storeHead: (id: Int64, hash: String)?
        public var lineageRows: Int
    }

    static let batch = 5_000

    public static func migrate(from path: String, to address: StoreAddress, progress: (String) -> Void = { _ in }) throws -> Outcome {
        let source = try Ledger(path: path, mode: .readOnly)
        // A chain that does not verify is not copied: the store would hold its damage as if it were sound.
        let verification = try source.verify()
        if let failure = verification.failure {
            throw StoreError.invalid("the ledger \(path) does not verify (record #\(failure.recordID): \(failure.reason)); nothing was copied")
        }
        let connection = try address.connect()
        try StoreSchema.check(connection)
        try connection.prepare("hoop_insert_records", PostgresLedger.insertRecords, parameterCount: 9)
        try connection.prepare("hoop_upsert_lineage", PostgresLedger.upsertLineage, parameterCount: 12)
        var copied = 0
        var recount = LineageIndex.Recount()
        var lineageRows = 0
        try connection.transaction { connection in
            try connection.execute("SELECT pg_advisory_xact_lock(\(StoreSchema.chainLock))")
            let existing = Int(try connection.execute("SELECT count(*) FROM hoopctl.records").scalar ?? "") ?? 0
            guard existing == 0 else {
                throw StoreError.invalid("the control store holds \(existing) records already: a ledger is migrated into an empty store only")
            }
            var after: Int64 = 0
            while true {
                let page = try source.page(after: after, count: batch)
                guard let last = page.last else { break }
                try connection.executePrepared("hoop_insert_records", try PostgresLedger.columns(of: page))
                for record in page { recount.consume(record) }
                copied += page.count
                after = last.id
                progress("\(copied) records copied")
            }
            let counted = Array(recount.index.counted)
            for start in stride(from: 0, to: counted.count, by: batch) {
                let slice = Dictionary(uniqueKeysWithValues: counted[start..<min(start + batch, counted.count)].map { ($0.key, $0.value) })
                if let columns = try PostgresLedger.lineageColumns(slice) {
                    lineageRows += try connection.executePrepared("hoop_upsert_lineage", columns).affectedRows
                }
            }
        }
        let store = try PostgresLedger(address: address)
        return Outcome(records: copied, sourceHead: verification.headID.map { ($0, verification.headHash ?? "") }, storeHead: try store.head(),
                       lineageRows: lineageRows)
    }
}
