import Foundation
import HoopLedgerModel

/// One operation of the broker protocol, described once for the client that calls it and the
/// router that answers it: method, path under `/v1`, what it carries each way, and who may call it.
///
/// A path has at most one parameter (`{id}`), percent-encoded by `path(_:)`, so no value a caller
/// passes (a request id, a target name) can reach another endpoint. GET endpoints carry their
/// request in the query string (`QueryParameters`); POST endpoints carry it as a JSON body.
public struct Endpoint<Body: Codable & Sendable, Answer: Codable & Sendable>: Sendable {
    public enum Method: String, Sendable { case get = "GET", post = "POST" }

    public let method: Method
    /// Path segments after `v1`; `{id}` is the parameter.
    public let segments: [String]
    public let access: Access
    /// What a caller does, for a refusal ("read the audit log").
    public let action: String

    static var parameter: String { "{id}" }

    init(_ method: Method, _ path: String, access: Access, action: String) {
        self.method = method
        self.segments = path.split(separator: "/").map(String.init)
        self.access = access
        self.action = action
    }

    public var hasParameter: Bool { segments.contains(Self.parameter) }

    /// `/v1/...`, with `parameter` percent-encoded in place of `{id}`, and the query.
    public func path(_ parameter: String? = nil, query: [(String, String)] = []) -> String {
        var path = "/v1"
        for segment in segments {
            path += "/" + (segment == Self.parameter ? Self.encode(parameter ?? "") : segment)
        }
        if !query.isEmpty { path += "?" + query.map { "\(Self.encode($0.0))=\(Self.encode($0.1))" }.joined(separator: "&") }
        return path
    }

    /// The parameter of `segments` (decoded), when they are this endpoint's path; nil when not.
    public func match(_ method: String, _ requested: [String]) -> String?? {
        guard method == self.method.rawValue, requested.count == segments.count else { return nil }
        var captured: String?
        for (segment, expected) in zip(requested, segments) {
            if expected == Self.parameter {
                guard let decoded = segment.removingPercentEncoding, !decoded.isEmpty else { return nil }
                captured = decoded
            } else if segment != expected {
                return nil
            }
        }
        return .some(captured)
    }

    /// Unreserved characters stay; everything else (`/`, `?`, `%`, `&`, spaces) is escaped.
    static func encode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: Self.unreserved) ?? ""
    }

    private static var unreserved: CharacterSet {
        CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:")
    }
}

/// Who may call an endpoint (the broker's own checks on ownership and policy come on top).
public enum Access: String, Sendable {
    /// Anyone, signed in or not: what a client needs to sign in.
    case anyone
    /// Any authenticated caller.
    case everyone
    /// The policy's admins and auditors.
    case auditors
    /// The policy's admins.
    case admins
}

/// A request carried in the query string of a GET.
public protocol QueryParameters: Codable, Sendable {
    var query: [(String, String)] { get }
    init(query: [String: String]) throws(BrokerFailure)
}

/// Nothing: a request without content, or an answer the caller does not read.
public struct Empty: QueryParameters, Equatable {
    public init() {}
    public var query: [(String, String)] { [] }
    public init(query: [String: String]) {}
}

/// `GET /v1/sessions`: the caller's sessions, or with `all` also the ended ones.
public struct SessionListing: QueryParameters {
    public var all: Bool
    public init(all: Bool) { self.all = all }
    public var query: [(String, String)] { all ? [("all", "1")] : [] }
    public init(query: [String: String]) { all = query["all"] == "1" }
}

/// `GET /v1/requests`: the requests in one state (`pending`, the default, `mine`, `all`...).
public struct RequestListing: QueryParameters {
    public var filter: String
    public init(filter: String) { self.filter = filter }
    public var query: [(String, String)] { [("filter", filter)] }
    public init(query: [String: String]) { filter = query["filter"] ?? "pending" }
}

/// An endpoint's description without its types (for listings and tests).
public struct EndpointDescription: Sendable, Hashable {
    public let method: String
    public let path: String
    public let access: Access
}

extension Endpoint {
    public var description: EndpointDescription {
        EndpointDescription(method: method.rawValue, path: "/v1/" + segments.joined(separator: "/"), access: access)
    }
}

