import ArgumentParser
import HoopBrokerAPI

extension Hoopctl.TargetCommand {
    struct Doctor: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List what would let a session get around masking or guardrails (admins).",
            discussion: """
                'bypass' findings mean a session role could read an unmasked value; exec and connect refuse \
                the target while there are any (unless its policy sets allow_masking_bypass). 'risk' findings \
                weaken a guarantee without exposing values. Exits 4 when it finds anything.
                """)

        @Argument(help: "The target.")
        var target: String

        @Flag(help: "Print one JSON object.")
        var json = false

        @OptionGroup var broker: BrokerOptions

        func run() async throws {
            let report: DoctorReport = try await broker.call { try await $0.call(Endpoints.doctorTarget, target) }
            if json {
                Output.line(String(decoding: try BrokerAPI.encoder.encode(report), as: UTF8.self))
            } else if report.findings.isEmpty {
                Output.line("\(Output.green("ok")): nothing found that gets around masking on \(target)")
            } else {
                for finding in report.findings {
                    let label = finding.severity == .bypass ? Output.red("bypass") : "risk"
                    Output.line("\(label)  \(finding.check): \(finding.message)")
                }
                let bypasses = report.findings.filter { $0.severity == .bypass }.count
                Output.line("\(report.findings.count) finding\(report.findings.count == 1 ? "" : "s"), \(bypasses) bypass\(bypasses == 1 ? "" : "es")")
            }
            if !report.findings.isEmpty { throw ExitStatus.findings }
        }
    }
}
