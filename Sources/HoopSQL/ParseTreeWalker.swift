import Foundation

/// Walks the whole of libpg_query's JSON parse tree of one statement — every nested query,
/// CTE, sub-select, function call, DO body — and collects its `StatementFacts`. Anything it does
/// not recognise makes the statement `opaque`: it fails closed.
struct ParseTreeWalker {
    private(set) var facts = StatementFacts()
    /// Nesting of DO bodies and SQL strings inside SQL: beyond this, opaque.
    private let depth: Int
    static let maxDepth = 6
    /// `SELECT ... FROM pg_settings WHERE name = 'x'`: the setting a `set_config(name, ...)` there sets.
    private var settingsRow: String?
    /// The type of the statement walked (`VariableSetStmt`, ...): a SET inside another statement
    /// (ALTER ROLE ... SET, a function's SET clause) changes a default, not this session.
    private var statementType: String?
    /// Whether the statement is `SELECT set_config(...)` alone, decided at its first SELECT.
    private var selectSeen = false, bareSetConfig = false
    /// CTE names visible at each level (they are not relations).
    private var ctes: [Set<String>] = []
    /// Alias (or name) → relation, per query level, for attributing columns.
    private var scopes: [[String: String]] = []

    init(depth: Int = 0) { self.depth = depth }

    /// Facts of a top-level statement node (`{"SelectStmt": {...}}`).
    static func facts(ofStatement node: Any, depth: Int = 0) -> StatementFacts {
        var walker = ParseTreeWalker(depth: depth)
        walker.visit(node)
        // Only in queries are literals values and nothing more; elsewhere a literal is a schema
        // list (SET), code (DO, CREATE FUNCTION), an option: an analysis of such a text is never
        // shared with texts that differ from it in literals.
        if !Self.literalsAreValues.contains(walker.statementType ?? "") { walker.facts.dependsOnLiterals = true }
        // DDL or DCL naming anything of hoopctl's (its schemas, masking views, functions, roles)
        // would change what masks or who holds what, as that object's owner once approved.
        if [.ddl, .dcl].contains(walker.facts.statementClass), Self.namesHoopctlsOwn(node) {
            walker.facts.raise(.admin, "changes hoopctl's own objects")
        }
        walker.facts.tidy()
        return walker.facts
    }

    static let literalsAreValues: Set<String> = ["SelectStmt", "InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"]

    /// Whether any name in the tree (not a literal) is `hoop` or begins with `hoop_`: a
    /// schema, a relation, a function, a role of hoopctl's.
    static func namesHoopctlsOwn(_ node: Any) -> Bool {
        func own(_ name: String) -> Bool { name == brokerSchema || name.hasPrefix("hoop_") }
        if let list = node as? [Any] { return list.contains(where: namesHoopctlsOwn) }
        guard let dict = node as? [String: Any] else { return false }
        for (key, value) in dict where key != "A_Const" {
            if key == "String", let sval = (value as? [String: Any])?["sval"] as? String, own(sval) { return true }
            if ["schemaname", "relname", "rolename", "newname", "newschema", "subname"].contains(key), let name = value as? String, own(name) {
                return true
            }
            if namesHoopctlsOwn(value) { return true }
        }
        return false
    }

    // MARK: The walk

    mutating func visit(_ value: Any) {
        if let list = value as? [Any] {
            for item in list { visit(item) }
            return
        }
        guard let dict = value as? [String: Any] else { return }
        if dict.count == 1, let (type, body) = dict.first, let fields = body as? [String: Any], type.first?.isUppercase == true {
            node(type, fields)
        } else if dict["relname"] != nil {
            rangeVar(dict)  // a RangeVar held in a typed field (`relation`), not wrapped
        } else if let list = dict["ctes"] {
            withClause(dict, list)
        } else {
            for (_, child) in dict { visit(child) }
        }
    }

    private mutating func children(_ fields: [String: Any], skipping skipped: Set<String> = []) {
        for (key, child) in fields where !skipped.contains(key) { visit(child) }
    }

    private mutating func node(_ type: String, _ fields: [String: Any]) {
        if statementType == nil { statementType = type }
        switch type {
        case "RangeVar": rangeVar(fields)
        case "ColumnRef": columnRef(fields)
        case "FuncCall": functionCall(fields)
        case "WithClause": withClause(fields, fields["ctes"] ?? [])
        case "SelectStmt": select(fields)
        case "InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt": modify(type, fields)
        case "CopyStmt": copy(fields)
        case "ExplainStmt": explain(fields)
        case "PrepareStmt":
            facts.prepares = fields["name"] as? String
            reservedName(fields["name"], "PREPARE")
            children(fields)
        case "DeallocateStmt":
            facts.deallocates = fields["name"] as? String ?? "*"
            reservedName(fields["name"], "DEALLOCATE")
            facts.raise(.session, "DeallocateStmt acts on the session")
        case "DeclareCursorStmt", "FetchStmt", "ClosePortalStmt":
            reservedName(fields["portalname"], "a cursor")
            if type != "DeclareCursorStmt" { facts.raise(.session, "\(type) acts on the session") }
            children(fields)
        case "ExecuteStmt":
            facts.executes = fields["name"] as? String
            facts.raise(.opaque, "EXECUTE of a statement prepared elsewhere")
            children(fields)
        case "CreateTableAsStmt":
            facts.raise(.ddl, "CREATE TABLE AS / SELECT INTO creates a table")
            children(fields)
        case "DoStmt": doBlock(fields)
        case "AlterRoleSetStmt", "AlterDatabaseSetStmt", "AlterSystemStmt":
            // The SET they hold is a typed field, not a wrapped node.
            if let set = fields["setstmt"] as? [String: Any] { variableSet(set) }
            let (statementClass, note) = Self.utilityClass(type)
            facts.raise(statementClass, note)
            children(fields, skipping: ["setstmt"])
        case "DiscardStmt":
            if fields["target"] as? String == "DISCARD_ALL" {
                facts.searchPath = .reset
                facts.deallocates = "*"
            }
            facts.raise(.session, "DiscardStmt acts on the session")
        case "TransactionStmt":
            facts.transaction = Self.transactionControl(fields)
            let (statementClass, note) = Self.utilityClass(type)
            facts.raise(statementClass, note)
        case "CreateFunctionStmt": createFunction(fields)
        case "VariableSetStmt": variableSet(fields)
        case "AlterTableCmd" where fields["subtype"] as? String == "AT_ChangeOwner":
            facts.raise(.dcl, "ALTER ... OWNER TO changes who holds the privileges")
            children(fields)
        case "JoinExpr":
            // Both sides first: the join condition names their aliases.
            for side in ["larg", "rarg"] { if let child = fields[side] { visit(child) } }
            children(fields, skipping: ["larg", "rarg"])
        case "CallStmt":
            facts.raise(.opaque, "CALL runs a procedure the proxy cannot see into")
            children(fields)
        case "DropStmt" where Self.droppedRelationKinds.contains(fields["removeType"] as? String ?? ""):
            // The dropped relations are names (lists of strings), not RangeVars.
            for object in fields["objects"] as? [Any] ?? [] {
                let items = ((object as? [String: Any])?["List"] as? [String: Any])?["items"] as? [Any] ?? []
                let names = items.compactMap { (($0 as? [String: Any])?["String"] as? [String: Any])?["sval"] as? String }
                if (1...3).contains(names.count) { facts.relations.append(names.suffix(2).joined(separator: ".")) }
            }
            facts.raise(.ddl, "DropStmt changes the schema")
            children(fields)
        default:
            if type.hasSuffix("Stmt") {
                let (statementClass, note) = Self.utilityClass(type)
                facts.raise(statementClass, note)
            }
            children(fields)
        }
    }

