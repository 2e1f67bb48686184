import ArgumentParser
import Foundation
import HoopCommon
import HoopGuardrails
import HoopPolicy
import HoopSQL

extension Hoopctl.PolicyCommand {
    struct Explain: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Say what the guard proxy would decide for SQL, and why, without touching a database.",
            discussion: """
                Each statement gets its class, relations, boundedness and decision, from PostgreSQL's own \
                parser and the target's guardrails — the same code the proxy enforces with. For CI pipelines \
                that vet migrations: exits 0 when everything is allowed, 75 when something needs review, \
                77 when something is denied.

                Example: hoopctl policy explain --target prod-db --sql "delete from orders" --json
                """)

        @Option(help: "The target whose guardrails apply.")
        var target: String

        // Taken whatever it starts with: SQL may begin with a `--` comment.
        @Option(parsing: .unconditional, help: "The SQL: one or more statements (it may begin with --).")
        var sql: String?

        @Option(help: "Read the SQL from this file ('-' for standard input) instead of --sql.", completion: .file())
        var file: String?

        @Option(help: "Also check that this identity (bob, user:bob, service:job) may use the target (and --role).")
        var user: String?

        @Option(help: "Also check that the role exists on the target (and that --user may use it).")
        var role: String?

        @Option(help: "The policy file (default: $HOOPCTL_POLICY, else $HOOPCTL_HOME/policy.yaml).", completion: .file(extensions: ["yaml", "yml"]))
        var policy: String?

        @Flag(help: "Print one JSON object: the decision and each statement's.")
        var json = false

        func validate() throws {
            guard (sql == nil) != (file == nil) else { throw ValidationError("give the SQL with exactly one of --sql or --file") }
            if let user, !user.contains(":"), !Principal.isValidName(user) { throw ValidationError("'\(user)' is not a valid user name") }
        }

        func run() throws {
            let path = policy ?? StateDirectory.resolve().policyPath()
            let loaded = PolicyLoader.load(path: path)
            guard let policy = loaded.policy else {
                for diagnostic in loaded.errors { Output.error(diagnostic.description) }
                throw ExitStatus.invalid
            }
            guard let target = policy.targets[target] else {
                throw ValidationError("no target '\(self.target)' in \(path) (targets: \(policy.targets.keys.sorted().joined(separator: ", ")))")
            }
            let text: String
            if let file {
                guard let data = file == "-" ? FileHandle.standardInput.readDataToEndOfFile() : FileManager.default.contents(atPath: file),
                      let decoded = String(data: data, encoding: .utf8) else { throw ValidationError("cannot read \(file) as UTF-8 text") }
                text = decoded
            } else {
                text = sql ?? ""
            }

            let analyses = StatementAnalyzer().analyze(text)
            var decision = GuardrailJudge.decide(analyses, guardrails: target.guardrails, detectorsOn: !target.detectors.isEmpty)
            var access: (rule: String, reason: String)?
            if let refusal = try accessRefusal(policy: policy, target: target) {
                access = ("access", refusal)
                decision.decision = .deny
            }

            if json {
                var object: [String: Any] = [
                    "decision": decision.decision.rawValue,
                    "statements": zip(analyses, decision.statements).map { analysis, statement in
                        [
                            "sql": analysis.normalized, "class": statement.statementClass.rawValue,
                            "bounded": statement.bounded.map { $0 as Any } ?? NSNull(), "relations": statement.relations,
                            "functions": statement.functions, "decision": statement.decision.rawValue, "rule": statement.rule,
                            "reason": statement.reason,
                        ] as [String: Any]
                    },
                ]
                if let access { object["access"] = ["decision": "deny", "reason": access.reason] }
                Output.json(object)
            } else {
                for (index, (analysis, statement)) in zip(analyses, decision.statements).enumerated() {
                    let verdict = Self.colored(statement.decision)
                    Output.line("\(index + 1). \(statement.statementClass.rawValue) → \(verdict) by \(statement.rule): \(statement.reason)")
                    Output.line("   \(analysis.normalized)")
                    var details: [String] = []
                    if !statement.relations.isEmpty { details.append("relations \(statement.relations.joined(separator: ", "))") }
                    if let bounded = statement.bounded { details.append(bounded ? "bounded" : "unbounded") }
                    if !details.isEmpty { Output.line(Output.dim("   \(details.joined(separator: " · "))")) }
                }
                if analyses.isEmpty { Output.line("no statements") }
                if let access { Output.line("access → \(Self.colored(.deny)): \(access.reason)") }
                Output.line("decision: \(Self.colored(decision.decision))")
            }
            switch decision.decision {
            case .allow: return
            case .review: throw ExitStatus.pending
            case .deny: throw ExitStatus.denied
            }
        }

        /// Why --user/--role may not use the target, if they may not.
        func accessRefusal(policy: Policy, target: Target) throws -> String? {
            if let role, target.roles[role] == nil {
                throw ValidationError("target '\(target.name)' has no role '\(role)' (roles: \(target.roles.keys.sorted().joined(separator: ", ")))")
            }
            guard let user else { return nil }
            let principal: Principal
            do {
                principal = try user.contains(":") ? Principal(parsing: user) : Principal(kind: .user, name: user)
            } catch {
                throw ValidationError("--user: \(error)")
            }
            let roles = policy.roles(of: Identity(principal: principal, method: "explain"), on: target.name)
            if let role, !roles.contains(role) { return "\(principal) may not use role \(role) on \(target.name)" }
            if roles.isEmpty { return "\(principal) has no role on \(target.name)" }
            return nil
        }

        static func colored(_ action: GuardAction) -> String {
            switch action {
            case .allow: return Output.green("allow")
            case .review: return Output.bold("review")
            case .deny: return Output.red("deny")
            }
        }
    }
}
