import Foundation
import HoopPolicy
import NIOCore

/// Finds personal data and secrets in text values and masks them: the in-flight half of
/// masking, for what masking views cannot know about (an email typed into a notes column).
/// I/O-free and thread-safe once built.
///
/// The built-in detectors are byte scanners, not regular expressions, so a million rows go
/// through in the time the database takes to send them; each checks what a pattern cannot
/// (card numbers pass Luhn, IBANs mod 97, SSNs the issued ranges). Custom detectors are
/// regular expressions, run only on values holding their literal prefix when they have one.
public final class DetectorEngine: Sendable {
    public struct Match: Equatable, Sendable {
        public let range: Range<Int>
        public let detector: String
    }

    struct Custom: @unchecked Sendable {  // NSRegularExpression is immutable and thread-safe
        let name: String
        let expression: NSRegularExpression
        let prefix: [UInt8]
        let strategy: DetectorStrategy
    }

    private let builtins: BuiltinScanners
    private let builtinStrategies: [DetectorStrategy]
    /// Every value is withheld: what a target gets when its detectors cannot be built.
    private let withholdAll: Bool
    private let customs: [Custom]

    /// What replaces a whole value the engine could not scan (fail closed).
    public static let withheld: StaticString = "[withheld]"
    static let redacted: StaticString = "[redacted]"

    public init(detectors: [Detector]) throws {
        var builtins: [(BuiltinDetector, DetectorStrategy)] = [], customs: [Custom] = []
        for detector in detectors {
            switch detector.kind {
            case .builtin(let kind):
                // The first listing of a detector decides its strategy.
                if !builtins.contains(where: { $0.0 == kind }) { builtins.append((kind, detector.strategy)) }
            case .custom(let name, let pattern):
                customs.append(Custom(name: name, expression: try NSRegularExpression(pattern: pattern), prefix: Self.literalPrefix(pattern),
                                      strategy: detector.strategy))
            }
        }
        self.builtins = BuiltinScanners(builtins.map(\.0))
        builtinStrategies = builtins.map(\.1)
        self.customs = customs
        withholdAll = false
    }

    private init(withholdingAll: Void) {
        builtins = BuiltinScanners([])
        builtinStrategies = []
        customs = []
        withholdAll = true
    }

    /// Withholds every value it is given (fail closed).
    public static let withholdingEverything = DetectorEngine(withholdingAll: ())

    public var isEmpty: Bool { builtins.kinds.isEmpty && customs.isEmpty && !withholdAll }

    /// Writes the value with what the detectors found masked to `output` and returns true; or
    /// writes nothing and returns false when nothing was found (the value goes on as it is).
    public func mask(_ value: UnsafeRawBufferPointer, into output: inout ByteBuffer) -> Bool {
        if withholdAll { output.writeStaticString(Self.withheld); return true }
        let bytes = value.bindMemory(to: UInt8.self)
        let matches: [Found]
        do {
            matches = try allMatches(bytes)
        } catch {
            output.writeStaticString(Self.withheld)
            return true
        }
        guard !matches.isEmpty else { return false }
        // The masked value is assembled in the output's own memory, in one write.
        var total = value.count
        for match in matches { total += replacementLength(match.range.count, strategy: strategy(of: match.detector)) - match.range.count }
        output.writeWithUnsafeMutableBytes(minimumWritableBytes: total) { destination in
            var position = 0, written = 0
            func copy(_ bytes: UnsafeRawBufferPointer) {
                guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
                (destination.baseAddress! + written).copyMemory(from: base, byteCount: bytes.count)
                written += bytes.count
            }
            for match in matches {
                copy(UnsafeRawBufferPointer(rebasing: value[position..<match.range.lowerBound]))
                written += writeReplacement(for: UnsafeRawBufferPointer(rebasing: value[match.range]), strategy: strategy(of: match.detector),
                                            to: UnsafeMutableRawBufferPointer(rebasing: destination[written...]))
                position = match.range.upperBound
            }
            copy(UnsafeRawBufferPointer(rebasing: value[position...]))
            return written
        }
        return true
    }

