import ArgumentParser
import Foundation
import HoopBrokerAPI
import HoopCommon
import HoopLedger
import HoopSQL

extension Hoopctl.AuditCommand {
    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A session as a timeline: connect, each statement with its values (masked), outcome, reviews, the end.",
            discussion: """
                Each statement shows its preview (its values put back, masked by the policy), decision, rows, \
                columns returned, duration and SQLSTATE. With --reveal, the values sealed to the auditor key in \
                --key are opened here, on this machine: the broker first records who revealed which session and \
                why (--reason), and nothing is shown unless that record is written. Admins and auditors only.
                """)

        @Argument(help: "The session id.")
        var session: String

        @Flag(help: "Open the sealed values with the auditor key (recorded in the ledger first).")
        var reveal = false

        @Option(help: ArgumentHelp("The auditor's private key file (from 'audit keygen').", valueName: "file"), completion: .file())
        var key: String?

        @Option(help: ArgumentHelp("Why the values are revealed (recorded).", valueName: "text"))
        var reason: String?

        @Option(help: ArgumentHelp("Read the key's passphrase from the first line of this file.", valueName: "file"), completion: .file())
        var passphraseFile: String?

        @Flag(help: "One JSON object per line.")
        var json = false

        @OptionGroup var ledgerOptions: LedgerOptions

        @OptionGroup var broker: BrokerOptions

        func validate() throws {
            guard session.count == 12, session.allSatisfy(\.isHexDigit) else { throw ValidationError("'\(session)' is not a session id") }
            if reveal {
                guard key != nil else { throw ValidationError("--reveal needs --key FILE (the auditor's private key)") }
                guard let reason, !reason.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("--reveal needs --reason TEXT (it is recorded)") }
                if ledgerOptions.byHand { throw ValidationError("--reveal goes through the broker, which records it first; it cannot read --ledger or --store-dsn-file") }
            } else if key != nil || reason != nil {
                throw ValidationError("--key and --reason go with --reveal")
            }
        }

        func run() async throws {
            // The key opens before anything is asked or recorded: a wrong passphrase costs nothing.
            let opener = try reveal ? openKey() : nil
            let records = try await fetch()
            guard records.contains(where: { $0.session == session }) else {
                throw CLIError("no records of session \(session)", exitCode: ExitStatus.usage)
            }
            if let opener {
                let sealedTo = Set((records.compactMap { $0.decode(StatementBody.self)?.sealed }
                    + records.compactMap { $0.decode(SessionBody.self)?.sealedProcess }).compactMap(ValueOpener.keyID(of:)))
                if sealedTo.isEmpty {
                    Output.note("session \(session) has no sealed values: every preview shows its values exactly; nothing to reveal")
                    print(Timeline(records: records, session: session, opener: nil), json: json)
                    return
                }
                guard sealedTo.contains(opener.keyID) else {
                    throw CLIError("session \(session)'s values are sealed to auditor key \(sealedTo.sorted().joined(separator: ", ")), not to \(opener.keyID); nothing was revealed")
                }
                let recorded: RevealRecorded = try await broker.call {
                    try await $0.call(Endpoints.reveal, nil, RevealRequest(session: session, reason: reason!, key: opener.keyID))
                }
                Output.note("reveal recorded as ledger record #\(recorded.record)")
            }
            print(Timeline(records: records, session: session, opener: opener), json: json)
        }

        private func openKey() throws -> ValueOpener {
            let path = key!
            guard let data = FileManager.default.contents(atPath: path),
                  let file = try? JSONDecoder().decode(AuditorKeyFile.self, from: data) else {
                throw CLIError("cannot read an auditor key from \(path)", exitCode: ExitStatus.usage)
            }
            let passphrase = file.needsPassphrase ? try Passphrase.read(file: passphraseFile, prompt: "passphrase of auditor key \(file.id): ") : nil
            do {
                return ValueOpener(try file.privateKey(passphrase: passphrase))
            } catch {
                throw CLIError("\(error)")
            }
        }

        private func fetch() async throws -> [LedgerRecord] {
            let records = try await self.records(LedgerQuery(session: session))
            // Reviews of its statements and the votes on them are recorded under their reviewers.
            guard let first = records.first else { return records }
            let requestIDs = Set(records.compactMap { $0.decode(StatementBody.self)?.request })
            guard !requestIDs.isEmpty else { return records }
            let more = try await self.records(LedgerQuery(since: first.time, kinds: [.request, .decision]))
            let related = more.filter { record in
                record.session != session && (record.decode(RequestBody.self).map { requestIDs.contains($0.requestID) }
                    ?? record.decode(DecisionBody.self).map { requestIDs.contains($0.requestID) } ?? false)
            }
            return (records + related).sorted { $0.id < $1.id }
        }

        /// From the ledger file given by hand, else from the broker.
        private func records(_ query: LedgerQuery) async throws -> [LedgerRecord] {
            if let ledger = try ledgerOptions.opened() {
                do { return try ledger.records(query) } catch { throw CLIError(error) }
            }
            return try await broker.call { client -> AuditRecords in try await client.call(Endpoints.auditRecords, nil, query) }.records
        }

        private func print(_ timeline: Timeline, json: Bool) {
            for entry in timeline.entries {
                if json {
                    Output.json(entry.json)
                } else {
                    // One line each: a newline in recorded text (a comment, an argument) cannot forge an entry.
                    Output.line("\(entry.time)  \(Output.bold(entry.what.padding(toLength: 10, withPad: " ", startingAt: 0)))  \(Output.singleLine(entry.text))")
                    for detail in entry.details { Output.line("                       \(Output.dim(Output.singleLine(detail)))") }
                }
            }
        }
    }
}

