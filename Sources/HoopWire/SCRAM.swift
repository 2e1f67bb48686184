import Crypto
import Foundation
import CryptoExtras

/// SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL speaks it; the client side also with
/// channel binding (SCRAM-SHA-256-PLUS, `tls-server-end-point`, RFC 5929).
/// I/O-free: each side turns the other's message into its next one.
public enum SCRAM {
    public static let mechanism = "SCRAM-SHA-256"
    public static let channelBoundMechanism = "SCRAM-SHA-256-PLUS"

    public struct Failure: Error, Equatable, CustomStringConvertible, Sendable {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    static func hmac(_ key: [UInt8], _ message: String) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Array(message.utf8), using: SymmetricKey(data: key)))
    }

    static func sha256(_ bytes: [UInt8]) -> [UInt8] { Array(SHA256.hash(data: bytes)) }

    static func saltedPassword(_ password: String, salt: [UInt8], iterations: Int) throws -> [UInt8] {
        let key = try KDF.Insecure.PBKDF2.deriveKey(from: Array(password.utf8), salt: salt, using: .sha256, outputByteCount: 32,
                                                    unsafeUncheckedRounds: iterations)
        return key.withUnsafeBytes { Array($0) }
    }

    static func nonce() -> String {
        var generator = SystemRandomNumberGenerator()
        return Data((0..<18).map { _ in generator.next() as UInt8 }).base64EncodedString()
    }

    /// `a=1,b=2` → ["a": "1", "b": "2"]; values may contain `=`.
    static func attributes(_ message: Substring) -> [Character: Substring] {
        var result: [Character: Substring] = [:]
        for part in message.split(separator: ",", omittingEmptySubsequences: false) {
            guard part.count >= 2, part.dropFirst().first == "=" else { continue }
            result[part.first!] = part.dropFirst(2)
        }
        return result
    }
}

/// What the server keeps instead of a password.
public struct SCRAMVerifier: Sendable, Equatable {
    public let salt: [UInt8]
    public let iterations: Int
    public let storedKey: [UInt8]
    public let serverKey: [UInt8]

    /// A verifier nobody has a password for, whose salt depends only on `user` and `secret`:
    /// an unknown user is asked for a proof with a salt of its own, as a known one is, and
    /// the answer never matches.
    public static func mock(for user: String, secret: [UInt8], iterations: Int = 4096) -> SCRAMVerifier {
        let salt = Array(SCRAM.hmac(secret, "mock salt \(user)").prefix(16))
        var generator = SystemRandomNumberGenerator()
        let random = (0..<32).map { _ in generator.next() as UInt8 }
        return SCRAMVerifier(salt: salt, iterations: iterations, storedKey: SCRAM.sha256(random), serverKey: random)
    }

    init(salt: [UInt8], iterations: Int, storedKey: [UInt8], serverKey: [UInt8]) {
        self.salt = salt
        self.iterations = iterations
        self.storedKey = storedKey
        self.serverKey = serverKey
    }

    public init(password: String, iterations: Int = 4096) throws {
        var generator = SystemRandomNumberGenerator()
        salt = (0..<16).map { _ in generator.next() as UInt8 }
        self.iterations = iterations
        let salted = try SCRAM.saltedPassword(password, salt: salt, iterations: iterations)
        storedKey = SCRAM.sha256(SCRAM.hmac(salted, "Client Key"))
        serverKey = SCRAM.hmac(salted, "Server Key")
    }
}

/// The server side: checks a client's proof against a verifier.
public struct SCRAMServer: Sendable {
    private let verifier: SCRAMVerifier
    private var clientFirstBare = ""
    /// `n,,` or `y,,`: the client-final's `c=` must be exactly its base64 (RFC 5802 §5.1).
    private var gs2Header = ""
    private var serverFirst = ""
    private var nonce = ""

    public init(verifier: SCRAMVerifier) { self.verifier = verifier }

    /// True until the client's first message has been answered.
    public var awaitingClientFirst: Bool { serverFirst.isEmpty }

    /// client-first-message → server-first-message.
    public mutating func receiveClientFirst(_ message: String) throws(SCRAM.Failure) -> String {
        // gs2-header: n or y (no channel binding), no authzid; then client-first-message-bare.
        guard message.hasPrefix("n,,") || message.hasPrefix("y,,") else {
            throw SCRAM.Failure(message.hasPrefix("p=") ? "channel binding is not offered" : "malformed SCRAM client-first-message")
        }
        gs2Header = String(message.prefix(3))
        clientFirstBare = String(message.dropFirst(3))
        let attributes = SCRAM.attributes(Substring(clientFirstBare))
        guard let clientNonce = attributes["r"], !clientNonce.isEmpty, attributes["n"] != nil, attributes["m"] == nil else {
            throw SCRAM.Failure("malformed SCRAM client-first-message")
        }
        nonce = String(clientNonce) + SCRAM.nonce()
        serverFirst = "r=\(nonce),s=\(Data(verifier.salt).base64EncodedString()),i=\(verifier.iterations)"
        return serverFirst
    }

