import Crypto
import CryptoExtras
import Foundation

/// An auditor's public key as the policy lists it: `hoopctl-auditor:<id>:<base64 X25519 key>`.
/// The id (the first 8 bytes of the key's SHA-256, in hex) is what each sealed record names.
public struct AuditorPublicKey: @unchecked Sendable, Equatable, CustomStringConvertible {  // an immutable key
    public let id: String
    public let key: Curve25519.KeyAgreement.PublicKey

    static let prefix = "hoopctl-auditor:"

    public init(_ key: Curve25519.KeyAgreement.PublicKey) {
        self.key = key
        id = Self.id(of: key)
    }

    public init(parsing text: String) throws(SealError) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard text.hasPrefix(Self.prefix), parts.count == 3, let raw = Data(base64Encoded: String(parts[2])),
              let key = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: raw)
        else { throw SealError("not an auditor public key (hoopctl-auditor:ID:KEY, as `hoopctl audit keygen` prints it)") }
        guard Self.id(of: key) == parts[1] else { throw SealError("the auditor key's id does not match its key (was it edited?)") }
        self.init(key)
    }

    public var description: String { Self.prefix + id + ":" + key.rawRepresentation.base64EncodedString() }

    static func id(of key: Curve25519.KeyAgreement.PublicKey) -> String {
        SHA256.hash(data: key.rawRepresentation).prefix(8).map { String(format: "%02x", $0) }.joined()
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.id == rhs.id }
}

public struct SealError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// HPKE (RFC 9180: X25519, HKDF-SHA256, ChaCha20-Poly1305) to an auditor's public key, one
/// encapsulation per sealer: the proxy makes one per client connection and seals each
/// statement's values with a key exported from that context and the next nonce. A record's
/// sealed text carries the key id and the encapsulation, so it opens on its own. The broker
/// holds only public keys: what it sealed, it cannot open.
public final class ValueSealer: @unchecked Sendable {  // the counter is behind its lock
    public let recipient: AuditorPublicKey
    private let encapsulated: String
    private let key: SymmetricKey
    /// Nonces count up: the key is this sealer's alone, so a counter never repeats one (and
    /// costs no system call for randomness, as a random nonce per record did).
    private let lock = NSLock()
    private var sealed: UInt64 = 0

    static let info = Data("hoopctl ledger values v1".utf8)
    static let exportContext = Data("statement values".utf8)

    public init(to recipient: AuditorPublicKey) throws {
        let sender = try HPKE.Sender(recipientKey: recipient.key, ciphersuite: .Curve25519_SHA256_ChachaPoly, info: Self.info)
        key = try sender.exportSecret(context: Self.exportContext, outputByteCount: 32)
        encapsulated = sender.encapsulatedKey.base64EncodedString()
        self.recipient = recipient
    }

    /// `keyid:encapsulation:nonce+ciphertext+tag`, base64. `context` is bound to it (the session).
    public func seal(_ plaintext: [UInt8], context: String) throws -> String {
        let count = lock.withLock { sealed += 1; return sealed }
        var nonce = [UInt8](repeating: 0, count: 12)
        for index in 0..<8 { nonce[4 + index] = UInt8(truncatingIfNeeded: count >> (56 - 8 * UInt64(index))) }
        let box = try ChaChaPoly.seal(plaintext, using: key, nonce: ChaChaPoly.Nonce(data: nonce), authenticating: Array(context.utf8))
        return recipient.id + ":" + encapsulated + ":" + box.combined.base64EncodedString()
    }
}

/// Opens sealed records with an auditor's private key (on the auditor's machine, never the broker's).
public final class ValueOpener {
    private let privateKey: Curve25519.KeyAgreement.PrivateKey
    public let keyID: String
    private var keys: [String: SymmetricKey] = [:]

    public init(_ privateKey: Curve25519.KeyAgreement.PrivateKey) {
        self.privateKey = privateKey
        keyID = AuditorPublicKey(privateKey.publicKey).id
    }

    /// The key id a sealed text names.
    public static func keyID(of sealed: String) -> String? {
        sealed.split(separator: ":", maxSplits: 1).first.map(String.init)
    }