    /// Names beginning with `hoop_` are the proxy's own upstream names for prepared statements
    /// and portals: a session's SQL may not make, run or drop one.
    private mutating func reservedName(_ name: Any?, _ what: String) {
        guard let name = name as? String, name.hasPrefix("hoop_") else { return }
        facts.raise(.admin, "\(what) of \(name): names beginning with hoop_ are hoopctl's")
    }

    // MARK: Relations and columns

    static let droppedRelationKinds: Set<String> = ["OBJECT_TABLE", "OBJECT_VIEW", "OBJECT_MATVIEW", "OBJECT_FOREIGN_TABLE", "OBJECT_SEQUENCE"]

    private mutating func rangeVar(_ fields: [String: Any]) {
        guard let name = fields["relname"] as? String else { return }
        let schema = fields["schemaname"] as? String
        let alias = ((fields["alias"] as? [String: Any])?["aliasname"] as? String)
        if schema == nil, ctes.contains(where: { $0.contains(name) }) {
            if !scopes.isEmpty { scopes[scopes.count - 1][alias ?? name] = "cte:" + name }
            return
        }
        let relation = schema.map { "\($0).\(name)" } ?? name
        facts.relations.append(relation)
        // hoopctl's own schemas: its `hoop` schema no session statement touches; its view
        // schemas are read (and written) through, never changed (see facts(ofStatement:)).
        if schema == Self.brokerSchema { facts.raise(.admin, "\(relation) is hoopctl's own") }
        // CREATE TEMP ... (or into pg_temp): the name now hides any other on the search_path.
        if fields["relpersistence"] as? String == "t" || schema?.lowercased().hasPrefix("pg_temp") == true {
            facts.temporaryRelations.append(name)
        }
        if !scopes.isEmpty {
            scopes[scopes.count - 1][alias ?? name] = relation
            if alias != nil { scopes[scopes.count - 1][name] = relation }
        }
    }

    private mutating func columnRef(_ fields: [String: Any]) {
        let parts = (fields["fields"] as? [Any] ?? []).map { part -> String? in
            guard let dict = part as? [String: Any] else { return nil }
            if let string = dict["String"] as? [String: Any] { return string["sval"] as? String }
            if dict["A_Star"] != nil { return "*" }
            return nil
        }
        guard let column = parts.last ?? nil else { return }
        if parts.count >= 2, let qualifier = parts[parts.count - 2] {
            let relation = scopes.reversed().lazy.compactMap { $0[qualifier] }.first
            if let relation, relation.hasPrefix("cte:") { return }
            facts.columns.append("\(relation ?? qualifier).\(column)")
        } else {
            let relations = Set((scopes.last ?? [:]).values.filter { !$0.hasPrefix("cte:") })
            facts.columns.append(relations.count == 1 ? "\(relations.first!).\(column)" : "?.\(column)")
            // `c` for a relation's alias is its whole row (`select c from customers c`,
            // `row_to_json(c)`, `(c).email`): every column is read.
            if let relation = scopes.reversed().lazy.compactMap({ $0[column] }).first, !relation.hasPrefix("cte:") {
                facts.columns.append("\(relation).*")
            }
        }
    }

    // MARK: Queries

    /// A CTE's name hides a relation only where the server lets it: in the statement, in the
    /// CTEs after it, and (WITH RECURSIVE) in every CTE of the list. In a plain WITH a CTE's own
    /// body, and those before it, read the relation of that name: `WITH customers AS (SELECT *
    /// FROM customers) ...` reads the table.
    private mutating func withClause(_ fields: [String: Any], _ list: Any) {
        let entries = list as? [Any] ?? []
        let names = entries.map { (($0 as? [String: Any])?["CommonTableExpr"] as? [String: Any])?["ctename"] as? String }
        if ctes.isEmpty { ctes.append([]) }
        for (key, child) in fields where key != "ctes" { visit(child) }
        if fields["recursive"] as? Bool == true {
            ctes[ctes.count - 1].formUnion(names.compactMap { $0 })
            visit(entries)
        } else {
            for (entry, name) in zip(entries, names) {
                visit(entry)
                if let name { ctes[ctes.count - 1].insert(name) }
            }
        }
        // Kept until the statement ends.
    }

    private mutating func inScope(_ body: (inout ParseTreeWalker) -> Void) {
        scopes.append([:])
        ctes.append([])
        body(&self)
        ctes.removeLast()
        scopes.removeLast()
    }

