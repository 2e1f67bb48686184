import Foundation
import HoopBrokerAPI
import HoopCommon
import HoopControlStore
import HoopLedger

/// Sessions among brokers sharing a control store: each broker watches the sessions it opened;
/// any broker may end any session (one takes it on: `SessionStore.claim`); a session of a broker
/// that stopped answering is ended by another at its TTL. On a SQLite ledger none of this has
/// anything to do (`LocalSessionStore`).
extension Broker {
    /// Another broker's open session, by id or unambiguous prefix, if the caller may act on it.
    func findStoredSession(_ id: String, identity: Identity, action: String) throws(BrokerFailure) -> StoredSession? {
        guard sessions.store.isShared else { return nil }
        let open: [StoredSession]
        do { open = try sessions.store.open() } catch { throw BrokerFailure(.unavailable, "the control store cannot be read: \(error)") }
        let admin = policy.isAdmin(identity)
        let visible = open.filter { sessions.byID[$0.info.id] == nil && (admin || $0.info.identity == identity.principal.description) }
        let matches = id.count >= 4 ? visible.filter { $0.info.id.hasPrefix(id) } : visible.filter { $0.info.id == id }
        guard matches.count <= 1 else {
            throw BrokerFailure(.invalid, "'\(id)' matches \(matches.count) sessions: \(matches.map(\.info.id).sorted().joined(separator: ", "))")
        }
        return matches.first
    }

    /// Takes another broker's session in, to end it from here (the revocation then claims it).
    func adopt(_ stored: StoredSession) -> ActiveSession {
        let session = ActiveSession(info: stored.info, caller: nil, tokenID: nil)
        sessions.byID[stored.info.id] = session
        return session
    }

    /// A session this broker held that another broker ended (or is ending): forgotten here,
    /// without a second revocation. Its proxy ticket goes with it.
    func handOver(_ id: String, _ stored: SessionInfo) {
        guard let session = sessions.byID.removeValue(forKey: id) else { return }
        sessions.ended[id] = stored.state == .ended ? stored : ended(session.info, by: stored.endedBy ?? "ended-elsewhere", exitCode: nil)
        for (requestID, request) in requests.byID where request.info.kind == "statement" && request.info.session == id {
            withdraw(requestID, reason: "session \(id) ended", by: nil)
        }
        logger.info("session ended by another broker", metadata: ["session": "\(id)"])
    }

    /// At each reap: what other brokers did to this one's sessions (ended one, renewed one
    /// for a remote client that reached them), then what brokers that stopped answering left.
    func followOtherBrokers(now: Date) async {
        guard sessions.store.isShared else { return }
        let mine = sessions.byID.values.filter { $0.revocation == nil }.map(\.info.id)
        for stored in (try? sessions.store.changes(among: mine, for: brokerID)) ?? [] {
            let id = stored.info.id
            if stored.info.state == .ended || (stored.claimedBy.map { $0 != brokerID } ?? false) {
                handOver(id, stored.info)
            } else if let lease = stored.lease, let local = sessions.byID[id]?.lease, lease > local {
                sessions.byID[id]?.lease = lease
            }
        }
        guard let brokers = try? roster.brokers() else { return }
        let live = Set(brokers.filter { $0.isAlive(now: now) }.map(\.id))
        for orphan in (try? sessions.store.claimOrphans(for: brokerID, liveBrokers: live, now: now, limit: 32)) ?? [] {
            recordBestEffort([LedgerEntry(EventBody(name: "session.taken-over",
                                                    message: "broker \(orphan.broker) stopped answering; broker \(brokerID) ends its session",
                                                    details: ["broker": orphan.broker]),
                                          identity: orphan.info.identity, target: orphan.info.target, session: orphan.info.id)])
            _ = adopt(orphan)
            let endedBy = orphan.info.expiresAt > now && (orphan.lease.map { $0 <= now } ?? false) ? "lease-expired" : "ttl"
            Task { await self.revoke(orphan.info.id, endedBy: endedBy, exitCode: nil, by: nil) }
        }
    }
}
