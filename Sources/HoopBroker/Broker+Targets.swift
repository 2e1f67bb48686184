import Foundation
import HoopBrokerAPI
import HoopCommon
import HoopControlStore
import HoopLedger
import HoopPolicy
import HoopProvisioning

extension Broker {
    /// `hoopctl target init`: admins only.
    public func initTarget(_ name: String, identity: Identity) async throws(BrokerFailure) -> TargetInitReport {
        try requireAdmin(identity, to: "initialise targets")
        guard let target = policy.targets[name] else { throw BrokerFailure(.notFound, "unknown target '\(name)'") }
        return try await initializeTarget(target, identity: identity)
    }

    /// Installs the masking views of the current version; records what it did.
    func initializeTarget(_ target: Target, identity: Identity?) async throws(BrokerFailure) -> TargetInitReport {
        let pool = try pool(target.name)
        let key = try hashKey(for: target.name)
        let result: MaskingInstaller.Result
        do {
            result = try await pool.run { try MaskingInstaller.install($0, target: target, hashKey: key) }
        } catch {
            throw BrokerFailure(.unavailable, "target init of '\(target.name)' failed and changed nothing: \(error)")
        }
        var schemas: [String: (schemas: [String], reader: String)] = [:]
        for role in result.roles { schemas[role.role] = (role.schemas, role.readerRole) }
        targets.maskingSchemas[target.name] = schemas
        targets.catalogs[target.name] = result.catalog
        targets.systemRelations[target.name] = result.systemRelations
        targets.visibleTables[target.name] = nil
        targets.doctorCache[target.name] = nil
        let created = result.roles.filter(\.created).map(\.schema)
        recordBestEffort([LedgerEntry(EventBody(name: "target.init", message: created.isEmpty ? "up to date" : "built \(created.joined(separator: ", "))",
                                                details: ["dropped": result.dropped.joined(separator: ","), "kept": result.kept.joined(separator: ",")]),
                                      identity: identity?.principal.description, target: target.name)])
        logger.info("target initialised", metadata: ["target": "\(target.name)", "created": "\(created)", "dropped": "\(result.dropped)"])
        return TargetInitReport(target: target.name, roles: result.roles.map {
            .init(role: $0.role, schema: $0.schema, readerRole: $0.readerRole, views: $0.views, maskedColumns: $0.maskedColumns, created: $0.created)
        }, dropped: result.dropped, kept: result.kept)
    }

    /// `hoopctl target doctor`: admins only; always examines afresh.
    public func doctorTarget(_ name: String, identity: Identity) async throws(BrokerFailure) -> DoctorReport {
        try requireAdmin(identity, to: "examine targets")
        guard let target = policy.targets[name] else { throw BrokerFailure(.notFound, "unknown target '\(name)'") }
        return try await doctor(target: target, pool: try pool(name), maxAge: 0)
    }

    func doctor(target: Target, pool: AdminPool, maxAge: TimeInterval) async throws(BrokerFailure) -> DoctorReport {
        if let cached = targets.doctorCache[target.name], Date().timeIntervalSince(cached.at) < maxAge { return cached.report }
        let findings: [DoctorReport.Finding]
        do {
            findings = try await pool.run { try TargetDoctor.examine($0, target: target) }
        } catch {
            throw BrokerFailure(.unavailable, "cannot examine '\(target.name)': \(error)")
        }
        let report = DoctorReport(target: target.name, findings: findings)
        targets.doctorCache[target.name] = (Date(), report)
        return report
    }

    /// The target's masking hash key: 32 random bytes made once, kept in the broker's state (0600).
    func hashKey(for target: String) throws(BrokerFailure) -> [UInt8] {
        let directory = URL(fileURLWithPath: configuration.stateDirectory).appendingPathComponent("targets")
        let path = directory.appendingPathComponent("\(target).hashkey").path
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            let hex = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard hex.count == 64, hex.allSatisfy(\.isHexDigit) else {
                throw BrokerFailure(.internal, "\(path) is damaged: expected 32 bytes of hex")
            }
            let bytes = stride(from: 0, to: hex.count, by: 2).compactMap { offset -> UInt8? in
                let start = hex.index(hex.startIndex, offsetBy: offset)
                return UInt8(hex[start..<hex.index(start, offsetBy: 2)], radix: 16)
            }
            guard bytes.count == 32 else { throw BrokerFailure(.internal, "\(path) is damaged: expected 32 bytes of hex") }
            // Brokers sharing a store hash alike: the first one's key, kept here too from then on.
            let agreed: String
            do { agreed = try secrets.agree(on: "target-hash-key:\(target)", offering: hex) } catch {
                throw BrokerFailure(.unavailable, "the control store cannot be read: \(error)")
            }
            guard agreed != hex else { return bytes }
            guard agreed.count == 64, agreed.allSatisfy(\.isHexDigit) else { throw BrokerFailure(.internal, "the control store's hash key of '\(target)' is damaged") }
            do { try PrivateFile.write(agreed + "\n", to: path) } catch {
                throw BrokerFailure(.internal, "cannot keep the hash key of '\(target)': \(error)")
            }
            return try hashKey(for: target)
        }
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let hex = Broker.randomHex(bytes: 32)
            try PrivateFile.write(hex + "\n", to: path)
            return try hashKey(for: target)
        } catch let failure as BrokerFailure {
            throw failure
        } catch {
            throw BrokerFailure(.internal, "cannot keep the hash key of '\(target)': \(error)")
        }
    }
}
