import Foundation
import HoopCommon

/// Everything the commands print goes through here: colour only on a terminal and never
/// with NO_COLOR, errors to standard error, tables aligned, JSON one object per line.
///
/// Much of what is printed was written by someone else (statements, reasons, comments,
/// identities, commands), so every line is made visible before it reaches the terminal:
/// control characters and the characters that reorder or hide text (bidirectional controls,
/// zero-width ones) are printed as escapes (`\x1b`, `\u202e`), and the only escape sequences
/// that reach the terminal are hoopctl's own colours.
enum Output {
    static let colorEnabled: Bool = {
        ProcessInfo.processInfo.environment["NO_COLOR"] == nil && isatty(STDOUT_FILENO) == 1
            && ProcessInfo.processInfo.environment["TERM"] != "dumb"
    }()

    static func line(_ text: String = "") {
        print(visible(text))
    }

    static func error(_ message: String) {
        FileHandle.standardError.write(Data(visible("hoopctl: error: \(message)\n").utf8))
    }

    /// A progress or status line for the person at the terminal, on standard error.
    static func note(_ message: String) {
        FileHandle.standardError.write(Data(visible("hoopctl: \(message)\n").utf8))
    }

    static func warning(_ message: String) {
        FileHandle.standardError.write(Data(visible("hoopctl: warning: \(message)\n").utf8))
    }

    // Colours are marked in the text with a mark no one else can write (a private-use
    // character and a secret of this process), which `visible` alone turns into the terminal's
    // escape sequences; everything else is escaped first (a lone private-use character too).
    static let colorMark: String = {
        var generator = SystemRandomNumberGenerator()
        return "\u{F8F0}" + (0..<8).map { _ in String(generator.next() as UInt8, radix: 16) }.joined() + "\u{F8F1}"
    }()
    private static func color(_ code: String, _ text: String) -> String {
        colorEnabled ? "\(colorMark)[\(code)m\(text)\(colorMark)[0m" : text
    }
    static func bold(_ text: String) -> String { color("1", text) }
    static func green(_ text: String) -> String { color("32", text) }
    static func red(_ text: String) -> String { color("31", text) }
    static func dim(_ text: String) -> String { color("2", text) }

    /// `text` as `VisibleText` shows it, hoopctl's own colour marks becoming escape sequences.
    static func visible(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: VisibleText.needsEscape) else { return text }
        return text.components(separatedBy: colorMark).map(VisibleText.escaped).joined(separator: "\u{1B}")
    }

    /// Left-aligned columns; the last column is not padded. Cells are kept on one line.
    static func table(header: [String], rows: [[String]]) {
        let clean = rows.map { $0.map(singleLine) }
        var widths = header.map(\.count)
        for row in clean { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
        func render(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                index == cells.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count)
            }.joined(separator: "  ")
        }
        line(bold(render(header)))
        for row in clean { line(render(row)) }
    }

    static func singleLine(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: "\r") }) else { return text }
        return String(text.map { $0 == "\n" || $0 == "\r\n" || $0 == "\r" ? "⏎" : $0 == "\t" ? " " : $0 })
    }

    /// One JSON object on one line.
    static func json(_ object: Any) {
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        line(String(decoding: data, as: UTF8.self))
    }

    /// RFC 4180: quote when needed, double embedded quotes.
    static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// `'value'` for POSIX shells.
    static func shellQuote(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