    private mutating func select(_ fields: [String: Any]) {
        if fields["intoClause"] != nil { facts.raise(.ddl, "SELECT INTO creates a table") }
        if !selectSeen {
            selectSeen = true
            bareSetConfig = statementType == "SelectStmt" && Self.isBareSetConfig(fields)
        }
        let outerSetting = settingsRow
        settingsRow = Self.pgSettingsRow(fields)
        defer { settingsRow = outerSetting }
        inScope { walker in
            // WITH and FROM first: they name what the other clauses refer to.
            if let with = fields["withClause"] { walker.visit(with) }
            if let from = fields["fromClause"] { walker.visit(from) }
            walker.children(fields, skipping: ["withClause", "fromClause"])
        }
    }

    private mutating func modify(_ type: String, _ fields: [String: Any]) {
        let verb = ["InsertStmt": "INSERT", "UpdateStmt": "UPDATE", "DeleteStmt": "DELETE", "MergeStmt": "MERGE"][type]!
        facts.raise(.write, "\(verb) writes")
        if let target = fields["relation"] as? [String: Any], let name = target["relname"] as? String {
            let schema = target["schemaname"] as? String
            facts.writes.append(schema.map { "\($0).\(name)" } ?? name)
            // pg_settings' update rule calls set_config: a write to it is a SET of a setting it may not name.
            if name == "pg_settings", schema == nil || schema == "pg_catalog" {
                facts.settingChanges.append("pg_settings")
                facts.raise(.admin, "\(verb) of pg_settings changes session settings")
            }
        }
        inScope { walker in
            if let with = fields["withClause"] { walker.visit(with) }
            if let relation = fields["relation"] { walker.visit(relation) }
            for key in ["fromClause", "usingClause", "sourceRelation"] { if let more = fields[key] { walker.visit(more) } }
            walker.children(fields, skipping: ["withClause", "relation", "fromClause", "usingClause", "sourceRelation"])
            let target = walker.scopes.last.map { scope in Set(scope.keys) } ?? []
            if type == "UpdateStmt" || type == "DeleteStmt" {
                let bounded = fields["whereClause"].map { walker.limitsRows($0, target: target) } ?? false
                walker.facts.bounded = (walker.facts.bounded ?? true) && bounded
                if !bounded { walker.facts.notes.append("\(verb) without a WHERE that can be false") }
            } else if type == "MergeStmt", let bounded = walker.mergeLimitsRows(fields, target: target) {
                walker.facts.bounded = (walker.facts.bounded ?? true) && bounded
                if !bounded { walker.facts.notes.append("MERGE whose ON condition matches every row") }
            }
        }
    }

    /// A MERGE that updates or deletes matched rows is bounded when its ON condition can be
    /// false, or when every such WHEN MATCHED clause has a condition that can; nil when it only inserts.
    private mutating func mergeLimitsRows(_ fields: [String: Any], target: Set<String>) -> Bool? {
        let clauses = (fields["mergeWhenClauses"] as? [Any] ?? []).compactMap { ($0 as? [String: Any])?["MergeWhenClause"] as? [String: Any] }
        let changing = clauses.filter { clause in
            clause["matched"] as? Bool == true && ["CMD_UPDATE", "CMD_DELETE"].contains(clause["commandType"] as? String ?? "")
        }
        guard !changing.isEmpty else { return nil }
        if let on = fields["joinCondition"], limitsRows(on, target: target) { return true }
        return changing.allSatisfy { clause in clause["condition"].map { limitsRows($0, target: target) } ?? false }
    }

    private mutating func copy(_ fields: [String: Any]) {
        if fields["is_program"] as? Bool == true {
            facts.raise(.admin, "COPY to or from a program runs a command on the server")
        } else if fields["filename"] != nil {
            facts.raise(.admin, "COPY to or from a server file")
        } else if fields["is_from"] as? Bool != true {
            facts.copyOutUnreadable = Self.unreadableCopyOptions(fields["options"] as? [Any] ?? [])
        } else if fields["is_from"] as? Bool == true {
            facts.raise(.write, "COPY FROM writes")
            if let target = fields["relation"] as? [String: Any], let name = target["relname"] as? String {
                facts.writes.append((target["schemaname"] as? String).map { "\($0).\(name)" } ?? name)
            }
        }
        inScope { walker in walker.children(fields) }
    }

    /// What makes COPY ... TO rows other than the text or CSV the in-flight detectors read:
    /// binary format, or a delimiter, quote, escape or encoding of the client's choosing (COPY
    /// escapes or doubles that character inside values, which splits what the detectors look
    /// for, and any COPY reader puts it back). nil when there is nothing of the kind.
    static func unreadableCopyOptions(_ options: [Any]) -> String? {
        var format = "text", chosen: [(name: String, value: String?)] = []
        for option in options {
            guard let element = (option as? [String: Any])?["DefElem"] as? [String: Any], let name = element["defname"] as? String else { continue }
            let value = ((element["arg"] as? [String: Any])?["String"] as? [String: Any])?["sval"] as? String
            if name == "format" { format = value?.lowercased() ?? format } else { chosen.append((name, value)) }
        }
        if format != "text" && format != "csv" { return "format \(format)" }
        let defaults = ["delimiter": format == "csv" ? "," : "\t", "quote": "\"", "escape": "\""]
        for option in chosen {
            if option.name == "encoding" { return "encoding '\(option.value ?? "")'" }
            if let expected = defaults[option.name], option.value != expected { return "\(option.name) '\(option.value ?? "")'" }
        }
        return nil
    }

    private mutating func explain(_ fields: [String: Any]) {
        let analyze = (fields["options"] as? [Any] ?? []).contains { option in
            guard let element = (option as? [String: Any])?["DefElem"] as? [String: Any], element["defname"] as? String == "analyze" else { return false }
            // EXPLAIN (ANALYZE false) does not run the statement; anything else does.
            let value = ((element["arg"] as? [String: Any])?["String"] as? [String: Any])?["sval"] as? String
            if value != nil { facts.dependsOnLiterals = true }
            return !["false", "off", "0", "no"].contains(value?.lowercased() ?? "on")
        }
        guard let query = fields["query"] else { return }
        var inner = ParseTreeWalker(depth: depth)
        inner.visit(query)
        // Without ANALYZE the statement is planned, not run: its relations count, its class not.
        facts.absorb(inner.facts, runs: analyze)
        if analyze, inner.facts.statementClass > .read { facts.notes.append("EXPLAIN ANALYZE runs the statement") }
    }

