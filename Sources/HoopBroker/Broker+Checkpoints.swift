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
        guard !recording.checkpointing, let head = try? ledger.head(), let origin = try? ledger.origin() else { return }
        // Nothing new: the head is the last checkpoint's own record, which came right after what it signed.
        if let last = recording.lastCheckpointRecord, head.id <= last, recording.lastCheckpointSigned == last - 1 { return }
        // Nor when all that came since are the checkpoints of the other brokers sharing the chain
        // (else each would sign the other's checkpoint record, every interval, forever).
        if let signed = recording.lastCheckpointSigned, head.id > signed, head.id - signed <= 64,
           let since = try? ledger.records(LedgerQuery(afterID: signed)),
           since.allSatisfy({ $0.decode(EventBody.self)?.name == "ledger.checkpoint" }) { return }
        recording.checkpointing = true
        defer { recording.checkpointing = false }
        let timestamp = Broker.micros(Date())
        let text = LedgerCheckpoint.signedText(broker: brokerID, origin: origin, recordID: head.id, hash: head.hash, timestamp: timestamp)
        guard let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: checkpointKey),
              let signature = try? key.signature(for: Data(text.utf8)) else { return }
        let checkpoint = LedgerCheckpoint(broker: brokerID, origin: origin, recordID: head.id, hash: head.hash, timestamp: timestamp,
                                          signature: signature.base64EncodedString())
        var kept: [String] = []
        for (name, pool) in targets.pools.sorted(by: { $0.key < $1.key }) {
            do {
                try await pool.run { try CheckpointTable.append($0, checkpoint) }
                kept.append(name)
            } catch {
                logger.warning("the ledger checkpoint could not be kept in the target database", metadata: ["target": "\(name)", "error": "\(error)"])
            }
        }
        // The stream (`audit --follow`) gets it as a record of its own, which says where it is kept.
        let recorded = try? ledger.append(LedgerEntry(EventBody(name: "ledger.checkpoint", message: "record #\(head.id) sha256:\(head.hash)", details: [
            "record": String(head.id), "hash": head.hash, "ts": String(timestamp), "broker": brokerID, "origin": origin,
            "signature": checkpoint.signature,
            "kept": kept.joined(separator: ","),
        ])))
        recording.lastCheckpointRecord = recorded?.id ?? head.id
        recording.lastCheckpointSigned = head.id
        let endpoints = policy.notifications.enumerated().filter { $0.element.events.contains(.ledgerCheckpoint) }
        if !endpoints.isEmpty {
            let notifier = self.notifier
            Task { await notifier.send(checkpoint: checkpoint, to: endpoints.map { ($0.offset, $0.element.endpoint) }) }
        }
    }

    /// `POST /v1/audit/checkpoint`: a checkpoint now (admins), rather than at the next interval.
    public func checkpointNow(identity: Identity) async throws(BrokerFailure) -> LedgerCheckpointMade {
        guard policy.isAdmin(identity) else { throw BrokerFailure(.denied, "\(identity) may not make ledger checkpoints: admins only") }
        await checkpoint()
        let head: (id: Int64, hash: String)?
        do { head = try ledger.head() } catch { throw BrokerFailure(.internal, "the ledger cannot be read: \(error)") }
        guard let head else { throw BrokerFailure(.invalid, "the ledger has no records yet: nothing to sign") }
        return LedgerCheckpointMade(record: recording.lastCheckpointRecord ?? head.id)
    }

    /// Reads the targets' checkpoints and checks this ledger's against the chain. A checkpoint
    /// is this ledger's when it names this broker, verifies under its key, or names this
    /// ledger's first record: whoever can rewrite the ledger can also replace `broker.id` or the
    /// signing key beside it, and one swapped file must not make old checkpoints disappear.
    func checkCheckpoints(into report: inout VerificationReport) async throws {
        guard let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: checkpointKey).publicKey else { return }
        // Brokers sharing a control store sign checkpoints of the one chain, each with its own key.
        let peers = ((try? roster.brokers()) ?? []).filter { $0.id != brokerID }
        let keys = [key] + peers.compactMap { try? Curve25519.Signing.PublicKey(rawRepresentation: $0.checkpointKey) }
        let peerIDs = Set(peers.map(\.id))
        func signedByAKeyOfThisLedger(_ signature: String, _ text: String) -> Bool {
            guard let signature = Data(base64Encoded: signature) else { return false }
            return keys.contains { $0.isValidSignature(signature, for: Data(text.utf8)) }
        }
        let origin = try ledger.origin() ?? ""
        var problems: [String] = []
        var reached: [String: Set<Int64>] = [:]
        var ours: [LedgerCheckpoint] = []
        var otherIdentities: Set<String> = []
        for (name, pool) in targets.pools.sorted(by: { $0.key < $1.key }) {
            do {
                let rows = try await pool.run { try CheckpointTable.read($0, source: "target \(name)") }
                var kept: Set<Int64> = []
                for row in rows {
                    let signed = signedByAKeyOfThisLedger(row.signature, row.signedText)
                    guard row.broker == brokerID || signed || (!origin.isEmpty && row.origin == origin) else { continue }
                    if !signed {
                        problems.append("a checkpoint kept in \(row.source ?? "?") (record #\(row.recordID)) is not signed by the key of any broker of this ledger")
                        continue
                    }
                    if row.broker != brokerID, !peerIDs.contains(row.broker) { otherIdentities.insert(row.broker) }
                    ours.append(row)
                    kept.insert(row.recordID)
                }
                reached[name] = kept
            } catch {
                report.checkpointWarnings = (report.checkpointWarnings ?? []) + ["the checkpoints kept in target \(name) could not be read: \(error)"]
            }
        }
        guard !reached.isEmpty else { return }
        if !otherIdentities.isEmpty {
            report.checkpointWarnings = (report.checkpointWarnings ?? [])
                + ["this ledger's checkpoints were also signed as broker \(otherIdentities.sorted().joined(separator: ", ")), not \(brokerID): broker.id was replaced"]
        }
        problems += try ledger.checkpointProblems(ours)
        // The other way round: a checkpoint the ledger recorded as kept in a target that the
        // target no longer has means its table lost rows (emptied, it would check nothing).
        for recorded in try ledger.recordedCheckpoints() {
            guard signedByAKeyOfThisLedger(recorded.signature, recorded.signedText),
                  let target = recorded.kept.first(where: { reached[$0].map { !$0.contains(recorded.recordID) } ?? false }) else { continue }
            problems.append("the checkpoint of record #\(recorded.recordID) (\(UTCTime.seconds(recorded.timestamp))) was kept in target \(target), "
                            + "which no longer has it: checkpoints were deleted there")
            break
        }
        report.checkpoints = ours.count
        report.checkpointProblems = problems
    }

    /// The file a clean stop leaves in the state directory, naming the checkpoint it ended with.
    var cleanStopMarker: String { URL(fileURLWithPath: configuration.stateDirectory).appendingPathComponent("clean-stop").path }

    /// At a clean stop, after the last checkpoint.
    public func markCleanStop() {
        try? PrivateFile.write("\(recording.lastCheckpointRecord ?? 0)\n", to: cleanStopMarker)
    }

    /// At start-up, before anything is recorded: a broker that ran here before and did not
    /// leave the clean-stop marker crashed or was killed, and the records it wrote after its last
    /// checkpoint are anchored by nothing (they may also have been cut since). Said in the ledger.
    public func noteHowTheLastRunEnded() {
        let marker = try? String(contentsOfFile: cleanStopMarker, encoding: .utf8)
        unlink(cleanStopMarker)
        guard ranBefore, marker == nil, let head = try? ledger.head() else { return }
        recordBestEffort([LedgerEntry(EventBody(name: "broker.unclean-stop",
                                                message: "the broker did not stop cleanly (crashed or killed) before record #\(head.id + 1): "
                                                    + "what it wrote after its last checkpoint was anchored by nothing",
                                                details: ["head": String(head.id)]))])
    }
}
