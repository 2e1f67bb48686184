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

    /// By the character's Unicode properties, not a list: controls, format characters (bidi,
    /// zero-width, the format controls of every script), private use, surrogates, unassigned
    /// code points, noncharacters, line and paragraph separators, and every default-ignorable
    /// character (shown as nothing: soft hyphen, fillers, variation selectors, tags). Line feed
    /// and tab stay.
    public static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.value == 0x0A || scalar.value == 0x09 { return false }
        if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) { return true }
        if scalar.isASCII { return false }
        let properties = scalar.properties
        if properties.isDefaultIgnorableCodePoint || properties.isNoncharacterCodePoint { return true }
        switch properties.generalCategory {
        case .control, .format, .privateUse, .surrogate, .unassigned, .lineSeparator, .paragraphSeparator: return true
        default: return scalar.value == 0x2D7F  // Tifinagh consonant joiner: a mark shown as nothing
        }
    }
}
