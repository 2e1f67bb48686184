import HoopPolicy
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The built-in detectors as one pass of byte scanners over UTF-8. Each detector is a function
/// from a start position to the end of what it recognises there; the pass only tries them where
/// something can start (a word start, a `+` or `(`), dispatched on the first byte, so the bytes
/// inside ordinary words cost a table lookup. Each detector looks for the shape and then checks
/// what can be checked, so ordinary numbers, dates and words are left alone.
struct BuiltinScanners: Sendable {
    /// The enabled detectors, in policy order (the first wins between equally long matches).
    let kinds: [BuiltinDetector]
    /// For each byte, which of `kinds` (bit = index) can start with it, and `wordBit`.
    private let starts: [UInt16]
    private static let wordBit: UInt16 = 1 << 15
    private let emails: Int?

    init(_ kinds: [BuiltinDetector]) {
        self.kinds = kinds
        var starts = [UInt16](repeating: 0, count: 256)
        for (index, kind) in kinds.enumerated() where kind != .email {
            for byte in 0..<256 where Self.canStart(kind, UInt8(byte)) { starts[byte] |= 1 << index }
        }
        for byte in 0..<256 where Self.isWord(UInt8(byte)) { starts[byte] |= Self.wordBit }
        self.starts = starts
        emails = kinds.firstIndex(of: .email)
    }

    static func canStart(_ kind: BuiltinDetector, _ c: UInt8) -> Bool {
        switch kind {
        case .email: false
        case .creditCard, .ssn: isDigit(c)
        case .phone: isDigit(c) || c == UInt8(ascii: "+") || c == UInt8(ascii: "(")
        case .iban: isUpper(c)
        case .jwt: c == UInt8(ascii: "e")
        case .apiKey: keyFormats.contains { $0.prefix.first == c }
        }
    }

    /// Non-overlapping matches, leftmost first, the longest where several start together; each
    /// with the index of its detector in `kinds`.
    struct Found { let range: Range<Int>; let detector: Int }

    func scan(_ b: UnsafeBufferPointer<UInt8>) -> [Found] {
        var found: [Found] = []
        // Emails are anchored on their `@` and reach back: found first, then merged in order.
        let addresses = emails == nil ? [] : Self.emails(b)
        var nextAddress = 0
        var addressStart = addresses.first?.lowerBound ?? Int.max
        let n = b.count
        var i = 0
        starts.withUnsafeBufferPointer { starts in
            while i < n {
                let entry = starts[Int(b[i])]
                let candidates = entry & ~Self.wordBit
                while addressStart < i {
                    nextAddress += 1
                    addressStart = nextAddress < addresses.count ? addresses[nextAddress].lowerBound : Int.max
                }
                if (candidates != 0 && (i == 0 || !isWord(b[i - 1]))) || addressStart == i {
                    var best = addressStart == i ? Found(range: addresses[nextAddress], detector: emails!) : nil
                    var bits = candidates
                    while bits != 0 {
                        let index = bits.trailingZeroBitCount
                        bits &= bits - 1
                        if let end = Self.end(of: kinds[index], in: b, at: i), end > best?.range.upperBound ?? i {
                            best = Found(range: i..<end, detector: index)
                        }
                    }
                    if let best {
                        if found.isEmpty { found.reserveCapacity(8) }
                        found.append(best)
                        i = best.range.upperBound
                        continue
                    }
                }
                i += 1
                // Nothing starts inside a word but an address.
                if entry & Self.wordBit != 0 {
                    let stop = min(n, addressStart)
                    while i < stop, starts[Int(b[i])] & Self.wordBit != 0 { i += 1 }
                }
            }
        }
        return found
    }

    static func end(of kind: BuiltinDetector, in b: UnsafeBufferPointer<UInt8>, at i: Int) -> Int? {
        switch kind {
        case .email: nil
        case .creditCard: card(b, at: i)
        case .ssn: ssn(b, at: i)
        case .iban: iban(b, at: i)
        case .phone: northAmerican(b, from: i) ?? international(b, from: i)
        case .jwt: jwt(b, at: i)
        case .apiKey: apiKey(b, at: i)
        }
    }

    // MARK: Character classes

