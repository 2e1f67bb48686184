import Crypto
import HoopPolicy

/// What `target init` builds for one role of one target: schemas of masking views and the
/// reader role that may use them. I/O-free: it only turns policy and catalog into SQL text.
///
/// Views of `public` tables go in `hoop_<role>_<version>`; views of another schema S in
/// `hoop_<role>_<version>_S`, so equal table names in two schemas do not collide; a session's
/// search_path lists them, public's first. The names carry a version derived from everything
/// the views depend on (the role's privileges, the tables in scope with their columns and
/// foreign keys, the masking rules), so a changed policy or schema gets new views beside the
/// old ones, and sessions keep the views they started with.
///
/// A role that may insert gets INSERT on the base tables that have no masked column and no
/// foreign key to one (so COPY FROM works, and defaults apply): INSERT alone reads nothing.
/// It also gets USAGE on the sequences of serial columns, which their defaults call.
public struct MaskingPlan: Sendable {
    /// Bump when the generated SQL changes meaning, so every target gets fresh views.
    static let scheme = "hoopctl-masking-2"

    public let role: Role
    public let tables: [CatalogTable]
    public let masking: [ColumnName: MaskingFunction]
    /// What columns declared `detect` are masked with in the view.
    public let detectors: [Detector]
    public let version: String

    public init(target: Target, role: Role, catalog: [CatalogTable]) {
        self.role = role
        tables = Catalog.inScope(catalog, of: role)
        masking = target.masking
        detectors = target.detectors
        version = MaskingPlan.version(target: target.name, role: role, tables: tables, masking: target.masking, detectors: target.detectors)
    }

    /// Whether a view of this plan masks free text in the database.
    var detectsInDatabase: Bool {
        tables.contains { table in table.columns.contains { masking[ColumnName(schema: table.schema, table: table.name, column: $0.name)] == .detect } }
    }

    /// `hoop_<role>_<version>`: the schema of views of `public` tables, and the version's name.
    public var schema: String { "hoop_\(role.name)_\(version)" }

    /// The schema of views of tables in `sourceSchema`.
    public func viewSchema(for sourceSchema: String) -> String {
        guard sourceSchema != "public" else { return schema }
        // Identifiers stop at 63 bytes: a long schema name is shortened and made unique by a hash.
        let suffix = sourceSchema.utf8.count <= 20 ? sourceSchema
            : String(sourceSchema.prefix(12)) + "_" + HashChainHex.sha256(sourceSchema).prefix(7)
        return "\(schema)_\(suffix)"
    }

    /// Every schema of views, for the session's search_path: public's first.
    public var viewSchemas: [String] {
        let sources = Set(tables.map(\.schema))
        return [schema] + sources.subtracting(["public"]).sorted().map(viewSchema(for:))
    }

    /// Whether a table may take INSERTs (and COPY FROM) on the base table itself.
    func insertsDirectly(_ table: CatalogTable) -> Bool {
        guard role.privileges.contains(.insert), table.kind == "r" || table.kind == "p" else { return false }
        let maskedTables = Set(masking.keys.map { RelationName(schema: $0.schema, name: $0.table) })
        return !maskedTables.contains(table.relation) && table.references.allSatisfy { !maskedTables.contains($0) }
    }
    /// `hoop_r_<role>_<version>`: granted the views; session roles are members of it.
    public var readerRole: String { "hoop_r_\(role.name)_\(version)" }

    /// Each column of the tables in scope, and how its view masks it (nil: it does not).
    public func columns(of table: CatalogTable) -> [(column: CatalogTable.Column, mask: MaskingFunction?)] {
        table.columns.map { ($0, masking[ColumnName(schema: table.schema, table: table.name, column: $0.name)]) }
    }

    /// How many columns of the tables in scope are masked.
    public var maskedColumnCount: Int {
        tables.reduce(0) { count, table in
            count + table.columns.filter { masking[ColumnName(schema: table.schema, table: table.name, column: $0.name)] != nil }.count
        }
    }

    /// Types whose text does not depend on the session's settings. The masks that work on a
    /// value's text (email, partial, hash, detect) are refused on other types: DateStyle,
    /// IntervalStyle, TimeZone, extra_float_digits, lc_monetary or bytea_output would let a
    /// session choose which characters `partial(4)` keeps (and hashes would not join).
    static let settingFreeText: Set<String> = ["text", "character varying", "character", "name", "citext", "smallint", "integer", "bigint",
                                               "numeric", "uuid", "boolean", "inet", "cidr", "macaddr", "json", "jsonb", "xml"]

