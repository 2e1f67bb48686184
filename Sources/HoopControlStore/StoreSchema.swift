import HoopPostgres

/// The control database's tables, in the schema `hoopctl`. A role apart from the brokers'
/// owns them (`hoopctl store init` runs as it); brokers get only what they use, and for the
/// ledger that is SELECT and INSERT: the database itself refuses them UPDATE and DELETE.
public enum StoreSchema {
    /// The version this hoopctl writes and reads. A broker refuses any other: an older
    /// schema is brought up by `hoopctl store init`, a newer one belongs to a newer hoopctl.
    public static let version = 1

    /// Serializes appends from every broker, one transaction at a time (`pg_advisory_xact_lock`):
    /// each batch reads the head, chains its records after it and commits before the next begins.
    static let chainLock: Int64 = 0x686f_6f70_6c65_6467  // "hoopledg"

    /// Version 1: the hash-chained records, their head and the lineage index; the brokers, their
    /// sessions, leases, used approvals and shared keys.
    static let tables = """
        CREATE TABLE hoopctl.store_schema (
            one     integer PRIMARY KEY CHECK (one = 1),
            version integer NOT NULL
        );
        CREATE TABLE hoopctl.records (
            id        bigint PRIMARY KEY,   -- contiguous from 1: a gap is a deletion
            ts        bigint NOT NULL,      -- microseconds since the epoch, UTC
            kind      text NOT NULL,
            identity  text,
            target    text,
            session   text,
            body      text NOT NULL,        -- canonical JSON, as hashed (not jsonb: its bytes are the record)
            prev_hash text NOT NULL,
            hash      text NOT NULL
        );
        CREATE INDEX records_ts ON hoopctl.records (ts);
        CREATE INDEX records_identity_ts ON hoopctl.records (identity, ts);
        CREATE INDEX records_session ON hoopctl.records (session) WHERE session IS NOT NULL;
        -- Events by name (checkpoints, verifications): few rows, parsed once at insert.
        CREATE INDEX records_event_name ON hoopctl.records ((body::jsonb ->> 'name'), id) WHERE kind = 'event';

        -- The newest record, kept apart so that cutting records off the end is noticed. Only
        -- the owner's trigger writes it.
        CREATE TABLE hoopctl.chain_head (
            one  integer PRIMARY KEY CHECK (one = 1),
            id   bigint NOT NULL,
            hash text NOT NULL
        );

        -- Who touched which table and column, per hour, session and statement shape (`audit
        -- trace`). Derived from the statement records, written in the same transaction.
        CREATE TABLE hoopctl.lineage (
            item        text NOT NULL,
            hour        bigint NOT NULL,
            session     text NOT NULL,
            fingerprint text NOT NULL,
            access      text NOT NULL,
            masking     text NOT NULL,
            identity    text NOT NULL,
            target      text NOT NULL,
            job         text NOT NULL,
            statements  bigint NOT NULL,
            first       bigint NOT NULL,
            last        bigint NOT NULL,
            PRIMARY KEY (item, hour, session, fingerprint, access, masking)
        );

        -- The brokers sharing the store: alive while their heartbeat is fresh; each one's key
        -- for the checkpoints it signs (any of them may sign the one chain).
        CREATE TABLE hoopctl.brokers (
            id             text PRIMARY KEY,       -- the broker's broker.id
            host           text NOT NULL,
            pid            integer NOT NULL,
            checkpoint_key text NOT NULL,          -- Ed25519 public key, base64
            token_key      text NOT NULL,          -- Ed25519 public key of its tokens, base64 (the private half never leaves the broker)
            started        bigint NOT NULL,        -- microseconds since the epoch
            heartbeat      bigint NOT NULL,
            stopped        bigint                  -- a clean stop
        );

        -- Sessions of every broker: listed, revoked and reaped through any of them. The ledger
        -- holds their history; this, who is ending each one (one broker: `claimed_by`).
        CREATE TABLE hoopctl.sessions (
            id         text PRIMARY KEY,
            broker     text NOT NULL,          -- the broker that opened it
            identity   text NOT NULL,
            target     text NOT NULL,
            role_name  text NOT NULL,
            expires    bigint NOT NULL,
            lease      bigint,                 -- a remote client renews it
            state      text NOT NULL CHECK (state IN ('active', 'ending', 'ended')),
            claimed_by text,                   -- the broker ending it
            claimed_at bigint,
            info       text NOT NULL           -- as `hoopctl sessions` lists it (JSON)
        );
        CREATE INDEX sessions_open ON hoopctl.sessions (expires) WHERE state <> 'ended';

        -- Shared work one broker does at a time (a target's reconciliation): held until `until`.
        CREATE TABLE hoopctl.leases (
            work   text PRIMARY KEY,
            holder text NOT NULL,
            until  bigint NOT NULL
        );

        -- Which session used each approval: one, whichever broker it opened through.
        CREATE TABLE hoopctl.approvals_used (
            request text PRIMARY KEY,
            session text NOT NULL
        );

        -- Keys every broker must hold alike (tokens' signing key, targets' masking hash keys):
        -- the first broker's, kept. Brokers may add a name, never change one.
        CREATE TABLE hoopctl.shared_secrets (
            name  text PRIMARY KEY,
            value text NOT NULL
        );

        -- Every insert must continue the chain: ids contiguous after the head, each record's
        -- prev_hash the hash before it. Then the head moves. Runs as the owner (the brokers'
        -- role cannot write the head), once per statement (a batch), not per row.
        CREATE FUNCTION hoopctl.records_continue_chain() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        DECLARE
            head_id bigint;
            head_hash text;
            first_id bigint;
            last_id bigint;
            added_count bigint;
        BEGIN
            SELECT h.id, h.hash INTO head_id, head_hash FROM hoopctl.chain_head h WHERE h.one = 1 FOR UPDATE;
            head_id := coalesce(head_id, 0);
            head_hash := coalesce(head_hash, repeat('0', 64));
            SELECT min(a.id), max(a.id), count(*) INTO first_id, last_id, added_count FROM added a;
            IF added_count = 0 THEN
                RETURN NULL;
            END IF;
            IF first_id <> head_id + 1 OR last_id - first_id + 1 <> added_count THEN
                RAISE EXCEPTION 'ledger records must continue the chain at #%, not #%..#%', head_id + 1, first_id, last_id;
            END IF;
            -- Each link against the record before it, in one ordered pass (a transition table has
            -- no index: a self-join on id would compare every pair of a large batch).
            IF EXISTS (SELECT 1 FROM (SELECT a.prev_hash, lag(a.hash, 1, head_hash) OVER (ORDER BY a.id) AS before FROM added a) links
                       WHERE links.prev_hash <> links.before) THEN
                RAISE EXCEPTION 'ledger records must name the hash of the record before them';
            END IF;
            -- Each hash is its record's content's (HashChain's encoding v1): a record nobody could
            -- have chained (garbage, a made-up hash) never gets in to fail every verification after.
            IF EXISTS (SELECT 1 FROM added a WHERE a.hash <> encode(sha256(convert_to(
                    'hoopctl-ledger-v1' || E'\\n' || a.prev_hash || E'\\n' || a.id::text || E'\\n' || a.ts::text || E'\\n'
                    || octet_length(a.kind)::text || ':' || a.kind || E'\\n'
                    || CASE WHEN a.identity IS NULL THEN E'~\\n' ELSE octet_length(a.identity)::text || ':' || a.identity || E'\\n' END
                    || CASE WHEN a.target IS NULL THEN E'~\\n' ELSE octet_length(a.target)::text || ':' || a.target || E'\\n' END
                    || CASE WHEN a.session IS NULL THEN E'~\\n' ELSE octet_length(a.session)::text || ':' || a.session || E'\\n' END
                    || octet_length(a.body)::text || ':' || a.body || E'\\n', 'UTF8')), 'hex')) THEN
                RAISE EXCEPTION 'a ledger record''s hash must be the hash of its content';
            END IF;
            INSERT INTO hoopctl.chain_head (one, id, hash) SELECT 1, a.id, a.hash FROM added a WHERE a.id = last_id
            ON CONFLICT (one) DO UPDATE SET id = excluded.id, hash = excluded.hash;
            RETURN NULL;
        END
        $$;
        CREATE TRIGGER records_continue_chain AFTER INSERT ON hoopctl.records
            REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION hoopctl.records_continue_chain();

        -- Append-only also for the owner, against mistakes (the brokers have no such privilege,
        -- and the hash chain is what catches intent).
        CREATE FUNCTION hoopctl.records_append_only() RETURNS trigger
        LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
        BEGIN
            RAISE EXCEPTION 'ledger records are append-only';
        END
        $$;
        CREATE TRIGGER records_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON hoopctl.records
            FOR EACH STATEMENT EXECUTE FUNCTION hoopctl.records_append_only();
        REVOKE ALL ON FUNCTION hoopctl.records_continue_chain(), hoopctl.records_append_only() FROM PUBLIC;
        """

