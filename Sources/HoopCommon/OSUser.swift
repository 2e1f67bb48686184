#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The operating-system user running this process.
public enum OSUser {
    public static var isRoot: Bool { geteuid() == 0 }

    public static var uid: UInt32 { geteuid() }

    /// The login name of the effective user (from the password database), or `uid<N>`.
    public static var name: String { name(of: geteuid()) }

    public static func name(of uid: UInt32) -> String {
        guard let entry = getpwuid(uid), let name = entry.pointee.pw_name else { return "uid\(uid)" }
        return String(cString: name)
    }

    /// The uid and gid of a named user, if it exists.
    public static func lookup(_ name: String) -> (uid: UInt32, gid: UInt32)? {
        guard let entry = getpwnam(name) else { return nil }
        return (entry.pointee.pw_uid, entry.pointee.pw_gid)
    }
}
