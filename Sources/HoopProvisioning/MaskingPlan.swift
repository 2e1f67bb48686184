import Crypto
import HoopPolicy

/// What `target init` builds for one role of one target: a schema of masking views and the
/// reader role that may use them. I/O-free: it only turns policy and catalog into SQL text.
///
/// The names carry a version derived from everything the views depend on (the role's
/// privileges, the tables in scope with their columns, the masking rules), so a changed policy
/// or schema gets new views beside the old ones, and sessions keep the views they started with.
public struct MaskingPlan: Sendable {
    /// Bump when the generated SQL changes meaning, so every target gets fresh views.
    static let scheme = "hoopctl-masking-1"

    public let role: Role
    public let tables: [CatalogTable]
    public let masking: [ColumnName: MaskingFunction]
    public let version: String

    public init(target: Target, role: Role, catalog: [CatalogTable]) {
        self.role = role
        tables = Catalog.inScope(catalog, of: role)
        masking = target.masking
        version = MaskingPlan.version(target: target.name, role: role, tables: tables, masking: target.masking)
    }

    /// `hoop_<role>_<version>`: the schema of views.
    public var schema: String { "hoop_\(role.name)_\(version)" }
    /// `hoop_r_<role>_<version>`: granted the views; session roles are members of it.
    public var readerRole: String { "hoop_r_\(role.name)_\(version)" }

    /// How many columns of the tables in scope are masked.
    public var maskedColumnCount: Int {
        tables.reduce(0) { count, table in
            count + table.columns.filter { masking[ColumnName(schema: table.schema, table: table.name, column: $0.name)] != nil }.count
        }
    }

    static func version(target: String, role: Role, tables: [CatalogTable], masking: [ColumnName: MaskingFunction]) -> String {
        var text = "\(scheme)\n\(target)\n\(role.name)\n\(role.privileges.sorted().map(\.rawValue).joined(separator: ","))\n"
        for table in tables {
            text += "\(table.schema).\(table.name)"
            for column in table.columns {
                let mask = masking[ColumnName(schema: table.schema, table: table.name, column: column.name)]
                text += "|\(column.name):\(column.type):\(mask.map(String.init(describing:)) ?? "")"
            }
            text += "\n"
        }
        return HashChainHex.sha256(text).prefix(10).description
    }

    /// The statements, in order, that create the schema, the views and the reader role's grants.
    /// `quote` quotes an identifier (the installer passes libpq's PQescapeIdentifier).
    public func statements(quote: (String) throws -> String) rethrows -> [String] {
        let schemaName = try quote(schema), reader = try quote(readerRole), owner = try quote(MaskingFunctions.ownerRole)
        var sql = [
            "CREATE ROLE \(reader) NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT",
            "CREATE SCHEMA \(schemaName) AUTHORIZATION \(owner)",
            "REVOKE ALL ON SCHEMA \(schemaName) FROM PUBLIC",
            "GRANT USAGE ON SCHEMA \(schemaName) TO \(reader)",
            "GRANT USAGE ON SCHEMA hoop TO \(reader)",
        ]
        for function in MaskingFunctions.signatures {
            sql.append("GRANT EXECUTE ON FUNCTION \(function) TO \(reader)")
        }
        let writes = role.privileges.filter { $0 != .select }.sorted().map { $0.rawValue.uppercased() }
        for table in tables {
            let base = "\(try quote(table.schema)).\(try quote(table.name))"
            let view = "\(schemaName).\(try quote(table.name))"
            let columns = try table.columns.map { column -> String in
                let name = try quote(column.name)
                guard let mask = masking[ColumnName(schema: table.schema, table: table.name, column: column.name)] else { return name }
                return "\(MaskingFunctions.expression(mask, column: name, type: column.type)) AS \(name)"
            }
            // The view owner (hoop_owner) reads the table; sessions only ever read the view.
            sql.append("GRANT \((["SELECT"] + writes).joined(separator: ", ")) ON \(base) TO \(owner)")
            sql.append("CREATE VIEW \(view) WITH (security_barrier) AS SELECT \(columns.joined(separator: ", ")) FROM \(base)")
            sql.append("ALTER VIEW \(view) OWNER TO \(owner)")
            sql.append("REVOKE ALL ON \(view) FROM PUBLIC")
            sql.append("GRANT \((["SELECT"] + writes).joined(separator: ", ")) ON \(view) TO \(reader)")
        }
        sql.append("COMMENT ON SCHEMA \(schemaName) IS 'hoopctl masking views for role \(role.name), version \(version): complete'")
        return sql
    }
}

enum HashChainHex {
    static func sha256(_ text: String) -> String {
        SHA256.hash(data: Array(text.utf8)).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}
