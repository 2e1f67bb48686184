import HoopPolicy
import HoopPostgres

/// A schema-qualified relation name.
public struct RelationName: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let schema: String
    public let name: String

    public init(schema: String, name: String) {
        self.schema = schema
        self.name = name
    }

    public var description: String { "\(schema).\(name)" }
    public static func < (a: RelationName, b: RelationName) -> Bool { (a.schema, a.name) < (b.schema, b.name) }
}

/// A relation of the target database with its columns, as the catalog describes it.
public struct CatalogTable: Sendable, Equatable {
    public struct Column: Sendable, Equatable {
        public let name: String
        /// `format_type()` of the column, e.g. `text`, `numeric(10,2)`.
        public let type: String
    }

    public let schema: String
    public let name: String
    /// pg_class.relkind: r table, p partitioned, v view, m materialized view, f foreign table.
    public let kind: String
    public let rowSecurity: Bool
    public let columns: [Column]
    /// Tables its foreign keys point at.
    public var references: [RelationName] = []
    /// Sequences its serial columns own: inserting calls nextval on them.
    public var sequences: [RelationName] = []

    public var qualifiedName: String { "\(schema).\(name)" }
    public var relation: RelationName { RelationName(schema: schema, name: name) }
}

/// Reads the tables a role's patterns can reach. Schemas `pg_*`, `information_schema`, `hoop`
/// and `hoop_*` (hoopctl's own) are never in scope.
public enum Catalog {
    /// The relations of the schemas a session's unqualified names can reach besides the
    /// target's own tables: pg_catalog (searched first) and information_schema. Schema → names.
    public static func systemRelations(_ connection: PostgresConnection) throws -> [String: Set<String>] {
        let rows = try connection.execute("""
            SELECT n.nspname, c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname IN ('pg_catalog', 'information_schema') AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
            """).rows
        var relations: [String: Set<String>] = [:]
        for row in rows { relations[row[0] ?? "", default: []].insert(row[1] ?? "") }
        return relations
    }

    public static func tables(_ connection: PostgresConnection) throws -> [CatalogTable] {
        let rows = try connection.execute("""
            SELECT n.nspname, c.relname, c.relkind::text, c.relrowsecurity::text, a.attname,
                   pg_catalog.format_type(a.atttypid, a.atttypmod)
            FROM pg_catalog.pg_class c
            JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
            WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
              AND n.nspname NOT IN ('information_schema', 'hoop')
              AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname NOT LIKE 'hoop\\_%'
            ORDER BY n.nspname, c.relname, a.attnum
            """).rows
        var tables: [CatalogTable] = []
        var current: (schema: String, name: String, kind: String, rls: Bool, columns: [CatalogTable.Column])?
        for row in rows {
            let schema = row[0] ?? "", name = row[1] ?? ""
            if current?.schema != schema || current?.name != name {
                if let done = current {
                    tables.append(CatalogTable(schema: done.schema, name: done.name, kind: done.kind, rowSecurity: done.rls, columns: done.columns))
                }
                current = (schema, name, row[2] ?? "r", row[3] == "true", [])
            }
            current?.columns.append(.init(name: row[4] ?? "", type: row[5] ?? "text"))
        }
        if let done = current {
            tables.append(CatalogTable(schema: done.schema, name: done.name, kind: done.kind, rowSecurity: done.rls, columns: done.columns))
        }
        let keys = try connection.execute("""
            SELECT DISTINCT n.nspname, c.relname, rn.nspname, r.relname
            FROM pg_catalog.pg_constraint k
            JOIN pg_catalog.pg_class c ON c.oid = k.conrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_catalog.pg_class r ON r.oid = k.confrelid JOIN pg_catalog.pg_namespace rn ON rn.oid = r.relnamespace
            WHERE k.contype = 'f'
            ORDER BY 1, 2, 3, 4
            """).rows
        func pairs(_ rows: [[String?]]) -> [RelationName: [RelationName]] {
            var result: [RelationName: [RelationName]] = [:]
            for row in rows {
                result[RelationName(schema: row[0] ?? "", name: row[1] ?? ""), default: []].append(RelationName(schema: row[2] ?? "", name: row[3] ?? ""))
            }
            return result
        }
        let references = pairs(keys)
        let owned = try connection.execute("""
            SELECT tn.nspname, t.relname, sn.nspname, s.relname
            FROM pg_catalog.pg_depend d
            JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S' JOIN pg_catalog.pg_namespace sn ON sn.oid = s.relnamespace
            JOIN pg_catalog.pg_class t ON t.oid = d.refobjid JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
            WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.deptype = 'a'
            ORDER BY 1, 2, 3, 4
            """).rows
        let sequences = pairs(owned)
        for index in tables.indices {
            tables[index].references = references[tables[index].relation] ?? []
            tables[index].sequences = sequences[tables[index].relation] ?? []
        }
        return tables
    }

    /// The tables a role's patterns select, in catalog order.
    public static func inScope(_ tables: [CatalogTable], of role: Role) -> [CatalogTable] {
        tables.filter { table in role.tables.contains { $0.matches(schema: table.schema, table: table.name) } }
    }
}
