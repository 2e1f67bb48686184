import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The ledger's commit point: chained records are appended to this file, one `write` per
/// batch, and copied into SQLite (with its indexes) behind, in large transactions
/// (`Ledger.indexJournal`). A SQLite commit per statement cost the proxy about 40 µs of CPU;
/// a `write` of the batch's bytes costs a few.
///
/// A record is committed once its bytes are in the file: a crash of the process loses nothing
/// (the kernel has them), and whoever opens the ledger read-write next copies them into SQLite.
/// Readers merge the file's records after SQLite's head, so `audit` and `audit verify` see every
/// record, copied or not.
///
/// Layout: a 16-byte header (`HOOPINT1`, then a generation number, bumped each time the file is
/// emptied, so a process's cached view of the file cannot be mistaken for a new file of the same
/// size), then frames: `HREC`, a 4-byte little-endian length and the record (id, timestamp, then
/// seven length-prefixed fields, -1 for null). A frame cut short at the end (a writer killed in
/// its `write`, whose callers were never answered) is not a record, and is cut off; but bytes
/// that do not read as a frame with a whole record (its hash recomputed) after them are damage,
/// not a torn end: the journal is then left as it is and every reader and copier refuses it.
///
/// Between processes, `flock` on the file orders writers (exclusive) and readers (shared); within
/// one, a lock does (a flock is held per open file, not per thread).
final class IntakeJournal: @unchecked Sendable {
    static let magic = Array("HOOPINT1".utf8)
    static let frameMagic = Array("HREC".utf8)
    static let headerSize = 16

    let path: String
    /// The most the file may hold: records that cannot be copied into SQLite (a full disk, a
    /// SQLite file changed behind the broker) are kept up to this, then appends are refused.
    let limit: Int
    private let fd: Int32
    private let writable: Bool
    private let lock = NSLock()
    /// What this process last saw of the file (generation and size) and the chain's head then.
    private var cached: (generation: UInt64, size: Int, head: Head?)?
    /// Records in the file not yet copied into SQLite, and since when (the writer copies them in due time).
    private var pending = 0
    private var pendingSince: DispatchTime?

    struct Head: Equatable {
        var id: Int64
        var hash: String
    }

    /// The records of the file and where the last whole frame ends.
    struct Contents {
        var generation: UInt64
        var records: [LedgerRecord]
        var end: Int
        var size: Int
        /// Where bytes that are no frame are followed by a whole record: the file was damaged
        /// or edited there (nil: at most a torn end).
        var damagedAt: Int?

        /// The records, or the error that the file is damaged.
        func whole(path: String) throws -> [LedgerRecord] {
            if let damagedAt {
                throw LedgerError.storage(path: path, message: "the intake journal is damaged at byte \(damagedAt) (after record "
                                          + "#\(records.last.map { String($0.id) } ?? "none")): records after it are not read")
            }
            return records
        }
    }

