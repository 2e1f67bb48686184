import Foundation

/// What the proxy knows about one statement before it runs: its text without literals, its
/// fingerprint and its facts (class, relations, functions, ...). Built on PostgreSQL's own parser.
public struct StatementAnalysis: Sendable, Equatable {
    public var normalized: String
    public var fingerprint: String
    public var facts: StatementFacts
    /// Set when the parser rejected the text (the class is then `unparseable`).
    public var syntaxError: String?
    /// The columns each `$n` of `normalized` meets (see `ParameterColumns`); nil when unknown.
    public var parameterColumns: [Int: [String]]? = [:]
    /// Unique to an analysis the analyzer keeps (0: not kept): callers key what they derive from
    /// an analysis alone by it, rather than by its text. Not part of equality.
    public var serial = 0

    public static func == (a: StatementAnalysis, b: StatementAnalysis) -> Bool {
        a.normalized == b.normalized && a.fingerprint == b.fingerprint && a.facts == b.facts && a.syntaxError == b.syntaxError
            && a.parameterColumns == b.parameterColumns
    }

    public var statementClass: String { facts.statementClass.rawValue }

    public init(normalized: String, fingerprint: String, facts: StatementFacts, syntaxError: String? = nil) {
        self.normalized = normalized
        self.fingerprint = fingerprint
        self.facts = facts
        self.syntaxError = syntaxError
    }

    /// A stand-in for what the proxy cannot analyse (an unknown portal, a function call by oid).
    public init(normalized: String, statementClass: SQLClass, note: String) {
        var facts = StatementFacts()
        facts.raise(statementClass, note)
        self.init(normalized: normalized, fingerprint: "", facts: facts)
    }
}

/// Splits, normalizes, fingerprints and classifies SQL, caching by exact text (prepared
/// statements and repeated queries are analysed once) and by shape (queries that differ only
/// in literal values share one analysis). Thread-safe.
public final class StatementAnalyzer: @unchecked Sendable {
    private let lock = NSLock()
    private var cache: [String: [StatementAnalysis]] = [:]
    private var shapes: [SQLShape: [StatementAnalysis]] = [:]
    private var serials = 0
    private let capacity: Int

    public init(capacity: Int = 10_000) { self.capacity = capacity }

    /// One analysis per statement of `sql`, in order; an empty list for empty text.
    /// Texts longer than this are analysed each time, not kept: a cache of 10,000 megabyte texts would hold gigabytes.
    static let cachedBytes = 16 << 10

    public func analyze(_ sql: String) -> [StatementAnalysis] {
        guard sql.utf8.count <= Self.cachedBytes else { return Self.analyzeUncached(sql) }
        if let hit = lock.withLock({ cache[sql] }) { return hit }
        let shape = SQLShape(sql)
        if let shape, let hit = lock.withLock({ shapes[shape] }) { return hit }
        var result = Self.analyzeUncached(sql)
        lock.withLock {
            for index in result.indices {
                serials += 1
                result[index].serial = serials
            }
            if let shape, !result.contains(where: { $0.facts.dependsOnLiterals }), Self.blanksEveryLiteral(result, shape) {
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

    /// Within the parser's limits (size, then depth on a thread with room for it).
    static func analyzeUncached(_ sql: String) -> [StatementAnalysis] {
        let bytes = sql.utf8.count
        if let refusal = ParserLimits.refusal(ofSize: bytes) { return [unparseable(sql, reason: refusal)] }
        return ParserLimits.withStack(forBytes: bytes) { analyzeInPlace(sql) }
            ?? [unparseable(sql, reason: "no thread with room for its parse could be started")]
    }

    private static func analyzeInPlace(_ sql: String) -> [StatementAnalysis] {
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
                var analysis = StatementAnalysis(normalized: normalized, fingerprint: fingerprint, facts: SQLFacts.facts(ofTree: tree, depth: 0))
                analysis.parameterColumns = ParameterColumns.of(normalized: normalized)
                return analysis
            } catch {
                return unparseable(text, error)
            }
        }
    }

    /// Unparseable text is never stored: it may hold literals the normalizer could not remove.
    static func unparseable(_ sql: String, _ error: Error) -> StatementAnalysis {
        unparseable(sql, reason: "PostgreSQL's parser rejects it", syntaxError: "\(error)")
    }

    static func unparseable(_ sql: String, reason: String, syntaxError: String? = nil) -> StatementAnalysis {
        var facts = StatementFacts()
        facts.raise(.unparseable, reason)
        return StatementAnalysis(normalized: "<unparseable: \(sql.utf8.count) bytes>", fingerprint: "", facts: facts,
                                 syntaxError: syntaxError ?? reason)
    }
}
