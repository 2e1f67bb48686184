import Crypto
import HoopPolicy

/// How masking views compute their columns, and what `target init` installs in the `hoop`
/// schema (owned by `hoop_owner`): the HMAC key and the write-limit trigger.
///
/// A view column is an expression of built-in functions, never a function of ours: PostgreSQL
/// checks EXECUTE on a view's functions against the caller, so a function a view calls is one
/// the session can call on input of its choice (for the keyed hash, an oracle). The key is read
/// by a subquery of the view, which runs with the view owner's privileges; sessions have no
/// privilege in `hoop` at all.
public enum MaskingFunctions {
    public static let ownerRole = "hoop_owner"

    /// What versions before `hoopctl-masking-2` installed and granted to reader roles: no
    /// session may call them now, and each is dropped once no remaining view uses it.
    static let retired = [
        "hoop.mask_email(text)", "hoop.mask_redact(text)", "hoop.mask_partial(text, integer)", "hoop.mask_hash(text)",
    ]

    /// The view column for a masked column (`column` is a quoted identifier).
    static func expression(_ mask: MaskingFunction, column: String, type: String, detectors: [Detector]) -> String {
        let value = "\(column)::text"
        switch mask {
        case .email:
            // a***@example.com: the first character and the domain survive.
            return "CASE WHEN \(value) IS NULL THEN NULL WHEN strpos(\(value), '@') > 1 "
                + "THEN left(\(value), 1) || '***' || substr(\(value), strpos(\(value), '@')) ELSE '***' END"
        case .redact:
            return "CASE WHEN \(column) IS NULL THEN NULL ELSE '[redacted]'::text END"
        case .partial(let keep):
            // Keeps the last `keep` characters, never more than half of the value.
            return "repeat('*', length(\(value)) - least(\(keep), length(\(value)) / 2)) || right(\(value), least(\(keep), length(\(value)) / 2))"
        case .hash:
            // HMAC-SHA-256 (RFC 2104) from built-ins: sha256(outer pad || sha256(inner pad || value)),
            // the first 16 hex digits. The pads are read once per statement (an InitPlan).
            return "left(encode(sha256((SELECT k.outer_pad FROM hoop.hash_key k) || sha256((SELECT k.inner_pad FROM hoop.hash_key k) "
                + "|| convert_to(\(value), 'UTF8'))), 'hex'), 16)"
        case .null: return "NULL::\(type)"
        case .detect: return DetectorSQL.call(column: column, detectors: detectors)
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
    ]

    /// HMAC pads for a 32-byte key: key ⊕ 0x36… and key ⊕ 0x5c…, each a 64-byte block.
    static func pads(key: [UInt8]) -> (inner: [UInt8], outer: [UInt8]) {
        var block = key.count > 64 ? Array(SHA256.hash(data: key)) : key
        block += Array(repeating: 0, count: 64 - block.count)
        return (block.map { $0 ^ 0x36 }, block.map { $0 ^ 0x5c })
    }
}

import Foundation
