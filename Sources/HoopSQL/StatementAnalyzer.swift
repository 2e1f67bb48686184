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
/// statements and repeated queries are analysed once) and by shape (queries that differ only
/// in literal values share one analysis). Thread-safe.
public final class StatementAnalyzer: @unchecked Sendable {
    private let lock = NSLock()
    private var cache: [String: [StatementAnalysis]] = [:]
    private var shapes: [SQLShape: [StatementAnalysis]] = [:]
    private let capacity: Int

    public init(capacity: Int = 10_000) { self.capacity = capacity }

    /// One analysis per statement of `sql`, in order; an empty list for empty text.
    public func analyze(_ sql: String) -> [StatementAnalysis] {
        if let hit = lock.withLock({ cache[sql] }) { return hit }
        let shape = SQLShape(sql)
        if let shape, let hit = lock.withLock({ shapes[shape] }) { return hit }
        let result = Self.analyzeUncached(sql)
        lock.withLock {
            if let shape, Self.blanksEveryLiteral(result, shape) {
                if shapes.count >= capacity { shapes.removeAll(keepingCapacity: true) }
                shapes[shape] = result
            } else {
                if cache.count >= capacity { cache.removeAll(keepingCapacity: true) }
                cache[sql] = result
            }
        }
        return result
    }

    /// Whether PostgreSQL's normalizer replaced exactly the literals the shape blanked (the text
    /// had no parameters of its own, so every `$n` is one): then the analysis holds nothing of
    /// this text's literal values and fits every text of the shape.
    static func blanksEveryLiteral(_ analyses: [StatementAnalysis], _ shape: SQLShape) -> Bool {
        guard !analyses.isEmpty, analyses.allSatisfy({ $0.syntaxError == nil }) else { return false }
        var parameters = 0
        for analysis in analyses {
            let bytes = Array(analysis.normalized.utf8)
            for index in bytes.indices.dropLast() where bytes[index] == UInt8(ascii: "$") {
                if bytes[index + 1] >= UInt8(ascii: "0") && bytes[index + 1] <= UInt8(ascii: "9") { parameters += 1 }
            }
        }
        return parameters == shape.literals
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
        let bytes = Array(treeJSON.utf8)
        let marker = Array("\"stmt\":{\"".utf8)
        guard let start = find(marker, in: bytes),
              let end = bytes[(start + marker.count)...].firstIndex(of: UInt8(ascii: "\"")) else { return "unparseable" }
        let node = String(decoding: bytes[(start + marker.count)..<end], as: UTF8.self)
        func has(_ key: String) -> Bool { find(Array("\"\(key)\":".utf8), in: bytes) != nil }
        switch node {
        case "SelectStmt":
            return has("intoClause") ? "ddl" : "read"
        case "InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt": return "write"
        case "CopyStmt":
            if has("filename") || has("is_program") { return "admin" }
            return find(Array("\"is_from\":true".utf8), in: bytes) != nil ? "write" : "read"
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

    /// The first position of `needle` in `haystack` (plain bytes: no Foundation string search).
    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard let first = needle.first, haystack.count >= needle.count else { return nil }
        var index = 0
        let last = haystack.count - needle.count
        while index <= last {
            guard let next = haystack[index...last].firstIndex(of: first) else { return nil }
            if haystack[next..<next + needle.count].elementsEqual(needle) { return next }
            index = next + 1
        }
        return nil
    }
}