    /// client-final-message → server-final-message; throws when the proof is wrong.
    public func receiveClientFinal(_ message: String) throws(SCRAM.Failure) -> String {
        guard let proofRange = message.range(of: ",p=") else { throw SCRAM.Failure("malformed SCRAM client-final-message") }
        let withoutProof = message[..<proofRange.lowerBound]
        let attributes = SCRAM.attributes(withoutProof)
        guard withoutProof.hasPrefix("c="), attributes["c"].map(String.init) == Data(gs2Header.utf8).base64EncodedString(),
              attributes["r"].map(String.init) == nonce,
              let proof = Data(base64Encoded: String(message[proofRange.upperBound...])), proof.count == 32 else {
            throw SCRAM.Failure("malformed SCRAM client-final-message")
        }
        let authMessage = "\(clientFirstBare),\(serverFirst),\(withoutProof)"
        let signature = SCRAM.hmac(verifier.storedKey, authMessage)
        let clientKey = zip(proof, signature).map { $0 ^ $1 }
        // Constant-time comparison of the stored key.
        let computed = SCRAM.sha256(clientKey)
        guard zip(computed, verifier.storedKey).reduce(UInt8(0), { $0 | ($1.0 ^ $1.1) }) == 0 else {
            throw SCRAM.Failure("password authentication failed")
        }
        return "v=\(Data(SCRAM.hmac(verifier.serverKey, authMessage)).base64EncodedString())"
    }
}

/// The client side: proves it knows a password, and checks the server knew it too.
public struct SCRAMClient: Sendable {
    /// What the client says about channel binding (RFC 5802 §6).
    public enum Binding: Sendable, Equatable {
        /// No TLS: `n`.
        case none
        /// TLS, but the server offers no channel binding: `y` (a server that does support it
        /// then knows someone took it away).
        case unsupportedByServer
        /// `p=tls-server-end-point` with the hash of the server's certificate as this TLS
        /// connection saw it: a man in the middle with another certificate cannot pass.
        case tlsServerEndPoint([UInt8])
    }

    private let password: String
    private let clientNonce: String
    private let binding: Binding
    private var authMessage = ""
    private var serverKey: [UInt8] = []

    public init(password: String, binding: Binding = .none) {
        self.password = password
        self.binding = binding
        clientNonce = SCRAM.nonce()
    }

    /// The mechanism to name in SASLInitialResponse.
    public var mechanism: String {
        if case .tlsServerEndPoint = binding { return SCRAM.channelBoundMechanism }
        return SCRAM.mechanism
    }

    private var gs2Header: String {
        switch binding {
        case .none: return "n,,"
        case .unsupportedByServer: return "y,,"
        case .tlsServerEndPoint: return "p=tls-server-end-point,,"
        }
    }

    private var clientFirstBare: String { "n=,r=\(clientNonce)" }

    public var clientFirst: String { "\(gs2Header)\(clientFirstBare)" }

    /// server-first-message → client-final-message.
    public mutating func receiveServerFirst(_ message: String) throws(SCRAM.Failure) -> String {
        let attributes = SCRAM.attributes(Substring(message))
        guard let nonce = attributes["r"], nonce.hasPrefix(clientNonce), nonce.count > clientNonce.count,
              let saltText = attributes["s"], let salt = Data(base64Encoded: String(saltText)),
              let iterationsText = attributes["i"], let iterations = Int(iterationsText), (1...1_000_000).contains(iterations) else {
            throw SCRAM.Failure("malformed SCRAM server-first-message")
        }
        let salted: [UInt8]
        do { salted = try SCRAM.saltedPassword(password, salt: Array(salt), iterations: iterations) } catch {
            throw SCRAM.Failure("cannot derive the SCRAM key")
        }
        let clientKey = SCRAM.hmac(salted, "Client Key")
        let storedKey = SCRAM.sha256(clientKey)
        serverKey = SCRAM.hmac(salted, "Server Key")
        var channel = Array(gs2Header.utf8)
        if case .tlsServerEndPoint(let hash) = binding { channel += hash }
        let withoutProof = "c=\(Data(channel).base64EncodedString()),r=\(nonce)"
        authMessage = "\(clientFirstBare),\(message),\(withoutProof)"
        let proof = zip(clientKey, SCRAM.hmac(storedKey, authMessage)).map { $0 ^ $1 }
        return "\(withoutProof),p=\(Data(proof).base64EncodedString())"
    }

    /// Checks server-final-message: the server proves it holds the verifier.
    public func receiveServerFinal(_ message: String) throws(SCRAM.Failure) {
        let expected = "v=\(Data(SCRAM.hmac(serverKey, authMessage)).base64EncodedString())"
        guard message == expected else { throw SCRAM.Failure("the server's SCRAM signature is wrong") }
    }
}
