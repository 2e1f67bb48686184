import Crypto
import Foundation
import HoopBrokerAPI
import HoopCommon
import HoopControlStore

/// Broker-signed bearer tokens: `hoop1.<claims>.<signature>`, base64url, Ed25519 over
/// `hoop1.<claims>`. The signing key is made once and kept in the state directory (0600), and
/// never leaves it: brokers sharing a control store publish only the public half (a store's
/// readers, its backups among them, cannot mint tokens).
struct TokenAuthority: Sendable {
    struct Claims: Codable, Sendable, Equatable {
        /// The token's id (for revocation and the ledger).
        var id: String
        /// `user:NAME` or `service:NAME`.
        var sub: String
        /// Issued and expiry, seconds since the epoch.
        var iat: Int64
        var exp: Int64
        /// Who issued it, nearest first, up to a person the kernel vouched for (a token issued
        /// with a token carries its issuer's line too). A token without it predates this and
        /// is refused: nobody could tell whose approvals it may give.
        var by: [String]?
        /// The tokens it was issued through, nearest first: revoking any of them revokes it.
        var via: [String]?
    }

    static let prefix = "hoop1"
    static let maxTTL: Int64 = 30 * 86400

    /// The Ed25519 private key's raw bytes (the key type itself is not Sendable).
    private let rawKey: Data
    private var key: Curve25519.Signing.PrivateKey { try! Curve25519.Signing.PrivateKey(rawRepresentation: rawKey) }

    init(stateDirectory: String) throws {
        rawKey = try SigningKeyFile.loadOrCreate("token-signing.key", stateDirectory: stateDirectory)
    }

    /// What other brokers check this one's tokens with.
    var publicKey: Data { key.publicKey.rawRepresentation }

    func issue(_ claims: Claims) throws -> String {
        let payload = Base64URL.encode(try JSONEncoder().encode(claims))
        let signed = "\(TokenAuthority.prefix).\(payload)"
        let signature = try key.signature(for: Data(signed.utf8))
        return "\(signed).\(Base64URL.encode(signature))"
    }

    /// The claims of a well-formed, authentic, unexpired token, signed by this broker or by one
    /// of `peers` (the public keys of the other brokers sharing its store: `byPeer` says so).
    /// Revocation is the caller's check. Errors never echo the token.
    func verify(_ token: String, peers: [Data] = [], now: Date = Date()) throws(BrokerFailure) -> (claims: Claims, byPeer: Bool) {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == TokenAuthority.prefix, !parts[1].isEmpty, !parts[2].isEmpty,
              let payload = Base64URL.decode(String(parts[1])),
              let signature = Base64URL.decode(String(parts[2])) else {
            throw BrokerFailure(.unauthenticated, "the token is malformed")
        }
        let signed = Data("\(parts[0]).\(parts[1])".utf8)
        let byPeer: Bool
        if key.publicKey.isValidSignature(signature, for: signed) {
            byPeer = false
        } else if peers.contains(where: { (try? Curve25519.Signing.PublicKey(rawRepresentation: $0))?.isValidSignature(signature, for: signed) == true }) {
            byPeer = true
        } else {
            throw BrokerFailure(.unauthenticated, "the token was not issued by this broker")
        }
        guard let claims = try? JSONDecoder().decode(Claims.self, from: payload) else {
            throw BrokerFailure(.unauthenticated, "the token is malformed")
        }
        guard Int64(now.timeIntervalSince1970) < claims.exp else {
            throw BrokerFailure(.unauthenticated, "token \(claims.id) expired")
        }
        guard let by = claims.by, !by.isEmpty, claims.via != nil else {
            throw BrokerFailure(.unauthenticated, "token \(claims.id) does not say who issued it (it predates hoopctl 0.3): issue a new one")
        }
        return (claims, byPeer)
    }

    static func bytes(hex: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2, limitedBy: hex.endIndex) ?? hex.endIndex
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return bytes
    }
}
