import Foundation
import HoopPolicy
import HoopPostgres

/// `hoopctl target init`: installs the masking functions and, for every role of the target,
/// the masking views of the current policy version — all in one transaction, so a failure
/// leaves the database as it was. Running it again changes nothing; after a policy or schema
/// change it adds the new version and drops old versions no session uses any more.
public enum MaskingInstaller {
    public struct RoleSchema: Sendable, Equatable {
        public let role: String
        public let schema: String
        public let readerRole: String
        public let views: Int
        public let maskedColumns: Int
        public let created: Bool
    }

    public struct Result: Sendable {
        public let roles: [RoleSchema]
        public let dropped: [String]
        public let kept: [String]
    }

    static let completeMarker = ": complete"

    public static func install(_ db: PostgresConnection, target: Target, hashKey: [UInt8]) throws -> Result {
        try db.transaction { db in
            // Two brokers (or a broker and an admin) initialising at once take turns.
            try db.execute("SELECT pg_advisory_xact_lock(hashtext('hoopctl target init'))")
            if try db.execute("SELECT 1 FROM pg_roles WHERE rolname = $1", [MaskingFunctions.ownerRole]).rows.isEmpty {
                try db.execute("CREATE ROLE hoop_owner NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS")
            }
            for statement in MaskingFunctions.installation { try db.execute(statement) }
            let pads = MaskingFunctions.pads(key: hashKey)
            try db.execute("""
                INSERT INTO hoop.hash_key (one, inner_pad, outer_pad) VALUES (true, $1::bytea, $2::bytea)
                ON CONFLICT (one) DO UPDATE SET inner_pad = EXCLUDED.inner_pad, outer_pad = EXCLUDED.outer_pad
                """, [hexBytea(pads.inner), hexBytea(pads.outer)])

            let catalog = try Catalog.tables(db)
            var roles: [RoleSchema] = []
            for role in target.roles.values.sorted(by: { $0.name < $1.name }) {
                let plan = MaskingPlan(target: target, role: role, catalog: catalog)
                let comment = try db.execute("SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $1",
                                             [plan.schema]).rows.first?.first ?? nil
                let exists = comment?.hasSuffix(completeMarker) ?? false
                if !exists {
                    for statement in try plan.statements(quote: db.quoteIdentifier) { try db.execute(statement) }
                }
                roles.append(RoleSchema(role: role.name, schema: plan.schema, readerRole: plan.readerRole,
                                        views: plan.tables.count, maskedColumns: plan.maskedColumnCount, created: !exists))
            }
            let (dropped, kept) = try dropUnused(db, keeping: Set(roles.map(\.schema)))
            return Result(roles: roles, dropped: dropped, kept: kept)
        }
    }

    /// The current masking schema and reader role of each role, without changing anything;
    /// nil for a role whose current version is not installed (policy or schema changed).
    public static func currentSchemas(_ db: PostgresConnection, target: Target) throws -> [String: (schema: String, reader: String)?] {
        let catalog = try Catalog.tables(db)
        var result: [String: (schema: String, reader: String)?] = [:]
        for role in target.roles.values {
            let plan = MaskingPlan(target: target, role: role, catalog: catalog)
            let comment = try db.execute("SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $1",
                                         [plan.schema]).rows.first?.first ?? nil
            // updateValue: assigning nil through the subscript would drop the role instead.
            result.updateValue((comment?.hasSuffix(completeMarker) ?? false) ? (plan.schema, plan.readerRole) : nil, forKey: role.name)
        }
        return result
    }

    /// Drops masking schemas (and their reader roles) of other versions whose reader role has no members.
    private static func dropUnused(_ db: PostgresConnection, keeping current: Set<String>) throws -> (dropped: [String], kept: [String]) {
        let schemas = try db.execute("""
            SELECT nspname FROM pg_namespace
            WHERE nspname LIKE 'hoop\\_%' AND obj_description(oid, 'pg_namespace') LIKE 'hoopctl masking views %'
            ORDER BY nspname
            """).rows.compactMap { $0[0] }
        var dropped: [String] = [], kept: [String] = []
        for schema in schemas where !current.contains(schema) {
            let reader = "hoop_r_" + schema.dropFirst("hoop_".count)
            let members = try db.execute("""
                SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid WHERE r.rolname = $1
                """, [reader]).scalar ?? "0"
            guard members == "0" else {
                kept.append(schema)
                continue
            }
            try db.execute("DROP SCHEMA \(try db.quoteIdentifier(schema)) CASCADE")
            if try !db.execute("SELECT 1 FROM pg_roles WHERE rolname = $1", [reader]).rows.isEmpty {
                try db.execute("DROP OWNED BY \(try db.quoteIdentifier(reader))")
                try db.execute("DROP ROLE \(try db.quoteIdentifier(reader))")
            }
            dropped.append(schema)
        }
        return (dropped, kept)
    }

    static func hexBytea(_ bytes: [UInt8]) -> String {
        "\\x" + bytes.map { String(format: "%02x", $0) }.joined()
    }
}
