import Crypto

/// `tls-server-end-point` channel binding data (RFC 5929 §4.1): the hash of the server's
/// certificate, with the hash function of the certificate's signature algorithm (SHA-256 when
/// that is MD5 or SHA-1), as PostgreSQL computes it on its side.
public enum ChannelBinding {
    /// nil when the certificate's signature algorithm names no hash this knows (RSASSA-PSS,
    /// Ed25519): the client then does not bind, as PostgreSQL could not either.
    public static func tlsServerEndPoint(certificateDER der: [UInt8]) -> [UInt8]? {
        guard let algorithm = signatureAlgorithm(der) else { return nil }
        switch algorithm {
        case sha384WithRSA, ecdsaWithSHA384: return Array(SHA384.hash(data: der))
        case sha512WithRSA, ecdsaWithSHA512: return Array(SHA512.hash(data: der))
        case md5WithRSA, sha1WithRSA, sha256WithRSA, ecdsaWithSHA1, ecdsaWithSHA256, sha224WithRSA, ecdsaWithSHA224:
            return Array(SHA256.hash(data: der))
        default: return nil
        }
    }

    // The contents of the OBJECT IDENTIFIERs of signature algorithms.
    static let md5WithRSA: [UInt8] = [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x04]
    static let sha1WithRSA: [UInt8] = [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x05]
    static let sha256WithRSA: [UInt8] = [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0B]
    static let sha384WithRSA: [UInt8] = [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0C]
    static let sha512WithRSA: [UInt8] = [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0D]
    static let sha224WithRSA: [UInt8] = [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0E]
    static let ecdsaWithSHA1: [UInt8] = [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x01]
    static let ecdsaWithSHA224: [UInt8] = [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x01]
    static let ecdsaWithSHA256: [UInt8] = [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02]
    static let ecdsaWithSHA384: [UInt8] = [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x03]
    static let ecdsaWithSHA512: [UInt8] = [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x04]

    /// Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm AlgorithmIdentifier, ... };
    /// AlgorithmIdentifier ::= SEQUENCE { algorithm OBJECT IDENTIFIER, ... }. The OID's contents.
    static func signatureAlgorithm(_ der: [UInt8]) -> [UInt8]? {
        var reader = DERReader(der)
        guard var certificate = reader.element(tag: 0x30) else { return nil }
        guard certificate.element(tag: 0x30) != nil, var algorithm = certificate.element(tag: 0x30) else { return nil }
        return algorithm.element(tag: 0x06)?.bytes
    }

    /// Just enough DER to walk to a certificate's signature algorithm.
    public struct DERReader {
        public var bytes: [UInt8]
        public init(_ bytes: [UInt8]) { self.bytes = bytes }

        /// The next element's contents when it has `tag`; nil otherwise (or when malformed).
        public mutating func element(tag: UInt8) -> DERReader? {
            guard bytes.count >= 2, bytes[0] == tag else { return nil }
            var length = Int(bytes[1]), offset = 2
            if length & 0x80 != 0 {
                let count = length & 0x7F
                guard (1...4).contains(count), bytes.count >= 2 + count else { return nil }
                length = bytes[2..<(2 + count)].reduce(0) { $0 << 8 | Int($1) }
                offset = 2 + count
            }
            guard bytes.count - offset >= length else { return nil }
            let contents = DERReader(Array(bytes[offset..<(offset + length)]))
            bytes = Array(bytes[(offset + length)...])
            return contents
        }
    }
}
