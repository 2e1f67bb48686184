import Foundation

/// What one `query` answer may carry to an agent, measured on what leaves the broker.
///
/// - `max_bytes` caps the tool result as the agent receives it: the JSON answer as a string
///   inside the MCP message, where a quote is two bytes and a control character seven
///   (`\u0001` in the answer, its backslash escaped again), not one. Error texts and the
///   other tools' answers are cut to it too.
/// - `max_rows` caps the database rows in the answer, however they are packed: a row counts as
///   the items its values hold when that is more than one. An item is an element of an array
///   (PostgreSQL's, a multirange's, or JSON's, at any depth, inside records too) or a member
///   of a JSON object or a field of a record; so `json_agg`, `array_agg`, `range_agg`,
///   `json_object_agg` and `row(...)` of 1,000 values count at least 1,000. The columns of a
///   result row are one row: a query that spreads rows into columns is bounded by `max_bytes`
///   alone, like text that packs them (`string_agg`, `xmlagg`, a tsvector).
///
/// A row that does not fit ends the answer (it is never cut): `truncated` says so.
public struct AnswerCaps: Sendable {
    public let maxRows: Int
    public let maxBytes: Int

    public init(maxRows: Int, maxBytes: Int) {
        self.maxRows = maxRows
        self.maxBytes = maxBytes
    }

    /// The answer for these rows: as many leading rows as fit both caps. `make` builds the
    /// answer's JSON object from the rows kept and whether some were left out.
    public func answer(rows: [[String?]], make: ([[Any]], _ truncated: Bool, _ counted: Int) -> [String: Any]) throws -> Data {
        var kept: [[Any]] = [], counted = 0, truncated = false
        // What the answer weighs without its rows (and with the longest note it may carry).
        var bytes = Self.wireSize(try Self.serialize(make([], true, Int.max)))
        for row in rows {
            let values: [Any] = row.map { $0.map { $0 as Any } ?? NSNull() }
            let size = Self.wireSize(try JSONSerialization.data(withJSONObject: values, options: Self.options)) + 1
            let items = max(1, row.reduce(0) { Self.plus($0, $1.map(Self.items(in:)) ?? 0) })
            guard counted + items <= maxRows, bytes + size <= maxBytes else {
                truncated = true
                break
            }
            kept.append(values)
            counted += items
            bytes += size
        }
        var data = try Self.serialize(make(kept, truncated, counted))
        // The estimate above is exact but for the note; never send more than the cap.
        while Self.wireSize(data) > maxBytes, !kept.isEmpty {
            kept.removeLast()
            data = try Self.serialize(make(kept, true, counted))
        }
        return data
    }

    static let options: JSONSerialization.WritingOptions = [.sortedKeys, .withoutEscapingSlashes]

    /// The size of text once the MCP message carries it as a JSON string: a quote or a
    /// backslash is two bytes, a raw control character six.
    static func wireSize<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> Int {
        bytes.reduce(0) { $0 + ($1 == 0x22 || $1 == 0x5C ? 2 : $1 < 0x20 ? 6 : 1) }
    }

    /// Text within the byte cap, as the agent receives it: cut at a character, and saying so.
    public func cut(_ text: String) -> String {
        guard Self.wireSize(text.utf8) > maxBytes else { return text }
        let note = "… (cut: hoopctl caps an answer at \(maxBytes) bytes)"
        var budget = maxBytes - Self.wireSize(note.utf8), kept = ""
        for character in text {
            let size = Self.wireSize(character.utf8)
            guard size <= budget else { break }
            kept.append(character)
            budget -= size
        }
        return kept + note
    }

    static func serialize(_ object: [String: Any]) throws -> Data {
        try JSONSerialization.data(withJSONObject: object, options: options)
    }

    // MARK: Items packed in a value

    /// Nesting deeper than this is not read: such a value counts as more than any cap.
    static let maxDepth = 32
    static let tooDeep = 1 << 40

    /// Sums that stop at `tooDeep` (so they never overflow).
    static func plus(_ a: Int, _ b: Int) -> Int { min(a + b, tooDeep) }

    /// The items a value's text packs: JSON arrays and objects, PostgreSQL arrays and records,
    /// nested in one another in any order.
    public static func items(in text: String) -> Int { items(in: text, depth: 0) }

    static func items(in text: String, depth: Int) -> Int {
        let trimmed = text.drop { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }
        guard let first = trimmed.first, first == "[" || first == "{" || first == "(" else { return 0 }
        guard depth < maxDepth else { return tooDeep }
        if first != "(", let json = try? JSONSerialization.jsonObject(with: Data(trimmed.utf8), options: [.fragmentsAllowed]) {
            return items(inJSON: json, depth: depth)
        }
        switch first {
        case "(":
            // A record's fields count as `to_json` of it would: one each.
            let fields = parts(of: trimmed)
            return fields.reduce(fields.count) { plus($0, items(in: $1, depth: depth + 1)) }
        case "{":
            let elements = parts(of: trimmed)
            return elements.reduce(elements.count) { plus($0, items(in: $1, depth: depth + 1)) }
        default:
            // `[1:3]={...}`: an array with explicit bounds.
            guard let start = trimmed.range(of: "={") else { return 0 }
            return items(in: String(trimmed[trimmed.index(after: start.lowerBound)...]), depth: depth + 1)
        }
    }

    static func items(inJSON value: Any, depth: Int) -> Int {
        guard depth < maxDepth else { return tooDeep }
        if let array = value as? [Any] { return array.reduce(array.count) { plus($0, items(inJSON: $1, depth: depth + 1)) } }
        if let object = value as? [String: Any] {
            return object.values.reduce(object.count) { plus($0, items(inJSON: $1, depth: depth + 1)) }
        }
        return 0
    }

    /// The top-level parts of a PostgreSQL array (`{a,"b c",{d}}`) or record (`(a,"b,c",)`)
    /// text, with the quoting of the top level undone (a backslash escapes, and in records `""`
    /// is a quote): the text each part stands for. Deeper parts keep their quoting, to be read
    /// in turn.
    static func parts(of text: Substring) -> [String] {
        let characters = Array(text)
        var parts: [String] = [], current = "", depth = 0, quoted = false, any = false, index = 0
        while index < characters.count {
            let character = characters[index]
            index += 1
            let keep = depth > 1  // inside a deeper part: copied as it is
            if character == "\\", index < characters.count {
                if keep { current.append(character) }
                current.append(characters[index])
                index += 1
                continue
            }
            if quoted {
                if character == "\"" {
                    if !keep, index < characters.count, characters[index] == "\"" {
                        current.append("\"")  // a record's doubled quote
                        index += 1
                        continue
                    }
                    quoted = false
                    if keep { current.append(character) }
                } else {
                    current.append(character)
                }
                continue
            }
            switch character {
            case "\"":
                quoted = true
                any = true
                if keep { current.append(character) }
            case "{", "(", "[":  // ranges open with either of ( [ and close with either of ) ]
                depth += 1
                if depth > 1 { current.append(character) }
            case "}", ")", "]":
                depth -= 1
                if depth >= 1 { current.append(character) }
                if depth == 0 {
                    if any || !current.isEmpty { parts.append(current) }
                    return parts
                }
            case "," where depth == 1:
                parts.append(current)
                current = ""
                any = true
            default:
                if depth >= 1 {
                    current.append(character)
                    any = true
                }
            }
        }
        return parts
    }
}
