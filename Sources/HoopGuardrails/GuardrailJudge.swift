import HoopPolicy
import HoopSQL

/// The decision on one statement and why.
public struct StatementDecision: Sendable, Equatable {
    public var statementClass: SQLClass
    public var bounded: Bool?
    public var relations: [String]
    public var functions: [String]
    public var decision: GuardAction
    /// What decided: `class read`, `unbounded_write`, `privileged_functions`, or a policy rule.
    public var rule: String
    /// Why, in words a person reads: the rule's reason, or what the analysis found.
    public var reason: String
}

/// The decision on a whole text (every statement in it): the most severe of its statements'.
public struct GuardrailDecision: Sendable, Equatable {
    public var decision: GuardAction
    public var statements: [StatementDecision]

    /// The statement that decided (the first of the most severe), when any is not allowed.
    public var deciding: StatementDecision? { statements.first { $0.decision == decision && decision != .allow } }
}

extension GuardAction {
    /// deny > review > allow.
    public var severity: Int { self == .deny ? 2 : self == .review ? 1 : 0 }
}

/// Applies a target's guardrails to analysed statements. I/O-free: the proxy and
/// `hoopctl policy explain` both decide through here, so they cannot disagree.
public enum GuardrailJudge {
    /// `detectorsOn`: the target masks in flight, so what its detectors cannot read is refused.
    public static func decide(_ analyses: [StatementAnalysis], guardrails: Guardrails, detectorsOn: Bool = false) -> GuardrailDecision {
        let statements = analyses.map { decide($0.facts, guardrails: guardrails, detectorsOn: detectorsOn) }
        let decision = statements.map(\.decision).max { $0.severity < $1.severity } ?? .allow
        return GuardrailDecision(decision: decision, statements: statements)
    }

    public static func decide(_ facts: StatementFacts, guardrails: Guardrails, detectorsOn: Bool = false) -> StatementDecision {
        let statementClass = StatementClass(rawValue: facts.statementClass.rawValue) ?? .opaque
        var decision = StatementDecision(statementClass: facts.statementClass, bounded: facts.bounded, relations: facts.relations,
                                         functions: facts.functions, decision: guardrails.action(for: statementClass),
                                         rule: "class \(statementClass.rawValue)",
                                         reason: facts.notes.first ?? "a \(statementClass.rawValue) statement")
        func consider(_ action: GuardAction, rule: String, reason: String) {
            guard action.severity > decision.decision.severity else { return }
            decision.decision = action
            decision.rule = rule
            decision.reason = reason
        }
        if facts.bounded == false {
            consider(guardrails.unboundedWrite, rule: "unbounded_write", reason: "UPDATE or DELETE without a WHERE that limits its rows")
        }
        if detectorsOn, let unreadable = facts.copyOutUnreadable {
            consider(.deny, rule: "detectors", reason: "COPY with \(unreadable) cannot be read by the in-flight detectors (an escaped or "
                     + "doubled character splits what they look for); use text or csv with the default delimiter, quote, escape and encoding")
        }
        if !facts.privilegedFunctions.isEmpty {
            consider(guardrails.privilegedFunctions, rule: "privileged_functions",
                     reason: "calls \(facts.privilegedFunctions.joined(separator: ", "))")
        }
        for (index, rule) in guardrails.rules.enumerated() where applies(rule, to: facts, statementClass: statementClass) {
            consider(rule.action, rule: "rule \(index + 1) (\(rule.location))",
                     reason: rule.reason ?? "guardrail rule \(index + 1) of the policy")
        }
        return decision
    }

    /// A rule applies when the statement's class is among its classes (all when none are
    /// listed) and it touches one of its tables or calls one of its functions (when listed).
    /// A rule only about writes looks at the tables written to, not those merely read.
    static func applies(_ rule: GuardrailRule, to facts: StatementFacts, statementClass: StatementClass) -> Bool {
        if !rule.classes.isEmpty, !rule.classes.contains(statementClass) { return false }
        if rule.tables.isEmpty, rule.functions.isEmpty { return true }
        let onlyWrites = !rule.classes.isEmpty && rule.classes.allSatisfy { $0 == .write }
        let relations = onlyWrites ? facts.writes : facts.relations
        let touchesTable = relations.contains { relation in rule.tables.contains { matches($0, relation: relation) } }
        let callsFunction = facts.functions.contains { function in rule.functions.contains { matches($0, function: function) } }
        return touchesTable || callsFunction
    }

    /// An unqualified relation (resolved by the session's search_path, which the proxy does
    /// not see) matches a pattern of any schema; so does one in hoopctl's view schemas.
    static func matches(_ pattern: TablePattern, relation: String) -> Bool {
        let parts = relation.split(separator: ".", maxSplits: 1).map(String.init)
        guard parts.count == 2, !parts[0].hasPrefix("hoop_") else {
            return TablePattern.glob(pattern.table, parts.last ?? relation)
        }
        return pattern.matches(schema: parts[0], table: parts[1])
    }

    /// `pg_sleep` matches `pg_sleep` and `pg_catalog.pg_sleep`; a qualified pattern needs that schema.
    static func matches(_ pattern: String, function: String) -> Bool {
        let name = function.split(separator: ".").last.map(String.init) ?? function
        if pattern.contains(".") {
            let qualified = function.contains(".") ? function : "pg_catalog.\(function)"
            return TablePattern.glob(pattern, qualified)
        }
        return TablePattern.glob(pattern, name)
    }
}
