import Foundation
import HoopCommon
#if canImport(Glibc)
import Glibc
#endif

/// One broker per state directory (and per ledger, and per socket): taken before the broker
/// touches anything, held until the process ends. A second `hoopctl serve` is refused here,
/// before it could unlink the first one's socket or write to its ledger.
final class StateLock {
    private let descriptors: [Int32]

    /// Locks `<state>/broker.lock` (with the holder's pid in it) and the ledger file itself
    /// (its inode: a symlink or a hard link to it is the same ledger; a new ledger is created
    /// here, 0600, and SQLite gives its WAL the same mode), and refuses a socket
    /// path that answers. flock(2) locks are apart from SQLite's fcntl(2) locks. Never
    /// released by hand: closing any descriptor of the ledger file would drop SQLite's own
    /// locks on it, so the kernel releases these when the process ends.
    init(configuration: BrokerConfiguration) throws {
        var held: [Int32] = []
        do {
            held.append(try Self.lock(URL(fileURLWithPath: configuration.stateDirectory).appendingPathComponent("broker.lock").path,
                                      what: "state directory \(configuration.stateDirectory)", recordPID: true))
            try FileManager.default.createDirectory(at: URL(fileURLWithPath: configuration.ledgerPath).deletingLastPathComponent(),
                                                    withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            held.append(try Self.lock(configuration.ledgerPath, what: "ledger \(configuration.ledgerPath)", recordPID: false))
            if Self.answers(socket: configuration.socketPath) {
                throw StateLockError("a broker already listens on \(configuration.socketPath): stop it first")
            }
        } catch {
            // Nothing of SQLite's is open yet in this process: closing is safe here.
            for fd in held { close(fd) }
            throw error
        }
        descriptors = held
    }

    private static func lock(_ path: String, what: String, recordPID: Bool) throws -> Int32 {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StateLockError("cannot open \(path): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let saved = errno
            close(fd)
            guard saved == EWOULDBLOCK else { throw StateLockError("cannot lock \(path): \(String(cString: strerror(saved)))") }
            throw StateLockError("another broker already serves the \(what): stop it first")
        }
        if recordPID {
            let pid = "\(getpid())\n"
            _ = ftruncate(fd, 0)
            _ = pid.withCString { pwrite(fd, $0, strlen($0), 0) }
        }
        return fd
    }

    /// Whether something accepts connections on the unix socket.
    private static func answers(socket path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in bytes.enumerated() { buffer[index] = byte }
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0 }
        }
    }
}

struct StateLockError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
