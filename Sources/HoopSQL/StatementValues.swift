import Foundation

/// One value of a statement as the client wrote it: a literal the normalizer replaced by `$n`.
public struct SQLLiteral: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case string, number, keyword, bits }
    public var kind: Kind
    /// The token as written (`'it''s'`, `-1.5`, `E'a\nb'`, `true`).
    public var token: String
    /// What it holds: a string's contents (quotes undone), a number's digits, the keyword.
    public var value: String
}

/// The literals of a text, found by laying the normalizer's output over the text the client
/// sent: everything but the literals is the same byte for byte, so each `$n` the client did not
/// write itself covers exactly one literal token, which a small lexer of PostgreSQL's literal
/// forms measures. When anything does not line up, the answer is nil (the caller keeps the
/// whole text sealed instead): a value is never guessed.
public enum LiteralExtractor {
    /// For each normalized statement of `sql` (in order), its literals by placeholder number.
    public static func literals(in sql: String, normalized statements: [String]) -> [[Int: SQLLiteral]]? {
        let text = Array(sql.utf8)
        var at = 0
        var result: [[Int: SQLLiteral]] = []
        for statement in statements {
            let shape = Array(statement.utf8)
            var found: [Int: SQLLiteral]?
            // Between statements: whitespace, semicolons and comments the statement text may not hold.
            while true {
                if let literals = align(text, from: &at, with: shape) { found = literals; break }
                guard let next = separatorEnd(text, at), next > at else { return nil }
                at = next
            }
            guard let found else { return nil }
            result.append(found)
        }
        while at < text.count {
            guard let next = separatorEnd(text, at), next > at else { return nil }
            at = next
        }
        return result
    }

    /// Lays `shape` over `text` from `start`; on success moves `start` past it.
    static func align(_ text: [UInt8], from start: inout Int, with shape: [UInt8]) -> [Int: SQLLiteral]? {
        var i = start, j = 0
        var literals: [Int: SQLLiteral] = [:]
        while j < shape.count {
            if shape[j] == UInt8(ascii: "$"), j + 1 < shape.count, isDigit(shape[j + 1]) {
                var k = j + 1
                var number = 0
                while k < shape.count, isDigit(shape[k]) {
                    number = number * 10 + Int(shape[k] - 48)
                    if number > 1_000_000 { return nil }
                    k += 1
                }
                let placeholder = shape[j..<k]
                // The client's own parameter, written as it is.
                if i + placeholder.count <= text.count, text[i..<i + placeholder.count].elementsEqual(placeholder),
                   i + placeholder.count == text.count || !isDigit(text[i + placeholder.count]) {
                    i += placeholder.count
                    j = k
                    continue
                }
                // One statement's normalization numbers each constant once: a number met again
                // means the shape is not one statement's (several joined), and it names no value.
                guard literals[number] == nil, let literal = literal(text, at: i) else { return nil }
                literals[number] = literal.literal
                i = literal.end
                j = k
                continue
            }
            guard i < text.count, text[i] == shape[j] else { return nil }
            i += 1
            j += 1
        }
        start = i
        return literals
    }

    /// The end of a separator unit at `i`: whitespace, a semicolon, or a comment.
    static func separatorEnd(_ text: [UInt8], _ i: Int) -> Int? {
        guard i < text.count else { return nil }
        let byte = text[i]
        if byte == UInt8(ascii: ";") || isSpace(byte) { return i + 1 }
        if byte == UInt8(ascii: "-"), i + 1 < text.count, text[i + 1] == UInt8(ascii: "-") {
            var j = i + 2
            while j < text.count, text[j] != UInt8(ascii: "\n") { j += 1 }
            return j
        }
        if byte == UInt8(ascii: "/"), i + 1 < text.count, text[i + 1] == UInt8(ascii: "*") {
            var depth = 1, j = i + 2
            while j + 1 < text.count, depth > 0 {
                if text[j] == UInt8(ascii: "*"), text[j + 1] == UInt8(ascii: "/") { depth -= 1; j += 2 }
                else if text[j] == UInt8(ascii: "/"), text[j + 1] == UInt8(ascii: "*") { depth += 1; j += 2 }
                else { j += 1 }
            }
            return depth == 0 ? j : nil
        }
        return nil
    }