    public func open(_ sealed: String, context: String) throws(SealError) -> Data {
        let parts = sealed.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, let encapsulated = Data(base64Encoded: String(parts[1])),
              let combined = Data(base64Encoded: String(parts[2])) else { throw SealError("a sealed value is malformed") }
        guard parts[0] == keyID else { throw SealError("sealed to auditor key \(parts[0]), not to this key (\(keyID))") }
        do {
            let key: SymmetricKey
            if let known = keys[String(parts[1])] {
                key = known
            } else {
                let recipient = try HPKE.Recipient(privateKey: privateKey, ciphersuite: .Curve25519_SHA256_ChachaPoly,
                                                   info: ValueSealer.info, encapsulatedKey: encapsulated)
                key = try recipient.exportSecret(context: ValueSealer.exportContext, outputByteCount: 32)
                keys[String(parts[1])] = key
            }
            return try ChaChaPoly.open(ChaChaPoly.SealedBox(combined: combined), using: key, authenticating: Data(context.utf8))
        } catch {
            throw SealError("a sealed value does not open with this key (wrong key, or the record was altered)")
        }
    }
}

/// The auditor's private key file that `hoopctl audit keygen` writes (mode 0600): JSON, the
/// key itself either in clear or sealed with a key derived from a passphrase (scrypt).
public struct AuditorKeyFile: Codable, Sendable {
    public var version = 1
    public var id: String
    public var publicKey: String
    /// Base64 of the raw key, or of ChaChaPoly's combined box when `scrypt` is set.
    public var privateKey: String
    public var scrypt: ScryptParameters?

    public struct ScryptParameters: Codable, Sendable {
        public var salt: String
        public var rounds: Int
        public var blockSize: Int
        public var parallelism: Int
    }

    /// A new key pair; the private half sealed with `passphrase` when one is given.
    public static func generate(passphrase: String?) throws -> (file: AuditorKeyFile, publicKey: AuditorPublicKey) {
        let key = Curve25519.KeyAgreement.PrivateKey()
        let publicKey = AuditorPublicKey(key.publicKey)
        var file = AuditorKeyFile(id: publicKey.id, publicKey: publicKey.description, privateKey: key.rawRepresentation.base64EncodedString())
        if let passphrase {
            let salt = Data((0..<16).map { _ in UInt8.random(in: .min ... .max) })
            let parameters = ScryptParameters(salt: salt.base64EncodedString(), rounds: 1 << 15, blockSize: 8, parallelism: 1)
            let wrapping = try Self.derive(passphrase, parameters)
            file.privateKey = try ChaChaPoly.seal(key.rawRepresentation, using: wrapping).combined.base64EncodedString()
            file.scrypt = parameters
        }
        return (file, publicKey)
    }

    public var needsPassphrase: Bool { scrypt != nil }

    /// The private key; a wrong passphrase (or an altered file) is an error, never another key.
    public func privateKey(passphrase: String?) throws(SealError) -> Curve25519.KeyAgreement.PrivateKey {
        guard let stored = Data(base64Encoded: privateKey) else { throw SealError("the key file is malformed") }
        var raw = stored
        if let scrypt {
            guard let passphrase else { throw SealError("the key file is protected by a passphrase; give it (HOOPCTL_KEY_PASSPHRASE or the prompt)") }
            do {
                raw = try ChaChaPoly.open(ChaChaPoly.SealedBox(combined: stored), using: Self.derive(passphrase, scrypt))
            } catch {
                throw SealError("the passphrase does not open this key file")
            }
        }
        guard let key = try? Curve25519.KeyAgreement.PrivateKey(rawRepresentation: raw),
              AuditorPublicKey(key.publicKey).id == id else { throw SealError("the key file is malformed") }
        return key
    }

    static func derive(_ passphrase: String, _ parameters: ScryptParameters) throws -> SymmetricKey {
        guard let salt = Data(base64Encoded: parameters.salt), parameters.rounds <= 1 << 20, parameters.blockSize <= 32,
              parameters.parallelism <= 4 else { throw SealError("the key file's scrypt parameters are out of range") }
        return try KDF.Scrypt.deriveKey(from: Data(passphrase.utf8), salt: salt, outputByteCount: 32, rounds: parameters.rounds,
                                        blockSize: parameters.blockSize, parallelism: parameters.parallelism)
    }
}

