import HoopPolicy

/// The built-in detectors as byte scanners over UTF-8. Each returns the byte ranges it finds.
/// They look for the shape and then check what can be checked, so ordinary numbers, dates and
/// words are left alone.
enum BuiltinScanners {
    static func scan(_ kind: BuiltinDetector, _ bytes: UnsafeBufferPointer<UInt8>) -> [Range<Int>] {
        switch kind {
        case .email: return emails(bytes)
        case .creditCard: return cards(bytes)
        case .ssn: return ssns(bytes)
        case .iban: return ibans(bytes)
        case .phone: return phones(bytes)
        case .jwt: return jwts(bytes)
        case .apiKey: return apiKeys(bytes)
        }
    }

    // MARK: Character classes

    @inline(__always) static func isDigit(_ b: UInt8) -> Bool { b &- 48 < 10 }
    @inline(__always) static func isUpper(_ b: UInt8) -> Bool { b &- 65 < 26 }
    @inline(__always) static func isLower(_ b: UInt8) -> Bool { b &- 97 < 26 }
    @inline(__always) static func isAlpha(_ b: UInt8) -> Bool { isUpper(b) || isLower(b) }
    @inline(__always) static func isAlnum(_ b: UInt8) -> Bool { isDigit(b) || isAlpha(b) }
    /// A byte that continues a word: a number next to one is part of something else.
    @inline(__always) static func isWord(_ b: UInt8) -> Bool { isAlnum(b) || b == UInt8(ascii: "_") }

    static func contains(_ needle: [UInt8], in bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let first = needle.first, bytes.count >= needle.count else { return false }
        var index = 0
        let last = bytes.count - needle.count
        while index <= last {
            if bytes[index] == first {
                var k = 1
                while k < needle.count, bytes[index + k] == needle[k] { k += 1 }
                if k == needle.count { return true }
            }
            index += 1
        }
        return false
    }

    // MARK: Email

