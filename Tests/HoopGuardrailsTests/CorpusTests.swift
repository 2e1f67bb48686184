import Foundation
import HoopGuardrails
import HoopPolicy
import HoopSandbox
import HoopSQL
import XCTest

/// Every statement of the corpus, and variants of it that must not change the answer (comments
/// before and after, other whitespace, a final semicolon), gets its expected class and decision
/// under the demo policy: no misses and no false alarms.
final class CorpusTests: XCTestCase {
    struct Case {
        let line: Int
        let expectedClass: String
        let expectedDecision: String
        let sql: String
    }

    static func corpus() throws -> [Case] {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "Corpus/statements", withExtension: "txt"))
        var cases: [Case] = []
        for (index, line) in try String(contentsOf: url, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let text = line.trimmingCharacters(in: .whitespaces)
            guard !text.isEmpty, !text.hasPrefix("#") else { continue }
            let parts = text.split(separator: "|", maxSplits: 2).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 3 else { throw CorpusError("line \(index + 1): expected 'class | decision | sql'") }
            cases.append(Case(line: index + 1, expectedClass: parts[0], expectedDecision: parts[1],
                              sql: parts[2].replacingOccurrences(of: "\\n", with: "\n")))
        }
        return cases
    }

    struct CorpusError: Error { let message: String; init(_ message: String) { self.message = message } }

    static var target: Target {
        let policy = PolicyLoader.parse(yaml: DemoPolicy.yaml(user: "tester"), file: "policy.yaml", baseDirectory: "/nonexistent")
        return policy.policy!.targets[DemoPolicy.targetName]!
    }

    static func variants(_ sql: String) -> [String] {
        var variants = [sql, "/* hoopctl corpus */ " + sql, "\n" + sql + " -- trailing comment", sql + ";"]
        // Other whitespace, but no new line: one between two string literals joins them.
        if !sql.contains("--") { variants.append(sql.replacingOccurrences(of: " ", with: " \t  ")) }
        return variants
    }

    func testTheCorpusGetsItsExpectedClassesAndDecisions() throws {
        let cases = try Self.corpus()
        let target = Self.target
        let analyzer = StatementAnalyzer()
        var checked = 0, failures: [String] = []
        for item in cases {
            for sql in Self.variants(item.sql) {
                // Twice through one analyzer (the second answer comes from its caches), once fresh.
                for analyses in [analyzer.analyze(sql), analyzer.analyze(sql), StatementAnalyzer().analyze(sql)] {
                    let decision = GuardrailJudge.decide(analyses, guardrails: target.guardrails, detectorsOn: !target.detectors.isEmpty)
                    let statementClass = analyses.map(\.facts.statementClass).max()?.rawValue ?? "empty"
                    if statementClass != item.expectedClass || decision.decision.rawValue != item.expectedDecision {
                        let why = decision.statements.map { "\($0.statementClass.rawValue)/\($0.decision.rawValue) by \($0.rule): \($0.reason)" }
                        failures.append("line \(item.line): \(sql.debugDescription) is \(statementClass) | \(decision.decision.rawValue), expected \(item.expectedClass) | \(item.expectedDecision) — \(why)")
                        break
                    }
                }
                checked += 1
            }
        }
        XCTAssertGreaterThanOrEqual(cases.count, 300)
        XCTAssertGreaterThanOrEqual(checked, 1000, "statements checked, variants included")
        XCTAssertTrue(failures.isEmpty, "\(failures.count) of \(checked):\n" + failures.prefix(40).joined(separator: "\n"))
        print("guardrail corpus: \(cases.count) statements, \(checked) with variants, \(failures.count) wrong")
    }

    func testEveryClassAndDecisionIsInTheCorpus() throws {
        let cases = try Self.corpus()
        XCTAssertEqual(Set(cases.map(\.expectedClass)), Set(SQLClass.allCases.map(\.rawValue)))
        XCTAssertEqual(Set(cases.map(\.expectedDecision)), ["allow", "review", "deny"])
    }
}
