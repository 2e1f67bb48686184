import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Directories that hold secrets or sockets, made so that nobody else can have a hand in
/// them: created with `mkdir` (never taken over when they exist and are not ours), checked
/// with `lstat` (a symbolic link is refused, not followed), given away only through a
/// descriptor opened with `O_NOFOLLOW`.
public enum PrivateDirectory {
    public struct Unsafe: Error, CustomStringConvertible {
        public let description: String
    }

    /// Makes `path` (mode 0700, owned by `owner` when given, else by us) or checks that the
    /// one there is a directory, not a link, owned by `owner` (or us), writable by no one else.
    public static func ensure(_ path: String, owner: (uid: UInt32, gid: UInt32)? = nil) throws {
        let expected = owner?.uid ?? geteuid()
        if mkdir(path, 0o700) == 0 {
            guard let owner else { return }
            let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { throw Unsafe(description: "\(path) changed while it was being made") }
            defer { close(fd) }
            guard fchown(fd, owner.uid, owner.gid) == 0 else {
                throw Unsafe(description: "cannot give \(path) to uid \(owner.uid): \(String(cString: strerror(errno)))")
            }
            return
        }
        guard errno == EEXIST else { throw Unsafe(description: "cannot make \(path): \(String(cString: strerror(errno)))") }
        try check(path, owner: expected)
    }

    /// `path` is a real directory, owned by `uid`, with no write or access for group or others.
    public static func check(_ path: String, owner uid: UInt32) throws {
        var status = stat()
        guard lstat(path, &status) == 0 else { throw Unsafe(description: "cannot read \(path): \(String(cString: strerror(errno)))") }
        guard status.st_mode & S_IFMT == S_IFDIR else {
            throw Unsafe(description: "\(path) is not a directory of its own (a link or a file is there): remove it, or look at who put it there")
        }
        guard status.st_uid == uid else {
            throw Unsafe(description: "\(path) belongs to uid \(status.st_uid), not \(uid): someone else made it; remove it, or look at who put it there")
        }
        guard status.st_mode & 0o077 == 0 else {
            throw Unsafe(description: "\(path) may be used by others (mode \(String(status.st_mode & 0o777, radix: 8))): it should be 700")
        }
    }

    /// A new directory with an unpredictable name under `parent` (`mkdtemp`), mode 0700.
    public static func makeUnique(in parent: String, prefix: String) throws -> String {
        var template = Array("\(parent)/\(prefix)XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw Unsafe(description: "cannot make a directory in \(parent): \(String(cString: strerror(errno)))")
        }
        return String(cString: made)
    }
}