/// A session's records as the lines of a replay, with the sealed values opened when there is a key.
struct Timeline {
    struct Entry {
        var time: String
        var what: String
        var text: String
        var details: [String] = []
        var json: [String: Any] = [:]
    }

    var entries: [Entry] = []

    init(records: [LedgerRecord], session: String, opener: ValueOpener?) {
        var outcomes: [Int64: ResultBody.Outcome] = [:]
        for record in records { for result in record.decode(ResultBody.self)?.results ?? [] { outcomes[result.statement] = result } }
        for record in records {
            let time = UTCTime.micros(record.timestamp)
            var entry: Entry?
            if let body = record.decode(SessionBody.self) {
                switch body.phase {
                case .started:
                    var details: [String] = []
                    if let process = body.process {
                        details.append("process \(process.pid) (uid \(process.uid)): " + (process.arguments ?? [process.executable ?? "?"]).joined(separator: " "))
                    }
                    if let reason = body.reason { details.append("reason: \(reason)") }
                    if let opener, let sealed = body.sealedProcess {
                        if let data = try? opener.open(sealed, context: session),
                           let lines = try? JSONSerialization.jsonObject(with: data) as? [String: [String]] {
                            details.append("revealed command line: " + (lines["arguments"] ?? []).joined(separator: " "))
                            if let parent = lines["parentArguments"], !parent.isEmpty { details.append("revealed parent: " + parent.joined(separator: " ")) }
                            if let reason = lines["reason"]?.first { details.append("revealed reason: " + reason) }
                        } else {
                            details.append("command line not revealed: it does not open with this key")
                        }
                    }
                    entry = Entry(time: time, what: "connect", text: "\(record.identity ?? "?") → \(record.target ?? "?") as \(body.role ?? "?")"
                                  + (body.client.map { " (\($0))" } ?? "") + (body.correlation.map { " job \($0)" } ?? ""), details: details,
                                  json: ["role": body.role as Any, "client": body.client as Any, "process": body.process?.arguments as Any])
                case .ended:
                    entry = Entry(time: time, what: "end", text: "ended by \(body.endedBy ?? "?")" + (body.exitCode.map { ", exit \($0)" } ?? ""),
                                  json: ["endedBy": body.endedBy as Any, "exitCode": body.exitCode as Any])
                }
            } else if let body = record.decode(StatementBody.self) {
                entry = statement(body, record: record, outcome: outcomes[record.id], opener: opener, session: session)
            } else if let body = record.decode(RequestBody.self) {
                entry = Entry(time: time, what: "review", text: "request \(body.requestID) \(body.state) by \(record.identity ?? "?")"
                              + (body.statement.map { ": \($0)" } ?? ""), json: ["request": body.requestID, "state": body.state])
            } else if let body = record.decode(DecisionBody.self) {
                entry = Entry(time: time, what: "vote", text: "\(record.identity ?? "?") \(body.verdict)s \(body.requestID)" + (body.comment.map { ": \($0)" } ?? ""),
                              json: ["request": body.requestID, "verdict": body.verdict])
            } else if let body = record.decode(EventBody.self) {
                entry = Entry(time: time, what: body.name == "audit.reveal" ? "revealed" : "event",
                              text: body.name == "audit.reveal" ? "\(record.identity ?? "?") revealed values: \(body.message ?? "")" : AuditFormat.summary(record),
                              json: ["event": body.name, "message": body.message as Any])
            } else if record.decode(ResultBody.self) == nil, record.decode(IdentityBody.self) == nil {
                entry = Entry(time: time, what: record.kind, text: AuditFormat.summary(record))
            }
            guard var entry else { continue }
            entry.json["id"] = Int(record.id)
            entry.json["time"] = time
            entry.json["what"] = entry.what
            entry.json["identity"] = record.identity
            entry.json["text"] = entry.text
            entries.append(entry)
        }
    }