    /// What the brokers' role may do, and nothing more.
    static func grants(to role: String) -> [String] {
        [
            "GRANT USAGE ON SCHEMA hoopctl TO \(role)",
            "GRANT SELECT ON hoopctl.store_schema, hoopctl.chain_head TO \(role)",
            "GRANT SELECT, INSERT ON hoopctl.records TO \(role)",
            "GRANT SELECT, INSERT, UPDATE ON hoopctl.lineage TO \(role)",
            "GRANT SELECT, INSERT, UPDATE ON hoopctl.brokers TO \(role)",
            "GRANT SELECT, INSERT, UPDATE ON hoopctl.sessions TO \(role)",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON hoopctl.approvals_used TO \(role)",
            "GRANT SELECT, INSERT ON hoopctl.shared_secrets TO \(role)",
            "GRANT SELECT, INSERT, UPDATE ON hoopctl.leases TO \(role)",
        ]
    }

    /// The triggers that keep the chain whole; `audit verify` names any that went.
    static let guardTriggers = ["records_continue_chain", "records_append_only"]

    /// Creates the schema (or checks it is this version) and grants the brokers' role its
    /// privileges; in one transaction, as the owner. Returns what it did.
    public static func initialize(_ connection: PostgresConnection, brokerRole: String) throws -> String {
        guard !brokerRole.isEmpty else { throw StoreError.invalid("the brokers' role needs a name") }
        return try connection.transaction { connection in
            guard try connection.execute("SELECT 1 FROM pg_roles WHERE rolname = $1", [brokerRole]).rows.count == 1 else {
                throw StoreError.invalid("there is no role \(brokerRole) in the control database's cluster: create it first (LOGIN, nothing else)")
            }
            if try connection.execute("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = $1", [brokerRole]).scalar == "t" {
                throw StoreError.invalid("the brokers' role \(brokerRole) is a superuser or bypasses row security: the database could not refuse it anything")
            }
            if brokerRole == connection.user {
                throw StoreError.invalid("the brokers' role must not own the store: run `store init` as another role than \(brokerRole)")
            }
            let did: String
            switch try installedVersion(connection) {
            case nil:
                try connection.executeScript("CREATE SCHEMA hoopctl;\n" + tables)
                try connection.execute("INSERT INTO hoopctl.store_schema (one, version) VALUES (1, $1)", [String(version)])
                did = "created the control store (schema version \(version))"
            case version?:
                did = "the control store is at schema version \(version) already"
            case let other?:
                throw StoreError.version(found: other, known: version)
            }
            let role = try connection.quoteIdentifier(brokerRole)
            for grant in grants(to: role) { try connection.execute(grant) }
            return did + "; role \(brokerRole) may read and append"
        }
    }

