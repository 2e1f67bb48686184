import Foundation
import HoopPolicy
import HoopPostgres

/// `hoopctl target init`: installs the hashing key and the database's detectors and, for every role of the target,
/// the masking views of the current policy version — all in one transaction, so a failure
/// leaves the database as it was. Running it again changes nothing; after a policy or schema
/// change it adds the new version and drops old versions no session uses any more.
public enum MaskingInstaller {
    public struct RoleSchema: Sendable, Equatable {
        public let role: String
        public let schema: String
        /// Every schema of views (the session's search_path).
        public let schemas: [String]
        public let readerRole: String
        public let views: Int
        public let maskedColumns: Int
        public let created: Bool
    }

    public struct Result: Sendable {
        public let roles: [RoleSchema]
        public let dropped: [String]
        public let kept: [String]
        /// The catalog the views were built from.
        public let catalog: [CatalogTable]
        /// pg_catalog's and information_schema's relations (`Catalog.systemRelations`).
        public let systemRelations: [String: Set<String>]
    }

    static let completeMarker = ": complete"

    public static func install(_ db: PostgresConnection, target: Target, hashKey: [UInt8]) throws -> Result {
        try db.transaction { db in
            // Two brokers (or a broker and an admin) initialising at once take turns.
            try db.execute("SELECT pg_advisory_xact_lock(hashtext('hoopctl target init'))")
            // Never wait long on a lock someone else holds (a session's open transaction on a table
            // whose trigger is rebuilt): while waiting, this transaction holds locks that ending
            // sessions need. It fails instead, changing nothing, and the next init tries again.
            try db.execute("SET LOCAL lock_timeout = '5s'")
            if try db.execute("SELECT 1 FROM pg_roles WHERE rolname = $1", [MaskingFunctions.ownerRole]).rows.isEmpty {
                try db.execute("CREATE ROLE hoop_owner NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS")
            }
            // A broker admin that is not a superuser acts as hoop_owner by membership (CREATEROLE grants it).
            if try db.execute("SELECT pg_has_role(current_user, $1, 'USAGE')::text", [MaskingFunctions.ownerRole]).scalar != "true" {
                try db.execute("GRANT hoop_owner TO CURRENT_USER")
            }
            for statement in MaskingFunctions.installation { try db.execute(statement) }
            try db.execute(DetectorSQL.function())
            try db.execute("ALTER FUNCTION \(DetectorSQL.signature) OWNER TO hoop_owner")
            try db.execute("REVOKE ALL ON FUNCTION \(DetectorSQL.signature) FROM PUBLIC")
            let pads = MaskingFunctions.pads(key: hashKey)
            try db.execute("""
                INSERT INTO hoop.hash_key (one, inner_pad, outer_pad) VALUES (true, $1::bytea, $2::bytea)
                ON CONFLICT (one) DO UPDATE SET inner_pad = EXCLUDED.inner_pad, outer_pad = EXCLUDED.outer_pad
                """, [hexBytea(pads.inner), hexBytea(pads.outer)])

            let catalog = try Catalog.tables(db)
            try checkOwnership(db, target: target, catalog: catalog)
            try checkMaskedTypes(target: target, catalog: catalog)
            var roles: [RoleSchema] = []
            for role in target.roles.values.sorted(by: { $0.name < $1.name }) {
                let plan = MaskingPlan(target: target, role: role, catalog: catalog)
                let comment = try db.execute("SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $1",
                                             [plan.schema]).rows.first?.first ?? nil
                let exists = comment?.hasSuffix(completeMarker) ?? false
                if !exists {
                    for statement in try plan.statements(quote: db.quoteIdentifier) { try db.execute(statement) }
                }
                roles.append(RoleSchema(role: role.name, schema: plan.schema, schemas: plan.viewSchemas, readerRole: plan.readerRole,
                                        views: plan.tables.count, maskedColumns: plan.maskedColumnCount, created: !exists))
            }
            try installWriteLimits(db, target: target, catalog: catalog)
            let (dropped, kept) = try dropUnused(db, keeping: Set(roles.map(\.schema)))
            try retireCallableFunctions(db)
            try revokeUnneededOwnerGrants(db)
            return Result(roles: roles, dropped: dropped, kept: kept, catalog: catalog, systemRelations: try Catalog.systemRelations(db))
        }
    }

