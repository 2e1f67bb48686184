import ArgumentParser
import HoopCommon
import HoopPolicy

extension Hoopctl.PolicyCommand {
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Report every problem of a policy file as FILE:LINE:COL: error: MESSAGE.",
            discussion: """
                Exits 0 and prints a one-line summary when the file is valid (warnings do not fail it), \
                2 when it has errors. Without FILE, checks $HOOPCTL_POLICY, else $HOOPCTL_HOME/policy.yaml.
                """)

        @Argument(help: "The policy file.", completion: .file(extensions: ["yaml", "yml"]))
        var file: String?

        @Flag(help: "Print one JSON object: the diagnostics and, when valid, the summary.")
        var json = false

        func run() throws {
            let path = file ?? StateDirectory.resolve().policyPath()
            let result = PolicyLoader.load(path: path)
            if json {
                var object: [String: Any] = [
                    "file": path, "valid": result.policy != nil,
                    "diagnostics": result.diagnostics.map {
                        ["line": $0.location.line, "column": $0.location.column,
                         "severity": $0.severity.rawValue, "message": $0.message] as [String: Any]
                    },
                ]
                if let policy = result.policy { object["summary"] = PolicySummary(policy).counts }
                Output.json(object)
            } else {
                for diagnostic in result.diagnostics { Output.line(diagnostic.description) }
                if let policy = result.policy {
                    let warnings = result.warnings.count
                    let suffix = warnings == 0 ? "" : ", \(warnings) warning\(warnings == 1 ? "" : "s")"
                    Output.line("\(path): \(Output.green("valid")): \(PolicySummary(policy).text)\(suffix)")
                } else {
                    let errors = result.errors.count
                    Output.line("\(path): \(errors) error\(errors == 1 ? "" : "s"); nothing was applied")
                }
            }
            if result.policy == nil { throw ExitStatus.invalid }
        }
    }
}

/// Counts for the one-line summary of a valid policy.
struct PolicySummary {
    let counts: [String: Int]

    init(_ policy: Policy) {
        counts = [
            "targets": policy.targets.count,
            "roles": policy.targets.values.reduce(0) { $0 + $1.roles.count },
            "groups": policy.groups.count,
            "access_rules": policy.access.count,
            "masked_columns": policy.targets.values.reduce(0) { $0 + $1.masking.count },
            "detectors": policy.targets.values.reduce(0) { $0 + $1.detectors.count },
            "admins": policy.admins.count,
        ]
    }

    var text: String {
        func plural(_ key: String, _ word: String) -> String {
            let n = counts[key] ?? 0
            return "\(n) \(word)\(n == 1 ? "" : "s")"
        }
        return [plural("targets", "target"), plural("roles", "role"), plural("groups", "group"),
                plural("access_rules", "access rule"), plural("masked_columns", "masked column"),
                plural("detectors", "detector")].joined(separator: ", ")
    }
}
