/// A command line as the ledger, `sessions` and lineage may keep it. A caller's command line is
/// read from /proc, and people put secrets and personal data on it
/// (`psql postgres://app:pw@db/x`, `PGPASSWORD=pw`, `--password pw`, `-c "... where email =
/// 'x@y.z'"`). Before it is recorded or shown, secret shapes are masked whatever the policy
/// says, and then what the target's detectors find.
public enum CommandLineMask {
    public static let hidden = "***"

    /// Flags whose next argument (or `=value`) is a secret.
    static let secretFlags: Set<String> = ["--password", "--passwd", "--pass", "--pwd", "--token", "--secret", "--api-key", "--apikey",
                                           "--access-key", "--secret-key", "--client-secret", "--private-key", "--auth", "--authorization",
                                           "--credentials", "--bearer"]
    /// Words that make a `NAME=value` (environment assignments, conninfo keys, query
    /// parameters) a secret when its name contains one of them.
    static let secretNames = ["password", "passwd", "pwd", "secret", "token", "apikey", "api_key", "api-key", "credential", "auth",
                              "private_key", "privatekey", "access_key", "sslpassword"]

    public static func mask(_ arguments: [String], detectors: DetectorEngine?) -> [String] {
        var masked: [String] = [], secretNext = false
        for argument in arguments {
            if secretNext {
                masked.append(hidden)
                secretNext = false
                continue
            }
            let flag = argument.split(separator: "=", maxSplits: 1).first.map { $0.lowercased() } ?? ""
            if secretFlags.contains(flag) {
                if argument.contains("=") { masked.append(flag + "=" + hidden) } else { masked.append(argument); secretNext = true }
                continue
            }
            var text = maskSecretShapes(argument)
            if let detectors, let found = detectors.maskText(Array(text.utf8)) { text = String(decoding: found, as: UTF8.self) }
            text = maskValueShapes(text)
            masked.append(text)
        }
        return masked
    }

    /// Secrets by their shape, anywhere in one argument: the password of a URI's user info,
    /// `name=value` pairs whose name says secret (conninfo, environment, query strings, JSON-ish
    /// `"password": "..."` is left to the detectors), and hoopctl's own tokens.
    /// What a command line carries as values, whatever the detectors make of it (a value can
    /// be written so that they cannot: in pieces, `'ann' || '@' || 'x.com'`, or escaped,
    /// `E'ann\x40x.com'`): the contents of single-quoted strings, and runs of five digits or
    /// more. The sealed copy keeps the command line whole.
    static func maskValueShapes(_ text: String) -> String {
        var out = ""
        var inQuote = false, digits = ""
        func flushDigits() {
            out += digits.count >= 5 ? hidden : digits
            digits = ""
        }
        for character in text {
            if inQuote {
                if character == "'" { inQuote = false; out += hidden + "'" }
                continue
            }
            if character.isASCII, character.isNumber { digits.append(character); continue }
            flushDigits()
            if character == "'" { inQuote = true }
            out.append(character)
        }
        flushDigits()
        if inQuote { out += hidden }
        return out
    }

    static func maskSecretShapes(_ argument: String) -> String {
        var characters = Array(argument.unicodeScalars)
        // scheme://user:PASSWORD@host
        var index = 0
        while let range = find(Array("://".unicodeScalars), in: characters, from: index) {
            var end = range.upperBound
            while end < characters.count, !["/", "@", " ", "?", "#"].contains(characters[end]) { end += 1 }
            if end < characters.count, characters[end] == "@",
               let colon = characters[range.upperBound..<end].firstIndex(of: ":") {
                characters.replaceSubrange((colon + 1)..<end, with: hidden.unicodeScalars)
                index = colon + 1 + hidden.unicodeScalars.count
            } else {
                index = range.upperBound
            }
        }
        // name=value, name:value (for `Authorization: Bearer ...`): the value up to a separator.
        var start = 0
        while start < characters.count {
            guard let equals = characters[start...].firstIndex(where: { $0 == "=" || $0 == ":" }) else { break }
            var nameStart = equals
            while nameStart > 0, isNameCharacter(characters[nameStart - 1]) { nameStart -= 1 }
            let name = String(String.UnicodeScalarView(characters[nameStart..<equals])).lowercased()
            guard !name.isEmpty, secretNames.contains(where: name.contains) else {
                start = equals + 1
                continue
            }
            var valueStart = equals + 1
            while valueStart < characters.count, characters[valueStart] == " " { valueStart += 1 }
            if valueStart < characters.count, characters[valueStart] == "/", valueStart + 1 < characters.count, characters[valueStart + 1] == "/" {
                start = valueStart  // a URI after a scheme-like name: handled above
                continue
            }
            var valueEnd = valueStart
            if valueEnd < characters.count, characters[valueEnd] == "'" || characters[valueEnd] == "\"" {
                let quote = characters[valueEnd]
                valueEnd += 1
                while valueEnd < characters.count, characters[valueEnd] != quote {
                    valueEnd += characters[valueEnd] == "\\" ? 2 : 1
                }
                valueEnd = min(valueEnd + 1, characters.count)
            } else {
                // `Bearer xyz`: a scheme word, then the credential.
                if let space = characters[valueStart...].firstIndex(of: " "),
                   ["bearer", "basic", "token"].contains(String(String.UnicodeScalarView(characters[valueStart..<space])).lowercased()) {
                    valueEnd = space + 1
                    valueStart = valueEnd
                }
                while valueEnd < characters.count, ![" ", "&", ";", ",", "\n", "\t"].contains(characters[valueEnd]) { valueEnd += 1 }
            }
            guard valueEnd > valueStart else {
                start = equals + 1
                continue
            }
            characters.replaceSubrange(valueStart..<valueEnd, with: hidden.unicodeScalars)
            start = valueStart + hidden.unicodeScalars.count
        }
        var text = String(String.UnicodeScalarView(characters))
        // hoopctl's broker tokens: hoop1.<claims>.<signature>
        var from = text.startIndex
        while let range = text.range(of: "hoop1.", range: from..<text.endIndex) {
            var end = range.upperBound
            while end < text.endIndex, text[end].isLetter || text[end].isNumber || "-_.".contains(text[end]) { end = text.index(after: end) }
            guard end > range.upperBound else {
                from = range.upperBound
                continue
            }
            let offset = text.distance(from: text.startIndex, to: range.lowerBound) + 6 + hidden.count
            text.replaceSubrange(range.upperBound..<end, with: hidden)
            from = text.index(text.startIndex, offsetBy: offset)
        }
        return text
    }

    static func isNameCharacter(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || scalar == "_" || scalar == "-"
    }

    static func find(_ needle: [Unicode.Scalar], in haystack: [Unicode.Scalar], from: Int) -> Range<Int>? {
        guard needle.count <= haystack.count, from <= haystack.count - needle.count else { return nil }
        for start in from...(haystack.count - needle.count) where Array(haystack[start..<(start + needle.count)]) == needle {
            return start..<(start + needle.count)
        }
        return nil
    }
}