    @inline(__always) static func isDigit(_ b: UInt8) -> Bool { b &- 48 < 10 }
    @inline(__always) static func isLetter(_ b: UInt8) -> Bool { (b | 0x20) &- 97 < 26 }
    @inline(__always) static func isUpper(_ b: UInt8) -> Bool { b &- 65 < 26 }
    @inline(__always) static func isLower(_ b: UInt8) -> Bool { b &- 97 < 26 }
    @inline(__always) static func isAlpha(_ b: UInt8) -> Bool { isUpper(b) || isLower(b) }
    @inline(__always) static func isAlnum(_ b: UInt8) -> Bool { isDigit(b) || isAlpha(b) }
    /// A byte that continues a word: a number next to one is part of something else.
    @inline(__always) static func isWord(_ b: UInt8) -> Bool { isAlnum(b) || b == UInt8(ascii: "_") }
    @inline(__always) func isWord(_ b: UInt8) -> Bool { Self.isWord(b) }
    @inline(__always) static func isBase64URL(_ c: UInt8) -> Bool { isAlnum(c) || c == UInt8(ascii: "-") || c == UInt8(ascii: "_") }

    static func contains(_ needle: [UInt8], in bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let first = needle.first, let base = bytes.baseAddress else { return false }
        var index = 0
        let last = bytes.count - needle.count
        while index <= last, let hit = memchr(base + index, Int32(first), last - index + 1) {
            index = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            if needle.withUnsafeBytes({ memcmp(base + index, $0.baseAddress!, needle.count) }) == 0 { return true }
            index += 1
        }
        return false
    }

    // MARK: Email