    /// Whether the detectors find anything in the value (true when it cannot be read: fail closed).
    public func finds(_ value: UnsafeRawBufferPointer) -> Bool {
        guard !withholdAll, let matches = try? allMatches(value.bindMemory(to: UInt8.self)) else { return true }
        return !matches.isEmpty
    }

    /// Where the detectors find something (byte ranges, leftmost first); nil when the value
    /// cannot be read (fail closed).
    public func ranges(in value: UnsafeRawBufferPointer) -> [Range<Int>]? {
        guard !withholdAll, let matches = try? allMatches(value.bindMemory(to: UInt8.self)) else { return nil }
        return matches.map(\.range)
    }

    /// The value with what the detectors found masked, or nil when nothing was found.
    public func mask(_ value: [UInt8]) -> [UInt8]? {
        var output = ByteBuffer()
        return value.withUnsafeBytes { mask($0, into: &output) } ? Array(output.readableBytesView) : nil
    }

    /// Free text (a command line, a statement's comments and names) masked, also where a number
    /// touches letters (`4111111111111111e0` is a card number to whoever reads it): digits that
    /// touch letters are read apart from them too, and when that finds more, the text is masked
    /// with those letters turned to `~` (a space would join digits, as card numbers are written). nil when nothing was found.
    public func maskText(_ value: [UInt8]) -> [UInt8]? {
        let exact = mask(value)
        var loose = value
        var loosened = false
        for index in loose.indices where BuiltinScanners.isLetter(loose[index]) {
            let before = index > 0 && BuiltinScanners.isDigit(value[index - 1])
            let after = index + 1 < value.count && BuiltinScanners.isDigit(value[index + 1])
            if before || after { loose[index] = UInt8(ascii: "~"); loosened = true }
        }
        guard loosened else { return exact }
        let found = loose.withUnsafeBytes { ranges(in: $0) }?.count ?? 0
        let foundExact = value.withUnsafeBytes { ranges(in: $0) }?.count ?? 0
        return found > foundExact ? mask(loose) : exact
    }

    /// What the detectors find, by name (for tests and `policy explain`).
    public func matches(in value: [UInt8]) -> [Match] {
        value.withUnsafeBufferPointer { bytes in
            ((try? allMatches(bytes)) ?? []).map { Match(range: $0.range, detector: name(of: $0.detector)) }
        }
    }

    /// A match, by the index of its detector: built-ins first, then custom ones.
    typealias Found = BuiltinScanners.Found

    private func strategy(of detector: Int) -> DetectorStrategy {
        detector < builtinStrategies.count ? builtinStrategies[detector] : customs[detector - builtinStrategies.count].strategy
    }

    private func name(of detector: Int) -> String {
        detector < builtins.kinds.count ? builtins.kinds[detector].rawValue : customs[detector - builtins.kinds.count].name
    }

    /// Non-overlapping matches, leftmost first, the longest where two start together, in the
    /// value as a client decodes it: escape sequences (COPY's and JSON's `\n`, JSON's `\u0001`,
    /// and both at once) are read as the separators they stand for, so a card after an escaped
    /// newline starts a word.
    private func allMatches(_ value: UnsafeBufferPointer<UInt8>) throws -> [Found] {
        guard let base = value.baseAddress, memchr(base, 0x5C, value.count) != nil else { return try matchesAsWritten(value) }
        return try Self.withoutEscapes(value).withUnsafeBufferPointer { try matchesAsWritten($0) }
    }

    /// The value with each escape sequence as that many 0x01 bytes (a byte no detector reads as
    /// part of anything), so offsets stay the value's. An escape is a run of backslashes (one
    /// per layer of encoding: JSON inside COPY text writes `\\n`) and what it escapes: one of
    /// `bfnrtv"/`, or `u` and four hex digits. A run before anything else is neutral alone, so a
    /// literal backslash before a card leaves the card whole.
    static func withoutEscapes(_ value: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        var copy = Array(value)
        var i = 0
        let n = value.count
        let escaped = Set("bfnrtv\"/".utf8)
        func isHex(_ byte: UInt8) -> Bool { BuiltinScanners.isDigit(byte) || (byte | 0x20) &- 97 < 6 }
        while i < n {
            guard value[i] == 0x5C else { i += 1; continue }
            var j = i
            while j < n, value[j] == 0x5C { j += 1 }
            var end = j
            if j < n, escaped.contains(value[j]) {
                end = j + 1
            } else if j + 4 < n, value[j] == UInt8(ascii: "u"), (1...4).allSatisfy({ isHex(value[j + $0]) }) {
                end = j + 5
            }
            for k in i..<end { copy[k] = 1 }
            i = end
        }
        return copy
    }

