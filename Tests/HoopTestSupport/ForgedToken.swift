import Crypto
import Foundation
import HoopCommon

/// A broker token made outside any broker, with a key of the test's own: what an attacker who
/// got hold of a key (or planted one) would present. For attack tests only.
public enum ForgedToken {
    public static func make(subject: String, by issuers: [String], key: Curve25519.Signing.PrivateKey) throws -> String {
        let now = Int64(Date().timeIntervalSince1970)
        let claims: [String: Any] = ["id": "f0f0f0f0f0f0", "sub": subject, "iat": now, "exp": now + 3600, "by": issuers, "via": [String]()]
        let payload = Base64URL.encode(try JSONSerialization.data(withJSONObject: claims, options: [.sortedKeys]))
        let signed = "hoop1.\(payload)"
        return "\(signed).\(Base64URL.encode(try key.signature(for: Data(signed.utf8))))"
    }
}
