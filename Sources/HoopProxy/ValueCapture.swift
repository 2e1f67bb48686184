import Crypto
import Foundation
import HoopDetectors
import HoopLedger
import HoopPolicy
import HoopSQL
import NIOCore

/// What the proxy keeps of a session's statement values, by the policy's `capture`: a preview
/// (the statement with its values put back, masked) for everyone who reads the ledger, and the
/// exact values sealed to the auditor's key. I/O-free.
public struct ValueCapture: Sendable {
    public var values: CapturePolicy.Values
    public var maxValueBytes: Int
    /// One HPKE encapsulation per client connection (the ticket is made per login).
    public var sealer: ValueSealer?
    /// The target's detectors (every built-in one when it has none).
    public var detectors: DetectorEngine
    /// Masked and free-text columns by lower-cased column name (a value compared with,
    /// assigned to or inserted into a column of that name is masked by its function).
    var columns: [String: MaskingFunction] = [:]
    /// Tables (lower-cased names) holding any of them.
    var tables: Set<String> = []

    public init(policy: CapturePolicy, values: CapturePolicy.Values, masking: [ColumnName: MaskingFunction], detectors: DetectorEngine,
                sealer: ValueSealer?) {
        self.values = values
        maxValueBytes = policy.maxValueBytes
        self.sealer = sealer
        self.detectors = detectors
        for (column, function) in masking.sorted(by: { $0.key < $1.key }) {
            if columns[column.column.lowercased()] == nil { columns[column.column.lowercased()] = function }
            tables.insert(column.table.lowercased())
        }
    }

    /// A bind parameter as the client sent it.
    struct Bound: Equatable {
        var binary: Bool
        /// nil: NULL.
        var bytes: [UInt8]?
        /// The type the client declared in Parse (0: the server's choice).
        var type: Int32
    }

    /// The values of one statement: its literals (nil when they could not be told apart from
    /// the text, which is then kept whole), and the bind parameters of an Execute.
    struct Input {
        var literals: [Int: SQLLiteral]?
        var text: String?
        var types: [Int32] = []
        var parameters: [Bound] = []

        var isEmpty: Bool { (literals?.isEmpty ?? true) && text == nil && parameters.isEmpty }
    }

    /// Text the normalizer keeps (comments, quoted identifiers, the constants of utility
    /// statements it does not replace, numbers joined by operators) through the detectors.
    public func scrub(_ text: String) -> String {
        detectors.maskText(Array(text.utf8)).map { String(decoding: $0, as: UTF8.self) } ?? text
    }

    /// The preview and the sealed values of a statement (nil when it has no values).
    func capture(normalized: String, columns: [Int: [String]]?, input: Input, context: String) -> (preview: String?, sealed: String?) {
        guard values != .none, !input.isEmpty else { return (nil, nil) }
        var changed = false
        let rendered = self.preview(normalized: normalized, columns: columns, input: input, changed: &changed)
        // Then the whole text through the detectors: 398-03-2651 is three numbers one by one.
        let preview = scrub(rendered)
        // A preview that shows every value exactly (nothing masked or cut) is the values: they
        // are sealed only when the preview hides something of them.
        guard values == .sealed, let sealer, changed || preview != rendered || input.literals == nil else { return (preview, nil) }
        // One budget for the whole statement: a value is cut at max_value_bytes, and all of them
        // together at `maxStatementBytes` (the value it cuts keeps its length and SHA-256, those
        // after it one summary), so a statement's values take the same room however many it binds.
        var budget = maxStatementBytes
        var sealedValues: [CapturedValues.Value] = []
        // Past the budget, the values left are summed up in one digest, not a stub each.
        var omitted: (first: Int, count: Int, bytes: Int, hash: SHA256)?
        func omit(_ n: Int, _ bytes: [UInt8]?) {
            var summary = omitted ?? (n, 0, 0, SHA256())
            summary.count += 1
            summary.bytes += bytes?.count ?? 0
            summary.hash.update(data: Array("\(n):\(bytes.map { String($0.count) } ?? "null"):".utf8))
            if let bytes { summary.hash.update(data: bytes) }
            omitted = summary
        }
        for (n, literal) in (input.literals ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard budget > 0 else { omit(n, Array(literal.token.utf8)); continue }
            sealedValues.append(cut(Array(literal.token.utf8), n: n, form: "literal", type: nil, budget: &budget))
        }
        for (index, parameter) in input.parameters.enumerated() {
            guard budget > 0 else { omit(index + 1, parameter.bytes); continue }
            let type = index < input.types.count && input.types[index] != 0 ? UInt32(bitPattern: input.types[index]) : nil
            guard let bytes = parameter.bytes else {
                sealedValues.append(CapturedValues.Value(n: index + 1, form: "null", value: nil, type: type))
                continue
            }
            let text = !parameter.binary && String(validating: bytes, as: UTF8.self) != nil
            sealedValues.append(cut(bytes, n: index + 1, form: text ? "text" : "binary", type: type, budget: &budget))
        }
        var payload = CapturedValues(values: sealedValues)
        if let omitted {
            payload.omitted = .init(first: omitted.first, count: omitted.count, bytes: omitted.bytes,
                                    sha256: omitted.hash.finalize().map { String(format: "%02x", $0) }.joined())
        }
        if input.literals == nil, let text = input.text {
            let bytes = Array(text.utf8)
            if bytes.count > budget {
                payload.text = String(decoding: Self.prefix(bytes[...], budget), as: UTF8.self)
                payload.textLength = bytes.count
                payload.textSHA256 = SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
            } else {
                payload.text = text
            }
        }
        return (preview, try? sealer.seal(Array(payload.json().utf8), context: context))
    }