    /// The literal token starting at `i`, by PostgreSQL's lexical rules for constants.
    static func literal(_ text: [UInt8], at i: Int) -> (literal: SQLLiteral, end: Int)? {
        guard i < text.count else { return nil }
        func make(_ kind: SQLLiteral.Kind, _ end: Int, value: [UInt8]) -> (SQLLiteral, Int) {
            (SQLLiteral(kind: kind, token: String(decoding: text[i..<end], as: UTF8.self), value: String(decoding: value, as: UTF8.self)), end)
        }
        let byte = text[i]
        let next = i + 1 < text.count ? text[i + 1] : 0
        switch byte {
        case UInt8(ascii: "-"):
            // A negative constant: the minus sign, maybe space, then the number.
            var k = i + 1
            while k < text.count, isSpace(text[k]) { k += 1 }
            guard let end = numberEnd(text, k) else { return nil }
            return make(.number, end, value: [UInt8(ascii: "-")] + Array(text[k..<end]))
        case _ where isDigit(byte) || (byte == UInt8(ascii: ".") && isDigit(next)):
            guard let end = numberEnd(text, i) else { return nil }
            return make(.number, end, value: Array(text[i..<end]))
        case UInt8(ascii: "'"):
            guard let (end, value) = stringEnd(text, quote: i, backslashes: false) else { return nil }
            return make(.string, end, value: value)
        case _ where next == UInt8(ascii: "'") && [UInt8(ascii: "e"), UInt8(ascii: "n")].contains(byte | 0x20):
            let escapes = byte | 0x20 == UInt8(ascii: "e")
            guard let (end, value) = stringEnd(text, quote: i + 1, backslashes: escapes) else { return nil }
            // The value as the server reads it: what the detectors must see (E'user\x40host' is an email).
            return make(.string, end, value: escapes ? decodeEscapes(value) : value)
        case _ where next == UInt8(ascii: "'") && [UInt8(ascii: "b"), UInt8(ascii: "x")].contains(byte | 0x20):
            guard let (end, value) = stringEnd(text, quote: i + 1, backslashes: false) else { return nil }
            return make(.bits, end, value: value)
        case _ where byte | 0x20 == UInt8(ascii: "u") && next == UInt8(ascii: "&") && i + 2 < text.count && text[i + 2] == UInt8(ascii: "'"):
            guard let (end, value) = stringEnd(text, quote: i + 2, backslashes: false) else { return nil }
            return make(.string, end, value: decodeUnicodeEscapes(value))
        case UInt8(ascii: "$"):
            guard let (end, value) = dollarQuoteEnd(text, i) else { return nil }
            return make(.string, end, value: value)
        case _ where isIdentifierStart(byte):
            // TRUE, FALSE, NULL: constants the grammar makes from keywords.
            var end = i + 1
            while end < text.count, isIdentifierStart(text[end]) || isDigit(text[end]) { end += 1 }
            return make(.keyword, end, value: Array(text[i..<end]))
        default:
            return nil
        }
    }

