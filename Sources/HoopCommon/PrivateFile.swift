import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes files that may hold secrets: created with their final mode (never briefly
/// world-readable) and renamed into place, so readers see the old or the new file, never half.
public enum PrivateFile {
    /// `owner`: the file is given to that uid and gid through its descriptor before it is
    /// renamed into place (never by path, which another user's link could redirect).
    public static func write(_ contents: String, to path: String, mode: mode_t = 0o600, owner: (uid: UInt32, gid: UInt32)? = nil) throws {
        let temporary = "\(path).tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else { throw PrivateFileError(path: path, errno: errno) }
        if let owner, fchown(fd, owner.uid, owner.gid) != 0 {
            let saved = errno
            close(fd)
            unlink(temporary)
            throw PrivateFileError(path: path, errno: saved)
        }
        var ok = true
        Array(contents.utf8).withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if written <= 0 { ok = false; break }
                offset += written
            }
        }
        // The mode as asked, whatever the umask took away.
        if ok { ok = fchmod(fd, mode) == 0 && fsync(fd) == 0 }
        let savedErrno = errno
        close(fd)
        guard ok, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw PrivateFileError(path: path, errno: ok ? errno : savedErrno)
        }
    }
}

public struct PrivateFileError: Error, CustomStringConvertible {
    public let path: String
    public let errno: Int32
    public var description: String { "cannot write \(path): \(String(cString: strerror(errno)))" }
}

extension PrivateFile {
    /// Appends to a file that must already be there, belong to `uid` and not be a link: a
    /// file in a directory another user controls is never followed elsewhere.
    public static func append(_ contents: String, to path: String, expectedOwner uid: UInt32) throws {
        let fd = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw PrivateFileError(path: path, errno: errno) }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0, status.st_mode & S_IFMT == S_IFREG, status.st_uid == uid, status.st_nlink == 1 else {
            throw PrivateFileError(path: path, errno: EPERM)
        }
        let bytes = Array(contents.utf8)
        guard bytes.withUnsafeBytes({ Glibc.write(fd, $0.baseAddress, $0.count) }) == bytes.count else {
            throw PrivateFileError(path: path, errno: errno)
        }
    }
}
