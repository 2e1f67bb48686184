import GRDB

/// Migrations of the ledger file. Only ever append new migrations; never edit a shipped one.
enum LedgerSchema {
    static let latest = "v1-records"

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration(latest) { db in
            try db.execute(sql: """
                CREATE TABLE records (
                    id        INTEGER PRIMARY KEY,  -- contiguous from 1: a gap is a deletion
                    ts        INTEGER NOT NULL,     -- microseconds since the epoch, UTC
                    kind      TEXT NOT NULL,
                    identity  TEXT,
                    target    TEXT,
                    session   TEXT,
                    body      TEXT NOT NULL,        -- canonical JSON, never secrets or SQL literals
                    prev_hash TEXT NOT NULL,
                    hash      TEXT NOT NULL
                );
                CREATE INDEX records_ts ON records(ts);
                CREATE INDEX records_identity_ts ON records(identity, ts);
                CREATE INDEX records_session ON records(session) WHERE session IS NOT NULL;

                -- The newest record, kept apart so that cutting records off the end is noticed.
                CREATE TABLE chain_head (
                    one  INTEGER PRIMARY KEY CHECK (one = 1),
                    id   INTEGER NOT NULL,
                    hash TEXT NOT NULL
                );

                -- Append-only, against mistakes (the hash chain is what catches intent).
                CREATE TRIGGER records_append_only_update BEFORE UPDATE ON records
                BEGIN SELECT RAISE(ABORT, 'ledger records are append-only'); END;
                CREATE TRIGGER records_append_only_delete BEFORE DELETE ON records
                BEGIN SELECT RAISE(ABORT, 'ledger records are append-only'); END;
                """)
        }
        migrator.registerMigration(lineage) { db in
            // Who touched which table and column: per hour, session and statement shape, how many
            // statements; for `audit trace`. Derived from the statement records (which the hash
            // chain covers) and rebuilt from them if need be.
            try db.execute(sql: """
                DROP TABLE IF EXISTS lineage;       -- a per-statement table of an earlier development build
                CREATE TABLE lineage (
                    item        TEXT NOT NULL,      -- schema.table or schema.table.column
                    hour        INTEGER NOT NULL,   -- the hour (microseconds since the epoch, floored)
                    session     TEXT NOT NULL,
                    fingerprint TEXT NOT NULL,
                    access      TEXT NOT NULL,      -- read | write
                    masking     TEXT NOT NULL,      -- columns read: view | view-detect | detector | clear; '' otherwise
                    identity    TEXT NOT NULL,
                    target      TEXT NOT NULL,
                    job         TEXT NOT NULL,      -- the session's correlation id, else its command
                    statements  INTEGER NOT NULL,
                    first       INTEGER NOT NULL,
                    last        INTEGER NOT NULL,
                    PRIMARY KEY (item, hour, session, fingerprint, access, masking)
                ) WITHOUT ROWID;                    -- stored in trace order: a trace reads one range
                """)
        }
        migrator.registerMigration(lineageVerified) { db in
            // How far the lineage table is written: records after `through` were appended by a
            // process that stopped before it wrote their lineage, and are counted again at the
            // next start. The table is rebuilt from the records once, here.
            try db.execute(sql: """
                CREATE TABLE lineage_state (
                    one     INTEGER PRIMARY KEY CHECK (one = 1),
                    through INTEGER NOT NULL
                );
                INSERT INTO lineage_state (one, through) VALUES (1, 0);
                DELETE FROM lineage;
                """)
        }
        return migrator
    }

    static let lineage = "v2-lineage-hourly"
    static let lineageVerified = "v3-lineage-verified"

    static let guardTriggers = ["records_append_only_update", "records_append_only_delete"]

    /// What is missing from the schema that should protect the records.
    static func problems(_ db: Database) throws -> [String] {
        let present = try String.fetchSet(db, sql: "SELECT name FROM sqlite_master WHERE type = 'trigger'")
        return guardTriggers.filter { !present.contains($0) }.map { "append-only guard '\($0)' was removed" }
    }
}