/// Every endpoint of protocol version `BrokerAPI.version`.
public enum Endpoints {
    public static let signIn = Endpoint<Empty, SignInInfo>(.get, "sign-in", access: .anyone, action: "learn how to sign in")
    public static let whoami = Endpoint<Empty, WhoAmI>(.get, "whoami", access: .everyone, action: "ask who they are")
    public static let renewSession = Endpoint<Empty, SessionInfo>(.post, "sessions/{id}/renew", access: .everyone, action: "renew sessions")
    public static let status = Endpoint<Empty, BrokerStatus>(.get, "status", access: .everyone, action: "read the broker's status")

    public static let createSession = Endpoint<SessionRequest, SessionGrant>(.post, "sessions", access: .everyone, action: "open sessions")
    public static let listSessions = Endpoint<SessionListing, SessionList>(.get, "sessions", access: .everyone, action: "list sessions")
    public static let endSession = Endpoint<SessionEnd, SessionInfo>(.post, "sessions/{id}/end", access: .everyone, action: "end sessions")
    public static let sessionCatalog = Endpoint<Empty, SessionCatalog>(.get, "sessions/{id}/catalog", access: .everyone, action: "read a session's catalog")
    public static let explain = Endpoint<ExplainRequest, ExplainResult>(.post, "sessions/{id}/explain", access: .everyone, action: "explain statements")
    public static let revokeSession = Endpoint<Empty, SessionInfo>(.post, "sessions/{id}/revoke", access: .everyone, action: "revoke sessions")

    public static let reloadPolicy = Endpoint<Empty, PolicyReloadResult>(.post, "policy/reload", access: .admins, action: "reload the policy")
    public static let initTarget = Endpoint<Empty, TargetInitReport>(.post, "targets/{id}/init", access: .admins, action: "initialise targets")
    public static let doctorTarget = Endpoint<Empty, DoctorReport>(.get, "targets/{id}/doctor", access: .admins, action: "examine targets")

    public static let auditRecords = Endpoint<LedgerQuery, AuditRecords>(.post, "audit/records", access: .auditors, action: "read the audit log")
    public static let auditTrace = Endpoint<TraceQuery, AuditTrace>(.post, "audit/trace", access: .auditors, action: "read the audit log")
    public static let auditReport = Endpoint<ReportPeriod, AuditReport>(.post, "audit/report", access: .auditors, action: "read the audit log")
    public static let reveal = Endpoint<RevealRequest, RevealRecorded>(.post, "audit/reveal", access: .auditors, action: "reveal sealed values")
    public static let checkpoint = Endpoint<Empty, LedgerCheckpointMade>(.post, "audit/checkpoint", access: .admins, action: "make ledger checkpoints")
    public static let verify = Endpoint<Empty, VerificationReport>(.post, "audit/verify", access: .auditors, action: "read the audit log")

    public static let createRequest = Endpoint<RequestCreate, RequestInfo>(.post, "requests", access: .everyone, action: "ask for access")
    public static let listRequests = Endpoint<RequestListing, RequestList>(.get, "requests", access: .everyone, action: "list requests")
    public static let showRequest = Endpoint<Empty, RequestInfo>(.get, "requests/{id}", access: .everyone, action: "read requests")
    public static let approve = Endpoint<RequestVote, RequestInfo>(.post, "requests/{id}/approve", access: .everyone, action: "approve requests")
    public static let deny = Endpoint<RequestVote, RequestInfo>(.post, "requests/{id}/deny", access: .everyone, action: "deny requests")
    public static let withdraw = Endpoint<Empty, RequestInfo>(.post, "requests/{id}/withdraw", access: .everyone, action: "withdraw requests")

    public static let issueToken = Endpoint<TokenIssue, TokenInfo>(.post, "tokens", access: .admins, action: "issue tokens")
    public static let listTokens = Endpoint<Empty, TokenList>(.get, "tokens", access: .admins, action: "list tokens")
    public static let revokeToken = Endpoint<Empty, TokenInfo>(.post, "tokens/{id}/revoke", access: .admins, action: "revoke tokens")

    /// All of the above.
    public static let all: [EndpointDescription] = [
        signIn.description, whoami.description, status.description, renewSession.description,
        createSession.description, listSessions.description, endSession.description, sessionCatalog.description,
        explain.description, revokeSession.description,
        reloadPolicy.description, initTarget.description, doctorTarget.description,
        auditRecords.description, auditTrace.description, auditReport.description, reveal.description,
        checkpoint.description, verify.description,
        createRequest.description, listRequests.description, showRequest.description, approve.description,
        deny.description, withdraw.description,
        issueToken.description, listTokens.description, revokeToken.description,
    ]
}
