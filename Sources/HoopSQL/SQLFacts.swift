import Foundation

/// The facts of SQL text: every statement of it parsed by PostgreSQL's parser and walked whole.
public enum SQLFacts {
    /// The facts of one statement's text (or of all statements in it, merged).
    public static func analyze(_ sql: String, depth: Int = 0) -> StatementFacts {
        guard depth == 0 else { return analyzeInPlace(sql, depth: depth) }
        // A text of its own (not one inside a statement already being analysed): within the parser's limits.
        let bytes = sql.utf8.count
        if let refusal = ParserLimits.refusal(ofSize: bytes) { return unparseable(refusal) }
        return ParserLimits.withStack(forBytes: bytes) { analyzeInPlace(sql, depth: 0) }
            ?? unparseable("no thread with room for its parse could be started")
    }

    static func unparseable(_ reason: String) -> StatementFacts {
        var facts = StatementFacts()
        facts.raise(.unparseable, reason)
        return facts
    }

    private static func analyzeInPlace(_ sql: String, depth: Int) -> StatementFacts {
        let tree: String
        do {
            tree = try PostgresParser.parseTreeJSON(sql)
        } catch {
            var facts = StatementFacts()
            facts.raise(.unparseable, "PostgreSQL's parser rejects it: \(error.message)")
            return facts
        }
        return facts(ofTree: tree, depth: depth)
    }

    /// The facts of a parse tree (libpg_query's JSON of one or more statements).
    static func facts(ofTree tree: String, depth: Int) -> StatementFacts {
        if let refusal = ParserLimits.refusal(ofTree: tree) { return unparseable(refusal) }
        var facts = StatementFacts()
        guard let root = try? JSONSerialization.jsonObject(with: Data(tree.utf8)) as? [String: Any] else {
            facts.raise(.opaque, "the parse tree could not be read")
            return facts
        }
        for entry in root["stmts"] as? [Any] ?? [] {
            guard let statement = (entry as? [String: Any])?["stmt"] else { continue }
            let inner = ParseTreeWalker.facts(ofStatement: statement, depth: depth)
            facts.absorb(inner)
            facts.prepares = facts.prepares ?? inner.prepares
            facts.executes = facts.executes ?? inner.executes
            facts.deallocates = facts.deallocates ?? inner.deallocates
        }
        facts.tidy()
        return facts
    }
}

/// The facts of a PL/pgSQL body (a DO block or a function): every SQL statement and expression
/// in it analysed as SQL; dynamic SQL (EXECUTE) is opaque.
enum PlpgsqlFacts {
    static func analyze(body: String, depth: Int) -> StatementFacts {
        var facts = StatementFacts()
        var tag = "hoop", counter = 0
        while body.contains("$\(tag)$") { counter += 1; tag = "hoop\(counter)" }
        let wrapper = "CREATE FUNCTION hoop_block() RETURNS void LANGUAGE plpgsql AS $\(tag)$\(body)$\(tag)$"
        guard let json = try? PostgresParser.plpgsqlTreeJSON(wrapper), ParserLimits.refusal(ofTree: json) == nil,
              let tree = try? JSONSerialization.jsonObject(with: Data(json.utf8)) else {
            facts.raise(.opaque, "PL/pgSQL the proxy cannot read")
            return facts
        }
        walk(tree, parent: "", into: &facts, depth: depth)
        facts.tidy()
        return facts
    }

    private static func walk(_ value: Any, parent: String, into facts: inout StatementFacts, depth: Int) {
        if let list = value as? [Any] {
            for item in list { walk(item, parent: parent, into: &facts, depth: depth) }
            return
        }
        guard let dict = value as? [String: Any] else { return }
        for (key, child) in dict {
            switch key {
            case "PLpgSQL_stmt_dynexecute", "PLpgSQL_stmt_dynfors":
                facts.raise(.opaque, "EXECUTE of SQL built at run time")
            case "PLpgSQL_stmt_open" where (child as? [String: Any])?["dynquery"] != nil:
                facts.raise(.opaque, "OPEN ... FOR EXECUTE of SQL built at run time")
            case "PLpgSQL_stmt_commit", "PLpgSQL_stmt_rollback":
                facts.raise(.session, "COMMIT or ROLLBACK inside PL/pgSQL")
            case "PLpgSQL_expr":
                if let query = (child as? [String: Any])?["query"] as? String {
                    facts.absorb(expression(query, assignment: parent == "PLpgSQL_stmt_assign", depth: depth))
                }
                continue
            default:
                break
            }
            walk(child, parent: key.hasPrefix("PLpgSQL_") ? key : parent, into: &facts, depth: depth)
        }
    }

    /// A statement (`delete from t`, `select ...`) or an expression (`n > 0`, the right side of `n := ...`).
    private static func expression(_ text: String, assignment: Bool, depth: Int) -> StatementFacts {
        var source = text
        if assignment, let range = text.range(of: ":=") ?? text.range(of: "=") {
            source = String(text[range.upperBound...])
        }
        if !assignment, (try? PostgresParser.parseTreeJSON(source)) != nil {
            return SQLFacts.analyze(source, depth: depth)
        }
        let facts = SQLFacts.analyze("SELECT \(source)", depth: depth)
        guard facts.statementClass != .unparseable else {
            var unreadable = StatementFacts()
            unreadable.raise(.opaque, "PL/pgSQL the proxy cannot read")
            return unreadable
        }
        return facts
    }
}
