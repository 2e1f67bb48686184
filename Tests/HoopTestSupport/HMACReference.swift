import Crypto
import Foundation

/// HMAC-SHA-256 computed in Swift, the first 16 hex digits: what `hoop.mask_hash` must return.
public enum HMACReference {
    public static func hex(key: [UInt8], value: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array(value.utf8), using: SymmetricKey(data: key))
        return Data(mac).map { String(format: "%02x", $0) }.joined().prefix(16).description
    }
}