    static func emails(_ b: UnsafeBufferPointer<UInt8>) -> [Range<Int>] {
        var found: [Range<Int>] = []
        var i = 0
        let n = b.count
        func isLocal(_ c: UInt8) -> Bool {
            isAlnum(c) || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "%") || c == UInt8(ascii: "+") || c == UInt8(ascii: "-")
        }
        func isDomain(_ c: UInt8) -> Bool { isAlnum(c) || c == UInt8(ascii: ".") || c == UInt8(ascii: "-") }
        while i < n {
            guard b[i] == UInt8(ascii: "@") else { i += 1; continue }
            var start = i
            while start > 0, isLocal(b[start - 1]) { start -= 1 }
            while start < i, b[start] == UInt8(ascii: ".") { start += 1 }
            var end = i + 1
            while end < n, isDomain(b[end]) { end += 1 }
            // A sentence may end right after the address.
            while end > i + 1, b[end - 1] == UInt8(ascii: ".") || b[end - 1] == UInt8(ascii: "-") { end -= 1 }
            if start < i, end > i + 1 {
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
    static func cards(_ b: UnsafeBufferPointer<UInt8>) -> [Range<Int>] {
        var found: [Range<Int>] = []
        var i = 0
        let n = b.count
        var digits: [UInt8] = []
        digits.reserveCapacity(20)
        while i < n {
            guard isDigit(b[i]), i == 0 || !isWord(b[i - 1]) else { i += 1; continue }
            digits.removeAll(keepingCapacity: true)
            var j = i, end = i
            while j < n, digits.count <= 19 {
                if isDigit(b[j]) {
                    digits.append(b[j] - 48)
                    j += 1
                    end = j
                } else if (b[j] == UInt8(ascii: " ") || b[j] == UInt8(ascii: "-")), j + 1 < n, isDigit(b[j + 1]) {
                    j += 1
                } else {
                    break
                }
            }
            if (13...19).contains(digits.count), end == n || !isWord(b[end]), luhn(digits) {
                found.append(i..<end)
                i = end
            } else {
                // Skip this run of digits; a card cannot start inside it.
                while i < n, isDigit(b[i]) { i += 1 }
            }
        }
        return found
    }

    static func luhn(_ digits: [UInt8]) -> Bool {
        var sum = 0
        for (index, digit) in digits.reversed().enumerated() {
            var value = Int(digit)
            if index % 2 == 1 { value *= 2; if value > 9 { value -= 9 } }
            sum += value
        }
        return sum % 10 == 0
    }

    // MARK: US social security numbers

    /// ddd-dd-dddd in the issued ranges: area not 000, 666 or 9xx; group not 00; serial not 0000.
    static func ssns(_ b: UnsafeBufferPointer<UInt8>) -> [Range<Int>] {
        var found: [Range<Int>] = []
        let n = b.count
        guard n >= 11 else { return [] }
        var i = 0
        while i + 11 <= n {
            let dash = UInt8(ascii: "-")
            if b[i + 3] == dash, b[i + 6] == dash, (i == 0 || !(isWord(b[i - 1]) || b[i - 1] == dash)),
               i + 11 == n || !(isWord(b[i + 11]) || b[i + 11] == dash),
               [0, 1, 2, 4, 5, 7, 8, 9, 10].allSatisfy({ isDigit(b[i + $0]) }) {
                let area = Int(b[i] - 48) * 100 + Int(b[i + 1] - 48) * 10 + Int(b[i + 2] - 48)
                let group = Int(b[i + 4] - 48) * 10 + Int(b[i + 5] - 48)
                let serial = (7...10).reduce(0) { $0 * 10 + Int(b[i + $1] - 48) }
                if area != 0, area != 666, area < 900, group != 0, serial != 0 {
                    found.append(i..<(i + 11))
                    i += 11
                    continue
                }
            }
            i += 1
        }
        return found
    }

    // MARK: IBAN

    /// Two letters, two check digits, 11 to 30 letters and digits (in groups of four split by
    /// spaces, or not), passing the mod-97 check.
    static func ibans(_ b: UnsafeBufferPointer<UInt8>) -> [Range<Int>] {
        var found: [Range<Int>] = []
        let n = b.count
        var i = 0
        var chars: [UInt8] = []
        while i + 15 <= n {
            guard isUpper(b[i]), isUpper(b[i + 1]), isDigit(b[i + 2]), isDigit(b[i + 3]), i == 0 || !isWord(b[i - 1]) else { i += 1; continue }
            chars.removeAll(keepingCapacity: true)
            var j = i, end = i
            while j < n, chars.count < 34 {
                if isUpper(b[j]) || isDigit(b[j]) {
                    chars.append(b[j])
                    j += 1
                    end = j
                } else if b[j] == UInt8(ascii: " "), j + 1 < n, isUpper(b[j + 1]) || isDigit(b[j + 1]), chars.count % 4 == 0 {
                    j += 1
                } else {
                    break
                }
            }
            if chars.count >= 15, end == n || !isWord(b[end]), mod97(chars) == 1 {
                found.append(i..<end)
                i = end
            } else {
                i += 1
            }
        }
        return found
    }

    /// ISO 13616: the first four characters moved to the end, letters as 10..35, mod 97.
    static func mod97(_ chars: [UInt8]) -> Int {
        var remainder = 0
        for c in chars[4...] + chars[..<4] {
            if isDigit(c) {
                remainder = (remainder * 10 + Int(c - 48)) % 97
            } else {
                remainder = (remainder * 100 + Int(c - 55)) % 97
            }
        }
        return remainder
    }

    // MARK: Phone numbers

    /// North American numbers (`(415) 555-0100`, `415-555-0100`, `415.555.0100`, with an
    /// optional `+1`/`1`) and international ones (`+44 20 7946 0958`: a plus, then 8 to 15
    /// digits in groups). Dates and plain numbers do not have these shapes.
    static func phones(_ b: UnsafeBufferPointer<UInt8>) -> [Range<Int>] {
        var found: [Range<Int>] = []
        let n = b.count
        var i = 0
        while i < n {
            let c = b[i]
            guard c == UInt8(ascii: "+") || c == UInt8(ascii: "(") || isDigit(c), i == 0 || !(isWord(b[i - 1]) || b[i - 1] == UInt8(ascii: "+")) else {
                i += 1
                continue
            }
            if let end = northAmerican(b, from: i) ?? international(b, from: i) {
                found.append(i..<end)
                i = end
            } else {
                i += 1
            }
        }
        return found
    }

    static func separator(_ c: UInt8) -> Bool { c == UInt8(ascii: " ") || c == UInt8(ascii: "-") || c == UInt8(ascii: ".") }

    /// [+1 |1-](ddd|(ddd))[ .-]?ddd[ .-]dddd, ending at a non-word byte.
    static func northAmerican(_ b: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        let n = b.count
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
        guard b[start] == UInt8(ascii: "+"), start + 1 < n, isDigit(b[start + 1]) else { return nil }
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

    @inline(__always) static func isBase64URL(_ c: UInt8) -> Bool { isAlnum(c) || c == UInt8(ascii: "-") || c == UInt8(ascii: "_") }

    /// header.payload.signature, the header base64url JSON (`eyJ`).
    static func jwts(_ b: UnsafeBufferPointer<UInt8>) -> [Range<Int>] {
        var found: [Range<Int>] = []
        let n = b.count
        var i = 0
        while i + 3 <= n {
            guard b[i] == UInt8(ascii: "e"), b[i + 1] == UInt8(ascii: "y"), b[i + 2] == UInt8(ascii: "J"), i == 0 || !isBase64URL(b[i - 1]) else {
                i += 1
                continue
            }
            var j = i, parts = [0, 0, 0], part = 0
            while j < n {
                if isBase64URL(b[j]) { parts[part] += 1 } else if b[j] == UInt8(ascii: "."), part < 2 { part += 1 } else { break }
                j += 1
            }
            if part == 2, parts[0] >= 10, parts[1] >= 10 {
                found.append(i..<j)
                i = j
            } else {
                i += 1
            }
        }
        return found
    }

    /// Well-known key formats: a fixed prefix and enough key characters after it.
    static let keyFormats: [(prefix: [UInt8], minimum: Int, upperDigitsOnly: Bool)] = [
        ("sk_live_", 16, false), ("sk_test_", 16, false), ("rk_live_", 16, false), ("whsec_", 20, false),
        ("AKIA", 16, true), ("ASIA", 16, true),
        ("ghp_", 30, false), ("gho_", 30, false), ("ghu_", 30, false), ("ghs_", 30, false), ("ghr_", 30, false), ("github_pat_", 30, false),
        ("glpat-", 20, false), ("xoxb-", 20, false), ("xoxp-", 20, false), ("xoxa-", 20, false), ("xoxr-", 20, false),
        ("AIza", 35, false), ("sk-", 32, false), ("SG.", 40, false), ("npm_", 36, false), ("pypi-", 50, false),
    ].map { (Array($0.0.utf8), $0.1, $0.2) }

    static func apiKeys(_ b: UnsafeBufferPointer<UInt8>) -> [Range<Int>] {
        var found: [Range<Int>] = []
        let n = b.count
        var i = 0
        outer: while i < n {
            if i > 0, isBase64URL(b[i - 1]) { i += 1; continue }
            for format in keyFormats where i + format.prefix.count + format.minimum <= n {
                var k = 0
                while k < format.prefix.count, b[i + k] == format.prefix[k] { k += 1 }
                guard k == format.prefix.count else { continue }
                var j = i + k
                while j < n, format.upperDigitsOnly ? (isUpper(b[j]) || isDigit(b[j])) : (isBase64URL(b[j]) || b[j] == UInt8(ascii: ".")) { j += 1 }
                if j - i - k >= format.minimum {
                    found.append(i..<j)
                    i = j
                    continue outer
                }
            }
            i += 1
        }
        return found
    }
}
