import ArgumentParser
import Foundation
import HoopBrokerAPI
import HoopCommon

extension Hoopctl {
    struct Sessions: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List your sessions (admins: everyone's), active and ended in the last day.")

        @Flag(help: "Only active sessions.")
        var active = false

        @Flag(help: "One JSON object per line.")
        var json = false

        @OptionGroup var broker: BrokerOptions

        func run() async throws {
            let list: SessionList = try await broker.call { try await $0.call(Endpoints.listSessions, nil, SessionListing(all: !active)) }
            if json {
                for session in list.sessions { Output.line(String(decoding: try BrokerAPI.encoder.encode(session), as: UTF8.self)) }
                return
            }
            guard !list.sessions.isEmpty else {
                Output.line(Output.dim(active ? "no active sessions" : "no sessions in the last day"))
                return
            }
            func time(_ date: Date) -> String { UTCTime.seconds(Int64(date.timeIntervalSince1970 * 1e6)) }
            Output.table(header: ["SESSION", "IDENTITY", "TARGET", "ROLE", "STARTED", "EXPIRES", "STATE", "COMMAND"],
                         rows: list.sessions.map { session in
                             let state = session.state == .ended ? "ended (\(session.endedBy ?? "-")\(session.exitCode.map { ", exit \($0)" } ?? ""))" : session.state.rawValue
                             return [session.id, session.identity, session.target, session.role, time(session.startedAt),
                                     time(session.expiresAt), state, session.command?.joined(separator: " ") ?? "-"]
                         })
        }
    }
}
