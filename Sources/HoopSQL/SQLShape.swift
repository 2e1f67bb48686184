/// The text of a simple-protocol query with its plain literals blanked out, so that queries
/// that differ only in literal values (`... WHERE aid = 17`, `... WHERE aid = 42`) share one
/// analysis instead of each paying for PostgreSQL's parser.
///
/// It must never join two texts that PostgreSQL reads differently. So it is deliberately
/// narrow: it blanks only plain `'...'` strings (standard conforming strings, which the proxy
/// pins) and plain decimal numbers, copies everything else byte for byte, and gives up (nil)
/// on anything whose lexing it does not model exactly: comments, `$` (parameters, dollar
/// quotes), backslashes, prefixed strings (E'', B'', X'', N'', U&''), numbers touching letters
/// or dots, unterminated quotes. The analyzer then also checks that PostgreSQL's normalizer
/// replaced exactly the literals blanked here before it shares an analysis.
public struct SQLShape: Hashable, Sendable {
    public let text: String
    /// How many literals were blanked.
    public let literals: Int

    static let stringMark: [UInt8] = [1, UInt8(ascii: "s")]
    static let numberMark: [UInt8] = [1, UInt8(ascii: "n")]

    public init?(_ sql: String) {
        var shape: [UInt8] = []
        var literals = 0
        let ok = sql.utf8.withContiguousStorageIfAvailable { bytes -> Bool in
            shape.reserveCapacity(bytes.count)
            var i = 0
            let n = bytes.count
            func isIdentifier(_ byte: UInt8) -> Bool {
                (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                    || byte == UInt8(ascii: "_") || byte >= 0x80 || isDigit(byte)
            }
            func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
            while i < n {
                let byte = bytes[i]
                switch byte {
                case 0, 1, UInt8(ascii: "$"), UInt8(ascii: "\\"):
                    return false
                case UInt8(ascii: "-") where i + 1 < n && bytes[i + 1] == UInt8(ascii: "-"):
                    return false
                case UInt8(ascii: "/") where i + 1 < n && bytes[i + 1] == UInt8(ascii: "*"):
                    return false
                case UInt8(ascii: "'"):
                    // A prefix letter (E, B, X, N, U&) changes how the string is read.
                    if i > 0, isIdentifier(bytes[i - 1]) || bytes[i - 1] == UInt8(ascii: "&") { return false }
                    var j = i + 1
                    while true {
                        guard j < n else { return false }
                        if bytes[j] == UInt8(ascii: "'") {
                            if j + 1 < n, bytes[j + 1] == UInt8(ascii: "'") { j += 2; continue }
                            break
                        }
                        j += 1
                    }
                    shape += Self.stringMark
                    literals += 1
                    i = j + 1
                case UInt8(ascii: "\""):
                    // A quoted identifier, kept as it is ("" is a quote inside it).
                    var j = i + 1
                    while true {
                        guard j < n else { return false }
                        if bytes[j] == UInt8(ascii: "\"") {
                            if j + 1 < n, bytes[j + 1] == UInt8(ascii: "\"") { j += 2; continue }
                            break
                        }
                        j += 1
                    }
                    shape.append(contentsOf: bytes[i...j])
                    i = j + 1
                case _ where isDigit(byte):
                    // Digits after letters belong to an identifier (t1), copied with it below.
                    var j = i
                    while j < n, isDigit(bytes[j]) { j += 1 }
                    if j < n, bytes[j] == UInt8(ascii: ".") {
                        j += 1
                        while j < n, isDigit(bytes[j]) { j += 1 }
                    }
                    if j < n, bytes[j] == UInt8(ascii: "e") || bytes[j] == UInt8(ascii: "E") {
                        var k = j + 1
                        if k < n, bytes[k] == UInt8(ascii: "+") || bytes[k] == UInt8(ascii: "-") { k += 1 }
                        guard k < n, isDigit(bytes[k]) else { return false }
                        while k < n, isDigit(bytes[k]) { k += 1 }
                        j = k
                    }
                    if j < n, isIdentifier(bytes[j]) || bytes[j] == UInt8(ascii: ".") { return false }
                    shape += Self.numberMark
                    literals += 1
                    i = j
                case UInt8(ascii: "."):
                    if i + 1 < n, isDigit(bytes[i + 1]) { return false }  // .5
                    shape.append(byte)
                    i += 1
                case _ where isIdentifier(byte):
                    var j = i
                    while j < n, isIdentifier(bytes[j]) { j += 1 }
                    shape.append(contentsOf: bytes[i..<j])
                    i = j
                default:
                    shape.append(byte)
                    i += 1
                }
            }
            return true
        }
        guard ok == true, literals > 0 else { return nil }
        text = String(decoding: shape, as: UTF8.self)
        self.literals = literals
    }
}
