import HoopLedger
import HoopSQL

/// The tables a session sees (its masking views), with their base tables and how each column
/// comes back, and every other relation its names could reach: what resolves a statement's
/// names as the server does and turns them into column-level lineage. Built by the broker
/// from the role's masking plan and the target's catalog; I/O-free.
public struct VisibleTables: Sendable {
    public enum Masking: String, Sendable {
        /// Replaced by a masking expression in the view.
        case view
        /// Free text declared `detect`: the detectors applied by the database, in the view.
        case viewDetect = "view-detect"
        /// Text the in-flight detectors scan (only on its way out).
        case detector
        case clear
    }

    public struct Column: Sendable {
        public var name: String
        /// As `format_type` writes it: `text`, `numeric(10,2)`.
        public var type: String
        public var masking: Masking

        public init(_ name: String, _ type: String, _ masking: Masking) {
            self.name = name
            self.type = type
            self.masking = masking
        }
    }

    public struct Table: Sendable {
        /// `schema.table` of the base table.
        public var base: String
        /// `viewschema.table`: the masking view a session reads in its place.
        public var view: String
        public var columns: [Column]

        public init(base: String, view: String, columns: [Column]) {
            self.base = base
            self.view = view
            self.columns = columns
        }

        /// The table's name without its schema.
        public var name: String { VisibleTables.split(base).name }
    }

    public let tables: [Table]
    /// The search_path the session's role starts with: its view schemas.
    public let searchPath: [String]
    /// `schema.table` of a base table or of its view → the table.
    private var byQualified: [String: Int] = [:]
    /// Schema → relation name → what the ledger calls it (the base table for a masking view).
    private var bySchema: [String: [String: String]] = [:]

    /// `others`: every other relation a name could reach, schema → names (the target's tables
    /// outside the session's scope, pg_catalog's, information_schema's).
    public init(_ tables: [Table], searchPath: [String], others: [String: Set<String>] = [:]) {
        self.tables = tables
        self.searchPath = searchPath
        for (schema, names) in others {
            for name in names { bySchema[schema, default: [:]][name] = "\(schema).\(name)" }
        }
        for (index, table) in tables.enumerated() {
            for qualified in [table.base, table.view] {
                byQualified[qualified] = index
                let (schema, name) = Self.split(qualified)
                bySchema[schema ?? "", default: [:]][name] = table.base
            }
        }
    }

    static func split(_ relation: String) -> (schema: String?, name: String) {
        guard let dot = relation.firstIndex(of: ".") else { return (nil, relation) }
        return (String(relation[..<dot]), String(relation[relation.index(after: dot)...]))
    }

    /// The relation a name, as a statement writes it, names when the session's search_path is
    /// `path` (nil: unknown), as the server looks it up: pg_catalog first unless the path
    /// places it, then the path's schemas in order. `schema.table` for a table, the base
    /// table for a masking view; nil when it cannot be told (an unknown path, a name the
    /// session made temporary, a name no schema on the path has).
    public func resolve(_ written: String, path: [String]?, temporary: Set<String> = []) -> String? {
        let (schema, name) = Self.split(written)
        if let schema { return bySchema[schema]?[name] ?? written }
        guard let path, !temporary.contains(name) else { return nil }
        for schema in path.contains("pg_catalog") ? path : ["pg_catalog"] + path {
            if let found = bySchema[schema]?[name] { return found }
        }
        return nil
    }

    /// The visible tables a name may be: the one it resolves to, or, when that cannot be told,
    /// every one of that name (the lineage says "may have").
    func tables(named written: String, path: [String]?, temporary: Set<String>) -> [Table] {
        if let resolved = resolve(written, path: path, temporary: temporary) {
            return byQualified[resolved].map { [tables[$0]] } ?? []
        }
        return tables.filter { $0.name == written }
    }

    /// What a statement read and wrote, resolved to base tables and columns: `*` expanded,
    /// unqualified columns matched to the one table that has them (to each that has them when
    /// several do: the trace says "may have"). Names resolve through `path` (the session's
    /// search_path, nil when unknown; `searchPath` is the role's own).
    public func lineage(of facts: StatementFacts, fingerprint: String, job: String? = nil, path: [String]?,
                        temporary: Set<String> = []) -> StatementLineage {
        var items = Set<StatementLineage.Item>()
        let written = Set(facts.writes)
        var inScope: [Table] = []
        var named: [String: [Table]] = [:]
        for relation in facts.relations {
            let found = tables(named: relation, path: path, temporary: temporary)
            named[relation] = found
            inScope += found
            for table in found {
                items.insert(.init(item: table.base, access: written.contains(relation) ? .write : .read))
            }
        }
        for column in facts.columns {
            guard let dot = column.lastIndex(of: ".") else { continue }
            let relation = String(column[..<dot]), name = String(column[column.index(after: dot)...])
            let candidates = relation == "?" ? inScope : named[relation] ?? tables(named: relation, path: path, temporary: temporary)
            for table in candidates {
                for column in table.columns where name == "*" || column.name == name {
                    items.insert(.init(item: "\(table.base).\(column.name)", access: .read, masking: column.masking.rawValue))
                }
            }
        }
        return StatementLineage(fingerprint: fingerprint, items: items.sorted { ($0.item, $0.access.rawValue) < ($1.item, $1.access.rawValue) },
                                job: job)
    }
}

extension StatementLineage {
    /// As the statement record keeps it: `read public.customers.email view`, `write public.orders`.
    public var summary: [String] {
        items.map { ([$0.access.rawValue, $0.item] + ($0.masking.map { [$0] } ?? [])).joined(separator: " ") }
    }
}
