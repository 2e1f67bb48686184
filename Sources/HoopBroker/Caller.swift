import Foundation
import HoopCommon
import HoopDetectors
#if canImport(Glibc)
import Glibc
#endif

/// Where a call to the broker came from: this machine's unix socket (the kernel names the
/// caller) or the network over TLS (only a token does).
public enum CallOrigin: Sendable, Equatable {
    case local(PeerCredentials)
    case remote(address: String)

    public var peer: PeerCredentials? {
        if case .local(let peer) = self { peer } else { nil }
    }
}

/// What the kernel says about the other end of a unix socket (SO_PEERCRED).
public struct PeerCredentials: Sendable, Equatable {
    public let pid: Int32
    public let uid: UInt32
    public let gid: UInt32

    public init(pid: Int32, uid: UInt32, gid: UInt32) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }

    /// `user:NAME` with the user's OS groups from the user database.
    public func identity() -> Identity {
        let name = OSUser.name(of: uid)
        return Identity(principal: Principal(kind: .user, name: name), osGroups: Self.groups(user: name, gid: gid),
                        uid: uid, method: "peer")
    }

    static func groups(user: String, gid: UInt32) -> [String] {
        var count: Int32 = 64
        var ids = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(user, gid, &ids, &count) < 0 {
            ids = [gid_t](repeating: 0, count: Int(count))
            guard getgrouplist(user, gid, &ids, &count) >= 0 else { return [] }
        }
        return ids.prefix(Int(count)).compactMap { id in
            guard let entry = getgrgid(id), let name = entry.pointee.gr_name else { return nil }
            return String(cString: name)
        }.sorted()
    }
}

/// The calling process, read by the broker from /proc (not taken from the client's word):
/// this is how an agent job is traced.
public struct CallingProcess: Sendable, Equatable {
    public let pid: Int32
    public let uid: UInt32
    /// Kernel start time of the process (clock ticks since boot): tells a live client from a reused pid.
    public let startTime: UInt64?
    public let executable: String?
    public let arguments: [String]?
    public let parentPID: Int32?
    public let parentArguments: [String]?

    public static func read(_ peer: PeerCredentials) -> CallingProcess {
        let stat = ProcStat.read(pid: peer.pid)
        return CallingProcess(pid: peer.pid, uid: peer.uid, startTime: stat?.startTime,
                             executable: try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(peer.pid)/exe"),
                             arguments: ProcStat.commandLine(pid: peer.pid), parentPID: stat?.parentPID,
                             parentArguments: stat.flatMap { ProcStat.commandLine(pid: $0.parentPID) })
    }

    /// The same process with its command lines (and its parent's) as they may be recorded and
    /// shown: `CommandLineMask` with the target's detectors.
    func masked(detectors: DetectorEngine?) -> CallingProcess {
        CallingProcess(pid: pid, uid: uid, startTime: startTime, executable: executable,
                       arguments: arguments.map { CommandLineMask.mask($0, detectors: detectors) }, parentPID: parentPID,
                       parentArguments: parentArguments.map { CommandLineMask.mask($0, detectors: detectors) })
    }

    /// Whether this very process still runs (same pid, same start time).
    public var isAlive: Bool {
        guard let startTime else { return kill(pid, 0) == 0 || errno == EPERM }
        return ProcStat.read(pid: pid)?.startTime == startTime
    }
}

enum ProcStat {
    struct Stat { let parentPID: Int32; let startTime: UInt64 }

    /// /proc/PID/stat: the command name is in parentheses and may hold spaces; fields follow the last ')'.
    static func read(pid: Int32) -> Stat? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After ')': state(0) ppid(1) ... starttime is field 22 of the whole line, index 19 here.
        guard fields.count > 19, let parent = Int32(fields[1]), let start = UInt64(fields[19]) else { return nil }
        return Stat(parentPID: parent, startTime: start)
    }

    static func commandLine(pid: Int32) -> [String]? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !data.isEmpty else { return nil }
        return data.split(separator: 0, omittingEmptySubsequences: false).dropLast().map { String(decoding: $0, as: UTF8.self) }
    }
}
