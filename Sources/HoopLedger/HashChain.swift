import Crypto

/// The ledger's hash chain: each record's hash covers the previous record's hash and the
/// record's own canonical encoding, so editing, removing, inserting or reordering a record
/// breaks every hash from there on.
public enum HashChain {
    /// `previousHash` of the first record.
    public static let genesis = String(repeating: "0", count: 64)

    /// The canonical encoding (version 1): every field length-prefixed, nulls distinct from
    /// empty strings, so no two different records encode alike.
    ///
    ///     hoopctl-ledger-v1\n<prev>\n<id>\n<ts>\n<len>:<kind>\n<len>:<identity>|~\n...<len>:<body>
    ///
    /// Built as bytes in one buffer and hashed once: the proxy hashes a record per statement.
    public static func hash(id: Int64, timestamp: Int64, kind: String, identity: String?, target: String?,
                            session: String?, body: String, previousHash: String) -> String {
        var encoding: [UInt8] = []
        encoding.reserveCapacity(body.utf8.count + 256)
        encoding.append(contentsOf: "hoopctl-ledger-v1\n".utf8)
        encoding.append(contentsOf: previousHash.utf8)
        encoding.append(UInt8(ascii: "\n"))
        appendDecimal(id, to: &encoding)
        encoding.append(UInt8(ascii: "\n"))
        appendDecimal(timestamp, to: &encoding)
        encoding.append(UInt8(ascii: "\n"))
        for value in [kind, identity, target, session, body] {
            guard let value else {
                encoding.append(contentsOf: "~\n".utf8)
                continue
            }
            appendDecimal(Int64(value.utf8.count), to: &encoding)
            encoding.append(UInt8(ascii: ":"))
            encoding.append(contentsOf: value.utf8)
            encoding.append(UInt8(ascii: "\n"))
        }
        return hex(SHA256.hash(data: encoding))
    }

    /// Whether `storedHash` (64 lowercase hex digits) is the hash of these fields, given as the
    /// bytes a database hands them (no string is made): the same encoding as `hash(id:...)`.
    /// `scratch` is reused between calls.
    public static func matches(id: Int64, timestamp: Int64, kind: UnsafeBufferPointer<UInt8>, identity: UnsafeBufferPointer<UInt8>?,
                               target: UnsafeBufferPointer<UInt8>?, session: UnsafeBufferPointer<UInt8>?, body: UnsafeBufferPointer<UInt8>,
                               previousHash: UnsafeBufferPointer<UInt8>, storedHash: UnsafeBufferPointer<UInt8>,
                               scratch: inout [UInt8]) -> Bool {
        guard storedHash.count == 64 else { return false }
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: "hoopctl-ledger-v1\n".utf8)
        scratch.append(contentsOf: previousHash)
        scratch.append(UInt8(ascii: "\n"))
        appendDecimal(id, to: &scratch)
        scratch.append(UInt8(ascii: "\n"))
        appendDecimal(timestamp, to: &scratch)
        scratch.append(UInt8(ascii: "\n"))
        for value in [kind, identity, target, session, body] {
            guard let value else {
                scratch.append(contentsOf: "~\n".utf8)
                continue
            }
            appendDecimal(Int64(value.count), to: &scratch)
            scratch.append(UInt8(ascii: ":"))
            scratch.append(contentsOf: value)
            scratch.append(UInt8(ascii: "\n"))
        }
        let digits: StaticString = "0123456789abcdef"
        var index = 0
        for byte in SHA256.hash(data: scratch) {
            guard storedHash[index] == digits.utf8Start[Int(byte >> 4)], storedHash[index + 1] == digits.utf8Start[Int(byte & 0x0f)] else { return false }
            index += 2
        }
        return true
    }

    /// What a record's hash should be, from its fields and the hash it names as previous.
    public static func hash(of record: LedgerRecord) -> String {
        hash(id: record.id, timestamp: record.timestamp, kind: record.kind, identity: record.identity, target: record.target,
             session: record.session, body: record.body, previousHash: record.previousHash)
    }

    /// `String(value)`'s digits (a small string: no allocation).
    static func appendDecimal(_ value: Int64, to bytes: inout [UInt8]) {
        bytes.append(contentsOf: String(value).utf8)
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        let digits: StaticString = "0123456789abcdef"
        return String(unsafeUninitializedCapacity: 64) { out in
            var index = 0
            for byte in digest {
                out[index] = digits.utf8Start[Int(byte >> 4)]
                out[index + 1] = digits.utf8Start[Int(byte & 0x0f)]
                index += 2
            }
            return index
        }
    }
}
