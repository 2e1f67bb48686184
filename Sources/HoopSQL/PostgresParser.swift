import CPgQuery

/// PostgreSQL's own parser (libpg_query). Each call is independent and thread-safe:
/// libpg_query keeps its memory contexts per thread.
public enum PostgresParser {
    /// The query with every literal replaced by `$n`: what the ledger stores instead of values.
    public static func normalize(_ sql: String) throws(SQLSyntaxError) -> String {
        let result = pg_query_normalize(sql)
        defer { pg_query_free_normalize_result(result) }
        if let error = result.error { throw SQLSyntaxError(error.pointee, in: sql) }
        return String(cString: result.normalized_query)
    }

    /// A stable identifier of the statement's shape (ignores literals, whitespace, comments).
    public static func fingerprint(_ sql: String) throws(SQLSyntaxError) -> String {
        let result = pg_query_fingerprint(sql)
        defer { pg_query_free_fingerprint_result(result) }
        if let error = result.error { throw SQLSyntaxError(error.pointee, in: sql) }
        return String(cString: result.fingerprint_str)
    }

    /// Splits a multi-statement string the way the server would, keeping each statement's text.
    public static func split(_ sql: String) throws(SQLSyntaxError) -> [Substring] {
        let result = pg_query_split_with_parser(sql)
        defer { pg_query_free_split_result(result) }
        if let error = result.error { throw SQLSyntaxError(error.pointee, in: sql) }
        let bytes = Array(sql.utf8)
        var statements: [Substring] = []
        for index in 0..<Int(result.n_stmts) {
            guard let statement = result.stmts[index]?.pointee else { continue }
            let start = Int(statement.stmt_location), length = Int(statement.stmt_len)
            let end = length == 0 ? bytes.count : start + length
            let startIndex = sql.utf8.index(sql.utf8.startIndex, offsetBy: start)
            let endIndex = sql.utf8.index(sql.utf8.startIndex, offsetBy: end)
            statements.append(sql[startIndex..<endIndex])
        }
        return statements
    }

    /// The PL/pgSQL tree of a `CREATE FUNCTION ... LANGUAGE plpgsql` statement, as JSON.
    public static func plpgsqlTreeJSON(_ createFunction: String) throws(SQLSyntaxError) -> String {
        let result = pg_query_parse_plpgsql(createFunction)
        defer { pg_query_free_plpgsql_parse_result(result) }
        if let error = result.error { throw SQLSyntaxError(error.pointee, in: createFunction) }
        return String(cString: result.plpgsql_funcs)
    }

    /// The raw parse tree as libpg_query's JSON.
    public static func parseTreeJSON(_ sql: String) throws(SQLSyntaxError) -> String {
        let result = pg_query_parse(sql)
        defer { pg_query_free_parse_result(result) }
        if let error = result.error { throw SQLSyntaxError(error.pointee, in: sql) }
        return String(cString: result.parse_tree)
    }
}

/// A syntax error with its position in the statement (1-based character offset, as the server reports it).
public struct SQLSyntaxError: Error, Equatable, CustomStringConvertible, Sendable {
    public let message: String
    public let position: Int?

    init(_ error: PgQueryError, in sql: String) {
        message = error.message.map { String(cString: $0) } ?? "syntax error"
        position = error.cursorpos > 0 ? Int(error.cursorpos) : nil
    }

    public var description: String {
        position.map { "\(message) at character \($0)" } ?? message
    }
}