/// A statement's exact values as sealed: the literals the normalizer replaced and the bind
/// parameters, each under its `$n` in the record's normalized text.
public struct CapturedValues: Codable, Sendable, Equatable {
    public struct Value: Codable, Sendable, Equatable {
        /// The `$n` it stands for.
        public var n: Int
        /// `literal` (as written, quotes and all), `text` or `binary` (a bind parameter), `null`.
        public var form: String
        /// The literal or text value; base64 for binary.
        public var value: String?
        /// The parameter's type OID as the client declared it in Parse (absent: the server's choice).
        public var type: UInt32?
        /// Cut at the policy's `max_value_bytes`: the whole value's length and SHA-256 (hex).
        public var length: Int?
        public var sha256: String?

        // Short keys: this is sealed into every statement record.
        enum CodingKeys: String, CodingKey {
            case n, form = "f", value = "v", type = "t", length = "l", sha256 = "h"
        }

        public init(n: Int, form: String, value: String?, type: UInt32? = nil, length: Int? = nil, sha256: String? = nil) {
            self.n = n
            self.form = form
            self.value = value
            self.type = type
            self.length = length
            self.sha256 = sha256
        }
    }

    /// The values past the statement's capture budget, kept as one summary (not one stub
    /// each, so a record does not grow with the number of values a statement binds).
    public struct Omitted: Codable, Sendable, Equatable {
        /// The first `$n` left out, and how many from it (in the order sealed).
        public var first: Int
        public var count: Int
        public var bytes: Int
        /// SHA-256 (hex) over each left-out value as `<n>:<length>:<bytes>` (`<n>:null:` for NULL).
        public var sha256: String

        enum CodingKeys: String, CodingKey { case first = "f", count = "c", bytes = "b", sha256 = "h" }

        public init(first: Int, count: Int, bytes: Int, sha256: String) {
            self.first = first
            self.count = count
            self.bytes = bytes
            self.sha256 = sha256
        }
    }

    public var values: [Value]
    public var omitted: Omitted?
    /// The text as the client sent it, when its literals could not be told apart from it.
    public var text: String?
    /// The text was cut to the statement's capture budget: its whole length and SHA-256 (hex).
    public var textLength: Int?
    public var textSHA256: String?

    enum CodingKeys: String, CodingKey {
        case values = "v", omitted = "o", text = "s", textLength = "sl", textSHA256 = "sh"
    }

    public init(values: [Value], omitted: Omitted? = nil, text: String? = nil, textLength: Int? = nil, textSHA256: String? = nil) {
        self.values = values
        self.omitted = omitted
        self.text = text
        self.textLength = textLength
        self.textSHA256 = textSHA256
    }

    /// Sorted keys, no nulls, by hand: this runs for every statement.
    public func json() -> String {
        var out = "{"
        if let omitted {
            out += "\"o\":{\"b\":\(omitted.bytes),\"c\":\(omitted.count),\"f\":\(omitted.first),\"h\":" + LedgerCoding.string(omitted.sha256) + "},"
        }
        if let text { out += "\"s\":" + LedgerCoding.string(text) + "," }
        if let textSHA256 { out += "\"sh\":" + LedgerCoding.string(textSHA256) + "," }
        if let textLength { out += "\"sl\":\(textLength)," }
        out += "\"v\":["
        for (index, value) in values.enumerated() {
            if index > 0 { out += "," }
            out += "{\"f\":" + LedgerCoding.string(value.form)
            if let sha256 = value.sha256 { out += ",\"h\":" + LedgerCoding.string(sha256) }
            if let length = value.length { out += ",\"l\":\(length)" }
            out += ",\"n\":\(value.n)"
            if let type = value.type { out += ",\"t\":\(type)" }
            if let text = value.value { out += ",\"v\":" + LedgerCoding.string(text) }
            out += "}"
        }
        return out + "]}"
    }
}