    /// What a statement's values may take in its record, together (preview and sealed copy each).
    var maxStatementBytes: Int { maxValueBytes * 16 }

    private func cut(_ bytes: [UInt8], n: Int, form: String, type: UInt32?, budget: inout Int) -> CapturedValues.Value {
        var kept = bytes[...]
        var length: Int?, digest: String?
        let limit = max(0, min(maxValueBytes, budget))
        if bytes.count > limit {
            kept = form == "binary" ? bytes.prefix(limit) : Self.prefix(bytes[...], limit)
            length = bytes.count
            digest = SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
        }
        // The value the budget cut spends it whole (a cut at a character boundary may keep less).
        budget = bytes.count > limit && limit < maxValueBytes ? 0 : budget - kept.count
        let value = form == "binary" ? Data(kept).base64EncodedString() : String(decoding: kept, as: UTF8.self)
        return CapturedValues.Value(n: n, form: form, value: value, type: type, length: length, sha256: digest)
    }

    // MARK: The preview

    /// `normalized` with each `$n` it has a value for replaced by that value, masked.
    /// `changed`: set when a value is not shown exactly (masked, cut or not decodable).
    func preview(normalized: String, columns: [Int: [String]]?, input: Input, changed: inout Bool) -> String {
        var hidden = false
        // The statement's budget (see `maxStatementBytes`): past it, values show as `…`.
        var budget = maxStatementBytes
        let text = Placeholders.substitute(normalized) { n in
            let uses = columns.map { $0[n] ?? [] }
            guard budget > 0 else {
                if input.literals?[n] != nil || (n >= 1 && n <= input.parameters.count) {
                    hidden = true
                    return "…"
                }
                return nil
            }
            let shown: String?
            if let literal = input.literals?[n] {
                shown = render(literal: literal, uses: uses, changed: &hidden)
            } else if n >= 1, n <= input.parameters.count {
                shown = render(parameter: input.parameters[n - 1], type: n <= input.types.count ? input.types[n - 1] : 0, uses: uses, changed: &hidden)
            } else {
                shown = nil
            }
            budget -= shown?.utf8.count ?? 0
            return shown
        }
        changed = changed || hidden
        return text
    }

    /// What a value is masked by: its column's function; `.redact` when its column cannot be
    /// told (the statement's columns are unknown, or the value meets none: a select list, a
    /// function's argument, a concatenation, where pieces of one value can hide from the
    /// detectors) — unless it is a short number, which no detector looks for; or nil (it meets
    /// unmasked columns only, and the detectors decide).
    private func masking(for uses: [String]?, _ value: [UInt8], number: Bool) -> MaskingFunction? {
        guard let uses, !uses.isEmpty else {
            let digits = value.reduce(0) { $0 + (LiteralExtractor.isDigit($1) ? 1 : 0) }
            return number && digits <= 6 && uses != nil ? nil : .redact
        }
        for use in uses {
            if use.hasPrefix("*:") {
                if tables.contains(String(use.dropFirst(2))) { return .redact }
            } else if let function = columns[use] {
                return function
            }
        }
        return nil
    }

