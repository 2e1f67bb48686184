import CLibPQ

/// Builds libpq `key=value` connection strings with every value quoted, so a password or a
/// path with spaces or quotes cannot change the meaning of the string.
public enum ConnectionString {
    /// `options` for a connection with privileges: only pg_catalog's functions and operators
    /// are found by name (and pg_temp's relations last), so no function or operator someone made
    /// in `public` can stand in for a built-in (`obj_description(oid, 'x')` with an untyped
    /// literal would pick a better-matching `public.obj_description(oid, text)`) and run with
    /// this connection's privileges.
    public static let trustedSearchPath = "-c search_path=pg_catalog,pg_temp"

    public static func make(_ parameters: KeyValuePairs<String, String?>) -> String {
        parameters.compactMap { key, value in value.map { "\(key)=\(quote($0))" } }.joined(separator: " ")
    }

    /// `key='value' ...` of libpq keywords, in a stable order.
    public static func conninfo(_ parameters: [String: String]) -> String {
        parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\(quote($0.value))" }.joined(separator: " ")
    }

    /// The parameters of a connection string or URI, as libpq reads them (defaults not filled in).
    /// The error names the problem, never the string (it may hold a password).
    public static func parse(_ conninfo: String) throws(PostgresError) -> [String: String] {
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(conninfo, &errorMessage) else {
            let message = errorMessage.map { String(cString: $0) } ?? "invalid connection string"
            if let errorMessage { PQfreemem(errorMessage) }
            throw PostgresError(kind: .client, message: "invalid connection string: " + String(message.split(separator: "\n").first ?? ""))
        }
        defer { PQconninfoFree(options) }
        var parameters: [String: String] = [:]
        var option = options
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val { parameters[String(cString: keyword)] = String(cString: value) }
            option += 1
        }
        return parameters
    }

    /// `'it''s'` → libpq wants single quotes with `\'` and `\\` escaped.
    public static func quote(_ value: String) -> String {
        var out = "'"
        for character in value {
            if character == "'" || character == "\\" { out.append("\\") }
            out.append(character)
        }
        return out + "'"
    }
}