    /// The broker administers a table in scope by acting as its owner (see `LeastPrivilege`):
    /// one it cannot act as stops `target init` before anything is changed, with what to grant.
    static func checkOwnership(_ db: PostgresConnection, target: Target, catalog: [CatalogTable]) throws {
        let inScope = Dictionary(grouping: target.roles.values.flatMap { Catalog.inScope(catalog, of: $0) }, by: \.qualifiedName)
            .compactMap { $0.value.first }
        let foreign = try LeastPrivilege.owners(db, tables: inScope).filter { !$0.held }
        guard !foreign.isEmpty else { return }
        let user = try db.execute("SELECT current_user::text").scalar ?? "the admin role"
        let owners = Array(Set(foreign.map(\.owner))).sorted()
        let named = foreign.prefix(5).map { "\($0.table) (owned by \($0.owner))" }.joined(separator: ", ")
            + (foreign.count > 5 ? " and \(foreign.count - 5) more tables" : "")
        throw RefusedSetup(description: "\(user) cannot administer \(named): "
                             + owners.map { "GRANT \($0) TO \(user)" }.joined(separator: "; ") + ", or hand the tables to a role it is a member of")
    }

    /// A mask that reads a value's text is refused where that text follows the session's
    /// settings, before anything is changed.
    static func checkMaskedTypes(target: Target, catalog: [CatalogTable]) throws {
        let refused = MaskingPlan.settingDependentMasks(target: target, catalog: catalog)
        guard !refused.isEmpty else { return }
        throw RefusedSetup(description: refused.map { "\($0.column) is \($0.type)" }.joined(separator: ", ")
                             + ": a session's settings (DateStyle, TimeZone, extra_float_digits, ...) decide its text, so "
                             + refused.map(\.mask.description).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }.joined(separator: "/")
                             + " would keep or hash characters the session chooses; mask it with redact or null")
    }

    /// A setup `target init` does not build, and why; nothing was changed.
    public struct RefusedSetup: Error, CustomStringConvertible {
        public let description: String
    }

    /// The current masking schema and reader role of each role, without changing anything;
    /// nil for a role whose current version is not installed (policy or schema changed).
    public static func currentSchemas(_ db: PostgresConnection, target: Target) throws
        -> (schemas: [String: (schemas: [String], reader: String)?], catalog: [CatalogTable], systemRelations: [String: Set<String>]) {
        let catalog = try Catalog.tables(db)
        var result: [String: (schemas: [String], reader: String)?] = [:]
        for role in target.roles.values {
            let plan = MaskingPlan(target: target, role: role, catalog: catalog)
            let comment = try db.execute("SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $1",
                                         [plan.schema]).rows.first?.first ?? nil
            // updateValue: assigning nil through the subscript would drop the role instead.
            result.updateValue((comment?.hasSuffix(completeMarker) ?? false) ? (plan.viewSchemas, plan.readerRole) : nil, forKey: role.name)
        }
        return (result, catalog, try Catalog.systemRelations(db))
    }

    /// The triggers that enforce max_rows_per_write: on every table a role may update or delete
    /// from, when the target sets a limit; none otherwise. Rebuilt whole each time.
    private static func installWriteLimits(_ db: PostgresConnection, target: Target, catalog: [CatalogTable]) throws {
        for row in try db.execute("""
            SELECT tgrelid::regclass::text, quote_ident(tgname) FROM pg_trigger WHERE tgname IN ('hoop_write_limit_update', 'hoop_write_limit_delete')
            """).rows {
            try db.execute("DROP TRIGGER \(row[1] ?? "") ON \(row[0] ?? "")")
        }
        guard target.guardrails.maxRowsPerWrite != nil else { return }
        var tables = Set<String>()
        for role in target.roles.values where role.privileges.contains(.update) || role.privileges.contains(.delete) {
            let plan = MaskingPlan(target: target, role: role, catalog: catalog)
            for table in plan.tables where table.kind == "r" || table.kind == "p" {
                tables.insert(try db.quoteQualified(table.schema, table.name))
            }
        }
        for table in tables.sorted() {
            for operation in ["UPDATE", "DELETE"] {
                try db.execute("""
                    CREATE TRIGGER hoop_write_limit_\(operation.lowercased()) AFTER \(operation) ON \(table)
                    REFERENCING OLD TABLE AS hoop_changed FOR EACH STATEMENT EXECUTE FUNCTION hoop.enforce_write_limit()
                    """)
            }
        }
    }

    /// hoop_owner keeps a privilege on a base table only while one of the remaining views
    /// passes it on to a reader role: a policy that stops granting writes takes them back here.
    private static func revokeUnneededOwnerGrants(_ db: PostgresConnection) throws {
        let excess = try db.execute("""
            WITH owner AS (SELECT oid FROM pg_roles WHERE rolname = $1),
            held AS (
                SELECT c.oid, a.privilege_type FROM pg_class c, aclexplode(c.relacl) a, owner
                WHERE a.grantee = owner.oid AND c.relowner <> owner.oid AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
                  AND a.privilege_type IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE')
            ),
            needed AS (
                SELECT DISTINCT d.refobjid AS oid, a.privilege_type
                FROM pg_class v JOIN pg_namespace vn ON vn.oid = v.relnamespace
                JOIN pg_rewrite r ON r.ev_class = v.oid
                JOIN pg_depend d ON d.objid = r.oid AND d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
                , aclexplode(v.relacl) a, owner
                WHERE v.relkind = 'v' AND v.relowner = owner.oid AND vn.nspname LIKE 'hoop\\_%' AND d.refobjid <> v.oid
                  AND a.grantee <> owner.oid
            )
            SELECT n.nspname, c.relname, string_agg(h.privilege_type, ', ' ORDER BY h.privilege_type)
            FROM held h JOIN pg_class c ON c.oid = h.oid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE NOT EXISTS (SELECT 1 FROM needed WHERE needed.oid = h.oid AND needed.privilege_type = h.privilege_type)
              AND (h.privilege_type <> 'SELECT' OR NOT EXISTS (SELECT 1 FROM needed WHERE needed.oid = h.oid))
            GROUP BY n.nspname, c.relname
            """, [MaskingFunctions.ownerRole]).rows
        for row in excess {
            let table = "\(try db.quoteIdentifier(row[0] ?? "")).\(try db.quoteIdentifier(row[1] ?? ""))"
            try db.execute("REVOKE \(row[2] ?? "") ON \(table) FROM \(MaskingFunctions.ownerRole)")
        }
    }

    /// Closes the oracle older versions opened: no role but the owner may call the functions
    /// their views used, even while a kept version's views still do (those sessions then get
    /// `permission denied`: failing closed), and each is dropped once no view uses it.
    private static func retireCallableFunctions(_ db: PostgresConnection) throws {
        for signature in MaskingFunctions.retired {
            guard let oid = try db.execute("SELECT to_regprocedure($1)::oid::text", [signature]).scalar else { continue }
            let grantees = try db.execute("""
                SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END
                FROM pg_proc p, aclexplode(p.proacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee
                WHERE p.oid = $1::oid AND a.grantee <> p.proowner
                """, [oid]).rows.compactMap { $0[0] }
            for grantee in grantees { try db.execute("REVOKE ALL ON FUNCTION \(signature) FROM \(grantee)") }
            // ACL NULL means the defaults, which include EXECUTE for PUBLIC.
            try db.execute("REVOKE ALL ON FUNCTION \(signature) FROM PUBLIC")
            let used = try db.execute("SELECT count(*) FROM pg_depend WHERE refclassid = 'pg_proc'::regclass AND refobjid = $1::oid AND deptype = 'n'",
                                      [oid]).scalar ?? "1"
            if used == "0" { try db.execute("DROP FUNCTION \(signature)") }
        }
    }

    /// Drops masking schemas (and their reader roles) of other versions whose reader role has no members.
    private static func dropUnused(_ db: PostgresConnection, keeping current: Set<String>) throws -> (dropped: [String], kept: [String]) {
        // A version's schemas all start with its main schema's name, `hoop_<role>_<version>`.
        let rows = try db.execute("""
            SELECT nspname, obj_description(oid, 'pg_namespace') FROM pg_namespace
            WHERE nspname LIKE 'hoop\\_%' AND obj_description(oid, 'pg_namespace') LIKE 'hoopctl masking views %'
            ORDER BY nspname
            """).rows
        let schemas = rows.compactMap { $0[0] }
        let mains = rows.filter { $0[1]?.hasSuffix(completeMarker) ?? false }.compactMap { $0[0] }
        var dropped: [String] = [], kept: [String] = []
        for main in mains where !current.contains(main) {
            let reader = "hoop_r_" + main.dropFirst("hoop_".count)
            let members = try db.execute("""
                SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid WHERE r.rolname = $1
                """, [reader]).scalar ?? "0"
            guard members == "0" else {
                kept.append(main)
                continue
            }
            for schema in schemas where schema == main || schema.hasPrefix(main + "_") {
                try db.execute("DROP SCHEMA \(try db.quoteIdentifier(schema)) CASCADE")
            }
            if try !db.execute("SELECT 1 FROM pg_roles WHERE rolname = $1", [reader]).rows.isEmpty {
                try SessionRoles.dropOwned(db, roleName: reader)
                try db.execute("DROP ROLE \(try db.quoteIdentifier(reader))")
            }
            dropped.append(main)
        }
        return (dropped, kept)
    }

    static func hexBytea(_ bytes: [UInt8]) -> String {
        "\\x" + bytes.map { String(format: "%02x", $0) }.joined()
    }
}
