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
        // Alive: a fresh heartbeat, or one this broker saw change lately (a heartbeat written back
        // in time, in a store changed behind the brokers, is a change: not a death).
        var live: Set<String> = []
        for broker in brokers where broker.id != brokerID {
            if sessions.peerHeartbeats[broker.id]?.value != broker.heartbeat { sessions.peerHeartbeats[broker.id] = (broker.heartbeat, now) }
            let changedAt = sessions.peerHeartbeats[broker.id]?.changedAt ?? now
            if broker.isAlive(now: now) || (broker.stopped == nil && now.timeIntervalSince(changedAt) < BrokerRosterTiming.deadAfter) {
                live.insert(broker.id)
            }
        }
        for orphan in (try? sessions.store.claimOrphans(for: brokerID, liveBrokers: live, now: now, limit: 32)) ?? [] {
            // The TTL the store says, held to the one the session's ledger record says: a store
            // changed behind the brokers ends no session early (nor gives a false reason).
            let recorded = ((try? ledger.records(LedgerQuery(session: orphan.info.id, kinds: [.session]))) ?? [])
                .compactMap { $0.decode(SessionBody.self) }.first { $0.phase == .started }?.expiresAt
                .flatMap { ISO8601DateFormatter().date(from: $0) }
            let leaseOver = orphan.lease.map { $0 <= now } ?? false
            if let recorded, recorded > now, !leaseOver {
                try? sessions.store.unclaim(orphan.info.id, for: brokerID, expires: recorded)
                recordBestEffort([LedgerEntry(EventBody(name: "store.inconsistent",
                                                        message: "the control store says session \(orphan.info.id) expired; its ledger record says \(UTCTime.seconds(Broker.micros(recorded))): left open",
                                                        details: ["broker": orphan.broker]),
                                              identity: orphan.info.identity, target: orphan.info.target, session: orphan.info.id)])
                continue
            }
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
