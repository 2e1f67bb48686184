import Foundation
import HoopCommon

/// Everything the commands print goes through here: colour only on a terminal and never
/// with NO_COLOR, errors to standard error, tables aligned, JSON one object per line.
enum Output {
    static let colorEnabled: Bool = {
        ProcessInfo.processInfo.environment["NO_COLOR"] == nil && isatty(STDOUT_FILENO) == 1
            && ProcessInfo.processInfo.environment["TERM"] != "dumb"
    }()

    static func line(_ text: String = "") {
        print(text)
    }

    static func error(_ message: String) {
        FileHandle.standardError.write(Data("hoopctl: error: \(message)\n".utf8))
    }

    /// A progress or status line for the person at the terminal, on standard error.
    static func note(_ message: String) {
        FileHandle.standardError.write(Data("hoopctl: \(message)\n".utf8))
    }

    static func warning(_ message: String) {
        FileHandle.standardError.write(Data("hoopctl: warning: \(message)\n".utf8))
    }

    static func bold(_ text: String) -> String { colorEnabled ? "\u{1B}[1m\(text)\u{1B}[0m" : text }
    static func green(_ text: String) -> String { colorEnabled ? "\u{1B}[32m\(text)\u{1B}[0m" : text }
    static func red(_ text: String) -> String { colorEnabled ? "\u{1B}[31m\(text)\u{1B}[0m" : text }
    static func dim(_ text: String) -> String { colorEnabled ? "\u{1B}[2m\(text)\u{1B}[0m" : text }

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
