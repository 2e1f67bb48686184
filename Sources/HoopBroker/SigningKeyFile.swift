import Crypto
import Foundation
import HoopBrokerAPI
import HoopCommon

/// An Ed25519 private key the broker makes once and keeps in its state directory (0600, hex).
enum SigningKeyFile {
    /// The key's raw bytes (the key type itself is not Sendable).
    static func loadOrCreate(_ name: String, stateDirectory: String) throws -> Data {
        let path = URL(fileURLWithPath: stateDirectory).appendingPathComponent(name).path
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            let hex = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard hex.count == 64, let bytes = TokenAuthority.bytes(hex: hex) else {
                throw BrokerFailure(.internal, "\(path) is damaged: expected a 32-byte Ed25519 key in hex")
            }
            return try Curve25519.Signing.PrivateKey(rawRepresentation: bytes).rawRepresentation
        }
        let key = Curve25519.Signing.PrivateKey()
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try PrivateFile.write(key.rawRepresentation.map { String(format: "%02x", $0) }.joined() + "\n", to: path)
        return key.rawRepresentation
    }
}