    static func emails(_ b: UnsafeBufferPointer<UInt8>) -> [Range<Int>] {
        var found: [Range<Int>] = []
        var i = 0
        let n = b.count
        guard let base = b.baseAddress else { return [] }
        func isLocal(_ c: UInt8) -> Bool {
            isAlnum(c) || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "%") || c == UInt8(ascii: "+") || c == UInt8(ascii: "-")
        }
        func isDomain(_ c: UInt8) -> Bool { isAlnum(c) || c == UInt8(ascii: ".") || c == UInt8(ascii: "-") }
        while i < n {
            guard let at = memchr(base + i, Int32(UInt8(ascii: "@")), n - i) else { break }
            i = base.distance(to: at.assumingMemoryBound(to: UInt8.self))
            var start = i
            while start > 0, isLocal(b[start - 1]) { start -= 1 }
            while start < i, b[start] == UInt8(ascii: ".") { start += 1 }
            var end = i + 1
            while end < n, isDomain(b[end]) { end += 1 }
            // A sentence may end right after the address.
            while end > i + 1, b[end - 1] == UInt8(ascii: ".") || b[end - 1] == UInt8(ascii: "-") { end -= 1 }
            if start < i, end > i + 1, found.last.map({ start >= $0.upperBound }) ?? true {
                // The domain: labels separated by dots, the last one at least two letters.
                var lastDot = -1, ok = true, labelLength = 0
                for k in (i + 1)..<end {
                    if b[k] == UInt8(ascii: ".") {
                        if labelLength == 0 { ok = false; break }
                        lastDot = k
                        labelLength = 0
                    } else {
                        labelLength += 1
                    }
                }
                if ok, lastDot > 0, end - lastDot - 1 >= 2, (lastDot + 1..<end).allSatisfy({ isAlpha(b[$0]) }) {
                    found.append(start..<end)
                    i = end
                    continue
                }
            }
            i += 1
        }
        return found
    }

    // MARK: Card numbers

    /// 13 to 19 digits, alone or in groups split by single spaces or dashes, passing Luhn.
    static func card(_ b: UnsafeBufferPointer<UInt8>, at i: Int) -> Int? {
        let n = b.count
        var j = i, end = i, count = 0
        while j < n, count <= 19 {
            if isDigit(b[j]) {
                count += 1
                j += 1
                end = j
            } else if (b[j] == UInt8(ascii: " ") || b[j] == UInt8(ascii: "-")), j + 1 < n, isDigit(b[j + 1]) {
                j += 1
            } else {
                break
            }
        }
        guard (13...19).contains(count), end == n || !isWord(b[end]) else { return nil }
        // Luhn, from the last digit: every second one doubled.
        var sum = 0, doubled = false
        for k in stride(from: end - 1, through: i, by: -1) where isDigit(b[k]) {
            var value = Int(b[k] - 48)
            if doubled { value *= 2; if value > 9 { value -= 9 } }
            sum += value
            doubled.toggle()
        }
        return sum % 10 == 0 ? end : nil
    }

    // MARK: US social security numbers

    /// ddd-dd-dddd in the issued ranges: area not 000, 666 or 9xx; group not 00; serial not 0000.
    static func ssn(_ b: UnsafeBufferPointer<UInt8>, at i: Int) -> Int? {
        let n = b.count, dash = UInt8(ascii: "-")
        guard i + 11 <= n, b[i + 3] == dash, b[i + 6] == dash, i == 0 || b[i - 1] != dash,
              i + 11 == n || !(isWord(b[i + 11]) || b[i + 11] == dash) else { return nil }
        for k in [0, 1, 2, 4, 5, 7, 8, 9, 10] where !isDigit(b[i + k]) { return nil }
        let area = Int(b[i] - 48) * 100 + Int(b[i + 1] - 48) * 10 + Int(b[i + 2] - 48)
        let group = Int(b[i + 4] - 48) * 10 + Int(b[i + 5] - 48)
        let serial = (7...10).reduce(0) { $0 * 10 + Int(b[i + $1] - 48) }
        return area != 0 && area != 666 && area < 900 && group != 0 && serial != 0 ? i + 11 : nil
    }

    // MARK: IBAN

    /// Two letters, two check digits, 11 to 30 letters and digits (in groups of four split by
    /// spaces, or not), passing the mod-97 check.
    static func iban(_ b: UnsafeBufferPointer<UInt8>, at i: Int) -> Int? {
        let n = b.count
        guard i + 15 <= n, isUpper(b[i + 1]), isDigit(b[i + 2]), isDigit(b[i + 3]) else { return nil }
        var j = i, end = i, count = 0
        while j < n, count < 34 {
            if isUpper(b[j]) || isDigit(b[j]) {
                count += 1
                j += 1
                end = j
            } else if b[j] == UInt8(ascii: " "), j + 1 < n, isUpper(b[j + 1]) || isDigit(b[j + 1]), count % 4 == 0 {
                j += 1
            } else {
                break
            }
        }
        guard count >= 15, end == n || !isWord(b[end]) else { return nil }
        // ISO 13616: the first four characters moved to the end, letters as 10..35, mod 97.
        var remainder = 0
        func add(_ c: UInt8) {
            remainder = isDigit(c) ? (remainder * 10 + Int(c - 48)) % 97 : (remainder * 100 + Int(c - 55)) % 97
        }
        var seen = 0
        for k in i..<end where b[k] != UInt8(ascii: " ") {
            if seen >= 4 { add(b[k]) }
            seen += 1
        }
        for k in i..<(i + 4) { add(b[k]) }
        return remainder == 1 ? end : nil
    }

    // MARK: Phone numbers

    // North American numbers (`(415) 555-0100`, `415-555-0100`, `415.555.0100`, with an
    // optional `+1`/`1`) and international ones (`+44 20 7946 0958`: a plus, then 8 to 15
    // digits in groups). Dates and plain numbers do not have these shapes.

    static func separator(_ c: UInt8) -> Bool { c == UInt8(ascii: " ") || c == UInt8(ascii: "-") || c == UInt8(ascii: ".") }

    /// [+1 |1-](ddd|(ddd))[ .-]?ddd[ .-]dddd, ending at a non-word byte.
    static func northAmerican(_ b: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        let n = b.count
        if start > 0, b[start - 1] == UInt8(ascii: "+") { return nil }
        var j = start
        func digits(_ count: Int) -> Bool {
            guard j + count <= n else { return false }
            for k in 0..<count where !isDigit(b[j + k]) { return false }
            j += count
            return true
        }
        if b[j] == UInt8(ascii: "+") {
            guard j + 2 < n, b[j + 1] == UInt8(ascii: "1"), separator(b[j + 2]) else { return nil }
            j += 3
        } else if j + 1 < n, b[j] == UInt8(ascii: "1"), separator(b[j + 1]), j + 2 < n, isDigit(b[j + 2]) || b[j + 2] == UInt8(ascii: "(") {
            j += 2
        }
        guard j < n else { return nil }
        if b[j] == UInt8(ascii: "(") {
            j += 1
            guard digits(3), j < n, b[j] == UInt8(ascii: ")") else { return nil }
            j += 1
            if j < n, b[j] == UInt8(ascii: " ") { j += 1 }
        } else {
            guard digits(3) else { return nil }
            guard j < n, separator(b[j]) else { return nil }
            j += 1
        }
        guard digits(3), j < n, separator(b[j]) else { return nil }
        j += 1
        guard digits(4), j == n || !(isWord(b[j]) || (b[j] == UInt8(ascii: "-") && j + 1 < n && isDigit(b[j + 1]))) else { return nil }
        return j
    }

    /// +CC and groups of digits split by single spaces, dashes or dots: 8 to 15 digits in all.
    static func international(_ b: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        let n = b.count
        guard b[start] == UInt8(ascii: "+"), start + 1 < n, isDigit(b[start + 1]), start == 0 || b[start - 1] != UInt8(ascii: "+") else { return nil }
        var j = start + 1, count = 0, end = j
        while j < n {
            if isDigit(b[j]) {
                count += 1
                j += 1
                end = j
            } else if separator(b[j]), j + 1 < n, isDigit(b[j + 1]) {
                j += 1
            } else {
                break
            }
        }
        guard (8...15).contains(count), end == n || !isWord(b[end]) else { return nil }
        return end
    }

    // MARK: Tokens and keys

    /// header.payload.signature, the header base64url JSON (`eyJ`).
    static func jwt(_ b: UnsafeBufferPointer<UInt8>, at i: Int) -> Int? {
        let n = b.count
        guard i + 3 <= n, b[i + 1] == UInt8(ascii: "y"), b[i + 2] == UInt8(ascii: "J"), i == 0 || !isBase64URL(b[i - 1]) else { return nil }
        var j = i, header = 0, payload = 0, part = 0
        while j < n {
            if isBase64URL(b[j]) {
                if part == 0 { header += 1 } else if part == 1 { payload += 1 }
            } else if b[j] == UInt8(ascii: "."), part < 2 {
                part += 1
            } else {
                break
            }
            j += 1
        }
        return part == 2 && header >= 10 && payload >= 10 ? j : nil
    }

    /// Well-known key formats: a fixed prefix and enough key characters after it.
    static let keyFormats: [(prefix: [UInt8], minimum: Int, upperDigitsOnly: Bool)] = [
        ("sk_live_", 16, false), ("sk_test_", 16, false), ("rk_live_", 16, false), ("whsec_", 20, false),
        ("AKIA", 16, true), ("ASIA", 16, true),
        ("ghp_", 30, false), ("gho_", 30, false), ("ghu_", 30, false), ("ghs_", 30, false), ("ghr_", 30, false), ("github_pat_", 30, false),
        ("glpat-", 20, false), ("xoxb-", 20, false), ("xoxp-", 20, false), ("xoxa-", 20, false), ("xoxr-", 20, false),
        ("AIza", 35, false), ("sk-", 32, false), ("SG.", 40, false), ("npm_", 36, false), ("pypi-", 50, false),
    ].map { (Array($0.0.utf8), $0.1, $0.2) }

    static func apiKey(_ b: UnsafeBufferPointer<UInt8>, at i: Int) -> Int? {
        let n = b.count
        guard i == 0 || !isBase64URL(b[i - 1]) else { return nil }
        for format in keyFormats where format.prefix[0] == b[i] && i + format.prefix.count + format.minimum <= n {
            var k = 1
            while k < format.prefix.count, b[i + k] == format.prefix[k] { k += 1 }
            guard k == format.prefix.count else { continue }
            var j = i + k
            while j < n, format.upperDigitsOnly ? (isUpper(b[j]) || isDigit(b[j])) : (isBase64URL(b[j]) || b[j] == UInt8(ascii: ".")) { j += 1 }
            if j - i - k >= format.minimum { return j }
        }
        return nil
    }
}
