import Foundation
import HoopBrokerAPI

/// A session's life as a client sees it — open (asking reviewers first when the role needs
/// it), wait for their decision, end — shared by `exec`, `connect` and `mcp`.
public struct SessionClient: Sendable {
    public let broker: BrokerClient

    public init(broker: BrokerClient) {
        self.broker = broker
    }

    /// How opening went: a session, or the role needs an approval first (the broker's reason).
    public enum Opening: Sendable {
        case granted(SessionGrant)
        case approvalRequired(BrokerFailure)
    }

    public func open(_ request: SessionRequest) async throws(BrokerClientError) -> Opening {
        do {
            return .granted(try await broker.call(Endpoints.createSession, nil, request))
        } catch .refused(let refusal) where refusal.code == .approvalRequired && request.request == nil {
            return .approvalRequired(refusal)
        }
    }

    /// Asks the reviewers for the role `request` names.
    public func requestApproval(_ request: SessionRequest, role: String, reason: String) async throws(BrokerClientError) -> RequestInfo {
        try await broker.call(Endpoints.createRequest, nil, RequestCreate(target: request.target, role: role, reason: reason,
                                                                           ttlSeconds: request.ttlSeconds))
    }

    /// Where a request stands.
    public enum Decision: Sendable {
        case pending(RequestInfo)
        case approved(RequestInfo)
        /// Denied, with the deciding vote.
        case denied(RequestInfo, RequestInfo.Vote?)
        /// Expired, withdrawn or used before it was approved.
        case over(RequestInfo)
    }

    public func decision(on id: String) async throws(BrokerClientError) -> Decision {
        let current = try await broker.call(Endpoints.showRequest, id)
        switch current.state {
        case .pending: return .pending(current)
        case .approved: return .approved(current)
        case .denied: return .denied(current, current.votes.last { $0.verdict == "deny" })
        case .expired, .withdrawn, .used: return .over(current)
        }
    }

    /// Opens the session an approved request grants.
    public func open(_ request: SessionRequest, approved: RequestInfo) async throws(BrokerClientError) -> SessionGrant {
        var using = request
        using.role = approved.role
        using.reason = nil
        using.ttlSeconds = nil
        using.request = approved.id
        return try await broker.call(Endpoints.createSession, nil, using)
    }

    public func withdraw(_ id: String) async {
        let _: RequestInfo? = try? await broker.call(Endpoints.withdraw, id)
    }

    public func catalog(of session: String) async throws(BrokerClientError) -> SessionCatalog {
        try await broker.call(Endpoints.sessionCatalog, session)
    }

    /// Renews a session opened from the network every `grant.renewSeconds` until cancelled.
    /// A failed renewal is tried again at the next turn; the broker ends the session if none
    /// succeeds within its lease (the sign-in ended, the broker is unreachable).
    public func keepAlive(_ grant: SessionGrant) async {
        guard let every = grant.renewSeconds else { return }
        while !Task.isCancelled {
            do { try await Task.sleep(for: .seconds(every)) } catch { return }
            let _: SessionInfo? = try? await broker.call(Endpoints.renewSession, grant.session.id)
        }
    }

    public func end(_ id: String, _ end: SessionEnd) async throws(BrokerClientError) {
        let _: SessionInfo = try await broker.call(Endpoints.endSession, id, end)
    }
}
