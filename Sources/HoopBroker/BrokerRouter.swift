import Foundation
import HoopBrokerAPI
import HoopCommon
import HoopLedger

/// Maps `METHOD /v1/...` to a broker call; JSON in, JSON out. Knows nothing of sockets.
public struct BrokerRouter: Sendable {
    public struct Request: Sendable {
        public var method: String
        public var path: String
        public var headers: [(String, String)]
        public var body: Data
        public var peer: PeerCredentials

        public init(method: String, path: String, headers: [(String, String)], body: Data, peer: PeerCredentials) {
            self.method = method
            self.path = path
            self.headers = headers
            self.body = body
            self.peer = peer
        }

        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    }

    public struct Response: Sendable {
        public var status: Int
        public var body: Data
    }

    let broker: Broker

    public init(broker: Broker) { self.broker = broker }

    public func handle(_ request: Request) async -> Response {
        do {
            guard request.header(BrokerAPI.versionHeader) == String(BrokerAPI.version) else {
                throw BrokerFailure(.unsupportedVersion, "this broker speaks protocol \(BrokerAPI.version); the client sent \(request.header(BrokerAPI.versionHeader) ?? "none")")
            }
            let identity = try await broker.authenticate(peer: request.peer, authorization: request.header("Authorization"))
            let (path, query) = Self.split(request.path)
            let parts = path.split(separator: "/").map(String.init)
            guard parts.first == "v1" else { throw BrokerFailure(.notFound, "no such endpoint \(path)") }
            let route = Route(method: request.method, segments: Array(parts.dropFirst()))
            if route.is("GET", "whoami") {
                return try encode(await broker.whoami(identity))
            } else if route.is("GET", "status") {
                return try encode(await broker.status(identity))
            } else if route.is("POST", "sessions") {
                let body = try decode(SessionRequest.self, request.body)
                return try encode(await broker.createSession(body, identity: identity, caller: CallingProcess.read(request.peer)))
            } else if route.is("GET", "sessions") {
                return try encode(await broker.listSessions(identity: identity, all: query["all"] == "1"))
            } else if let id = route.capture("POST", "sessions", "*", "end") {
                let body = try decode(SessionEnd.self, request.body)
                return try encode(await broker.endSession(id, end: body, identity: identity))
            } else if let id = route.capture("GET", "sessions", "*", "catalog") {
                return try encode(await broker.sessionCatalog(id, identity: identity))
            } else if let id = route.capture("POST", "sessions", "*", "explain") {
                let body = try decode(ExplainRequest.self, request.body)
                return try encode(await broker.explainForSession(id, body, identity: identity))
            } else if let id = route.capture("POST", "sessions", "*", "revoke") {
                return try encode(await broker.revokeSession(id, identity: identity))
            } else if route.is("POST", "policy", "reload") {
                return try encode(await broker.reloadPolicy(identity))
            } else if let name = route.capture("POST", "targets", "*", "init") {
                return try encode(await broker.initTarget(name, identity: identity))
            } else if let name = route.capture("GET", "targets", "*", "doctor") {
                return try encode(await broker.doctorTarget(name, identity: identity))
            } else if route.is("POST", "audit", "records") {
                let body = try decode(LedgerQuery.self, request.body)
                return try encode(await broker.auditRecords(body, identity: identity))
            } else if route.is("POST", "audit", "trace") {
                let body = try decode(TraceQuery.self, request.body)
                return try encode(await broker.auditTrace(body, identity: identity))
            } else if route.is("POST", "audit", "report") {
                let body = try decode(ReportPeriod.self, request.body)
                return try encode(await broker.auditReport(body, identity: identity))
            } else if route.is("POST", "audit", "reveal") {
                let body = try decode(RevealRequest.self, request.body)
                return try encode(await broker.recordReveal(body, identity: identity))
            } else if route.is("POST", "audit", "checkpoint") {
                return try encode(await broker.checkpointNow(identity: identity))
            } else if route.is("POST", "audit", "verify") {
                return try encode(await broker.auditVerify(identity: identity))
            } else if route.is("POST", "requests") {
                let body = try decode(RequestCreate.self, request.body)
                return try encode(await broker.createRequest(body, identity: identity))
            } else if route.is("GET", "requests") {
                return try encode(await broker.listRequests(filter: query["filter"] ?? "pending", identity: identity))
            } else if let id = route.capture("GET", "requests", "*") {
                return try encode(await broker.showRequest(id, identity: identity))
            } else if let id = route.capture("POST", "requests", "*", "approve") {
                let body = try decode(RequestVote.self, request.body)
                return try encode(await broker.vote(id, approve: true, comment: body.comment, identity: identity))
            } else if let id = route.capture("POST", "requests", "*", "deny") {
                let body = try decode(RequestVote.self, request.body)
                return try encode(await broker.vote(id, approve: false, comment: body.comment, identity: identity))
            } else if let id = route.capture("POST", "requests", "*", "withdraw") {
                return try encode(await broker.withdrawRequest(id, identity: identity))
            } else if route.is("POST", "tokens") {
                let body = try decode(TokenIssue.self, request.body)
                return try encode(await broker.issueToken(body, identity: identity))
            } else if route.is("GET", "tokens") {
                return try encode(await broker.listTokens(identity: identity))
            } else if let id = route.capture("POST", "tokens", "*", "revoke") {
                return try encode(await broker.revokeToken(id, identity: identity))
            }
            throw BrokerFailure(.notFound, "no such endpoint \(request.method) \(path)")
        } catch let failure as BrokerFailure {
            return Response(status: failure.httpStatus, body: (try? BrokerAPI.encoder.encode(failure)) ?? Data())
        } catch {
            let failure = BrokerFailure(.internal, "\(error)")
            return Response(status: 500, body: (try? BrokerAPI.encoder.encode(failure)) ?? Data())
        }
    }

    private func encode<T: Encodable>(_ value: T) throws -> Response {
        Response(status: 200, body: try BrokerAPI.encoder.encode(value))
    }

    private func decode<T: Decodable>(_ type: T.Type, _ body: Data) throws(BrokerFailure) -> T {
        do {
            return try BrokerAPI.decoder.decode(type, from: body)
        } catch {
            throw BrokerFailure(.invalid, "malformed \(type) body")
        }
    }

    /// A request's method and path segments, matched against patterns where `*` captures one segment.
    struct Route {
        let method: String
        let segments: [String]

        func `is`(_ method: String, _ pattern: String...) -> Bool { self.method == method && segments == pattern }

        func capture(_ method: String, _ pattern: String...) -> String? {
            guard self.method == method, segments.count == pattern.count else { return nil }
            var captured: String?
            for (segment, expected) in zip(segments, pattern) {
                if expected == "*" { captured = segment } else if segment != expected { return nil }
            }
            return captured?.removingPercentEncoding
        }
    }

    static func split(_ target: String) -> (String, [String: String]) {
        guard let mark = target.firstIndex(of: "?") else { return (target, [:]) }
        var query: [String: String] = [:]
        for pair in target[target.index(after: mark)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            query[parts[0].removingPercentEncoding ?? parts[0]] = parts.count > 1 ? (parts[1].removingPercentEncoding ?? parts[1]) : ""
        }
        return (String(target[..<mark]), query)
    }
}
