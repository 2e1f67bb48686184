/// What a client may set in its startup packet. The policy fixes a session's timeouts, role
/// and search_path (set on its role) and the proxy pins how SQL is read; PostgreSQL applies
/// startup parameters and `options` after the role's settings, so a client could undo them
/// at login (`options=-c statement_timeout=0`). Those are refused, with the setting named;
/// everything else passes as the client sent it. I/O-free.
enum StartupSettings {
    /// Settings a client may not choose at login.
    static let fixed: Set<String> = [
        "statement_timeout", "idle_in_transaction_session_timeout", "idle_session_timeout", "search_path", "role",
        "session_authorization", "standard_conforming_strings", "backslash_quote", "client_encoding",
        "default_transaction_read_only", "transaction_read_only", "client_connection_check_interval",
    ]
    /// Startup packet keys that are not settings.
    static let keys: Set<String> = ["user", "database", "options", "replication", "application_name"]

    /// Why the startup parameters cannot be honoured, if they cannot.
    static func refusal(of parameters: [String: String]) -> String? {
        for (name, value) in parameters.sorted(by: { $0.key < $1.key }) where !keys.contains(name) && !name.hasPrefix("_pq_.") {
            if let refusal = refusal(setting: name, value: value) { return refusal }
        }
        guard let options = parameters["options"] else { return nil }
        guard let settings = settings(inOptions: options) else {
            return "options may only hold -c name=value (or --name=value) settings through hoopctl"
        }
        for (name, value) in settings {
            if let refusal = refusal(setting: name, value: value) { return refusal }
        }
        return nil
    }

    private static func refusal(setting name: String, value: String) -> String? {
        // The server folds case and reads dashes as underscores (-c statement-timeout=0).
        let canonical = name.lowercased().replacingOccurrences(of: "-", with: "_")
        if canonical == "client_encoding" {
            // PostgreSQL's own spelling rules; SQL_ASCII passes bytes through unconverted, as UTF8 does for valid UTF-8.
            let encoding = value.lowercased().filter { $0.isLetter || $0.isNumber }
            if ["utf8", "unicode", "sqlascii"].contains(encoding) { return nil }
            return "client_encoding \(value.prefix(32)) is not supported through hoopctl: the proxy speaks UTF8 (unset PGCLIENTENCODING or set it to UTF8)"
        }
        if canonical == "standard_conforming_strings", ["on", "true", "yes", "1"].contains(value.lowercased()) { return nil }
        guard fixed.contains(canonical) else { return nil }
        return "\(canonical) is set by the policy for this session and cannot be changed at login (startup parameter or options)"
    }

    /// The settings of an `options` string as the server splits it (whitespace separates,
    /// a backslash escapes the next character); nil when it holds anything but settings.
    static func settings(inOptions options: String) -> [(String, String)]? {
        var words: [String] = [], word = "", escaped = false, inWord = false
        for character in options {
            if escaped {
                word.append(character)
                escaped = false
            } else if character == "\\" {
                escaped = true
                inWord = true
            } else if character.isWhitespace {
                if inWord { words.append(word) }
                word = ""
                inWord = false
            } else {
                word.append(character)
                inWord = true
            }
        }
        if inWord { words.append(word) }
        var settings: [(String, String)] = [], index = 0
        while index < words.count {
            var assignment: Substring
            if words[index] == "-c" {
                guard index + 1 < words.count else { return nil }
                assignment = Substring(words[index + 1])
                index += 2
            } else if words[index].hasPrefix("-c") {
                assignment = words[index].dropFirst(2)
                index += 1
            } else if words[index].hasPrefix("--") {
                assignment = words[index].dropFirst(2)
                index += 1
            } else {
                return nil
            }
            guard let equals = assignment.firstIndex(of: "="), equals != assignment.startIndex else { return nil }
            settings.append((String(assignment[..<equals]), String(assignment[assignment.index(after: equals)...])))
        }
        return settings
    }
}

extension StartupSettings {
    /// The proxy parses SQL as UTF-8 with standard conforming strings; the server must read it
    /// the same way, or a string literal could hide a statement from the analysis (a backslash
    /// inside a multibyte SJIS character, `\'` with standard_conforming_strings off). So the
    /// upstream session gets these values after anything the client sent (`options` included),
    /// and a server report of another value closes the connection.
    static let pinned = ["client_encoding": "UTF8", "standard_conforming_strings": "on"]
    /// Also set upstream, after the client's own: a backend whose client the proxy dropped
    /// notices within a second, even while it runs (PostgreSQL 14+), so closing the connection
    /// ends a statement that ignores cancels.
    static let alsoSet = ["client_connection_check_interval": "1000"]

    /// Whether a value the server reports for a pinned setting keeps SQL text unambiguous.
    static func keepsPinned(_ name: String, _ value: String) -> Bool {
        guard let expected = pinned[name] else { return true }
        return value.caseInsensitiveCompare(expected) == .orderedSame
    }
}
