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
    public static func hash(id: Int64, timestamp: Int64, kind: String, identity: String?, target: String?,
                            session: String?, body: String, previousHash: String) -> String {
        var hasher = SHA256()
        func add(_ text: String) { hasher.update(data: Array(text.utf8)) }
        func field(_ value: String?) {
            guard let value else { add("~\n"); return }
            add("\(value.utf8.count):")
            add(value)
            add("\n")
        }
        add("hoopctl-ledger-v1\n")
        add(previousHash)
        add("\n\(id)\n\(timestamp)\n")
        field(kind)
        field(identity)
        field(target)
        field(session)
        field(body)
        return hex(hasher.finalize())
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
