import CProcess
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What this process holds for its caller (a broker token) stays out of reach of the command
/// it runs: the command is the same OS user, and could otherwise read the token from
/// `/proc/PARENT/environ` or from the parent's memory.
public enum ProcessSecrets {
    /// Makes the process undumpable (no same-user reads of its /proc files or memory, no
    /// ptrace) and blanks the values of `names` in the environment block the kernel shows as
    /// `/proc/self/environ` (root, who may read it anyway, sees zeros).
    public static func conceal(environment names: [String]) {
        _ = hoop_process_undumpable()
        guard let (start, end) = environmentBlock(), end > start, let base = UnsafeMutablePointer<UInt8>(bitPattern: start) else { return }
        let length = end - start
        let prefixes = names.map { Array(($0 + "=").utf8) }
        var entry = 0
        while entry < length {
            var next = entry
            while next < length, base[next] != 0 { next += 1 }
            for prefix in prefixes where next - entry >= prefix.count
                && (0..<prefix.count).allSatisfy({ base[entry + $0] == prefix[$0] }) {
                for index in (entry + prefix.count)..<next { base[index] = 0 }
            }
            entry = next + 1
        }
    }

    /// The kernel's env_start and env_end for this process (fields 50 and 51 of /proc/self/stat).
    static func environmentBlock() -> (Int, Int)? {
        guard let text = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8), let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After ')' comes field 3 (state): field N is at index N - 3.
        guard fields.count > 48, let start = Int(fields[47]), let end = Int(fields[48].trimmingCharacters(in: .whitespacesAndNewlines)) else { return nil }
        return (start, end)
    }
}
