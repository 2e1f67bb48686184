/// Builds libpq `key=value` connection strings with every value quoted, so a password or a
/// path with spaces or quotes cannot change the meaning of the string.
public enum ConnectionString {
    public static func make(_ parameters: KeyValuePairs<String, String?>) -> String {
        parameters.compactMap { key, value in value.map { "\(key)=\(quote($0))" } }.joined(separator: " ")
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
