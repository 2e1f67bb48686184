import GRDB
import GRDBSQLite

/// A record's row bound and stepped with SQLite's own calls: GRDB's arguments box every value,
/// and its rows allocate, which showed as a fifth of an append's cost in profiles.
enum RawInsert {
    /// Binds `id`, `timestamp`, then the texts (nil as NULL) to parameters 1, 2, 3..., and steps once.
    static func run(_ statement: Statement, _ db: Database, id: Int64, timestamp: Int64, texts: [String?]) throws {
        let handle = statement.sqliteStatement
        sqlite3_reset(handle)
        sqlite3_bind_int64(handle, 1, id)
        sqlite3_bind_int64(handle, 2, timestamp)
        try bind(texts, from: 3, handle, db)
        try step(handle, db)
    }

    /// Binds `id` and `text` to parameters 1 and 2 and steps once (the chain head's upsert).
    static func run(_ statement: Statement, _ db: Database, id: Int64, text: String) throws {
        let handle = statement.sqliteStatement
        sqlite3_reset(handle)
        sqlite3_bind_int64(handle, 1, id)
        try bind([text], from: 2, handle, db)
        try step(handle, db)
    }

    /// The first row's integer and text columns 0 and 1 (nil without a row): the chain's head.
    static func idAndText(_ statement: Statement, _ db: Database) throws -> (Int64, String)? {
        let handle = statement.sqliteStatement
        sqlite3_reset(handle)
        defer { sqlite3_reset(handle) }
        switch sqlite3_step(handle) {
        case SQLITE_ROW:
            guard let text = sqlite3_column_text(handle, 1) else { return nil }
            return (sqlite3_column_int64(handle, 0), String(cString: text))
        case SQLITE_DONE:
            return nil
        case let code:
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: db.lastErrorMessage)
        }
    }

    private static func bind(_ texts: [String?], from first: Int32, _ handle: OpaquePointer?, _ db: Database) throws {
        for (offset, text) in texts.enumerated() {
            let index = first + Int32(offset)
            guard var text else {
                sqlite3_bind_null(handle, index)
                continue
            }
            // SQLite copies the bytes (SQLITE_TRANSIENT): the String's storage is not kept.
            let code = text.withUTF8 { bytes -> Int32 in
                guard let base = bytes.baseAddress else { return sqlite3_bind_text(handle, index, "", 0, transient) }  // NULL is not ""
                return sqlite3_bind_text(handle, index, UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self), Int32(bytes.count), transient)
            }
            guard code == SQLITE_OK else { throw DatabaseError(resultCode: ResultCode(rawValue: code), message: db.lastErrorMessage) }
        }
    }

    private static func step(_ handle: OpaquePointer?, _ db: Database) throws {
        let code = sqlite3_step(handle)
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        guard code == SQLITE_DONE else { throw DatabaseError(resultCode: ResultCode(rawValue: code), message: db.lastErrorMessage) }
    }

    static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
}
