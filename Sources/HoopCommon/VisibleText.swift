/// Text that someone else wrote (statements, reasons, comments, identities, commands), made
/// safe to show to a person: every character that could hide, reorder or restyle what is
/// shown — C0 and C1 controls but line feed and tab, DEL, bidirectional and zero-width
/// formatting characters, line and paragraph separators, characters shown as nothing (soft
/// hyphen, fillers, variation selectors, tags), private-use characters — is written as an
/// escape (`\x1b`, `\u202e`). Beyond the C0 controls the escape is `\uXXXX` (a surrogate pair
/// beyond the basic plane), so a JSON line stays JSON and reads as the same text.
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
        func hex(_ value: UInt32, _ digits: Int) -> String {
            let text = String(value, radix: 16)
            return String(repeating: "0", count: max(0, digits - text.count)) + text
        }
        if scalar.value < 0x20 { return "\\x" + hex(scalar.value, 2) }
        if scalar.value <= 0xFFFF { return "\\u" + hex(scalar.value, 4) }
        // Beyond the basic plane, as JSON writes it: a surrogate pair.
        let value = scalar.value - 0x10000
        return "\\u" + hex(0xD800 + (value >> 10), 4) + "\\u" + hex(0xDC00 + (value & 0x3FF), 4)
    }

    public static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x0A, 0x09: return false
        case 0x00...0x1F, 0x7F...0x9F: return true
        case 0x061C, 0x180E, 0x200B...0x200F, 0x2028...0x202E, 0x2060...0x206F, 0xFEFF, 0xFFF9...0xFFFB: return true
        // Characters shown as nothing: soft hyphen, fillers, variation selectors, tags.
        case 0x00AD, 0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x3164, 0xFFA0, 0xFE00...0xFE0F, 0xE0000...0xE007F, 0xE0100...0xE01EF:
            return true
        case 0xE000...0xF8FF, 0xF0000...0x10FFFF: return true
        default: return false
        }
    }
}