    // MARK: Functions

    /// Functions that act on the server, its files or other sessions, or run SQL given as text.
    static let privileged: Set<String> = [
        "pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf", "pg_rotate_logfile", "pg_promote",
        "pg_switch_wal", "pg_create_restore_point", "pg_backup_start", "pg_backup_stop", "pg_start_backup",
        "pg_stop_backup", "pg_read_file", "pg_read_binary_file", "pg_ls_dir", "pg_ls_logdir", "pg_ls_waldir",
        "pg_ls_tmpdir", "pg_ls_archive_statusdir", "pg_ls_logicalsnapdir", "pg_ls_logicalmapdir",
        "pg_ls_replslotdir", "pg_stat_file", "pg_file_write", "pg_file_rename", "pg_file_unlink", "pg_file_sync",
        "pg_logdir_ls", "lo_import", "lo_export", "pg_log_backend_memory_contexts", "pg_logical_emit_message",
        "pg_create_logical_replication_slot", "pg_create_physical_replication_slot", "pg_drop_replication_slot",
        "pg_copy_logical_replication_slot", "pg_copy_physical_replication_slot", "pg_replication_slot_advance",
        "pg_import_system_collations", "pg_stat_reset", "pg_stat_reset_shared", "pg_stat_reset_single_table_counters",
        "pg_stat_reset_single_function_counters", "pg_stat_reset_slru", "pg_stat_reset_replication_slot",
        "pg_wal_replay_pause", "pg_wal_replay_resume", "pg_current_logfile",
    ]
    /// Functions that run SQL, or read relations, named by their arguments: the whole list, from
    /// PostgreSQL 15's pg_proc (the functions with an argument named query, tbl or schema, and
    /// ts_rewrite's text form; cursor_to_xml reads a cursor whose query was analysed at DECLARE)
    /// and from the contrib extensions.
    /// A literal argument is analysed as the statement it is (or resolved as the relation it
    /// names); anything computed fails closed.
    enum TextArgument: Sendable {
        /// The argument at this position (or of this name, in named notation) is a statement
        /// that runs (in the form with `arity` arguments, when given).
        case statement(Int, name: String? = nil, arity: Int? = nil)
        /// The argument at this position (or of this name) names a relation that is read whole.
        case relation(Int, name: String? = nil)
        /// What runs is built from several arguments, or covers relations nobody names: opaque.
        case unreadable(String)
    }

    static let runsText: [String: [TextArgument]] = [
        // PostgreSQL's own (pg_catalog).
        "query_to_xml": [.statement(0, name: "query")], "query_to_xmlschema": [.statement(0, name: "query")],
        "query_to_xml_and_xmlschema": [.statement(0, name: "query")],
        "ts_stat": [.statement(0, name: "query")],
        "ts_rewrite": [.statement(1, arity: 2)],  // ts_rewrite(query, 'SELECT target, substitute FROM ...')
        "table_to_xml": [.relation(0, name: "tbl")], "table_to_xmlschema": [.relation(0, name: "tbl")],
        "table_to_xml_and_xmlschema": [.relation(0, name: "tbl")],
        "schema_to_xml": [.unreadable("reads every table of a schema")],
        "schema_to_xmlschema": [.unreadable("reads every table of a schema")],
        "schema_to_xml_and_xmlschema": [.unreadable("reads every table of a schema")],
        "database_to_xml": [.unreadable("reads every table of the database")],
        "database_to_xmlschema": [.unreadable("reads every table of the database")],
        "database_to_xml_and_xmlschema": [.unreadable("reads every table of the database")],
        // contrib, in whatever schema the extension was created: tablefunc, xml2.
        "crosstab": [.statement(0), .statement(1)], "crosstab2": [.statement(0)], "crosstab3": [.statement(0)], "crosstab4": [.statement(0)],
        "connectby": [.relation(0)],
        "xpath_table": [.unreadable("builds its query from several arguments")],
    ]
    static let contribFunctions: Set<String> = ["crosstab", "crosstab2", "crosstab3", "crosstab4", "connectby", "xpath_table"]
    /// Built-in functions that are another built-in underneath (SQL wrappers in pg_proc): a rule
    /// about the one applies to the other.
    static let wraps: [String: String] = ["pg_sleep_for": "pg_sleep", "pg_sleep_until": "pg_sleep"]
    /// Settings whose change breaks the session's bounds or the proxy's reading of SQL text.
    static let guardedSettings: Set<String> = [
        "role", "session_authorization", "client_encoding", "standard_conforming_strings", "backslash_quote",
        // What ends a backend whose client is gone, even in a loop that catches cancels (pinned at login).
        "client_connection_check_interval",
    ]
    /// Those of them that decide how SQL text is read: RESET takes them back to the value the
    /// proxy pinned at login, which is harmless.
    static let lexingSettings: Set<String> = ["client_encoding", "standard_conforming_strings", "backslash_quote"]
    /// The schema of hoopctl's key, detectors and limits: never on a session's search_path, so no
    /// unqualified name can resolve into it.
    static let brokerSchema = "hoop"

