import Foundation
import HoopCommon
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import HoopBrokerAPI
import HoopLedger
import HoopPolicy
import Logging

/// Tells webhooks about requests: a JSON POST with a Slack-compatible `text` and the request.
/// Runs beside decisions, never before them; failures are retried with backoff and recorded.
/// The ledger names a webhook by its place in the policy and its host, never its URL (Slack
/// URLs are secrets).
actor Notifier {
    let ledger: any LedgerStore
    let logger: Logger
    /// Delays before each retry.
    static let backoff: [Duration] = [.seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(16)]

    init(ledger: any LedgerStore, logger: Logger) {
        self.ledger = ledger
        self.logger = logger
    }

    func send(event: NotificationEvent, request: RequestInfo, to endpoints: [(Int, NotificationRule.Endpoint)]) async {
        let body: Data
        do { body = try Notifier.payload(event: event, request: request) } catch { return }
        await send(body, event: event, subject: "request \(request.id)", to: endpoints)
    }

    /// A signed checkpoint of the ledger. Only failures are recorded: a record per delivery
    /// would move the head, and call for the next checkpoint, forever.
    func send(checkpoint: LedgerCheckpoint, to endpoints: [(Int, NotificationRule.Endpoint)]) async {
        struct Payload: Encodable {
            var event = NotificationEvent.ledgerCheckpoint.rawValue
            var text: String
            var checkpoint: LedgerCheckpoint
        }
        guard let body = try? JSONEncoder().encode(Payload(text: "hoopctl ledger checkpoint: record #\(checkpoint.recordID)", checkpoint: checkpoint))
        else { return }
        await send(body, event: .ledgerCheckpoint, subject: "checkpoint #\(checkpoint.recordID)", to: endpoints, recordSuccess: false)
    }

    private func send(_ body: Data, event: NotificationEvent, subject: String, to endpoints: [(Int, NotificationRule.Endpoint)],
                      recordSuccess: Bool = true) async {
        await withTaskGroup(of: Void.self) { group in
            for (index, endpoint) in endpoints {
                group.addTask { await self.deliver(body, event: event, request: subject, index: index, endpoint: endpoint, recordSuccess: recordSuccess) }
            }
        }
    }

    private func deliver(_ body: Data, event: NotificationEvent, request: String, index: Int, endpoint: NotificationRule.Endpoint,
                         recordSuccess: Bool) async {
        let url: URL
        switch endpoint {
        case .url(let text):
            guard let parsed = URL(string: text) else { return }
            url = parsed
        case .environment(let name):
            guard let text = ProcessInfo.processInfo.environment[name], let parsed = URL(string: text) else {
                record("notify.failed", request: request, details: ["webhook": "#\(index + 1)", "event": event.rawValue,
                                                                   "error": "the broker's environment has no \(name)"])
                return
            }
            url = parsed
        }
        let label = "#\(index + 1) (\(url.host ?? "?"))"
        for attempt in 0...Notifier.backoff.count {
            var urlRequest = URLRequest(url: url, timeoutInterval: 10)
            urlRequest.httpMethod = "POST"
            urlRequest.setValue("application/json", forHTTPHeaderField: "Content-Type")
            urlRequest.httpBody = body
            var problem: String
            do {
                let (_, response) = try await URLSession.shared.data(for: urlRequest)
                let status = (response as? HTTPURLResponse)?.statusCode ?? 0
                if (200..<300).contains(status) {
                    guard recordSuccess else { return }
                    record("notify.sent", request: request, details: ["webhook": label, "event": event.rawValue, "attempts": String(attempt + 1)])
                    return
                }
                problem = "HTTP \(status)"
            } catch {
                problem = (error as NSError).localizedDescription
            }
            record("notify.failed", request: request, details: ["webhook": label, "event": event.rawValue,
                                                               "attempt": String(attempt + 1), "error": problem])
            guard attempt < Notifier.backoff.count else { break }
            try? await Task.sleep(for: Notifier.backoff[attempt])
        }
        logger.warning("webhook gave up", metadata: ["webhook": "\(label)", "request": "\(request)"])
    }

    private func record(_ name: String, request: String, details: [String: String]) {
        do {
            try ledger.append(LedgerEntry(EventBody(name: name, message: request, details: details)))
        } catch {
            logger.error("ledger append failed", metadata: ["error": "\(error)"])
        }
    }

    static func payload(event: NotificationEvent, request: RequestInfo) throws -> Data {
        let ttl = request.ttlSeconds >= 3600 ? "\(request.ttlSeconds / 3600)h" : "\(request.ttlSeconds / 60)m"
        let text: String
        switch event {
        case .requestCreated where request.kind == "statement":
            text = "\(request.requester) asks to run `\(request.statement ?? "a statement")` once on \(request.target) (\(request.reason)). "
                + "Approve: hoopctl approve \(request.id)"
        case .requestCreated:
            text = "\(request.requester) asks for role \(request.role) on \(request.target) for \(ttl): \"\(request.reason)\". Approve: hoopctl approve \(request.id)"
        case .requestDecided:
            let by = request.votes.map(\.approver).joined(separator: ", ")
            text = "Request \(request.id) of \(request.requester) (role \(request.role) on \(request.target)) was \(request.state.rawValue) by \(by)"
        case .requestExpired:
            text = "Request \(request.id) of \(request.requester) (role \(request.role) on \(request.target)) expired"
        default:
            text = "Request \(request.id): \(event.rawValue)"
        }
        struct Payload: Encodable {
            let text: String
            let event: String
            let request: RequestInfo
        }
        return try BrokerAPI.encoder.encode(Payload(text: mrkdwn(text), event: event.rawValue, request: request))
    }

    /// The text is for people in a chat channel, and most of it others wrote (reasons, names,
    /// statements): shown, never obeyed. Controls (line breaks too: a reason must not start a
    /// line of its own) are written as escapes, and `&`, `<`, `>` as Slack's entities, so no
    /// mention (`<!channel>`, `<@U…>`) or link (`<url|text>`) can be formed. The encoder then
    /// escapes it for JSON.
    static func mrkdwn(_ text: String) -> String {
        // By scalar: a combining mark after `<` must not hide it inside another character.
        var out = ""
        for scalar in VisibleText.escaped(text).unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
