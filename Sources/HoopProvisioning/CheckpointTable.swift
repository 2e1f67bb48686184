import HoopLedger
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
            INSERT INTO hoop.ledger_checkpoints (broker, record_id, hash, ts, signature) VALUES ($1, $2::bigint, $3, $4::bigint, $5)
            ON CONFLICT DO NOTHING
            """
        let parameters = [checkpoint.broker, String(checkpoint.recordID), checkpoint.hash, String(checkpoint.timestamp), checkpoint.signature]
        let missing: Bool
        do {
            try db.execute(insert, parameters)
            return
        } catch {
            missing = error.sqlState == "42P01"
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

    /// The checkpoints of one broker, oldest first (none when the table was never made).
    public static func read(_ db: PostgresConnection, broker: String, source: String) throws -> [LedgerCheckpoint] {
        guard try db.execute("SELECT to_regclass('hoop.ledger_checkpoints') IS NOT NULL").scalar == "t" else { return [] }
        return try db.execute("SELECT record_id, hash, ts, signature FROM hoop.ledger_checkpoints WHERE broker = $1 ORDER BY record_id",
                              [broker]).rows.compactMap { row in
            guard row.count == 4, let id = row[0].flatMap({ Int64($0) }), let hash = row[1], let ts = row[2].flatMap({ Int64($0) }),
                  let signature = row[3] else { return nil }
            return LedgerCheckpoint(broker: broker, recordID: id, hash: hash, timestamp: ts, signature: signature, source: source)
        }
    }
}