    /// An E'' string's escapes undone, as PostgreSQL reads them (\n, \xHH, \ooo, \uXXXX, ...).
    static func decodeEscapes(_ raw: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        func hexValue(_ byte: UInt8) -> UInt32? {
            switch byte {
            case 48...57: return UInt32(byte - 48)
            case 97...102: return UInt32(byte - 87)
            case 65...70: return UInt32(byte - 55)
            default: return nil
            }
        }
        func digits(_ count: Int, base: UInt32, from start: Int) -> (UInt32, Int) {
            var value: UInt32 = 0, j = start
            while j < raw.count, j < start + count, let digit = base == 16 ? hexValue(raw[j]) : (raw[j] >= 48 && raw[j] <= 55 ? UInt32(raw[j] - 48) : nil) {
                value = value * base + digit
                j += 1
            }
            return (value, j)
        }
        while i < raw.count {
            guard raw[i] == UInt8(ascii: "\\"), i + 1 < raw.count else { out.append(raw[i]); i += 1; continue }
            let next = raw[i + 1]
            switch next {
            case UInt8(ascii: "n"): out.append(10); i += 2
            case UInt8(ascii: "t"): out.append(9); i += 2
            case UInt8(ascii: "r"): out.append(13); i += 2
            case UInt8(ascii: "b"): out.append(8); i += 2
            case UInt8(ascii: "f"): out.append(12); i += 2
            case UInt8(ascii: "x") where i + 2 < raw.count && hexValue(raw[i + 2]) != nil:
                let (value, end) = digits(2, base: 16, from: i + 2)
                out.append(UInt8(truncatingIfNeeded: value)); i = end
            case UInt8(ascii: "u"), UInt8(ascii: "U"):
                let (value, end) = digits(next == UInt8(ascii: "u") ? 4 : 8, base: 16, from: i + 2)
                out += Array(String(Unicode.Scalar(value).map(Character.init) ?? "?").utf8); i = max(end, i + 2)
            case 48...55:
                let (value, end) = digits(3, base: 8, from: i + 1)
                out.append(UInt8(truncatingIfNeeded: value)); i = end
            default: out.append(next); i += 2
            }
        }
        return out
    }

    /// A U&'' string's \XXXX and \+XXXXXX escapes undone (the default escape character).
    static func decodeUnicodeEscapes(_ raw: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        while i < raw.count {
            guard raw[i] == UInt8(ascii: "\\"), i + 1 < raw.count else { out.append(raw[i]); i += 1; continue }
            if raw[i + 1] == UInt8(ascii: "\\") { out.append(raw[i]); i += 2; continue }
            let long = raw[i + 1] == UInt8(ascii: "+")
            let start = i + (long ? 2 : 1), count = long ? 6 : 4
            guard start + count <= raw.count, let value = UInt32(String(decoding: raw[start..<start + count], as: UTF8.self), radix: 16) else {
                out.append(raw[i]); i += 1; continue
            }
            out += Array(String(Unicode.Scalar(value).map(Character.init) ?? "?").utf8)
            i = start + count
        }
        return out
    }

    static func numberEnd(_ text: [UInt8], _ start: Int) -> Int? {
        var j = start
        while j < text.count, isDigit(text[j]) { j += 1 }
        if j < text.count, text[j] == UInt8(ascii: ".") {
            j += 1
            while j < text.count, isDigit(text[j]) { j += 1 }
        }
        guard j > start, isDigit(text[start]) || j > start + 1 else { return nil }
        if j < text.count, text[j] | 0x20 == UInt8(ascii: "e") {
            var k = j + 1
            if k < text.count, text[k] == UInt8(ascii: "+") || text[k] == UInt8(ascii: "-") { k += 1 }
            if k < text.count, isDigit(text[k]) {
                while k < text.count, isDigit(text[k]) { k += 1 }
                j = k
            }
        }
        return j
    }

    /// A quoted string from its opening quote, with SQL's continuation ('a' newline 'b' is 'ab').
    static func stringEnd(_ text: [UInt8], quote: Int, backslashes: Bool) -> (Int, [UInt8])? {
        var j = quote + 1
        var value: [UInt8] = []
        while true {
            guard j < text.count else { return nil }
            let byte = text[j]
            if backslashes, byte == UInt8(ascii: "\\") {
                guard j + 1 < text.count else { return nil }
                value += text[j...j + 1]
                j += 2
                continue
            }
            if byte == UInt8(ascii: "'") {
                if j + 1 < text.count, text[j + 1] == UInt8(ascii: "'") {
                    value.append(byte)
                    j += 2
                    continue
                }
                // Continues after whitespace holding a newline.
                var k = j + 1, newline = false
                while k < text.count, isSpace(text[k]) {
                    if text[k] == UInt8(ascii: "\n") || text[k] == UInt8(ascii: "\r") { newline = true }
                    k += 1
                }
                if newline, k < text.count, text[k] == UInt8(ascii: "'") {
                    j = k + 1
                    continue
                }
                return (j + 1, value)
            }
            value.append(byte)
            j += 1
        }
    }

