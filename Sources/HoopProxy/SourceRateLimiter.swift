import Foundation
import NIOConcurrencyHelpers

/// Rate limits per source address on the network listeners, checked when a connection is
/// accepted (before its TLS handshake, so a refused flood costs an accept and a close):
///
/// - connections: a burst of `connectionBurst`, then `connectionsPerSecond`;
/// - failures (a refused token, a failed proxy login, a request without a token): a burst of
///   `failureBurst`, then one per `failureRefill`; once spent, the address's connections are
///   refused until one has come back.
///
/// Authenticated callers at other addresses never wait behind it. At most `maxSources`
/// addresses are tracked; past that, those with full buckets (idle) are forgotten first.
public final class SourceRateLimiter: Sendable {
    public struct Settings: Sendable {
        public var connectionBurst = 40.0
        public var connectionsPerSecond = 20.0
        public var failureBurst = 10.0
        public var failureRefill: TimeInterval = 6
        public var maxSources = 10_000
        public init() {}
    }

    public enum Verdict: Equatable, Sendable {
        case allowed
        /// Refused; `firstTime` is true for the first refusal since the address was last allowed.
        case refused(reason: String, firstTime: Bool)
    }

    private struct Source {
        var connections: Double
        var failures: Double
        var updated: TimeInterval
        var refusing = false
    }

    public let settings: Settings
    private let clock: @Sendable () -> TimeInterval
    private let sources = NIOLockedValueBox<[String: Source]>([:])

    public init(settings: Settings = Settings(), clock: @escaping @Sendable () -> TimeInterval = { ProcessInfo.processInfo.systemUptime }) {
        self.settings = settings
        self.clock = clock
    }

    /// A new connection from `address`: allowed (and counted) or refused.
    public func connection(from address: String) -> Verdict {
        let now = clock()
        return sources.withLockedValue { sources in
            var source = refilled(sources[address], now: now)
            defer { sources[address] = source; trim(&sources) }
            if source.failures < 1 {
                let first = !source.refusing
                source.refusing = true
                return .refused(reason: "too many failed sign-ins", firstTime: first)
            }
            if source.connections < 1 {
                let first = !source.refusing
                source.refusing = true
                return .refused(reason: "too many connections", firstTime: first)
            }
            source.connections -= 1
            source.refusing = false
            return .allowed
        }
    }

    /// Whether `address` has spent its failures (its connections are refused; one already open
    /// is closed after a failure, rather than left to fail on).
    public func isLockedOut(_ address: String) -> Bool {
        let now = clock()
        return sources.withLockedValue { refilled($0[address], now: now).failures < 1 }
    }

    /// A failed sign-in (or a request without one) from `address`.
    public func failure(from address: String) {
        let now = clock()
        sources.withLockedValue { sources in
            var source = refilled(sources[address], now: now)
            source.failures = max(source.failures - 1, 0)
            sources[address] = source
            trim(&sources)
        }
    }

    private func refilled(_ source: Source?, now: TimeInterval) -> Source {
        guard var source else { return Source(connections: settings.connectionBurst, failures: settings.failureBurst, updated: now) }
        let elapsed = max(now - source.updated, 0)
        source.connections = min(settings.connectionBurst, source.connections + elapsed * settings.connectionsPerSecond)
        source.failures = min(settings.failureBurst, source.failures + elapsed / settings.failureRefill)
        source.updated = now
        return source
    }

    /// Forgets idle sources (both buckets full) when too many are tracked; if that is not
    /// enough, those without failures go before those with, the least recently seen first, so
    /// that many fresh addresses cannot wash out a punished one.
    private func trim(_ sources: inout [String: Source]) {
        guard sources.count > settings.maxSources else { return }
        let now = clock()
        sources = sources.filter {
            let source = refilled($0.value, now: now)
            return source.failures < settings.failureBurst || source.connections < settings.connectionBurst
        }
        // Down to nine tenths, so that a flood of new addresses sorts once per many accepts.
        let target = settings.maxSources - settings.maxSources / 10
        guard sources.count > target else { return }
        let order = sources.sorted { one, other in
            let punished = (refilled(one.value, now: now).failures < settings.failureBurst, refilled(other.value, now: now).failures < settings.failureBurst)
            return punished.0 != punished.1 ? !punished.0 : one.value.updated < other.value.updated
        }
        for (address, _) in order.prefix(sources.count - target) { sources[address] = nil }
    }
}
