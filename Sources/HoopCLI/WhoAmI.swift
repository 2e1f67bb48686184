import ArgumentParser
import Foundation
import HoopBrokerAPI

extension Hoopctl {
    struct WhoAmI: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "whoami",
            abstract: "Show who the broker thinks you are, and what you may use.")

        @Flag(help: "Print one JSON object.")
        var json = false

        @OptionGroup var broker: BrokerOptions

        func run() async throws {
            let me: HoopBrokerAPI.WhoAmI = try await broker.call { try await $0.call(Endpoints.whoami) }
            if json {
                Output.line(String(decoding: try BrokerAPI.encoder.encode(me), as: UTF8.self))
                return
            }
            var roles = [me.admin ? "admin" : nil, me.auditor ? "auditor" : nil].compactMap { $0 }
            if roles.isEmpty { roles = ["-"] }
            Output.line("\(Output.bold(me.principal)) (via \(me.method)\(me.uid.map { ", uid \($0)" } ?? "")\(me.tokenID.map { ", token \($0)" } ?? ""))")
            Output.line("groups:   \(me.groups.isEmpty ? "-" : me.groups.joined(separator: ", "))")
            if let issuer = me.issuer {
                Output.line("provider: \(issuer)")
                Output.line("provider groups: \((me.providerGroups ?? []).isEmpty ? "-" : (me.providerGroups ?? []).joined(separator: ", "))")
            } else {
                Output.line("os groups: \(me.osGroups.isEmpty ? "-" : me.osGroups.joined(separator: ", "))")
            }
            Output.line("policy:   \(roles.joined(separator: ", "))")
            if me.access.isEmpty {
                Output.line("access:   none")
            } else {
                for (target, targetRoles) in me.access.sorted(by: { $0.key < $1.key }) {
                    Output.line("access:   \(target): \(targetRoles.joined(separator: ", "))")
                }
            }
        }
    }
}