    static func dollarQuoteEnd(_ text: [UInt8], _ start: Int) -> (Int, [UInt8])? {
        var j = start + 1
        while j < text.count, text[j] != UInt8(ascii: "$") {
            guard isIdentifierStart(text[j]) || (j > start + 1 && isDigit(text[j])) else { return nil }
            j += 1
        }
        guard j < text.count else { return nil }
        let tag = Array(text[start...j])
        var k = j + 1
        while k + tag.count <= text.count {
            if text[k] == UInt8(ascii: "$"), text[k..<k + tag.count].elementsEqual(tag) {
                return (k + tag.count, Array(text[(j + 1)..<k]))
            }
            k += 1
        }
        return nil
    }

    public static func isDigit(_ byte: UInt8) -> Bool { byte >= 48 && byte <= 57 }
    static func isSpace(_ byte: UInt8) -> Bool { byte == 32 || (byte >= 9 && byte <= 13) }
    public static func isIdentifierStart(_ byte: UInt8) -> Bool {
        (byte | 0x20 >= UInt8(ascii: "a") && byte | 0x20 <= UInt8(ascii: "z")) || byte == UInt8(ascii: "_") || byte >= 0x80
    }
}

/// Which columns each `$n` of a normalized statement is compared with, assigned to or inserted
/// into: a preview masks a value by its column's masking, whatever the detectors find in it.
/// Column names are lower-cased last components; `*:table` stands for any column of `table`
/// (an INSERT without a column list, an INSERT ... SELECT).
public enum ParameterColumns {
    /// nil when the normalized text does not parse (the caller then treats every value as sensitive).
    public static func of(normalized: String) -> [Int: [String]]? {
        guard normalized.utf8.contains(UInt8(ascii: "$")) else { return [:] }
        guard let tree = try? PostgresParser.parseTreeJSON(normalized),
              let root = try? JSONSerialization.jsonObject(with: Data(tree.utf8)) else { return nil }
        var uses: [Int: Set<String>] = [:]
        walk(root, into: &uses)
        return uses.mapValues { $0.sorted() }
    }

    static func walk(_ value: Any, into uses: inout [Int: Set<String>]) {
        if let list = value as? [Any] {
            for item in list { walk(item, into: &uses) }
            return
        }
        guard let dict = value as? [String: Any] else { return }
        if let expression = dict["A_Expr"] as? [String: Any] {
            let sides = [expression["lexpr"], expression["rexpr"]].compactMap { $0 }
            let columns = Set(sides.flatMap(columnNames))
            if !columns.isEmpty { for number in sides.flatMap(parameters) { uses[number, default: []].formUnion(columns) } }
        }
        if let link = dict["SubLink"] as? [String: Any], let test = link["testexpr"] {
            // `value = ANY (SELECT email ...)`, `value IN (SELECT ...)`: compared with what the subquery returns.
            let returned = ((link["subselect"] as? [String: Any])?["SelectStmt"] as? [String: Any])?["targetList"]
            let columns = Set(columnNames(in: test) + (returned.map(columnNames) ?? []))
            if !columns.isEmpty { for number in parameters(in: test) { uses[number, default: []].formUnion(columns) } }
        }
        if let target = dict["ResTarget"] as? [String: Any], let name = target["name"] as? String, let val = target["val"] {
            for number in parameters(in: val) { uses[number, default: []].insert(name.lowercased()) }
        }
        if let insert = dict["InsertStmt"] as? [String: Any] {
            let table = ((insert["relation"] as? [String: Any])?["relname"] as? String)?.lowercased() ?? "?"
            let columns = (insert["cols"] as? [Any] ?? []).compactMap { (($0 as? [String: Any])?["ResTarget"] as? [String: Any])?["name"] as? String }
            let select = (insert["selectStmt"] as? [String: Any])?["SelectStmt"] as? [String: Any]
            if let rows = select?["valuesLists"] as? [Any] {
                for row in rows {
                    let items = ((row as? [String: Any])?["List"] as? [String: Any])?["items"] as? [Any] ?? []
                    for (index, item) in items.enumerated() {
                        let column = index < columns.count ? columns[index].lowercased() : "*:" + table
                        for number in parameters(in: item) { uses[number, default: []].insert(column) }
                    }
                }
            } else if let select = insert["selectStmt"] {
                for number in parameters(in: select) { uses[number, default: []].insert("*:" + table) }
            }
        }
        for (_, child) in dict { walk(child, into: &uses) }
    }

