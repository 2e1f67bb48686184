import Crypto
import Foundation
import HoopPolicy

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

    private let builtins: [(BuiltinDetector, DetectorStrategy)]
    /// Every value is withheld: what a target gets when its detectors cannot be built.
    private let withholdAll: Bool
    private let customs: [Custom]
    /// Raw key bytes (SymmetricKey is not Sendable); a key is made per hash.
    private let hashKey: [UInt8]

    /// What replaces a whole value the engine could not scan (fail closed).
    public static let withheld = Array("[withheld]".utf8)
    static let redacted = Array("[redacted]".utf8)

    public init(detectors: [Detector], hashKey: [UInt8]) throws {
        var builtins: [(BuiltinDetector, DetectorStrategy)] = [], customs: [Custom] = []
        for detector in detectors {
            switch detector.kind {
            case .builtin(let kind): builtins.append((kind, detector.strategy))
            case .custom(let name, let pattern):
                customs.append(Custom(name: name, expression: try NSRegularExpression(pattern: pattern), prefix: Self.literalPrefix(pattern),
                                      strategy: detector.strategy))
            }
        }
        self.builtins = builtins
        self.customs = customs
        self.hashKey = hashKey
        withholdAll = false
    }

    private init(withholdingAll: Void) {
        builtins = []
        customs = []
        hashKey = []
        withholdAll = true
    }

    /// Withholds every value it is given (fail closed).
    public static let withholdingEverything = DetectorEngine(withholdingAll: ())

    public var isEmpty: Bool { builtins.isEmpty && customs.isEmpty && !withholdAll }

    /// The value with what the detectors found masked, or nil when nothing was found.
    public func mask(_ value: UnsafeRawBufferPointer) -> [UInt8]? {
        if withholdAll { return Self.withheld }
        let bytes = value.bindMemory(to: UInt8.self)
        let matches: [(Range<Int>, DetectorStrategy)]
        do {
            matches = try find(bytes)
        } catch {
            return Self.withheld
        }
        guard !matches.isEmpty else { return nil }
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var position = 0
        for (range, strategy) in matches {
            output.append(contentsOf: bytes[position..<range.lowerBound])
            output.append(contentsOf: replacement(for: bytes[range], strategy: strategy))
            position = range.upperBound
        }
        output.append(contentsOf: bytes[position...])
        return output
    }

    public func mask(_ value: [UInt8]) -> [UInt8]? {
        value.withUnsafeBytes { mask($0) }
    }

    /// What the detectors find, by name (for tests and `policy explain`).
    public func matches(in value: [UInt8]) -> [Match] {
        value.withUnsafeBufferPointer { bytes in
            ((try? allMatches(bytes)) ?? []).map { Match(range: $0.range, detector: $0.name) }
        }
    }

    struct Found { let range: Range<Int>; let name: String; let strategy: DetectorStrategy }

    /// Non-overlapping matches, leftmost first, the longest where two start together.
    private func find(_ bytes: UnsafeBufferPointer<UInt8>) throws -> [(Range<Int>, DetectorStrategy)] {
        try allMatches(bytes).map { ($0.range, $0.strategy) }
    }

    private func allMatches(_ bytes: UnsafeBufferPointer<UInt8>) throws -> [Found] {
        var found: [Found] = []
        for (kind, strategy) in builtins {
            for range in BuiltinScanners.scan(kind, bytes) { found.append(Found(range: range, name: kind.rawValue, strategy: strategy)) }
        }
        for custom in customs {
            if !custom.prefix.isEmpty, !BuiltinScanners.contains(custom.prefix, in: bytes) { continue }
            guard let text = String(validating: bytes, as: UTF8.self) else { throw DetectorFailure() }
            let utf8 = text.utf8
            for result in custom.expression.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                guard let range = Range(result.range, in: text), !range.isEmpty else { continue }
                let start = utf8.distance(from: utf8.startIndex, to: range.lowerBound)
                let end = utf8.distance(from: utf8.startIndex, to: range.upperBound)
                found.append(Found(range: start..<end, name: custom.name, strategy: custom.strategy))
            }
        }
        guard found.count > 1 else { return found }
        found.sort { $0.range.lowerBound != $1.range.lowerBound ? $0.range.lowerBound < $1.range.lowerBound : $0.range.count > $1.range.count }
        var chosen: [Found] = []
        for match in found where chosen.last.map({ match.range.lowerBound >= $0.range.upperBound }) ?? true {
            chosen.append(match)
        }
        return chosen
    }

    struct DetectorFailure: Error {}

    private func replacement(for found: Slice<UnsafeBufferPointer<UInt8>>, strategy: DetectorStrategy) -> [UInt8] {
        switch strategy {
        case .redact:
            return Self.redacted
        case .partial(let keep):
            // As the database's mask_partial: never more than half of the value stays.
            let kept = min(keep, found.count / 2)
            return Array(repeating: UInt8(ascii: "*"), count: found.count - kept) + found.suffix(kept)
        case .hash:
            // As the database's mask_hash (same key): the first 16 hex digits of HMAC-SHA-256.
            let mac = HMAC<SHA256>.authenticationCode(for: Array(found), using: SymmetricKey(data: hashKey))
            return Array(mac.prefix(8).map { String(format: "%02x", $0) }.joined().utf8)
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