    private func matchesAsWritten(_ bytes: UnsafeBufferPointer<UInt8>) throws -> [Found] {
        var found = builtins.scan(bytes)
        let builtinCount = found.count
        for (index, custom) in customs.enumerated() {
            if !custom.prefix.isEmpty, !BuiltinScanners.contains(custom.prefix, in: bytes) { continue }
            guard let text = String(validating: bytes, as: UTF8.self) else { throw DetectorFailure() }
            let utf8 = text.utf8
            for result in custom.expression.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                guard let range = Range(result.range, in: text), !range.isEmpty else { continue }
                let start = utf8.distance(from: utf8.startIndex, to: range.lowerBound)
                let end = utf8.distance(from: utf8.startIndex, to: range.upperBound)
                found.append(Found(range: start..<end, detector: builtinStrategies.count + index))
            }
        }
        guard found.count > builtinCount, found.count > 1 else { return found }
        found.sort { $0.range.lowerBound != $1.range.lowerBound ? $0.range.lowerBound < $1.range.lowerBound : $0.range.count > $1.range.count }
        var chosen: [Found] = []
        for match in found where chosen.last.map({ match.range.lowerBound >= $0.range.upperBound }) ?? true {
            chosen.append(match)
        }
        return chosen
    }

    struct DetectorFailure: Error {}

    private func replacementLength(_ count: Int, strategy: DetectorStrategy) -> Int {
        switch strategy {
        case .redact: Self.redacted.utf8CodeUnitCount
        case .partial: count
        }
    }

    /// Writes what replaces `found` at the start of `destination`; returns how many bytes.
    private func writeReplacement(for found: UnsafeRawBufferPointer, strategy: DetectorStrategy, to destination: UnsafeMutableRawBufferPointer) -> Int {
        switch strategy {
        case .redact:
            destination.baseAddress!.copyMemory(from: Self.redacted.utf8Start, byteCount: Self.redacted.utf8CodeUnitCount)
            return Self.redacted.utf8CodeUnitCount
        case .partial(let keep):
            // As the database's partial masking: never more than half of the value stays.
            let kept = min(keep, found.count / 2)
            destination.baseAddress!.initializeMemory(as: UInt8.self, repeating: UInt8(ascii: "*"), count: found.count - kept)
            if kept > 0 { (destination.baseAddress! + (found.count - kept)).copyMemory(from: found.baseAddress! + (found.count - kept), byteCount: kept) }
            return found.count
        }
    }

    /// The literal characters a pattern must start with (`EMP-` of `EMP-[0-9]{6}`), so values
    /// without them need no regular expression; empty when the pattern starts otherwise.
    static func literalPrefix(_ pattern: String) -> [UInt8] {
        var prefix: [UInt8] = []
        var scalars = pattern.unicodeScalars.makeIterator()
        let special = Set("\\^$.|?*+()[]{}".unicodeScalars)
        var previous: Unicode.Scalar?
        while let scalar = scalars.next() {
            if special.contains(scalar) {
                // A quantifier makes the last literal optional or repeated: it is not required as is.
                if "?*{".unicodeScalars.contains(scalar), !prefix.isEmpty, let previous { prefix.removeLast(String(previous).utf8.count) }
                break
            }
            guard scalar.isASCII else { break }
            prefix.append(UInt8(scalar.value))
            previous = scalar
        }
        // An alternation anywhere may match without the prefix.
        if pattern.contains("|") { return [] }
        return prefix
    }
}

extension DetectorEngine {
    /// The key formats the built-in `api_key` detector knows, in the order it tries them (for
    /// the database's copy of the detectors).
    public static var apiKeyFormats: [(prefix: String, minimum: Int, upperDigitsOnly: Bool)] {
        BuiltinScanners.keyFormats.map { (String(decoding: $0.prefix, as: UTF8.self), $0.minimum, $0.upperDigitsOnly) }
    }
}