    /// A literal shown in clear is its token as written (`E'...'` means what it meant); a masked
    /// one is a plain string of the masked value.
    func render(literal: SQLLiteral, uses: [String]?, changed: inout Bool) -> String {
        switch literal.kind {
        case .keyword:
            return literal.token
        case .number:
            return render(Array(literal.value.utf8), number: true, uses: uses, token: literal.token, changed: &changed)
        case .string, .bits:
            return render(Array(literal.value.utf8), number: false, uses: uses, token: literal.token, changed: &changed)
        }
    }

    /// int2, int4, int8, oid, float4, float8, numeric, bool: shown unquoted.
    static let numericTypes: Set<Int32> = [21, 23, 20, 26, 700, 701, 1700, 16]

    func render(parameter: Bound, type: Int32, uses: [String]?, changed: inout Bool) -> String {
        guard let bytes = parameter.bytes else { return "NULL" }
        if !parameter.binary {
            guard String(validating: bytes, as: UTF8.self) != nil else { changed = true; return "'[\(bytes.count) bytes]'" }
            return render(bytes, number: Self.numericTypes.contains(type), uses: uses, changed: &changed)
        }
        guard let decoded = BinaryParameter.text(bytes, type: type) else { changed = true; return "'[binary, \(bytes.count) bytes]'" }
        // Floats' text is not their exact bits: sealed whatever the preview shows.
        if type == 700 || type == 701 { changed = true }
        return render(Array(decoded.text.utf8), number: decoded.number, uses: uses, changed: &changed)
    }

    /// A value as SQL, masked by its column's function or else by the detectors, cut to the cap.
    /// `token`: the literal as written, shown when nothing is masked.
    func render(_ value: [UInt8], number: Bool, uses: [String]?, token: String? = nil, changed: inout Bool) -> String {
        var value = value[...]
        var cut = false
        if value.count > maxValueBytes {
            value = Self.prefix(value, maxValueBytes)
            cut = true
        }
        let bytes = Array(value)
        let shown: String
        var quoted = !number
        if cut { changed = true }
        if let function = masking(for: uses, bytes, number: number) {
            changed = true
            quoted = true
            switch function {
            case .email: shown = Self.maskEmail(bytes)
            case .redact: shown = "[redacted]"
            case .hash: shown = "[hashed]"
            case .null: return "NULL"
            case .partial(let keep): shown = Self.maskPartial(bytes, keep: keep)
            case .detect:
                shown = detectors.mask(bytes).map { String(decoding: $0, as: UTF8.self) } ?? "[free text, \(bytes.count) bytes]"
            }
        } else if let masked = detectors.mask(bytes) {
            changed = true
            quoted = true
            shown = String(decoding: masked, as: UTF8.self)
        } else {
            if let token, !cut { return token }
            shown = String(decoding: bytes, as: UTF8.self)
        }
        let text = shown + (cut ? "…" : "")
        return quoted ? Self.quoted(text) : text
    }

    /// At most `count` bytes of UTF-8 text, cut on a character boundary.
    static func prefix(_ bytes: ArraySlice<UInt8>, _ count: Int) -> ArraySlice<UInt8> {
        var kept = bytes.prefix(count)
        // Cut inside a character when the first byte left out continues one: back to its start.
        guard kept.count < bytes.count, bytes[bytes.startIndex + kept.count] & 0xC0 == 0x80 else { return kept }
        while let last = kept.last, last & 0xC0 == 0x80 { kept = kept.dropLast() }
        if let last = kept.last, last >= 0xC0 { kept = kept.dropLast() }
        return kept
    }

    /// A SQL string literal: quotes doubled.
    static func quoted(_ text: String) -> String {
        guard text.utf8.contains(UInt8(ascii: "'")) else { return "'" + text + "'" }
        var out = "'"
        for character in text.unicodeScalars {
            out.unicodeScalars.append(character)
            if character == "'" { out.unicodeScalars.append("'") }
        }
        return out + "'"
    }

    /// `j***@example.com`, as the masking view shows it.
    static func maskEmail(_ bytes: [UInt8]) -> String {
        guard let at = bytes.lastIndex(of: UInt8(ascii: "@")), at > 0 else { return "***" }
        let first = String(decoding: bytes.prefix(1), as: UTF8.self)
        return (first.unicodeScalars.first?.isASCII == true ? first : "") + "***" + String(decoding: bytes[at...], as: UTF8.self)
    }

    /// Stars, then the last `keep` characters.
    static func maskPartial(_ bytes: [UInt8], keep: Int) -> String {
        let characters = Array(String(decoding: bytes, as: UTF8.self))
        let shown = characters.count > keep ? characters.suffix(keep) : []
        return String(repeating: "*", count: characters.count - shown.count) + String(shown)
    }
}
