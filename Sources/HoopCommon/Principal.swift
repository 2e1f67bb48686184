/// Who a policy line talks about: `user:alice`, `group:dba` (a policy group),
/// `osgroup:staff` (an operating-system group), `service:retrain-bot`.
public struct Principal: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    public enum Kind: String, Sendable, CaseIterable, Codable {
        case user, group, osgroup, service
        /// A group the identity provider (OIDC) says the user is in.
        case idpgroup
    }

    public let kind: Kind
    public let name: String

    public init(kind: Kind, name: String) {
        self.kind = kind
        self.name = name
    }

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case missingKind(String)
        case unknownKind(String)
        case badName(String)

        public var description: String {
            switch self {
            case .missingKind(let text):
                return "'\(text)' is not a principal; write user:NAME, group:NAME, osgroup:NAME, idpgroup:NAME or service:NAME"
            case .unknownKind(let kind):
                return "unknown principal kind '\(kind)'; expected user, group, osgroup, idpgroup or service"
            case .badName(let text):
                return "'\(text)' is not a valid name (letters, digits, '.', '_', '-', '@')"
            }
        }
    }

    public init(parsing text: String) throws(ParseError) {
        guard let colon = text.firstIndex(of: ":") else { throw .missingKind(text) }
        let kindText = String(text[..<colon])
        let name = String(text[text.index(after: colon)...])
        guard let kind = Kind(rawValue: kindText) else { throw .unknownKind(kindText) }
        guard Principal.isValidName(name) else { throw .badName(name) }
        self.init(kind: kind, name: name)
    }

    public static func isValidName(_ name: String) -> Bool {
        guard !name.isEmpty, name.count <= 128 else { return false }
        return name.unicodeScalars.allSatisfy { scalar in
            (scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)))
                || scalar == "." || scalar == "_" || scalar == "-" || scalar == "@"
        }
    }

    public var description: String { "\(kind.rawValue):\(name)" }

    public static func < (lhs: Principal, rhs: Principal) -> Bool { lhs.description < rhs.description }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { try self.init(parsing: text) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