    static func parameters(in value: Any) -> [Int] {
        if let list = value as? [Any] { return list.flatMap(parameters) }
        guard let dict = value as? [String: Any] else { return [] }
        if let parameter = dict["ParamRef"] as? [String: Any] { return [(parameter["number"] as? Int) ?? 0] }
        return dict.values.flatMap(parameters)
    }

    static func columnNames(in value: Any) -> [String] {
        if let list = value as? [Any] { return list.flatMap(columnNames) }
        guard let dict = value as? [String: Any] else { return [] }
        if let reference = dict["ColumnRef"] as? [String: Any] {
            let last = (reference["fields"] as? [Any])?.last as? [String: Any]
            return ((last?["String"] as? [String: Any])?["sval"] as? String).map { [$0.lowercased()] } ?? []
        }
        return dict.values.flatMap(columnNames)
    }
}

/// The `$n` placeholders of a normalized statement.
public enum Placeholders {
    /// `text` with each `$n` outside quotes replaced by `value(n)` (left as it is for nil).
    public static func substitute(_ text: String, _ value: (Int) -> String?) -> String {
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 32)
        var i = 0
        while i < bytes.count {
            let byte = bytes[i]
            if byte == UInt8(ascii: "'") || byte == UInt8(ascii: "\"") {
                // Strings and quoted identifiers the normalizer kept are copied whole.
                var j = i + 1
                while j < bytes.count, bytes[j] != byte { j += 1 }
                out += bytes[i..<min(j + 1, bytes.count)]
                i = j + 1
                continue
            }
            // Even right after a letter: the normalizer writes N'x' as N$1.
            if byte == UInt8(ascii: "$"), i + 1 < bytes.count, LiteralExtractor.isDigit(bytes[i + 1]) {
                var j = i + 1, n = 0
                while j < bytes.count, LiteralExtractor.isDigit(bytes[j]) {
                    if n < 1_000_000 { n = n * 10 + Int(bytes[j] - 48) }
                    j += 1
                }
                if let replacement = value(n) { out += replacement.utf8 } else { out += bytes[i..<j] }
                i = j
                continue
            }
            out.append(byte)
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// A bind parameter sent in binary format.
public enum BinaryParameter {
    /// Its text, for types whose binary form is plain to read: integers, floats, bool, text types.
    public static func text(_ bytes: [UInt8], type: Int32) -> (text: String, number: Bool)? {
        func integer() -> Int64? {
            guard [2, 4, 8].contains(bytes.count) else { return nil }
            var value: Int64 = bytes[0] >= 0x80 ? -1 : 0
            for byte in bytes { value = (value << 8) | Int64(byte) }
            return value
        }
        switch type {
        case 21, 23, 20, 26:
            return integer().map { (type == 26 ? String(UInt32(truncatingIfNeeded: $0)) : String($0), true) }
        case 16:
            return bytes.count == 1 ? (bytes[0] == 0 ? "false" : "true", true) : nil
        case 700 where bytes.count == 4:
            return (String(Float(bitPattern: bytes.reduce(0) { $0 << 8 | UInt32($1) })), true)
        case 701 where bytes.count == 8:
            return (String(Double(bitPattern: bytes.reduce(0) { $0 << 8 | UInt64($1) })), true)
        case 25, 1043, 1042, 19, 705:
            return String(validating: bytes, as: UTF8.self).map { ($0, false) }
        default:
            return nil
        }
    }
}
