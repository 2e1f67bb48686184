import HoopLedger
import HoopSQL

/// The tables a session sees (its masking views), with their base tables and how each column
/// comes back: what turns a statement's names into column-level lineage. Built by the broker
/// from the role's masking plan; I/O-free.
public struct VisibleTables: Sendable {
    public enum Masking: String, Sendable {
        /// Replaced by a masking function in the view.
        case view
        /// Text the in-flight detectors scan.
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
        /// The names a statement may use for it: `table`, `schema.table`, `viewschema.table`.
        public var names: [String]
        public var columns: [Column]

        public init(base: String, names: [String], columns: [Column]) {
            self.base = base
            self.names = names
            self.columns = columns
        }
    }

    private var byName: [String: Int] = [:]
    public let tables: [Table]

    /// Earlier tables win a name two could claim (the search path's order).
    public init(_ tables: [Table]) {
        self.tables = tables
        for (index, table) in tables.enumerated() {
            for name in table.names where byName[name] == nil { byName[name] = index }
        }
    }

    func table(_ name: String) -> Table? { byName[name].map { tables[$0] } }

    /// What a statement read and wrote, resolved to base tables and columns: `*` expanded,
    /// unqualified columns matched to the one table that has them (to each that has them when
    /// several do: the trace says "may have").
    public func lineage(of facts: StatementFacts, fingerprint: String, job: String? = nil) -> StatementLineage {
        var items = Set<StatementLineage.Item>()
        let written = Set(facts.writes)
        var inScope: [Table] = []
        for relation in facts.relations {
            guard let table = table(relation) else { continue }
            inScope.append(table)
            items.insert(.init(item: table.base, access: written.contains(relation) ? .write : .read))
        }
        for column in facts.columns {
            guard let dot = column.lastIndex(of: ".") else { continue }
            let relation = String(column[..<dot]), name = String(column[column.index(after: dot)...])
            let candidates = relation == "?" ? inScope : table(relation).map { [$0] } ?? []
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