    /// Opens (read-write: creates, mode 0600) the journal beside the ledger. Read-only, a
    /// missing file is no journal (nil).
    init?(ledgerPath: String, writable: Bool, limit: Int = 64 << 20) throws(LedgerError) {
        path = ledgerPath + "-intake"
        self.limit = limit
        self.writable = writable
        let descriptor = writable ? open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600) : open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            if !writable, errno == ENOENT { return nil }
            throw .storage(path: path, message: "cannot open the intake journal: \(String(cString: strerror(errno)))")
        }
        fd = descriptor
    }

    deinit { close(fd) }

    // MARK: Locked sections

    /// `body` with the file locked against every other writer and reader, in this process and others.
    func exclusively<T>(_ body: () throws -> T) throws -> T {
        try lock.withLock {
            try flockRetrying(LOCK_EX)
            defer { flock(fd, LOCK_UN) }
            return try body()
        }
    }

    /// `body` with the file locked against writers (other readers may read alongside).
    func shared<T>(_ body: () throws -> T) throws -> T {
        try lock.withLock {
            try flockRetrying(LOCK_SH)
            defer { flock(fd, LOCK_UN) }
            return try body()
        }
    }

    private func flockRetrying(_ operation: Int32) throws {
        while flock(fd, operation) != 0 {
            if errno == EINTR { continue }
            throw LedgerError.storage(path: path, message: "cannot lock the intake journal: \(String(cString: strerror(errno)))")
        }
    }

    // MARK: Inside a locked section

    /// The chain's head as the file leaves it (nil: the file holds no record, the head is
    /// SQLite's). Read from the file only when another process changed it since this one
    /// last looked; a torn last frame is cut off first.
    func head(orElse sqliteHead: () throws -> Head?) throws -> Head? {
        let (generation, size) = try generationAndSize()
        if let cached, cached.generation == generation, cached.size == size { return cached.head }
        let contents = try read()
        let records = try contents.whole(path: path)
        if contents.end < contents.size { try cut(at: contents.end) }
        let head = try records.last.map { Head(id: $0.id, hash: $0.hash) } ?? sqliteHead()
        cached = (generation, contents.end, head)
        return head
    }

    /// Appends the records (chained after `head()`) in one write. On failure nothing of them stays.
    func append(_ records: [LedgerRecord]) throws {
        guard let last = records.last, let cached else { return }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(records.reduce(0) { $0 + $1.body.utf8.count + 256 })
        for record in records { Self.encode(record, into: &bytes) }
        guard cached.size + bytes.count <= limit else {
            throw LedgerError.storage(path: path, message: "the intake journal is full (\(limit >> 20) MiB of records not copied into SQLite); "
                                      + "nothing more is recorded, so statements are refused, until the copy succeeds")
        }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress! + written, $0.count - written, off_t(cached.size + written)) }
            if n < 0, errno == EINTR { continue }
            if n <= 0 {
                let message = String(cString: strerror(errno))
                try? cut(at: cached.size)
                throw LedgerError.storage(path: path, message: "cannot write the intake journal: \(message)")
            }
            written += n
        }
        self.cached = (cached.generation, cached.size + bytes.count, Head(id: last.id, hash: last.hash))
        if pending == 0 { pendingSince = .now() }
        pending += records.count
    }

    /// Every whole record in the file.
    func read() throws -> Contents {
        let (generation, size) = try generationAndSize()
        var bytes = [UInt8](repeating: 0, count: max(0, size - Self.headerSize))
        var got = 0
        while got < bytes.count {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + got, $0.count - got, off_t(Self.headerSize + got)) }
            if n < 0, errno == EINTR { continue }
            if n < 0 { throw LedgerError.storage(path: path, message: "cannot read the intake journal: \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            got += n
        }
        var records: [LedgerRecord] = []
        var offset = 0
        while let (record, next) = Self.decode(bytes, at: offset, limit: got) {
            records.append(record)
            offset = next
        }
        let damaged = offset < got && Self.wholeRecord(in: bytes, after: offset, limit: got)
        return Contents(generation: generation, records: records, end: Self.headerSize + offset, size: Self.headerSize + got,
                        damagedAt: damaged ? Self.headerSize + offset : nil)
    }

    /// Whether a frame holding a whole record (its hash as computed) starts anywhere after
    /// `offset`: a write torn by a kill leaves only a prefix of its frames, never a whole one
    /// after bytes that are not one.
    static func wholeRecord(in bytes: [UInt8], after offset: Int, limit: Int) -> Bool {
        var position = offset + 1
        while position + 8 <= limit {
            guard let found = bytes[position..<limit].firstRange(of: frameMagic)?.lowerBound else { return false }
            if let (record, _) = decode(bytes, at: found, limit: limit),
               HashChain.hash(id: record.id, timestamp: record.timestamp, kind: record.kind, identity: record.identity,
                              target: record.target, session: record.session, body: record.body,
                              previousHash: record.previousHash) == record.hash {
                return true
            }
            position = found + 1
        }
        return false
    }

    /// After the records were copied into SQLite: empties the file (the generation first, so no
    /// process takes the emptied file for the one it knew).
    func empty(head: Head?) throws {
        let (generation, _) = try generationAndSize()
        try writeHeader(generation: generation &+ 1)
        guard ftruncate(fd, off_t(Self.headerSize)) == 0 else {
            throw LedgerError.storage(path: path, message: "cannot empty the intake journal: \(String(cString: strerror(errno)))")
        }
        cached = (generation &+ 1, Self.headerSize, head)
        pending = 0
        pendingSince = nil
    }

    /// Records this process appended that are not in SQLite yet, and since when.
    var backlog: (records: Int, since: DispatchTime?) { (pending, pendingSince) }

    /// Another process copied and emptied the journal: nothing of ours waits any more.
    func forgetBacklog() {
        pending = 0
        pendingSince = nil
    }

    /// The durable copy: fsync of the file's pages (whoever wrote them).
    func sync() { fsync(fd) }

    // MARK: File

    private func generationAndSize() throws -> (UInt64, Int) {
        var status = stat()
        guard fstat(fd, &status) == 0 else {
            throw LedgerError.storage(path: path, message: "cannot stat the intake journal: \(String(cString: strerror(errno)))")
        }
        let size = Int(status.st_size)
        if size < Self.headerSize {
            // New (or emptied by a crash before its header was written): a generation of its own.
            guard writable else { return (0, Self.headerSize) }
            try writeHeader(generation: UInt64.random(in: 1...UInt64.max / 2))
            _ = ftruncate(fd, off_t(Self.headerSize))
            return try generationAndSize()
        }
        var header = [UInt8](repeating: 0, count: Self.headerSize)
        let n = header.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, Self.headerSize, 0) }
        guard n == Self.headerSize, Array(header[0..<8]) == Self.magic else {
            throw LedgerError.storage(path: path, message: "the intake journal's header is not hoopctl's")
        }
        let generation = header[8..<16].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return (generation, size)
    }

    private func writeHeader(generation: UInt64) throws {
        var header = Self.magic
        for shift in stride(from: 0, to: 64, by: 8) { header.append(UInt8(truncatingIfNeeded: generation >> UInt64(shift))) }
        guard header.withUnsafeBytes({ pwrite(fd, $0.baseAddress!, Self.headerSize, 0) }) == Self.headerSize else {
            throw LedgerError.storage(path: path, message: "cannot write the intake journal: \(String(cString: strerror(errno)))")
        }
    }

    private func cut(at offset: Int) throws {
        guard writable else { return }
        guard ftruncate(fd, off_t(offset)) == 0 else {
            throw LedgerError.storage(path: path, message: "cannot cut the intake journal: \(String(cString: strerror(errno)))")
        }
    }

    // MARK: Frames

    static func encode(_ record: LedgerRecord, into bytes: inout [UInt8]) {
        bytes.append(contentsOf: frameMagic)
        let start = bytes.count
        bytes.append(contentsOf: [0, 0, 0, 0])
        appendInteger(UInt64(bitPattern: record.id), bytes: 8, to: &bytes)
        appendInteger(UInt64(bitPattern: record.timestamp), bytes: 8, to: &bytes)
        for field in [record.kind, record.identity, record.target, record.session, record.body, record.previousHash, record.hash] {
            guard let field else {
                appendInteger(UInt64(UInt32.max), bytes: 4, to: &bytes)
                continue
            }
            appendInteger(UInt64(field.utf8.count), bytes: 4, to: &bytes)
            bytes.append(contentsOf: field.utf8)
        }
        let length = UInt32(bytes.count - start - 4)
        for index in 0..<4 { bytes[start + index] = UInt8(truncatingIfNeeded: length >> UInt32(8 * index)) }
    }

    /// The frame at `offset`, and where the next begins; nil when no whole, well-formed frame is there.
    static func decode(_ bytes: [UInt8], at offset: Int, limit: Int) -> (LedgerRecord, Int)? {
        guard offset + 8 <= limit, bytes[offset..<offset + 4].elementsEqual(frameMagic),
              let length = integer(bytes, at: offset + 4, size: 4, limit: limit).map(Int.init) else { return nil }
        let end = offset + 8 + length
        guard length >= 16 + 7 * 4, end <= limit else { return nil }
        var position = offset + 8
        guard let id = integer(bytes, at: position, size: 8, limit: end),
              let timestamp = integer(bytes, at: position + 8, size: 8, limit: end) else { return nil }
        position += 16
        var fields: [String?] = []
        for _ in 0..<7 {
            guard let size = integer(bytes, at: position, size: 4, limit: end) else { return nil }
            position += 4
            if size == UInt64(UInt32.max) {
                fields.append(nil)
                continue
            }
            guard position + Int(size) <= end else { return nil }
            fields.append(String(decoding: bytes[position..<position + Int(size)], as: UTF8.self))
            position += Int(size)
        }
        guard position == end, let kind = fields[0], let body = fields[4], let previous = fields[5], let hash = fields[6] else { return nil }
        let record = LedgerRecord(id: Int64(bitPattern: id), timestamp: Int64(bitPattern: timestamp), kind: kind,
                                  identity: fields[1], target: fields[2], session: fields[3], body: body,
                                  previousHash: previous, hash: hash)
        return (record, end)
    }

    private static func appendInteger(_ value: UInt64, bytes count: Int, to bytes: inout [UInt8]) {
        for index in 0..<count { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(8 * index))) }
    }

    private static func integer(_ bytes: [UInt8], at offset: Int, size: Int, limit: Int) -> UInt64? {
        guard offset >= 0, offset + size <= limit else { return nil }
        var value: UInt64 = 0
        for index in (0..<size).reversed() { value = value << 8 | UInt64(bytes[offset + index]) }
        return value
    }
}
