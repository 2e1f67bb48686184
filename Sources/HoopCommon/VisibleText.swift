/// Text that someone else wrote (statements, reasons, comments, identities, commands), made
/// safe to show to a person: every character that could hide, reorder or restyle what is
/// shown — C0 and C1 controls but line feed and tab, DEL, bidirectional and zero-width
/// formatting characters, line and paragraph separators, private-use characters of the basic
/// plane — is written as an escape (`\x1b`, `\u202e`). Beyond the C0 controls the escape is
/// `\uXXXX`, so a JSON line stays JSON and reads as the same text.
public enum VisibleText {
    public static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if needsEscape(scalar) { out.append(contentsOf: escape(scalar).unicodeScalars) } else { out.append(scalar) }
        }
        return String(out)
    }

    public static func escape(_ scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16)
        return scalar.value < 0x20 ? "\\x" + String(repeating: "0", count: 2 - hex.count) + hex
            : "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }

    public static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x0A, 0x09: return false
        case 0x00...0x1F, 0x7F...0x9F: return true
        case 0x061C, 0x180E, 0x200B...0x200F, 0x2028...0x202E, 0x2060...0x206F, 0xFEFF, 0xFFF9...0xFFFB: return true
        case 0xE000...0xF8FF: return true
        default: return false
        }
    }
}
