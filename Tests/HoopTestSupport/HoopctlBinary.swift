import Foundation
import HoopCommon

/// The built `hoopctl` executable, run as a user would run it.
public enum HoopctlBinary {
    /// Next to the test bundle, in the same build products directory.
    public static var path: String {
        let executable = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0])
        var directory = executable.deletingLastPathComponent()
        while directory.path != "/" {
            let candidate = directory.appendingPathComponent("hoopctl").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        return "hoopctl"
    }

    /// Runs `hoopctl ARGS` with our environment plus `environment` (an empty value removes a variable).
    @discardableResult
    public static func run(_ arguments: [String], environment: [String: String] = [:], input: String? = nil) throws -> ChildProcess.Result {
        var merged = ProcessInfo.processInfo.environment
        merged["NO_COLOR"] = "1"
        for (key, value) in environment { if value.isEmpty { merged[key] = nil } else { merged[key] = value } }
        return try ChildProcess(path, arguments, environment: merged, input: input.map { Data($0.utf8) }).run()
    }
}