    /// The masked columns of the tables in scope whose mask reads a text that a session's
    /// settings change, with their types.
    public static func settingDependentMasks(target: Target, catalog: [CatalogTable]) -> [(column: ColumnName, type: String, mask: MaskingFunction)] {
        var found: [(column: ColumnName, type: String, mask: MaskingFunction)] = []
        for table in catalog {
            for column in table.columns {
                let name = ColumnName(schema: table.schema, table: table.name, column: column.name)
                guard let mask = target.masking[name], ![.redact, .null].contains(mask) else { continue }
                var base = column.type
                while base.hasSuffix("[]") { base.removeLast(2) }
                if let parenthesis = base.firstIndex(of: "(") { base = String(base[..<parenthesis]) }
                if !settingFreeText.contains(base) { found.append((name, column.type, mask)) }
            }
        }
        return found.sorted { $0.column < $1.column }
    }

    static func version(target: String, role: Role, tables: [CatalogTable], masking: [ColumnName: MaskingFunction], detectors: [Detector]) -> String {
        var text = "\(scheme)\n\(target)\n\(role.name)\n\(role.privileges.sorted().map(\.rawValue).joined(separator: ","))\n"
        if masking.values.contains(.detect) {
            // The detectors are written into the views of declared columns: a change makes new views.
            text += "detectors " + DetectorSQL.call(column: "c", detectors: detectors) + "\n"
        }
        for table in tables {
            text += "\(table.schema).\(table.name)->\(table.references.map(\.description).joined(separator: ","))+\(table.sequences.map(\.description).joined(separator: ","))"
            for column in table.columns {
                let mask = masking[ColumnName(schema: table.schema, table: table.name, column: column.name)]
                text += "|\(column.name):\(column.type):\(mask.map(String.init(describing:)) ?? "")"
            }
            text += "\n"
        }
        return HashChainHex.sha256(text).prefix(10).description
    }

    /// The statements, in order, that create the schemas, the views and the reader role's grants.
    /// `quote` quotes an identifier (the installer passes libpq's PQescapeIdentifier).
    public func statements(quote: (String) throws -> String) rethrows -> [String] {
        let reader = try quote(readerRole), owner = try quote(MaskingFunctions.ownerRole)
        var sql = ["CREATE ROLE \(reader) NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT"]
        for name in viewSchemas {
            let schemaName = try quote(name)
            sql += [
                "CREATE SCHEMA \(schemaName) AUTHORIZATION \(owner)",
                "REVOKE ALL ON SCHEMA \(schemaName) FROM PUBLIC",
                "GRANT USAGE ON SCHEMA \(schemaName) TO \(reader)",
            ]
            if name != schema {
                sql.append("COMMENT ON SCHEMA \(schemaName) IS 'hoopctl masking views for role \(role.name), version \(version), part'")
            }
        }
        if detectsInDatabase {
            sql.append("GRANT EXECUTE ON FUNCTION \(DetectorSQL.signature) TO \(reader)")
        }
        let writes = role.privileges.filter { $0 != .select }.sorted().map { $0.rawValue.uppercased() }
        var baseSchemasForInsert = Set<String>()
        for table in tables {
            let base = "\(try quote(table.schema)).\(try quote(table.name))"
            let view = "\(try quote(viewSchema(for: table.schema))).\(try quote(table.name))"
            let columns = try table.columns.map { column -> String in
                let name = try quote(column.name)
                guard let mask = masking[ColumnName(schema: table.schema, table: table.name, column: column.name)] else { return name }
                return "\(MaskingFunctions.expression(mask, column: name, type: column.type, detectors: detectors)) AS \(name)"
            }
            // The view owner (hoop_owner) reads the table; sessions only ever read the view.
            sql.append("GRANT \((["SELECT"] + writes).joined(separator: ", ")) ON \(base) TO \(owner)")
            sql.append("CREATE VIEW \(view) WITH (security_barrier) AS SELECT \(columns.joined(separator: ", ")) FROM \(base)")
            sql.append("ALTER VIEW \(view) OWNER TO \(owner)")
            sql.append("REVOKE ALL ON \(view) FROM PUBLIC")
            sql.append("GRANT \((["SELECT"] + writes).joined(separator: ", ")) ON \(view) TO \(reader)")
            if insertsDirectly(table) {
                baseSchemasForInsert.insert(table.schema)
                sql.append("GRANT INSERT ON \(base) TO \(reader)")
            }
            if role.privileges.contains(.insert) {
                // A serial column's default calls nextval as the inserting session, through the view too.
                for sequence in table.sequences {
                    sql.append("GRANT USAGE ON SEQUENCE \(try quote(sequence.schema)).\(try quote(sequence.name)) TO \(reader)")
                }
            }
        }
        for schema in baseSchemasForInsert.sorted() {
            sql.append("GRANT USAGE ON SCHEMA \(try quote(schema)) TO \(reader)")
        }
        sql.append("COMMENT ON SCHEMA \(try quote(schema)) IS 'hoopctl masking views for role \(role.name), version \(version): complete'")
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