    private func statement(_ body: StatementBody, record: LedgerRecord, outcome: ResultBody.Outcome?, opener: ValueOpener?, session: String) -> Entry {
        // A Parse: the statement prepared (and checked by the server); its executions follow.
        if body.via == "parse" {
            var entry = Entry(time: UTCTime.micros(record.timestamp), what: "prepare", text: body.sql)
            entry.details.append("\(body.statementClass) · prepared, run by the executions below")
            entry.json.merge(["class": body.statementClass, "decision": body.decision, "sql": body.sql]) { $1 }
            return entry
        }
        var entry = Entry(time: UTCTime.micros(record.timestamp), what: body.decision, text: body.preview ?? body.sql)
        var outcomeText = outcome.map { result -> String in
            var parts = [result.outcome]
            if let rows = result.rows { parts.append("\(rows) row\(rows == 1 ? "" : "s")") }
            if let micros = result.durationMicros { parts.append(String(format: "%.1f ms", Double(micros) / 1000)) }
            if let state = result.sqlState { parts.append("SQLSTATE \(state)") }
            return parts.joined(separator: ", ")
        } ?? "no outcome recorded"
        if let columns = outcome?.columns, !columns.isEmpty { outcomeText += "; columns: " + columns.joined(separator: ", ") }
        entry.details.append("\(body.statementClass) · \(outcomeText)" + (body.request.map { " · review \($0)" } ?? ""))
        entry.json.merge(["class": body.statementClass, "decision": body.decision, "sql": body.sql, "preview": body.preview as Any,
                          "outcome": outcome?.outcome as Any, "rows": outcome?.rows as Any, "durationMicros": outcome?.durationMicros as Any,
                          "sqlState": outcome?.sqlState as Any, "columns": outcome?.columns as Any, "request": body.request as Any]) { $1 }
        if let opener, let sealed = body.sealed {
            do {
                let data = try opener.open(sealed, context: session)
                let values = try JSONDecoder().decode(CapturedValues.self, from: data)
                let revealed = Self.revealed(body.sql, values)
                entry.details.append("revealed: " + revealed)
                entry.json["revealed"] = revealed
            } catch {
                entry.details.append("not revealed: \(error)")
                entry.json["revealError"] = "\(error)"
            }
        } else if body.sealed != nil {
            entry.json["sealed"] = true
        } else if opener != nil, body.preview != nil {
            entry.details.append("values: as the preview shows them (nothing of them was masked, so nothing was sealed)")
        }
        return entry
    }

    /// The statement as it ran: the exact values put back into its normalized text.
    static func revealed(_ normalized: String, _ values: CapturedValues) -> String {
        if let text = values.text {
            guard let length = values.textLength else { return text }
            return text + " /* cut: \(length) bytes, sha256 \(values.textSHA256 ?? "?") */"
        }
        var byNumber: [Int: CapturedValues.Value] = [:]
        for value in values.values { byNumber[value.n] = value }
        let omitted = values.omitted.map { " /* \($0.count) values from $\($0.first) not kept: \($0.bytes) bytes, sha256 \($0.sha256) */" } ?? ""
        return Placeholders.substitute(normalized) { n in
            guard let value = byNumber[n] else { return nil }
            var shown: String
            switch value.form {
            case "literal": shown = value.value ?? ""
            case "null": return "NULL"
            case "binary":
                let bytes = [UInt8](Data(base64Encoded: value.value ?? "") ?? Data())
                if let type = value.type, let decoded = BinaryParameter.text(bytes, type: Int32(bitPattern: type)) {
                    shown = decoded.number ? decoded.text : "'" + decoded.text.replacingOccurrences(of: "'", with: "''") + "'"
                } else {
                    shown = "'\\x" + bytes.map { String(format: "%02x", $0) }.joined() + "'" + (value.type.map { "::oid(\($0))" } ?? "")
                }
            default: shown = "'" + (value.value ?? "").replacingOccurrences(of: "'", with: "''") + "'"
            }
            if let length = value.length { shown += " /* cut: \(length) bytes, sha256 \(value.sha256 ?? "?") */" }
            return shown
        } + omitted
    }
}
