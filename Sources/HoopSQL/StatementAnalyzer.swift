import Foundation

/// What the proxy knows about one statement before it runs: its text without literals, its
/// fingerprint and its class. Built on PostgreSQL's own parser.
public struct StatementAnalysis: Sendable, Equatable {
    public var normalized: String
    public var fingerprint: String
    public var statementClass: String
    /// Set when the parser rejected the text (the class is then `unparseable`).
    public var syntaxError: String?

    public init(normalized: String, fingerprint: String, statementClass: String, syntaxError: String? = nil) {
        self.normalized = normalized
        self.fingerprint = fingerprint
        self.statementClass = statementClass
        self.syntaxError = syntaxError
    }
}

/// Splits, normalizes, fingerprints and classifies SQL, caching by exact text (prepared
/// statements and repeated queries are analysed once). Thread-safe.
public final class StatementAnalyzer: @unchecked Sendable {
    private let lock = NSLock()
    private var cache: [String: [StatementAnalysis]] = [:]
    private let capacity: Int

    public init(capacity: Int = 10_000) { self.capacity = capacity }

    /// One analysis per statement of `sql`, in order; an empty list for empty text.
    public func analyze(_ sql: String) -> [StatementAnalysis] {
        if let hit = lock.withLock({ cache[sql] }) { return hit }
        let result = Self.analyzeUncached(sql)
        lock.withLock {
            if cache.count >= capacity { cache.removeAll(keepingCapacity: true) }
            cache[sql] = result
        }
        return result
    }

    static func analyzeUncached(_ sql: String) -> [StatementAnalysis] {
        let statements: [Substring]
        do {
            statements = try PostgresParser.split(sql)
        } catch {
            return [unparseable(sql, error)]
        }
        return statements.compactMap { statement in
            let text = statement.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !text.isEmpty else { return nil }
            do {
                let normalized = try PostgresParser.normalize(text)
                let fingerprint = try PostgresParser.fingerprint(text)
                let tree = try PostgresParser.parseTreeJSON(text)
                return StatementAnalysis(normalized: normalized, fingerprint: fingerprint, statementClass: StatementClassifier.classify(tree))
            } catch {
                return unparseable(text, error)
            }
        }
    }

    /// Unparseable text is never stored: it may hold literals the normalizer could not remove.
    static func unparseable(_ sql: String, _ error: Error) -> StatementAnalysis {
        StatementAnalysis(normalized: "<unparseable: \(sql.utf8.count) bytes>", fingerprint: "", statementClass: "unparseable",
                          syntaxError: "\(error)")
    }
}

/// The class of a statement from the top node of its parse tree (the guardrails issue walks the
/// whole tree; this is its coarse first cut).
public enum StatementClassifier {
    public static func classify(_ treeJSON: String) -> String {
        // The first statement's node name: `{"version":...,"stmts":[{"stmt":{"SelectStmt":...`.
        // Keys in JSON cannot be forged by string literals in the SQL (their quotes are escaped).
        guard let start = treeJSON.range(of: "\"stmt\":{\""),
              let end = treeJSON[start.upperBound...].firstIndex(of: "\"") else { return "unparseable" }
        let node = String(treeJSON[start.upperBound..<end])
        func has(_ key: String) -> Bool { treeJSON.contains("\"\(key)\":") }
        switch node {
        case "SelectStmt":
            return has("intoClause") ? "ddl" : "read"
        case "InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt": return "write"
        case "CopyStmt":
            if has("filename") || has("is_program") { return "admin" }
            return treeJSON.contains("\"is_from\":true") ? "write" : "read"
        case "GrantStmt", "GrantRoleStmt", "AlterDefaultPrivilegesStmt", "CreateRoleStmt", "AlterRoleStmt", "DropRoleStmt",
             "AlterRoleSetStmt", "ReassignOwnedStmt", "DropOwnedStmt":
            return "dcl"
        case "VariableSetStmt", "VariableShowStmt", "TransactionStmt", "DiscardStmt", "DeclareCursorStmt", "FetchStmt",
             "ClosePortalStmt", "PrepareStmt", "DeallocateStmt", "ListenStmt", "UnlistenStmt", "NotifyStmt", "ExplainStmt",
             "LockStmt":
            return "session"
        case "VacuumStmt", "CheckPointStmt", "AlterSystemStmt", "LoadStmt", "ClusterStmt", "ReindexStmt":
            return "admin"
        case "DoStmt", "CallStmt", "ExecuteStmt":
            return "opaque"
        default:
            return node.hasPrefix("Create") || node.hasPrefix("Alter") || node.hasPrefix("Drop") || node == "TruncateStmt"
                || node == "CommentStmt" || node == "RenameStmt" || node == "IndexStmt" || node == "ViewStmt" || node == "RuleStmt"
                ? "ddl" : "session"
        }
    }
}