    private mutating func functionCall(_ fields: [String: Any]) {
        // `db.schema.name` is the server's `schema.name` (in the current database, or an error):
        // the schema is the part before the name, whatever comes before it.
        let written = (fields["funcname"] as? [Any] ?? []).compactMap { (($0 as? [String: Any])?["String"] as? [String: Any])?["sval"] as? String }
        let parts = Array(written.suffix(2))
        let name = parts.joined(separator: ".")
        facts.functions.append(name)
        let args = fields["args"] as? [Any] ?? []
        let schema = parts.count > 1 ? parts[0] : nil
        let base = parts.last ?? ""
        let catalog = schema == nil || schema == "pg_catalog"
        if catalog, let inner = Self.wraps[base] { facts.functions.append(inner) }
        if schema == "hoop" || schema?.hasPrefix("hoop_") == true {
            facts.privilegedFunctions.append(name)
            facts.raise(.admin, "\(name) is hoopctl's own function")
        } else if catalog, Self.privileged.contains(base) || base.hasPrefix("dblink") {
            facts.privilegedFunctions.append(name)
            facts.raise(.admin, "\(name) acts on the server, its files or other sessions")
        } else if catalog, base == "set_config" {
            // pg_dump: SELECT set_config(name, 'view, foreign-table', false) FROM pg_settings WHERE name = '...'
            let setting = args.first.flatMap(Self.constantString) ?? (Self.isColumn(args.first, named: "name") ? settingsRow : nil)
            facts.dependsOnLiterals = true
            if setting == nil || Self.guardedSettings.contains(setting!.lowercased()) {
                facts.privilegedFunctions.append(name)
                facts.settingChanges.append(setting?.lowercased() ?? "?")
                facts.raise(.admin, "set_config of \(setting ?? "a computed setting")")
            } else if setting!.lowercased() == "search_path" {
                searchPath(args.count > 1 ? Self.constantString(args[1]).flatMap(Self.schemas(inSearchPath:)) : nil, via: name,
                           local: args.count > 2 ? Self.constantBool(args[2]) : nil)
            }
        } else if let arguments = Self.runsText[base], catalog || Self.contribFunctions.contains(base) {
            textArguments(arguments, args, function: name)
        }
        children(fields, skipping: ["funcname"])
    }

    /// The SQL or relation names a function of `runsText` is given, analysed as they will run.
    private mutating func textArguments(_ arguments: [TextArgument], _ args: [Any], function name: String) {
        facts.dependsOnLiterals = true
        // Positional arguments first, then named ones (query => '...', in any order), as the server binds them.
        var positional: [Any] = [], named: [String: Any] = [:]
        for arg in args {
            if let argument = (arg as? [String: Any])?["NamedArgExpr"] as? [String: Any] {
                named[(argument["name"] as? String ?? "").lowercased()] = argument["arg"] ?? NSNull()
            } else {
                positional.append(arg)
            }
        }
        /// The value bound to the parameter at `index` (or named `parameter`); nil when not given.
        func value(_ index: Int, _ parameter: String?) -> Any? {
            if index < positional.count { return positional[index] }
            return parameter.flatMap { named[$0] }
        }
        for argument in arguments {
            switch argument {
            case .unreadable(let why):
                facts.raise(.opaque, "\(name) \(why)")
            case .statement(let index, let parameter, let arity):
                guard arity.map({ $0 == args.count }) ?? true else { continue }
                guard let given = value(index, parameter) else {
                    // Not given by position or by a name the table knows: where the SQL is cannot be told.
                    if !named.isEmpty { facts.raise(.opaque, "\(name) with named arguments the proxy cannot place") }
                    continue
                }
                guard let text = Self.constantString(given), depth < Self.maxDepth else {
                    facts.raise(.opaque, "\(name) runs SQL computed at run time")
                    continue
                }
                var inner = SQLFacts.analyze(text, depth: depth + 1)
                if inner.statementClass == .unparseable { inner.raise(.opaque, "\(name) runs SQL the proxy cannot read") }
                // Run once per row, or not at all: what it does to the search_path cannot be told.
                if inner.searchPath != nil { inner.searchPath = SearchPathChange(.unknown) }
                facts.absorb(inner)
            case .relation(let index, let parameter):
                guard let given = value(index, parameter), let relation = Self.constantString(given).flatMap(Self.relationName) else {
                    facts.raise(.opaque, "\(name) reads a relation computed at run time")
                    continue
                }
                facts.relations.append(relation)
                facts.columns.append("\(relation).*")  // table_to_xml and the like read every column
            }
        }
    }

    /// A relation name as text names it (`'Public.orders'`, `'"Odd"'`): parsed as the server parses regclass input.
    static func relationName(_ text: String) -> String? {
        let parts = identifiers(inList: text, separator: ".")
        guard let parts, (1...3).contains(parts.count) else { return nil }
        return parts.suffix(2).joined(separator: ".")
    }

    /// The schemas of a search_path value (`'"$user", public'`); nil when it cannot be read.
    static func schemas(inSearchPath text: String) -> [String]? {
        text.trimmingCharacters(in: .whitespaces).isEmpty ? [] : identifiers(inList: text, separator: ",")
    }

    /// Identifiers separated by `separator`, as PostgreSQL's SplitIdentifierString reads them:
    /// unquoted ones folded to lower case, quoted ones kept, `""` a quote.
    static func identifiers(inList text: String, separator: Character) -> [String]? {
        var result: [String] = [], rest = Substring(text)
        while true {
            rest = rest.drop { $0 == " " || $0 == "\t" || $0 == "\n" }
            var name = ""
            if rest.first == "\"" {
                rest = rest.dropFirst()
                while true {
                    guard let character = rest.first else { return nil }
                    rest = rest.dropFirst()
                    if character == "\"" {
                        if rest.first == "\"" { name.append("\""); rest = rest.dropFirst() } else { break }
                    } else {
                        name.append(character)
                    }
                }
            } else {
                let word = rest.prefix { $0 != separator && $0 != " " && $0 != "\t" && $0 != "\n" }
                guard !word.isEmpty else { return nil }
                name = word.lowercased()
                rest = rest.dropFirst(word.count)
            }
            result.append(name)
            rest = rest.drop { $0 == " " || $0 == "\t" || $0 == "\n" }
            guard let next = rest.first else { return result }
            guard next == separator else { return nil }
            rest = rest.dropFirst()
        }
    }

    /// A new search_path (nil: one the proxy cannot read): followed by the proxy for the
    /// connection, and refused when it names hoopctl's function schema or cannot be read.
    /// `local` is nil when set_config's third argument is computed.
    private mutating func searchPath(_ schemas: [String]?, via what: String, local: Bool?) {
        guard let schemas, let local else {
            facts.settingChanges.append("search_path")
            return facts.raise(.admin, "\(what) sets a search_path computed at run time")
        }
        if schemas.contains(Self.brokerSchema) {
            facts.settingChanges.append("search_path")
            facts.raise(.admin, "\(what) puts hoopctl's schema \(Self.brokerSchema) on the search_path")
        }
        if statementType == "VariableSetStmt" {
            facts.searchPath = .set(schemas, local: local)
        } else if what.hasSuffix("set_config") {
            // Only `SELECT set_config(...)` alone surely runs it, once; under a WHERE, a CASE or
            // beside a FROM it may run or not.
            facts.searchPath = bareSetConfig ? .set(schemas, local: local) : SearchPathChange(.unknown, local: local)
            bareSetConfig = false
        }
    }

