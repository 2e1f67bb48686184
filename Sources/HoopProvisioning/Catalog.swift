import HoopPolicy
import HoopPostgres

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

    public var qualifiedName: String { "\(schema).\(name)" }
}

/// Reads the tables a role's patterns can reach. Schemas `pg_*`, `information_schema`, `hoop`
/// and `hoop_*` (hoopctl's own) are never in scope.
public enum Catalog {
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
        return tables
    }

    /// The tables a role's patterns select, in catalog order.
    public static func inScope(_ tables: [CatalogTable], of role: Role) -> [CatalogTable] {
        tables.filter { table in role.tables.contains { $0.matches(schema: table.schema, table: table.name) } }
    }
}
