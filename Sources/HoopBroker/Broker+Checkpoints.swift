import Crypto
import Foundation
import HoopBrokerAPI
import HoopCommon
import HoopLedger
import HoopPolicy
import HoopProvisioning

/// The chain's head, signed and kept outside the ledger file: someone who can rewrite the file
/// (cut records off its end, re-hash it whole) cannot rewrite what each target database, the
/// `audit --follow` stream and the webhooks were told.
extension Broker {
    /// Signs the head and publishes it, unless no record came since the last checkpoint.
    public func checkpoint() async {
        guard !checkpointing, let head = try? ledger.head() else { return }
        // Nothing new: the head is the last checkpoint's own record, which came right after what it signed.
        if let last = lastCheckpointRecord, head.id <= last, lastCheckpointSigned == last - 1 { return }
        checkpointing = true
        defer { checkpointing = false }
        let timestamp = Broker.micros(Date())
        let text = LedgerCheckpoint.signedText(broker: brokerID, recordID: head.id, hash: head.hash, timestamp: timestamp)
        guard let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: checkpointKey),
              let signature = try? key.signature(for: Data(text.utf8)) else { return }
        let checkpoint = LedgerCheckpoint(broker: brokerID, recordID: head.id, hash: head.hash, timestamp: timestamp,
                                          signature: signature.base64EncodedString())
        var kept: [String] = []
        for (name, pool) in pools.sorted(by: { $0.key < $1.key }) {
            do {
                try await pool.run { try CheckpointTable.append($0, checkpoint) }
                kept.append(name)
            } catch {
                logger.warning("the ledger checkpoint could not be kept in the target database", metadata: ["target": "\(name)", "error": "\(error)"])
            }
        }
        // The stream (`audit --follow`) gets it as a record of its own, which says where it is kept.
        let recorded = try? ledger.append(LedgerEntry(EventBody(name: "ledger.checkpoint", message: "record #\(head.id) sha256:\(head.hash)", details: [
            "record": String(head.id), "hash": head.hash, "ts": String(timestamp), "broker": brokerID, "signature": checkpoint.signature,
            "kept": kept.joined(separator: ","),
        ])))
        lastCheckpointRecord = recorded?.id ?? head.id
        lastCheckpointSigned = head.id
        let endpoints = policy.notifications.enumerated().filter { $0.element.events.contains(.ledgerCheckpoint) }
        if !endpoints.isEmpty {
            let notifier = self.notifier
            Task { await notifier.send(checkpoint: checkpoint, to: endpoints.map { ($0.offset, $0.element.endpoint) }) }
        }
    }

    /// `POST /v1/audit/checkpoint`: a checkpoint now (admins), rather than within the minute.
    public func checkpointNow(identity: Identity) async throws(BrokerFailure) -> LedgerCheckpointMade {
        guard policy.isAdmin(identity) else { throw BrokerFailure(.denied, "\(identity) may not make ledger checkpoints: admins only") }
        await checkpoint()
        let head: (id: Int64, hash: String)?
        do { head = try ledger.head() } catch { throw BrokerFailure(.internal, "the ledger cannot be read: \(error)") }
        guard let head else { throw BrokerFailure(.invalid, "the ledger has no records yet: nothing to sign") }
        return LedgerCheckpointMade(record: lastCheckpointRecord ?? head.id)
    }

    /// Reads every target's checkpoints of this broker and checks them against the chain.
    func checkCheckpoints(into report: inout VerificationReport) async throws {
        guard let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: checkpointKey).publicKey else { return }
        var checkpoints: [LedgerCheckpoint] = []
        var problems: [String] = []
        var reached: [String: Set<Int64>] = [:]
        for (name, pool) in pools.sorted(by: { $0.key < $1.key }) {
            let id = brokerID
            do {
                let kept = try await pool.run { try CheckpointTable.read($0, broker: id, source: "target \(name)") }
                checkpoints += kept
                reached[name] = Set(kept.map(\.recordID))
            } catch {
                report.checkpointWarnings = (report.checkpointWarnings ?? []) + ["the checkpoints kept in target \(name) could not be read: \(error)"]
            }
        }
        guard !reached.isEmpty else { return }
        let signed = checkpoints.filter { checkpoint in
            guard let signature = Data(base64Encoded: checkpoint.signature), key.isValidSignature(signature, for: Data(checkpoint.signedText.utf8)) else {
                problems.append("a checkpoint kept in \(checkpoint.source ?? "?") (record #\(checkpoint.recordID)) is not signed by this broker's key")
                return false
            }
            return true
        }
        problems += try ledger.checkpointProblems(signed)
        // The other way round: a checkpoint the ledger recorded as kept in a target that the
        // target no longer has means its table lost rows (emptied, it would check nothing).
        for recorded in try ledger.recordedCheckpoints() where recorded.broker == brokerID {
            guard let signature = Data(base64Encoded: recorded.signature), key.isValidSignature(signature, for: Data(recorded.signedText.utf8)),
                  let target = recorded.kept.first(where: { reached[$0].map { !$0.contains(recorded.recordID) } ?? false }) else { continue }
            problems.append("the checkpoint of record #\(recorded.recordID) (\(UTCTime.seconds(recorded.timestamp))) was kept in target \(target), "
                            + "which no longer has it: checkpoints were deleted there")
            break
        }
        report.checkpoints = signed.count
        report.checkpointProblems = problems
    }
}