    /// Whether the top-level statement is `SELECT [pg_catalog.]set_config(...)` and nothing else.
    static func isBareSetConfig(_ select: [String: Any]) -> Bool {
        let clauses = ["fromClause", "whereClause", "havingClause", "groupClause", "limitCount", "limitOffset", "withClause",
                       "distinctClause", "windowClause", "valuesLists", "larg", "rarg", "intoClause", "lockingClause"]
        guard clauses.allSatisfy({ select[$0] == nil }), let targets = select["targetList"] as? [Any], targets.count == 1,
              let target = (targets[0] as? [String: Any])?["ResTarget"] as? [String: Any],
              let call = (target["val"] as? [String: Any])?["FuncCall"] as? [String: Any] else { return false }
        let name = (call["funcname"] as? [Any] ?? []).compactMap { (($0 as? [String: Any])?["String"] as? [String: Any])?["sval"] as? String }
        return name == ["set_config"] || name == ["pg_catalog", "set_config"]
    }

    /// `true`/`false` as a constant (`'on'`, `'t'` and the like too); nil when computed.
    static func constantBool(_ node: Any) -> Bool? {
        var node = node
        if let cast = (node as? [String: Any])?["TypeCast"] as? [String: Any], let argument = cast["arg"] { node = argument }
        guard let constant = (node as? [String: Any])?["A_Const"] as? [String: Any] else { return nil }
        if let boolean = constant["boolval"] as? [String: Any] { return boolean["boolval"] as? Bool ?? false }
        guard let text = (constant["sval"] as? [String: Any])?["sval"] as? String else { return nil }
        switch text.lowercased() {
        case "t", "true", "on", "yes", "y", "1": return true
        case "f", "false", "off", "no", "n", "0": return false
        default: return nil
        }
    }

    /// What a TransactionStmt does; nil for those acting on prepared transactions of the past.
    static func transactionControl(_ fields: [String: Any]) -> TransactionControl? {
        let chain = fields["chain"] as? Bool ?? false, savepoint = fields["savepoint_name"] as? String ?? ""
        switch fields["kind"] as? String {
        case "TRANS_STMT_BEGIN", "TRANS_STMT_START": return .begin
        case "TRANS_STMT_COMMIT", "TRANS_STMT_PREPARE": return .commit(chain: chain)
        case "TRANS_STMT_ROLLBACK": return .rollback(chain: chain)
        case "TRANS_STMT_SAVEPOINT": return .savepoint(savepoint)
        case "TRANS_STMT_RELEASE": return .release(savepoint)
        case "TRANS_STMT_ROLLBACK_TO": return .rollbackTo(savepoint)
        default: return nil
        }
    }

    static func isColumn(_ node: Any?, named name: String) -> Bool {
        guard let fields = ((node as? [String: Any])?["ColumnRef"] as? [String: Any])?["fields"] as? [Any], fields.count == 1 else { return false }
        return ((fields[0] as? [String: Any])?["String"] as? [String: Any])?["sval"] as? String == name
    }

    /// The setting a query reads when it is `... FROM [pg_catalog.]pg_settings WHERE name = 'x'`.
    static func pgSettingsRow(_ select: [String: Any]) -> String? {
        guard let from = select["fromClause"] as? [Any], from.count == 1,
              let table = (from[0] as? [String: Any])?["RangeVar"] as? [String: Any], table["relname"] as? String == "pg_settings",
              [nil, "pg_catalog"].contains(table["schemaname"] as? String),
              let condition = (select["whereClause"] as? [String: Any])?["A_Expr"] as? [String: Any],
              condition["kind"] as? String == "AEXPR_OP",
              ((condition["name"] as? [Any])?.first as? [String: Any]).flatMap({ ($0["String"] as? [String: Any])?["sval"] as? String }) == "=",
              isColumn(condition["lexpr"], named: "name") else { return nil }
        return condition["rexpr"].flatMap(constantString)
    }

    static func constantString(_ node: Any) -> String? {
        var node = node
        // 'x'::text is still the constant 'x'.
        if let cast = (node as? [String: Any])?["TypeCast"] as? [String: Any], let argument = cast["arg"] { node = argument }
        guard let constant = (node as? [String: Any])?["A_Const"] as? [String: Any] else { return nil }
        return (constant["sval"] as? [String: Any])?["sval"] as? String
    }

    // MARK: Session settings, procedural code

    private mutating func variableSet(_ fields: [String: Any]) {
        let name = (fields["name"] as? String ?? "").lowercased()
        let kind = fields["kind"] as? String ?? ""
        let local = fields["is_local"] as? Bool ?? false
        // RESET and SET ... TO DEFAULT go back to the value the connection started with, which the proxy pinned.
        let resets = ["VAR_RESET", "VAR_SET_DEFAULT", "VAR_RESET_ALL"].contains(kind)
        if Self.guardedSettings.contains(name), !resets || !Self.lexingSettings.contains(name) {
            facts.settingChanges.append(name)
            facts.raise(.admin, "SET \(name)")
        }
        if name == "search_path" || kind == "VAR_RESET_ALL" {
            if resets {
                if statementType == "VariableSetStmt" { facts.searchPath = SearchPathChange(.roleDefault, local: local) }
            } else if kind == "VAR_SET_VALUE" {
                // Each value is one schema's name (the server quotes it as an identifier).
                let values = (fields["args"] as? [Any] ?? []).map(Self.constantString)
                searchPath(values.contains { $0 == nil } ? nil : values.map { $0! }, via: "SET search_path", local: local)
            } else {
                searchPath(nil, via: "SET search_path FROM CURRENT", local: local)
            }
        }
        facts.raise(.session, "SET changes the session")
        children(fields)
    }

