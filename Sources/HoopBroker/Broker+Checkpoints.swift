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
        if let last = lastCheckpointRecord, head.id <= last { return }
        checkpointing = true
        defer { checkpointing = false }
        let timestamp = Broker.micros(Date())
        let text = LedgerCheckpoint.signedText(broker: brokerID, recordID: head.id, hash: head.hash, timestamp: timestamp)
        guard let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: checkpointKey),
              let signature = try? key.signature(for: Data(text.utf8)) else { return }
        let checkpoint = LedgerCheckpoint(broker: brokerID, recordID: head.id, hash: head.hash, timestamp: timestamp,
                                          signature: signature.base64EncodedString())
        // The stream (`audit --follow`) gets it as a record of its own.
        let recorded = try? ledger.append(LedgerEntry(EventBody(name: "ledger.checkpoint", message: "record #\(head.id) sha256:\(head.hash)", details: [
            "record": String(head.id), "hash": head.hash, "ts": String(timestamp), "broker": brokerID, "signature": checkpoint.signature,
        ])))
        lastCheckpointRecord = recorded?.id ?? head.id
        for (name, pool) in pools.sorted(by: { $0.key < $1.key }) {
            do {
                try await pool.run { try CheckpointTable.append($0, checkpoint) }
            } catch {
                logger.warning("the ledger checkpoint could not be kept in the target database", metadata: ["target": "\(name)", "error": "\(error)"])
            }
        }
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
        var reached = 0
        for (name, pool) in pools.sorted(by: { $0.key < $1.key }) {
            let id = brokerID
            do {
                checkpoints += try await pool.run { try CheckpointTable.read($0, broker: id, source: "target \(name)") }
                reached += 1
            } catch {
                report.checkpointWarnings = (report.checkpointWarnings ?? []) + ["the checkpoints kept in target \(name) could not be read: \(error)"]
            }
        }
        guard reached > 0 else { return }
        let signed = checkpoints.filter { checkpoint in
            guard let signature = Data(base64Encoded: checkpoint.signature), key.isValidSignature(signature, for: Data(checkpoint.signedText.utf8)) else {
                problems.append("a checkpoint kept in \(checkpoint.source ?? "?") (record #\(checkpoint.recordID)) is not signed by this broker's key")
                return false
            }
            return true
        }
        problems += try ledger.checkpointProblems(signed)
        report.checkpoints = signed.count
        report.checkpointProblems = problems
    }
}
