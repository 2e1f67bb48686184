import Foundation
import HoopCommon
import HoopHTTP
import JWTKit

/// What the broker needs to accept a provider's tokens.
public struct OIDCSettings: Sendable, Equatable {
    public var issuer: String
    public var audience: String
    public var usernameClaim: String
    public var groupsClaim: String?
    public var caFile: String?

    public init(issuer: String, audience: String, usernameClaim: String, groupsClaim: String?, caFile: String?) {
        self.issuer = issuer
        self.audience = audience
        self.usernameClaim = usernameClaim
        self.groupsClaim = groupsClaim
        self.caFile = caFile
    }
}

/// A token the provider signed for us, and what it says.
public struct VerifiedToken: Sendable, Equatable {
    public var issuer: String
    public var subject: String
    /// The `username_claim`'s value.
    public var username: String
    /// The `groups_claim`'s values (empty without one).
    public var groups: [String]
    public var expiresAt: Date

    public init(issuer: String, subject: String, username: String, groups: [String], expiresAt: Date) {
        self.issuer = issuer
        self.subject = subject
        self.username = username
        self.groups = groups
        self.expiresAt = expiresAt
    }
}

/// Which check a token failed: said to the caller (exit 77), so it knows what to fix.
public struct TokenRejection: Error, Equatable, CustomStringConvertible {
    public enum Check: String, Sendable {
        case malformed, algorithm, signature, unknownKey = "unknown-key", issuer, audience, expired
        case notYetValid = "not-yet-valid", issuedInFuture = "issued-in-the-future", claims, provider
    }

    public var check: Check
    public var message: String

    public init(_ check: Check, _ message: String) {
        self.check = check
        self.message = message
    }

    public var description: String { message }
}