    private mutating func doBlock(_ fields: [String: Any]) {
        var language = "plpgsql", body: String?
        for option in fields["args"] as? [Any] ?? [] {
            guard let element = (option as? [String: Any])?["DefElem"] as? [String: Any] else { continue }
            let value = ((element["arg"] as? [String: Any])?["String"] as? [String: Any])?["sval"] as? String
            if element["defname"] as? String == "language" { language = value?.lowercased() ?? "" }
            if element["defname"] as? String == "as" { body = value }
        }
        guard language == "plpgsql", let body, depth < Self.maxDepth else {
            return facts.raise(.opaque, "DO in \(language), which the proxy cannot read")
        }
        facts.absorb(PlpgsqlFacts.analyze(body: body, depth: depth + 1))
        // Its statements run or not as its code decides, and may commit: what it leaves is unknown.
        if facts.searchPath != nil || facts.transaction != nil {
            facts.searchPath = SearchPathChange(.unknown)
            facts.transaction = nil
        }
    }

    private mutating func createFunction(_ fields: [String: Any]) {
        facts.raise(.ddl, fields["is_procedure"] as? Bool == true ? "CREATE PROCEDURE" : "CREATE FUNCTION")
        var language = "sql", body: String?
        for option in fields["options"] as? [Any] ?? [] {
            guard let element = (option as? [String: Any])?["DefElem"] as? [String: Any] else { continue }
            let arg = element["arg"]
            if element["defname"] as? String == "language" {
                language = (((arg as? [String: Any])?["String"] as? [String: Any])?["sval"] as? String)?.lowercased() ?? ""
            }
            if element["defname"] as? String == "as", let list = (arg as? [String: Any])?["List"] as? [String: Any] {
                body = ((list["items"] as? [Any])?.first as? [String: Any]).flatMap { ($0["String"] as? [String: Any])?["sval"] as? String }
            }
        }
        // The body runs when called, not now: its facts are noted, its class is not the statement's.
        if let body, depth < Self.maxDepth {
            let inner = language == "plpgsql" ? PlpgsqlFacts.analyze(body: body, depth: depth + 1)
                : language == "sql" ? SQLFacts.analyze(body, depth: depth + 1) : nil
            if let inner { facts.absorb(inner, runs: false) }
        }
        if let atomic = fields["sql_body"] {
            var inner = ParseTreeWalker(depth: depth + 1)
            inner.visit(atomic)
            facts.absorb(inner.facts, runs: false)
        }
        // SET clauses (`SET search_path = ...`) apply whenever the function runs.
        for option in fields["options"] as? [Any] ?? [] {
            if let element = (option as? [String: Any])?["DefElem"] as? [String: Any], element["defname"] as? String == "set",
               let set = element["arg"] { visit(set) }
        }
        children(fields, skipping: ["options", "sql_body"])
    }

    // MARK: Whether an UPDATE or DELETE is bounded

    /// Whether `expression`, as a WHERE of a write to `target` (its names and alias), can be
    /// false for some rows: it compares a column of the table with something, and is not a
    /// constant truth or an OR with one. Fails closed: what it cannot tell is "no".
    private mutating func limitsRows(_ expression: Any, target: Set<String>) -> Bool {
        guard let dict = expression as? [String: Any], dict.count == 1, let (type, body) = dict.first,
              let fields = body as? [String: Any] else { return false }
        switch type {
        case "CurrentOfExpr":
            return true
        case "BoolExpr":
            let args = fields["args"] as? [Any] ?? []
            switch fields["boolop"] as? String {
            case "AND_EXPR": return args.contains { limitsRows($0, target: target) }
            case "OR_EXPR": return !args.isEmpty && args.allSatisfy { limitsRows($0, target: target) }
            default: return referencesColumn(body, outside: true)  // NOT x: as limiting as x is unknown; columns decide
            }
        case "A_Expr":
            if let left = fields["lexpr"], let right = fields["rexpr"], Self.sameExpression(left, right) {
                return false  // x = x
            }
            if let value = Self.constantTruth(dict) {
                facts.dependsOnLiterals = true
                return !value
            }
            return referencesColumn(body, outside: true)
        case "A_Const", "TypeCast":
            facts.dependsOnLiterals = true
            return Self.constantTruth(dict) == false
        case "SubLink":
            // `x IN (SELECT ...)` limits by x; EXISTS limits only when it names the target table.
            if let test = fields["testexpr"], referencesColumn(test, outside: true) { return true }
            return mentions(target, in: fields["subselect"] as Any)
        default:
            return referencesColumn(body, outside: true)
        }
    }

    /// Whether a column reference appears, not counting those inside sub-selects.
    private func referencesColumn(_ value: Any, outside: Bool) -> Bool {
        if let list = value as? [Any] { return list.contains { referencesColumn($0, outside: outside) } }
        guard let dict = value as? [String: Any] else { return false }
        if dict["ColumnRef"] != nil { return true }
        if let sublink = dict["SubLink"] as? [String: Any] { return sublink["testexpr"].map { referencesColumn($0, outside: outside) } ?? false }
        return dict.values.contains { referencesColumn($0, outside: outside) }
    }

    /// Whether a qualified column reference in `value` names one of `names` (a correlated sub-select).
    private func mentions(_ names: Set<String>, in value: Any) -> Bool {
        if let list = value as? [Any] { return list.contains { mentions(names, in: $0) } }
        guard let dict = value as? [String: Any] else { return false }
        if let column = dict["ColumnRef"] as? [String: Any], let parts = column["fields"] as? [Any], parts.count >= 2,
           let qualifier = ((parts[parts.count - 2] as? [String: Any])?["String"] as? [String: Any])?["sval"] as? String {
            return names.contains(qualifier)
        }
        return dict.values.contains { mentions(names, in: $0) }
    }