    /// The schema version of the store (nil: no hoopctl store in this database).
    public static func installedVersion(_ connection: PostgresConnection) throws -> Int? {
        guard try connection.execute("SELECT to_regclass('hoopctl.store_schema') IS NOT NULL").scalar == "t" else { return nil }
        return try connection.execute("SELECT version FROM hoopctl.store_schema WHERE one = 1").scalar.flatMap { Int($0) } ?? 0
    }

    /// Throws unless the store holds this hoopctl's schema version.
    public static func check(_ connection: PostgresConnection) throws {
        guard let found = try installedVersion(connection) else { throw StoreError.notInitialized }
        guard found == version else { throw StoreError.version(found: found, known: version) }
    }

    /// What is missing that should protect the records, and privileges the brokers' role should not have.
    static func problems(_ connection: PostgresConnection) throws -> [String] {
        let present = Set(try connection.execute("""
            SELECT tgname FROM pg_trigger WHERE tgrelid = 'hoopctl.records'::regclass AND tgenabled <> 'D'
            """).rows.compactMap { $0[0] })
        var problems = guardTriggers.filter { !present.contains($0) }.map { "append-only guard '\($0)' was removed or disabled" }
        let may = try connection.execute("""
            SELECT has_table_privilege('hoopctl.records', 'UPDATE'), has_table_privilege('hoopctl.records', 'DELETE'),
                   has_table_privilege('hoopctl.records', 'TRUNCATE'), has_table_privilege('hoopctl.chain_head', 'UPDATE')
            """).rows.first ?? []
        let owner = try connection.execute("SELECT pg_has_role(relowner, 'USAGE') FROM pg_class WHERE oid = 'hoopctl.records'::regclass").scalar == "t"
        if !owner, may.contains("t") {
            problems.append("the role \(connection.user) may change or remove ledger records: only the store's owner should")
        }
        return problems
    }
}

/// A control store that cannot be reached, read or used by this hoopctl.
public enum StoreError: Error, CustomStringConvertible, Sendable {
    case notInitialized
    case version(found: Int, known: Int)
    case invalid(String)
    case dsnFile(String)

    public var description: String {
        switch self {
        case .notInitialized:
            return "the database holds no hoopctl control store: run `hoopctl store init` as its owner first"
        case .version(let found, let known) where found > known:
            return "the control store has schema version \(found), made by a newer hoopctl; this one knows version \(known) only"
        case .version(let found, let known):
            return "the control store has schema version \(found); this hoopctl needs \(known): run `hoopctl store init` as its owner"
        case .invalid(let message), .dsnFile(let message):
            return message
        }
    }
}
