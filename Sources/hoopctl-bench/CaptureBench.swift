import Foundation
import GRDB

/// Issue 16's figures: what capturing statement values costs the broker. The same pgbench -S
/// runs through two sessions of one broker, one role sealing its values (`capture: sealed`, the
/// sandbox's default: a masked preview and HPKE to the auditor key) and one keeping none, in
/// this run, alternating; the broker's CPU per statement from /proc, and the ledger's bytes per
/// statement record of each.
struct CaptureBench {
    let seconds: Int
    let brokerPID: () -> pid_t?
    let ledgerPath: String
    /// A statement whose value meets a masked column: masked in the preview, so sealed.
    let maskedScript: String

    func run(sealed: OpenSession, none: OpenSession, pgbench: ([String], [String: String]) throws -> String) throws {
        let sessions: [(name: String, environment: [String: String])] = [("sealed", sealed.environment), ("none", none.environment)]
        // Four rounds per mode, each a pair run back to back in alternating order; the median of
        // the pairs' ratios, so drift on two shared cores falls on both sides of each pair.
        var report = Report(header: ["broker CPU µs per statement", "capture: sealed", "capture: none", "sealed / none (median of 4 pairs)", "goal"])
        try "\\set n random(1000, 9999)\nselect id from customers where ssn = '078-05-' || :n;\n".write(toFile: maskedScript, atomically: true, encoding: .utf8)
        let workloads = ProxyBench.modes.map { (name: "pgbench -S -M \($0)", arguments: ["-S", "-M", $0]) }
            + [(name: "ssn = '078-05-' || :n, -M prepared (sealed)", arguments: ["-M", "prepared", "-f", maskedScript])]
        for workload in workloads {
            var sealedRuns: [Double] = [], noneRuns: [Double] = [], ratios: [Double] = []
            for round in 0..<4 {
                var pair: [String: Double] = [:]
                for session in round % 2 == 0 ? sessions : sessions.reversed() {
                    guard let pid = brokerPID(), let before = ProxyBench.cpuMicroseconds(pid) else { throw BenchError("no broker pid") }
                    let output = try pgbench(workload.arguments + ["-c", "8", "-j", "2", "-T", String(max(3, seconds / 3))], session.environment)
                    guard let after = ProxyBench.cpuMicroseconds(pid) else { throw BenchError("the broker went away") }
                    let statements = try ProxyBench.number(after: "number of transactions actually processed: ", in: output)
                    pair[session.name] = (after - before) / max(statements, 1)
                }
                sealedRuns.append(pair["sealed"]!)
                noneRuns.append(pair["none"]!)
                ratios.append(pair["sealed"]! / pair["none"]!)
            }
            func median(_ values: [Double]) -> Double { let sorted = values.sorted(); return (sorted[1] + sorted[2]) / 2 }
            let ratio = median(ratios)
            report.add(workload.name, format(median(sealedRuns), decimals: 1), format(median(noneRuns), decimals: 1),
                       format(ratio, decimals: 2), "≤ 1.15: \(ratio <= 1.15 ? "met" : "NOT met")")
        }
        report.print()

        // Bytes a statement record takes in the ledger: its body, hashes and header fields.
        let ledger = try DatabaseQueue(path: ledgerPath, configuration: { var c = Configuration(); c.readonly = true; return c }())
        var bytes = Report(header: ["ledger bytes per statement record", "capture: sealed", "capture: none", "sealed - none"])
        func mean(_ session: OpenSession, _ condition: String) throws -> Double {
            try ledger.read { db in
                try Double.fetchOne(db, sql: """
                    SELECT avg(length(body) + length(hash) + length(prev_hash) + length(kind) + coalesce(length(identity), 0)
                               + coalesce(length(target), 0) + coalesce(length(session), 0) + 16)
                    FROM records WHERE kind = 'statement' AND session = ? AND \(condition)
                    """, arguments: [session.environment["PGUSER"] ?? ""]) ?? 0
            }
        }
        let noneClear = try mean(none, "instr(body, 'ssn') = 0"), noneMasked = try mean(none, "instr(body, 'ssn') > 0")
        let clear = try mean(sealed, "instr(body, '\"sealed\":') = 0"), sealedBytes = try mean(sealed, "instr(body, '\"sealed\":') > 0")
        bytes.add("pgbench -S (values in clear: preview only)", format(clear), format(noneClear), format(clear - noneClear))
        bytes.add("ssn = ... (masked: preview and sealed values)", format(sealedBytes), format(noneMasked), format(sealedBytes - noneMasked))
        bytes.print()
    }
}