    /// The value of a constant boolean expression, when it is one this can evaluate: literals,
    /// casts of literals, comparisons of two numbers or two strings, NOT/AND/OR of those.
    static func constantTruth(_ value: Any) -> Bool? {
        guard let dict = value as? [String: Any], dict.count == 1, let (type, body) = dict.first, let fields = body as? [String: Any] else { return nil }
        switch type {
        case "A_Const":
            if fields["isnull"] as? Bool == true { return false }
            if let boolean = fields["boolval"] as? [String: Any] { return boolean["boolval"] as? Bool ?? false }
            if let text = (fields["sval"] as? [String: Any])?["sval"] as? String {
                switch text.lowercased().trimmingCharacters(in: .whitespaces) {
                case "t", "true", "y", "yes", "on", "1": return true
                case "f", "false", "n", "no", "off", "0": return false
                default: return nil
                }
            }
            return nil
        case "TypeCast":
            return fields["arg"].flatMap(constantTruth)
        case "BoolExpr":
            let args = (fields["args"] as? [Any] ?? []).map(constantTruth)
            switch fields["boolop"] as? String {
            case "AND_EXPR": return args.contains(false) ? false : args.allSatisfy { $0 == true } ? true : nil
            case "OR_EXPR": return args.contains(true) ? true : args.allSatisfy { $0 == false } ? false : nil
            case "NOT_EXPR": return args.first.flatMap { $0 }.map { !$0 }
            default: return nil
            }
        case "A_Expr":
            guard fields["kind"] as? String == "AEXPR_OP", let op = ((fields["name"] as? [Any])?.last as? [String: Any]).flatMap({ ($0["String"] as? [String: Any])?["sval"] as? String }),
                  let left = fields["lexpr"].flatMap(literal), let right = fields["rexpr"].flatMap(literal) else { return nil }
            let order: ComparisonResult
            if let a = Double(left), let b = Double(right) { order = a < b ? .orderedAscending : a > b ? .orderedDescending : .orderedSame }
            else { order = left < right ? .orderedAscending : left > right ? .orderedDescending : .orderedSame }
            switch op {
            case "=": return order == .orderedSame
            case "<>", "!=": return order != .orderedSame
            case "<": return order == .orderedAscending
            case ">": return order == .orderedDescending
            case "<=": return order != .orderedDescending
            case ">=": return order != .orderedAscending
            default: return nil
            }
        default:
            return nil
        }
    }

    /// A numeric or string literal's text.
    static func literal(_ value: Any) -> String? {
        guard let constant = (value as? [String: Any])?["A_Const"] as? [String: Any] else { return nil }
        if let integer = constant["ival"] as? [String: Any] { return String((integer["ival"] as? Int) ?? 0) }
        if let float = constant["fval"] as? [String: Any] { return float["fval"] as? String }
        return (constant["sval"] as? [String: Any])?["sval"] as? String
    }

    static func sameExpression(_ a: Any, _ b: Any) -> Bool {
        func canonical(_ value: Any) -> Data? {
            try? JSONSerialization.data(withJSONObject: ["x": withoutLocations(value)], options: [.sortedKeys])
        }
        guard let left = canonical(a), let right = canonical(b) else { return false }
        return left == right
    }

    static func withoutLocations(_ value: Any) -> Any {
        if let list = value as? [Any] { return list.map(withoutLocations) }
        guard let dict = value as? [String: Any] else { return value }
        var result: [String: Any] = [:]
        for (key, child) in dict where key != "location" { result[key] = withoutLocations(child) }
        return result
    }

    // MARK: Utility statements

    /// The class of a statement type without a handler of its own.
    static func utilityClass(_ type: String) -> (SQLClass, String) {
        switch type {
        case "TransactionStmt", "VariableShowStmt", "DiscardStmt", "FetchStmt", "ClosePortalStmt", "DeallocateStmt",
             "ListenStmt", "UnlistenStmt", "NotifyStmt", "LockStmt", "ConstraintsSetStmt":
            return (.session, "\(type) acts on the session")
        case "GrantStmt", "GrantRoleStmt", "AlterDefaultPrivilegesStmt", "CreateRoleStmt", "AlterRoleStmt",
             "AlterRoleSetStmt", "DropRoleStmt", "ReassignOwnedStmt", "DropOwnedStmt", "AlterOwnerStmt":
            return (.dcl, "\(type) changes privileges")
        case "VacuumStmt", "CheckPointStmt", "AlterSystemStmt", "LoadStmt", "ClusterStmt", "ReindexStmt",
             "CreatedbStmt", "DropdbStmt", "AlterDatabaseStmt", "AlterDatabaseSetStmt", "AlterDatabaseRefreshCollStmt",
             "CreateTableSpaceStmt", "DropTableSpaceStmt", "AlterTableSpaceOptionsStmt", "AlterTableMoveAllStmt",
             "CreateExtensionStmt", "AlterExtensionStmt", "AlterExtensionContentsStmt", "CreateEventTrigStmt",
             "AlterEventTrigStmt", "CreatePublicationStmt", "AlterPublicationStmt", "CreateSubscriptionStmt",
             "AlterSubscriptionStmt", "DropSubscriptionStmt", "CreateFdwStmt", "AlterFdwStmt", "CreateForeignServerStmt",
             "AlterForeignServerStmt", "CreateUserMappingStmt", "AlterUserMappingStmt", "DropUserMappingStmt",
             "ImportForeignSchemaStmt", "CreatePLangStmt", "CreateConversionStmt", "AlterSystem", "ReplicaIdentityStmt":
            return (.admin, "\(type) administers the server")
        case "CreateStmt", "ViewStmt", "IndexStmt", "AlterTableStmt", "DropStmt", "TruncateStmt", "CommentStmt",
             "RenameStmt", "AlterFunctionStmt", "CreateSeqStmt", "AlterSeqStmt", "CreateSchemaStmt", "CreateTrigStmt",
             "RuleStmt", "CreateDomainStmt", "CreateEnumStmt", "CreateRangeStmt", "CompositeTypeStmt", "DefineStmt",
             "AlterObjectSchemaStmt", "CreatePolicyStmt", "AlterPolicyStmt", "RefreshMatViewStmt", "CreateCastStmt",
             "CreateOpClassStmt", "CreateOpFamilyStmt", "AlterOpFamilyStmt", "CreateForeignTableStmt", "CreateStatsStmt",
             "AlterStatsStmt", "AlterEnumStmt", "AlterDomainStmt", "AlterTypeStmt", "SecLabelStmt", "CreateTransformStmt",
             "AlterTSDictionaryStmt", "AlterTSConfigurationStmt", "AlterCollationStmt", "CreateAmStmt", "AlterOperatorStmt",
             "DropTableSpace", "AlterTableCmd", "AlterObjectDependsStmt":
            return (.ddl, "\(type) changes the schema")
        default:
            return (.opaque, "\(type) is not a statement the proxy knows")
        }
    }
}
