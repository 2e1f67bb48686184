import Foundation
import HoopCommon

/// Debian's PostgreSQL server programs (initdb, pg_ctl), which are not on PATH.
/// `$HOOPCTL_PG_BINDIR` overrides; otherwise the newest /usr/lib/postgresql/N/bin.
public struct PostgresBinaries: Sendable {
    public let directory: String

    public static func locate(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> PostgresBinaries {
        var candidates: [String] = []
        if let override = environment["HOOPCTL_PG_BINDIR"], !override.isEmpty { candidates.append(override) }
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? [])
            .compactMap(Int.init).sorted(by: >)
        candidates += versions.map { "/usr/lib/postgresql/\($0)/bin" }
        if let onPath = try? ChildProcess.locate("pg_ctl") {
            candidates.append(URL(fileURLWithPath: onPath).deletingLastPathComponent().path)
        }
        for directory in candidates where FileManager.default.isExecutableFile(atPath: "\(directory)/initdb")
            && FileManager.default.isExecutableFile(atPath: "\(directory)/pg_ctl") {
            return PostgresBinaries(directory: directory)
        }
        throw SandboxError.postgresNotInstalled
    }

    public func path(_ program: String) -> String { "\(directory)/\(program)" }

    /// The major version, from `pg_ctl --version` ("pg_ctl (PostgreSQL) 15.18 ...").
    public func majorVersion() -> Int? {
        guard let output = try? ChildProcess(path("pg_ctl"), ["--version"]).check().stdout,
              let version = output.split(separator: " ").last(where: { $0.first?.isNumber == true }) else { return nil }
        return Int(version.split(separator: ".").first ?? "")
    }
}
