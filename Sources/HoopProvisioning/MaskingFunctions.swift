import Crypto
import HoopPolicy

/// The masking functions `target init` installs in the `hoop` schema, owned by `hoop_owner`.
/// Deterministic and side-effect free; `mask_hash` alone reads a key, which sessions cannot read.
public enum MaskingFunctions {
    public static let ownerRole = "hoop_owner"

    /// What reader roles get EXECUTE on.
    static let signatures = [
        "hoop.mask_email(text)", "hoop.mask_redact(text)", "hoop.mask_partial(text, integer)", "hoop.mask_hash(text)",
    ]

    /// The view column for a masked column.
    static func expression(_ mask: MaskingFunction, column: String, type: String) -> String {
        switch mask {
        case .email: return "hoop.mask_email(\(column)::text)"
        case .redact: return "hoop.mask_redact(\(column)::text)"
        case .partial(let keep): return "hoop.mask_partial(\(column)::text, \(keep))"
        case .hash: return "hoop.mask_hash(\(column)::text)"
        case .null: return "NULL::\(type)"
        }
    }

    /// Idempotent: run on every `target init`.
    static let installation: [String] = [
        "CREATE SCHEMA IF NOT EXISTS hoop AUTHORIZATION hoop_owner",
        "REVOKE ALL ON SCHEMA hoop FROM PUBLIC",
        """
        CREATE TABLE IF NOT EXISTS hoop.hash_key (
            one boolean PRIMARY KEY DEFAULT true CHECK (one),
            inner_pad bytea NOT NULL,
            outer_pad bytea NOT NULL
        )
        """,
        "ALTER TABLE hoop.hash_key OWNER TO hoop_owner",
        "REVOKE ALL ON hoop.hash_key FROM PUBLIC",
        // a***@example.com: the first character and the domain survive.
        """
        CREATE OR REPLACE FUNCTION hoop.mask_email(value text) RETURNS text
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
        RETURN CASE WHEN strpos(value, '@') > 1
                    THEN left(value, 1) || '***' || substr(value, strpos(value, '@'))
                    ELSE '***' END
        """,
        """
        CREATE OR REPLACE FUNCTION hoop.mask_redact(value text) RETURNS text
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
        RETURN '[redacted]'
        """,
        // Keeps the last `keep` characters, never more than half of the value.
        """
        CREATE OR REPLACE FUNCTION hoop.mask_partial(value text, keep integer) RETURNS text
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
        RETURN repeat('*', length(value) - least(keep, length(value) / 2)) || right(value, least(keep, length(value) / 2))
        """,
        // HMAC-SHA-256 (RFC 2104) from built-ins: sha256(outer pad || sha256(inner pad || value)).
        // SECURITY DEFINER so it can read the key that sessions cannot; a fixed search_path.
        """
        CREATE OR REPLACE FUNCTION hoop.mask_hash(value text) RETURNS text
        LANGUAGE sql STABLE STRICT PARALLEL SAFE SECURITY DEFINER
        SET search_path = pg_catalog, pg_temp
        AS $$ SELECT left(encode(sha256(k.outer_pad || sha256(k.inner_pad || convert_to(value, 'UTF8'))), 'hex'), 16)
              FROM hoop.hash_key k $$
        """,
        // max_rows_per_write, enforced by the database: each session role's limit (written by the
        // broker, unreadable and unwritable by sessions), checked after every UPDATE and DELETE on
        // the tables write roles reach. Other writers are not session roles: no row, no check.
        "CREATE TABLE IF NOT EXISTS hoop.write_limits (role name PRIMARY KEY, max_rows integer NOT NULL CHECK (max_rows > 0))",
        "ALTER TABLE hoop.write_limits OWNER TO hoop_owner",
        "REVOKE ALL ON hoop.write_limits FROM PUBLIC",
        """
        CREATE OR REPLACE FUNCTION hoop.enforce_write_limit() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
        AS $$
        DECLARE
            limit_rows integer;
            changed bigint;
        BEGIN
            SELECT max_rows INTO limit_rows FROM hoop.write_limits WHERE role = session_user;
            IF limit_rows IS NULL THEN RETURN NULL; END IF;
            SELECT count(*) INTO changed FROM hoop_changed;
            IF changed > limit_rows THEN
                RAISE EXCEPTION USING ERRCODE = '42501',
                    MESSAGE = format('hoopctl: this %s changed %s rows of %s, more than max_rows_per_write (%s): it was rolled back',
                                     TG_OP, changed, TG_TABLE_NAME, limit_rows),
                    HINT = 'Narrow its WHERE, or split it into smaller writes.';
            END IF;
            RETURN NULL;
        END $$
        """,
        "ALTER FUNCTION hoop.enforce_write_limit() OWNER TO hoop_owner",
        "REVOKE ALL ON FUNCTION hoop.enforce_write_limit() FROM PUBLIC",
    ] + signatures.flatMap { signature in
        ["ALTER FUNCTION \(signature) OWNER TO hoop_owner", "REVOKE ALL ON FUNCTION \(signature) FROM PUBLIC"]
    }

    /// HMAC pads for a 32-byte key: key ⊕ 0x36… and key ⊕ 0x5c…, each a 64-byte block.
    static func pads(key: [UInt8]) -> (inner: [UInt8], outer: [UInt8]) {
        var block = key.count > 64 ? Array(SHA256.hash(data: key)) : key
        block += Array(repeating: 0, count: 64 - block.count)
        return (block.map { $0 ^ 0x36 }, block.map { $0 ^ 0x5c })
    }

    /// The same HMAC computed here, to test the SQL against.
    static func hmacHex(key: [UInt8], value: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array(value.utf8), using: SymmetricKey(data: key))
        return Data(mac).map { String(format: "%02x", $0) }.joined().prefix(16).description
    }
}

import Foundation
