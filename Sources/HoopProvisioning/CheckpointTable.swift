import HoopLedgerModel
import HoopPostgres

/// The ledger's signed checkpoints as kept in a target database: a table of hoopctl's own
/// schema that the broker appends to (a trigger refuses changes and deletions) and session
/// roles cannot read.
public enum CheckpointTable {
    static let statements = [
        """
        CREATE TABLE IF NOT EXISTS hoop.ledger_checkpoints (
            broker text NOT NULL,
            record_id bigint NOT NULL,
            hash text NOT NULL,
            ts bigint NOT NULL,
            signature text NOT NULL,
            written_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (broker, record_id)
        )
        """,
        "ALTER TABLE hoop.ledger_checkpoints ADD COLUMN IF NOT EXISTS origin text",
        "ALTER TABLE hoop.ledger_checkpoints OWNER TO hoop_owner",
        "REVOKE ALL ON hoop.ledger_checkpoints FROM PUBLIC",
        """
        CREATE OR REPLACE FUNCTION hoop.ledger_checkpoints_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'hoop.ledger_checkpoints is append-only'; END $$
        """,
        "ALTER FUNCTION hoop.ledger_checkpoints_append_only() OWNER TO hoop_owner",
        "REVOKE ALL ON FUNCTION hoop.ledger_checkpoints_append_only() FROM PUBLIC",
        "DROP TRIGGER IF EXISTS append_only ON hoop.ledger_checkpoints",
        """
        CREATE TRIGGER append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON hoop.ledger_checkpoints
            FOR EACH STATEMENT EXECUTE FUNCTION hoop.ledger_checkpoints_append_only()
        """,
    ]

    /// Appends a checkpoint (creating the table the first time).
    public static func append(_ db: PostgresConnection, _ checkpoint: LedgerCheckpoint) throws {
        let insert = """
            INSERT INTO hoop.ledger_checkpoints (broker, record_id, hash, ts, signature, origin) VALUES ($1, $2::bigint, $3, $4::bigint, $5, $6)
            ON CONFLICT DO NOTHING
            """
        let parameters = [checkpoint.broker, String(checkpoint.recordID), checkpoint.hash, String(checkpoint.timestamp), checkpoint.signature,
                          checkpoint.origin]
        let missing: Bool
        do {
            try db.execute(insert, parameters)
            return
        } catch {
            // No table yet, or one of an older hoopctl without `origin`.
            missing = error.sqlState == "42P01" || error.sqlState == "42703"
            if !missing { throw error }
        }
        try db.execute("BEGIN")
        do {
            try db.execute("SELECT pg_advisory_xact_lock(hashtext('hoopctl target init'))")
            for statement in statements { try db.execute(statement) }
            try db.execute(insert, parameters)
            try db.execute("COMMIT")
        } catch {
            _ = try? db.execute("ROLLBACK")
            throw error
        }
    }

    /// Every broker's checkpoints, oldest first (none when the table was never made): which are
    /// this ledger's is for the caller to tell (by id, key and origin, any of which may have been swapped).
    public static func read(_ db: PostgresConnection, source: String) throws -> [LedgerCheckpoint] {
        guard try db.execute("SELECT to_regclass('hoop.ledger_checkpoints') IS NOT NULL").scalar == "t" else { return [] }
        let origin = try db.execute("SELECT count(*) FROM pg_attribute WHERE attrelid = 'hoop.ledger_checkpoints'::regclass AND attname = 'origin'").scalar == "1"
        return try db.execute("SELECT broker, record_id, hash, ts, signature, \(origin ? "coalesce(origin, '')" : "''") FROM hoop.ledger_checkpoints ORDER BY record_id")
            .rows.compactMap { row in
                guard row.count == 6, let broker = row[0], let id = row[1].flatMap({ Int64($0) }), let hash = row[2], let ts = row[3].flatMap({ Int64($0) }),
                      let signature = row[4] else { return nil }
                return LedgerCheckpoint(broker: broker, origin: row[5] ?? "", recordID: id, hash: hash, timestamp: ts, signature: signature, source: source)
            }
    }
}
