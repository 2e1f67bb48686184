import ArgumentParser
import Foundation
import HoopBrokerAPI
import HoopLedger

extension Hoopctl.AuditCommand {
    struct Log: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List ledger records (the default 'audit' command).",
            discussion: """
                Times are UTC. --since and --until take a duration back from now (90s, 30m, 1h, 7d) \
                or a date (2026-11-25, 2026-11-25T14:00, 2026-11-25T14:00:00Z; local time unless a zone is given).
                """)

        @Option(help: ArgumentHelp("Records at or after this time.", valueName: "duration|date"))
        var since: TimeArgument?

        @Option(help: ArgumentHelp("Records before this time.", valueName: "duration|date"))
        var until: TimeArgument?

        @Option(help: ArgumentHelp("Records of this identity: a user name, or a principal like service:bot.", valueName: "user"))
        var user: String?

        @Option(help: "Records about this target.")
        var target: String?

        @Option(help: "Records of this session.")
        var session: String?

        @Option(help: ArgumentHelp("Records of the sessions of this job (exec --correlation-id), session by session.", valueName: "id"))
        var correlationId: String?

        @Option(help: ArgumentHelp("Records of this kind (repeatable): \(RecordKind.allCases.map(\.rawValue).joined(separator: ", ")).",
                                   valueName: "kind"))
        var kind: [RecordKind] = []

        @Option(help: "Only the newest N records.")
        var limit: Int?

        @Flag(help: "One JSON object per line, with the record's body and hashes.")
        var json = false

        @Flag(help: "Keep printing records as they are committed (from now on, or after --after), until interrupted.")
        var follow = false

        @Option(help: ArgumentHelp("Only records after this id: resumes a --follow where it stopped.", valueName: "id"))
        var after: Int64?

        @Flag(help: "CSV with a header line.")
        var csv = false

        @OptionGroup var ledgerOptions: LedgerOptions

        func validate() throws {
            if json && csv { throw ValidationError("--json and --csv cannot be used together") }
            if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
            if follow, csv { throw ValidationError("--follow prints lines or JSON lines, not CSV") }
            if follow, limit != nil { throw ValidationError("--follow and --limit cannot be used together") }
            if let correlationId, !SessionRequest.isValidCorrelation(correlationId) {
                throw ValidationError(SessionRequest.correlationRule)
            }
            if let since, let until, since.date >= until.date {
                throw ValidationError("--since must be earlier than --until")
            }
        }

        @OptionGroup var broker: BrokerOptions

        func run() async throws {
            var query = LedgerQuery(since: since?.date, until: until?.date, target: target, session: session,
                                    kinds: kind, limit: limit)
            if let user { query.identity = user.contains(":") ? user : "user:\(user)" }
            query.correlation = correlationId
            query.afterID = after
            if follow { return try await self.follow(query) }
            let records: [LedgerRecord]
            if let ledger = try ledgerOptions.opened() {
                do { records = try ledger.records(query) } catch { throw CLIError(error) }
            } else {
                let answer: AuditRecords = try await broker.call { try await $0.call(Endpoints.auditRecords, nil, query) }
                records = answer.records
            }
            if json {
                for record in records { Output.line(AuditFormat.jsonLine(record)) }
            } else if csv {
                Output.line("id,time,kind,identity,target,session,summary,body,prev_hash,hash")
                for record in records {
                    Output.line([String(record.id), AuditFormat.time(record), record.kind, record.identity ?? "",
                                 record.target ?? "", record.session ?? "", AuditFormat.summary(record), record.body,
                                 record.previousHash, record.hash].map(Output.csvField).joined(separator: ","))
                }
            } else if records.isEmpty {
                Output.line(Output.dim("no records"))
            } else {
                Output.table(header: ["ID", "TIME", "KIND", "IDENTITY", "TARGET", "SESSION", "SUMMARY"],
                             rows: records.map {
                                 [String($0.id), AuditFormat.time($0), $0.kind, $0.identity ?? "-", $0.target ?? "-",
                                  $0.session ?? "-", AuditFormat.summary($0)]
                             })
            }
        }

        /// Polls the source for records after the last one printed; every line is flushed, so a
        /// log shipper reading a pipe sees each record as soon as it is committed.
        private func follow(_ query: LedgerQuery) async throws {
            var query = query
            let ledger = try ledgerOptions.opened()
            func fetch(_ query: LedgerQuery) async throws -> [LedgerRecord] {
                if let ledger {
                    do { return try ledger.records(query) } catch { throw CLIError(error) }
                }
                let answer: AuditRecords = try await broker.call { try await $0.call(Endpoints.auditRecords, nil, query) }
                return answer.records
            }
            if query.afterID == nil, query.since == nil {
                // From now on: start after the newest record.
                query.afterID = try await fetch(LedgerQuery(limit: 1)).last?.id ?? 0
            }
            if !json { Output.line(Output.bold("ID  TIME  KIND  IDENTITY  TARGET  SESSION  SUMMARY")) }
            while true {
                var page = query
                page.limit = nil
                let records = try await fetch(page)
                for record in records {
                    Output.line(json ? AuditFormat.jsonLine(record)
                                : [String(record.id), AuditFormat.time(record), record.kind, record.identity ?? "-", record.target ?? "-",
                                   record.session ?? "-", Output.singleLine(AuditFormat.summary(record))].joined(separator: "  "))
                    query.afterID = record.id
                }
                fflush(nil)
                if query.until.map({ $0 <= Date() }) == true { return }
                try await Task.sleep(nanoseconds: records.isEmpty ? 250_000_000 : 20_000_000)
            }
        }
    }
}

extension RecordKind: ExpressibleByArgument {}
