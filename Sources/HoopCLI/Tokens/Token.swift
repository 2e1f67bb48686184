import ArgumentParser
import Foundation
import HoopBrokerAPI
import HoopCommon

extension Hoopctl {
    struct Token: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue and revoke broker-signed tokens: identities for services, agents and people not on this machine (admins).",
            discussion: """
                A client presents a token with $HOOPCTL_TOKEN or --token-file; the broker then takes it for the \
                token's subject instead of the OS user. Tokens are Ed25519-signed by the broker and last at most 30 days.
                """,
            subcommands: [Issue.self, Revoke.self, List.self]
        )
    }
}

extension Hoopctl.Token {
    struct Issue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue a token; prints it once, on standard output.")

        @Option(help: ArgumentHelp("Who the token speaks for: user:NAME or service:NAME.", valueName: "principal"))
        var subject: String

        @Option(help: ArgumentHelp("How long it is valid (at most 30d).", valueName: "duration"))
        var ttl: TimeSpan = TimeSpan(seconds: 3600)

        @Flag(help: "Print one JSON object (with the token).")
        var json = false

        @OptionGroup var broker: BrokerOptions

        func run() async throws {
            let info: TokenInfo = try await broker.call { try await $0.call(Endpoints.issueToken, nil, TokenIssue(subject: subject, ttlSeconds: Int(ttl.seconds))) }
            if json {
                Output.line(String(decoding: try BrokerAPI.encoder.encode(info), as: UTF8.self))
            } else {
                Output.line(info.token ?? "")
                Output.note("token \(info.id) for \(info.subject), valid until \(UTCTime.seconds(Int64(info.expiresAt.timeIntervalSince1970 * 1e6))); keep it secret (HOOPCTL_TOKEN or --token-file)")
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token now.")

        @Argument(help: "The token id (not the token), or an unambiguous prefix of at least 4 characters.")
        var id: String

        @OptionGroup var broker: BrokerOptions

        func run() async throws {
            let info: TokenInfo = try await broker.call { try await $0.call(Endpoints.revokeToken, id) }
            let sessions = info.sessionsEnded ?? 0, requests = info.requestsWithdrawn ?? 0
            Output.line("revoked token \(info.id) of \(info.subject): \(sessions) session\(sessions == 1 ? "" : "s") ended, "
                        + "\(requests) request\(requests == 1 ? "" : "s") withdrawn")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the tokens issued in the last 30 days.")

        @Flag(help: "One JSON object per line.")
        var json = false

        @OptionGroup var broker: BrokerOptions

        func run() async throws {
            let list: TokenList = try await broker.call { try await $0.call(Endpoints.listTokens) }
            if json {
                for token in list.tokens { Output.line(String(decoding: try BrokerAPI.encoder.encode(token), as: UTF8.self)) }
                return
            }
            guard !list.tokens.isEmpty else { return Output.line(Output.dim("no tokens")) }
            func time(_ date: Date) -> String { UTCTime.seconds(Int64(date.timeIntervalSince1970 * 1e6)) }
            Output.table(header: ["TOKEN", "SUBJECT", "ISSUED BY", "ISSUED", "EXPIRES", "STATE"], rows: list.tokens.map {
                [$0.id, $0.subject, $0.issuedBy, time($0.issuedAt), time($0.expiresAt),
                 $0.revoked ? "revoked" : ($0.expiresAt < Date() ? "expired" : "valid")]
            })
        }
    }
}
