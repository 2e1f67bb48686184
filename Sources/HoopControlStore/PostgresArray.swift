/// A PostgreSQL array literal (`{"a","b",NULL}`), for passing a column of values as one text
/// parameter (`unnest($1::text[])`): a batch is one statement with a fixed number of parameters.
struct PostgresArray {
    private var bytes: [UInt8] = [UInt8(ascii: "{")]

    private mutating func separate() {
        if bytes.count > 1 { bytes.append(UInt8(ascii: ",")) }
    }

    mutating func append(_ value: Int64) {
        separate()
        bytes.append(contentsOf: String(value).utf8)
    }

    /// Quoted, `"` and `\` escaped. PostgreSQL text cannot hold NUL: such a value is refused
    /// (silently cut, it would no longer be what was hashed).
    mutating func append(_ value: String?) throws {
        separate()
        guard let value else {
            bytes.append(contentsOf: "NULL".utf8)
            return
        }
        bytes.reserveCapacity(bytes.count + value.utf8.count + 8)
        bytes.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case 0: throw PostgresArrayError()
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes.append(UInt8(ascii: "\\")); bytes.append(byte)
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    var literal: String { String(decoding: bytes + [UInt8(ascii: "}")], as: UTF8.self) }

    static func text(_ values: [String]) -> String {
        var array = PostgresArray()
        for value in values { try? array.append(value) }
        return array.literal
    }
}

struct PostgresArrayError: Error, CustomStringConvertible {
    var description: String { "a value holds a NUL character, which PostgreSQL text cannot store" }
}
