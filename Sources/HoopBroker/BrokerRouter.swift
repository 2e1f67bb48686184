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
        public var origin: CallOrigin

        public init(method: String, path: String, headers: [(String, String)], body: Data, origin: CallOrigin) {
            self.method = method
            self.path = path
            self.headers = headers
            self.body = body
            self.origin = origin
        }

        public init(method: String, path: String, headers: [(String, String)], body: Data, peer: PeerCredentials) {
            self.init(method: method, path: path, headers: headers, body: body, origin: .local(peer))
        }

        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    }

    public struct Response: Sendable {
        public var status: Int
        public var body: Data
    }

    let broker: Broker
    /// Every endpoint of `Endpoints`, with what answers it.
    private let routes: [Route]

    public init(broker: Broker) {
        self.broker = broker
        routes = Self.routes(broker)
    }

    public func handle(_ request: Request) async -> Response {
        do {
            guard request.header(BrokerAPI.versionHeader) == String(BrokerAPI.version) else {
                throw BrokerFailure(.unsupportedVersion, "this broker speaks protocol \(BrokerAPI.version); the client sent \(request.header(BrokerAPI.versionHeader) ?? "none")")
            }
            let (path, query) = Self.split(request.path)
            let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
            // One way of saying who calls: two Authorization headers are not a choice to make.
            guard request.headers.filter({ $0.0.lowercased() == "authorization" }).count <= 1 else {
                throw BrokerFailure(.invalid, "more than one Authorization header")
            }
            let segments = parts.first == "v1" ? Array(parts.dropFirst()) : nil
            let found = segments.flatMap { segments in
                routes.lazy.compactMap { route in route.match(request.method, segments).map { (route, $0 ?? "") } }.first
            }
            // Who calls is established before anything else is said, a missing endpoint included;
            // only an endpoint open to anyone (sign-in) is answered without.
            let identity = found?.0.access == .anyone ? Identity(principal: Principal(kind: .user, name: "anonymous"), method: "none")
                : try await broker.authenticate(request.origin, authorization: request.header("Authorization"))
            if let (route, parameter) = found {
                try await route.admit(identity)
                let call = Call(identity: identity, parameter: parameter, query: query, body: request.body, origin: request.origin)
                return Response(status: 200, body: try await route.answer(call))
            }
            throw BrokerFailure(.notFound, "no such endpoint \(request.method) \(path)")
        } catch let failure as BrokerFailure {
            return Response(status: failure.httpStatus, body: (try? BrokerAPI.encoder.encode(failure)) ?? Data())
        } catch {
            let failure = BrokerFailure(.internal, "\(error)")
            return Response(status: 500, body: (try? BrokerAPI.encoder.encode(failure)) ?? Data())
        }
    }

    /// What a handler is given: who calls, the path's parameter, and the request.
    struct Call: Sendable {
        let identity: Identity
        let parameter: String
        let query: [String: String]
        let body: Data
        let origin: CallOrigin
    }

    /// An endpoint and its handler, with the types erased so that all sit in one table.
    struct Route: Sendable {
        let access: Access
        let match: @Sendable (String, [String]) -> String??
        let admit: @Sendable (Identity) async throws(BrokerFailure) -> Void
        let answer: @Sendable (Call) async throws -> Data
    }

    static func route<Body, Answer>(_ endpoint: Endpoint<Body, Answer>, _ broker: Broker,
                                    _ handler: @escaping @Sendable (Call, Body) async throws -> Answer) -> Route {
        Route(access: endpoint.access, match: { endpoint.match($0, $1) },
              admit: { identity throws(BrokerFailure) in try await broker.admit(identity, to: endpoint.access, action: endpoint.action) },
              answer: { call in
                  let body: Body
                  if let nothing = Empty() as? Body {
                      body = nothing  // whatever was sent (an empty body, `{}`)
                  } else if endpoint.method == .get, let type = Body.self as? any QueryParameters.Type {
                      body = try type.init(query: call.query) as! Body
                  } else {
                      do { body = try BrokerAPI.decoder.decode(Body.self, from: call.body) } catch {
                          throw BrokerFailure(.invalid, "malformed \(Body.self) body")
                      }
                  }
                  return try BrokerAPI.encoder.encode(try await handler(call, body))
              })
    }

    /// The handler of each endpoint; `BrokerRouterTests` checks that every endpoint has one.
    static func routes(_ broker: Broker) -> [Route] {
        typealias E = Endpoints
        return [
            route(E.signIn, broker) { _, _ in await broker.signInInfo() },
            route(E.whoami, broker) { call, _ in await broker.whoami(call.identity) },
            route(E.status, broker) { call, _ in await broker.status(call.identity) },
            route(E.createSession, broker) { call, body in
                try await broker.createSession(body, identity: call.identity, caller: call.origin.peer.map(CallingProcess.read), remote: call.origin.peer == nil)
            },
            route(E.listSessions, broker) { call, listing in await broker.listSessions(identity: call.identity, all: listing.all) },
            route(E.endSession, broker) { call, end in try await broker.endSession(call.parameter, end: end, identity: call.identity) },
            route(E.sessionCatalog, broker) { call, _ in try await broker.sessionCatalog(call.parameter, identity: call.identity) },
            route(E.explain, broker) { call, body in try await broker.explainForSession(call.parameter, body, identity: call.identity) },
            route(E.renewSession, broker) { call, _ in try await broker.renewSession(call.parameter, identity: call.identity) },
            route(E.revokeSession, broker) { call, _ in try await broker.revokeSession(call.parameter, identity: call.identity) },
            route(E.reloadPolicy, broker) { call, _ in try await broker.reloadPolicy(call.identity) },
            route(E.initTarget, broker) { call, _ in try await broker.initTarget(call.parameter, identity: call.identity) },
            route(E.doctorTarget, broker) { call, _ in try await broker.doctorTarget(call.parameter, identity: call.identity) },
            route(E.auditRecords, broker) { call, query in try await broker.auditRecords(query, identity: call.identity) },
            route(E.auditTrace, broker) { call, query in try await broker.auditTrace(query, identity: call.identity) },
            route(E.auditReport, broker) { call, period in try await broker.auditReport(period, identity: call.identity) },
            route(E.reveal, broker) { call, body in try await broker.recordReveal(body, identity: call.identity) },
            route(E.checkpoint, broker) { call, _ in try await broker.checkpointNow(identity: call.identity) },
            route(E.verify, broker) { call, _ in try await broker.auditVerify(identity: call.identity) },
            route(E.createRequest, broker) { call, body in try await broker.createRequest(body, identity: call.identity) },
            route(E.listRequests, broker) { call, listing in await broker.listRequests(filter: listing.filter, identity: call.identity) },
            route(E.showRequest, broker) { call, _ in try await broker.showRequest(call.parameter, identity: call.identity) },
            route(E.approve, broker) { call, vote in
                try await broker.vote(call.parameter, approve: true, comment: vote.comment, identity: call.identity)
            },
            route(E.deny, broker) { call, vote in
                try await broker.vote(call.parameter, approve: false, comment: vote.comment, identity: call.identity)
            },
            route(E.withdraw, broker) { call, _ in try await broker.withdrawRequest(call.parameter, identity: call.identity) },
            route(E.issueToken, broker) { call, body in try await broker.issueToken(body, identity: call.identity) },
            route(E.listTokens, broker) { call, _ in try await broker.listTokens(identity: call.identity) },
            route(E.revokeToken, broker) { call, _ in try await broker.revokeToken(call.parameter, identity: call.identity) },
        ]
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
