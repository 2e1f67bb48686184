import Foundation
import HoopOIDC

/// Keeps a remote sign-in's access token fresh: refreshed (with the refresh token) once it has
/// less than a minute left, under the sign-in's lock so that two commands never spend one
/// refresh token twice.
enum RemoteSignIn {
    static let margin: TimeInterval = 60

    /// `force`: refresh even a token with time left (the broker refused it).
    static func fresh(_ login: StoredLogin, store: CredentialStore, force: Bool = false, now: Date = Date()) async throws -> StoredLogin {
        if !force, login.expiresAt.timeIntervalSince(now) > margin { return login }
        return try await store.locked(login.broker) {
            // Another command may have refreshed it while this one waited for the lock.
            let current = try store.load(login.broker) ?? login
            if current.accessToken != login.accessToken || (!force && current.expiresAt.timeIntervalSince(Date()) > margin) { return current }
            guard let refreshToken = current.refreshToken else {
                throw CLIError("your sign-in to \(current.broker) expired: hoopctl login \(current.broker)", exitCode: ExitStatus.denied)
            }
            let tokens: TokenSet
            do {
                let discovery = try await OIDCDiscovery.fetch(issuer: current.issuer, caFile: nil)
                tokens = try await SignIn(discovery: discovery, clientID: current.clientID, caFile: nil).refresh(refreshToken)
            } catch OIDCError.refused(let code, _) {
                throw CLIError("your sign-in to \(current.broker) ended (the identity provider said \(code)): hoopctl login \(current.broker)",
                               exitCode: ExitStatus.denied)
            } catch {
                throw CLIError("cannot refresh your sign-in to \(current.broker): \(error)", exitCode: ExitStatus.brokerUnreachable)
            }
            var refreshed = current
            refreshed.accessToken = tokens.accessToken
            refreshed.refreshToken = tokens.refreshToken ?? refreshToken
            refreshed.expiresAt = Date().addingTimeInterval(TimeInterval(tokens.expiresIn ?? 300))
            try store.save(refreshed)
            return refreshed
        }
    }
}