/// Validates a provider's JWTs: keys from discovery and JWKS, cached; a token signed with an
/// unknown `kid` makes it fetch the key set again (the provider rotated). Fetches are at least
/// `refetchInterval` apart and shared by everyone waiting for them, so a flood of made-up kids
/// costs the provider one fetch per interval, and a genuine new key waits at most that long.
/// RS256 and ES256 only; `iss` exact, `aud` must hold the audience, `exp`, `nbf` and `iat`
/// within `skew`. The signature is jwt-kit's to check; the claims are checked here, each with
/// its own message.
public actor OIDCTokenVerifier {
    public nonisolated let settings: OIDCSettings
    let http: HTTPClient
    public nonisolated let skew: TimeInterval = 60
    public var refetchInterval: TimeInterval = 2
    private var keys: JWTKeyCollection?
    private var knownKIDs: Set<String> = []
    private var lastFetch: Date?
    /// The fetch under way (or waiting for its turn), which every unknown kid awaits.
    private var fetching: Task<Void, Never>?
    private var fetchError: String?

    public static let algorithms: Set<String> = ["RS256", "ES256"]

    public init(settings: OIDCSettings, http: HTTPClient = HTTPClient()) {
        self.settings = settings
        self.http = http
    }

    public func verify(_ token: String, now: Date = Date()) async throws(TokenRejection) -> VerifiedToken {
        let header: JWTHeader
        do {
            header = try DefaultJWTParser().parse([UInt8](token.utf8), as: Signed.self).header
        } catch {
            throw TokenRejection(.malformed, "the token is not a well-formed JWT")
        }
        guard let algorithm = header.alg, Self.algorithms.contains(algorithm) else {
            throw TokenRejection(.algorithm, "the token is signed with \(header.alg.map { Self.shown($0) } ?? "no algorithm"); only RS256 and ES256 are accepted")
        }
        guard let kid = header.kid, !kid.isEmpty else { throw TokenRejection(.unknownKey, "the token names no signing key (kid)") }
        let collection = try await keys(for: kid, now: now)
        do {
            _ = try await collection.verify(token, as: Signed.self)
        } catch {
            throw TokenRejection(.signature, "the token's signature does not verify with the provider's key \(Self.shown(kid))")
        }
        return try claims(of: token, now: now)
    }

    /// The key set holding `kid`: the cached one, else after the next fetch of the key set.
    private func keys(for kid: String, now: Date) async throws(TokenRejection) -> JWTKeyCollection {
        if let keys, knownKIDs.contains(kid) { return keys }
        if fetching == nil {
            let wait = lastFetch.map { max(0, refetchInterval - Date().timeIntervalSince($0)) } ?? 0
            fetching = Task { await self.fetch(after: wait) }
        }
        await fetching?.value
        if let keys, knownKIDs.contains(kid) { return keys }
        if let fetchError { throw TokenRejection(.provider, "cannot fetch the identity provider's keys: \(fetchError)") }
        throw TokenRejection(.unknownKey, "the token is signed with key \(Self.shown(kid)), which the provider does not publish")
    }

    private func fetch(after wait: TimeInterval) async {
        if wait > 0 { try? await Task.sleep(for: .seconds(wait)) }
        defer {
            lastFetch = Date()
            fetching = nil
        }
        do {
            let discovery = try await OIDCDiscovery.fetch(issuer: settings.issuer, caFile: settings.caFile, http: http)
            let set: JWKS = try await OIDCHTTP.getJSON(discovery.jwksURI, caFile: settings.caFile, http: http)
            let collection = JWTKeyCollection()
            var kids: Set<String> = []
            for key in set.keys {
                guard let id = key.keyIdentifier?.string else { continue }
                // A key the provider marks for another algorithm is not used for these.
                if let declared = key.algorithm?.rawValue, !Self.algorithms.contains(declared) { continue }
                if (try? await collection.add(jwk: key)) != nil { kids.insert(id) }
            }
            keys = collection
            knownKIDs = kids
            fetchError = nil
        } catch {
            // The keys known so far stay: a provider briefly down does not refuse everyone.
            fetchError = "\(error)"
        }
    }

    /// The payload's claims, read after the signature held.
    nonisolated func claims(of token: String, now: Date) throws(TokenRejection) -> VerifiedToken {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let data = Base64URL.decode(String(parts[1])),
              let claims = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw TokenRejection(.malformed, "the token's claims are not a JSON object")
        }
        guard let issuer = claims["iss"] as? String, issuer == settings.issuer else {
            throw TokenRejection(.issuer, "the token was issued by \(Self.shown(claims["iss"])), not by \(settings.issuer)")
        }
        let audiences: [String]
        if let single = claims["aud"] as? String { audiences = [single] } else { audiences = (claims["aud"] as? [Any]).flatMap(Self.strings) ?? [] }
        guard audiences.contains(settings.audience) else {
            throw TokenRejection(.audience, "the token is meant for \(audiences.isEmpty ? "no audience" : Self.shown(audiences.joined(separator: ", "))), not for \(settings.audience)")
        }
        guard let exp = Self.seconds(claims["exp"]) else { throw TokenRejection(.claims, "the token has no expiry (exp)") }
        guard now.timeIntervalSince1970 < exp + skew else {
            throw TokenRejection(.expired, "the token expired at \(Date(timeIntervalSince1970: exp)): sign in again (hoopctl login)")
        }
        if let nbf = Self.seconds(claims["nbf"]), now.timeIntervalSince1970 + skew < nbf {
            throw TokenRejection(.notYetValid, "the token is not valid before \(Date(timeIntervalSince1970: nbf))")
        }
        guard let iat = Self.seconds(claims["iat"]) else { throw TokenRejection(.claims, "the token does not say when it was issued (iat)") }
        guard iat <= now.timeIntervalSince1970 + skew else {
            throw TokenRejection(.issuedInFuture, "the token says it was issued at \(Date(timeIntervalSince1970: iat)), in the future")
        }
        guard let subject = claims["sub"] as? String, !subject.isEmpty else { throw TokenRejection(.claims, "the token has no subject (sub)") }
        guard let username = claims[settings.usernameClaim] as? String, !username.isEmpty else {
            throw TokenRejection(.claims, "the token has no '\(settings.usernameClaim)' claim (the policy's username_claim)")
        }
        // An address the provider has not checked could be anyone's (OpenID Connect Core 5.1).
        if settings.usernameClaim == "email", claims["email_verified"] as? Bool != true {
            throw TokenRejection(.claims, "the token's email is not verified by the provider (email_verified)")
        }
        var groups: [String] = []
        if let claim = settings.groupsClaim, let value = claims[claim] {
            // A single group may come as a string (some providers do that): one group, never its letters.
            if let single = value as? String {
                groups = [single]
            } else if let list = value as? [Any], let names = Self.strings(list) {
                groups = names
            } else {
                throw TokenRejection(.claims, "the token's '\(claim)' claim is not a list of names")
            }
        }
        return VerifiedToken(issuer: issuer, subject: subject, username: username, groups: groups,
                             expiresAt: Date(timeIntervalSince1970: exp))
    }

    /// Each element a string, or nil.
    static func strings(_ list: [Any]) -> [String]? {
        var names: [String] = []
        for element in list {
            guard let name = element as? String else { return nil }
            names.append(name)
        }
        return names
    }

    /// A NumericDate (RFC 7519): seconds, whole or not.
    static func seconds(_ value: Any?) -> TimeInterval? {
        switch value {
        case let int as Int: return TimeInterval(int)
        case let double as Double: return double
        case let number as NSNumber: return number.doubleValue
        default: return nil
        }
    }

    /// What the token says, in a message: short and printable (the caller wrote it).
    static func shown(_ value: Any?) -> String {
        guard let text = value as? String else { return "nobody" }
        return String(text.unicodeScalars.filter { $0.value >= 0x20 && $0.value < 0x7F }.prefix(200).map(Character.init))
    }


    /// jwt-kit checks the signature only: the claims are ours to check (with our messages).
    struct Signed: JWTPayload {
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }
}
