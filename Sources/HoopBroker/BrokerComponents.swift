import Foundation
import HoopBrokerAPI
import HoopControlStore
import HoopDetectors
import HoopLedger
import HoopOIDC
import HoopProvisioning
import HoopProxy

// The broker's state, one component per concern, each over its store's protocol (a SQLite or
// local implementation for one broker, a PostgreSQL one for brokers sharing a control store).
// The `Broker` actor owns them and is their one isolation domain: what one concern does to
// another (a revoked token ends sessions, an ended session withdraws its reviews) stays one
// step, never two actors awaiting each other.

/// Sessions: those this broker watches, those that ended lately, every broker's in the store.
struct SessionBook {
    let store: any SessionStore
    /// Sessions this broker watches: opened here, taken back after a restart, or taken in to be ended here.
    var byID: [String: ActiveSession] = [:]
    /// Sessions that ended lately, so a late `end` from their client gets an answer.
    var ended: [String: SessionInfo] = [:]
    /// Each other broker's heartbeat as last read, and when this broker saw it change: a broker
    /// is dead when this one has seen no change for a while, whatever the value says.
    var peerHeartbeats: [String: (value: Date, changedAt: Date)] = [:]
}

/// Access and statement requests: in memory, rebuilt from the ledger and kept up with the
/// other brokers' records; which session used an approval is the store's to say.
struct RequestBook {
    let store: any RequestStore
    var byID: [String: PendingRequest] = [:]
    /// The last ledger record whose requests, decisions, tokens and identities are applied here (`followLedger`).
    var followedThrough: Int64?
    /// Records of those kinds this broker appended that `followLedger` has not passed yet.
    var ownRecords: Set<Int64> = []
}

/// Who callers are: broker tokens (this broker's, and those of the brokers sharing its store,
/// checked with their public keys) and the policy's identity provider.
struct TokenBook {
    let authority: TokenAuthority
    /// The public token keys of the other brokers sharing the store (from the roster).
    var peerKeys: [Data] = []
    /// Checks the policy's identity provider's tokens (nil when the policy names none).
    var oidc: OIDCTokenVerifier?
    /// `user:NAME` → the provider account it belongs to, from the ledger.
    var providerAccounts: [String: ProviderAccount] = [:]
    var issued: [String: TokenInfo] = [:]
    var revoked: Set<String> = []
    /// token → the token it was issued with (none for tokens issued under peer credentials).
    var parents: [String: String] = [:]
}

/// What the broker knows of each target database: its admin connections and what it read or
/// built there, under the policy in force (emptied when the policy changes).
struct TargetBook {
    var pools: [String: AdminPool] = [:]
    /// Why a target has no pool (its admin DSN could not be read).
    var poolErrors: [String: String] = [:]
    /// target → role → current masking schema and reader role.
    var maskingSchemas: [String: [String: (schemas: [String], reader: String)]] = [:]
    var doctorCache: [String: (at: Date, report: DoctorReport)] = [:]
    /// Each target's catalog as the masking views were last built from or checked against.
    var catalogs: [String: [CatalogTable]] = [:]
    /// target → pg_catalog's and information_schema's relations, for resolving names.
    var systemRelations: [String: [String: Set<String>]] = [:]
    /// target → role → what its sessions see, for lineage.
    var visibleTables: [String: [String: VisibleTables]] = [:]
    /// In-flight detectors per target, built on first use under the current policy.
    var detectorEngines: [String: DetectorEngine] = [:]

    /// A new policy: new admin connections, and nothing decided under the old one is kept (the
    /// catalogs read stay: what sessions see is rebuilt from them until the views are read again).
    mutating func policyChanged(pools: [String: AdminPool], errors: [String: String]) {
        for pool in self.pools.values { pool.close() }
        self = TargetBook(pools: pools, poolErrors: errors, catalogs: catalogs, systemRelations: systemRelations)
    }
}

/// What the broker keeps about the chain it appends to: the identities recorded since its
/// start, and the checkpoints it signs.
struct RecordingState {
    /// Principals with an identity record in the ledger since this broker started.
    var recordedIdentities: Set<String> = []
    /// The record the last checkpoint was recorded as: until the head moves past it, nothing new.
    var lastCheckpointRecord: Int64?
    /// The record the last checkpoint signed.
    var lastCheckpointSigned: Int64?
    var checkpointing = false
}

/// Where clients reach the guard proxy: on this host, and from the network over TLS (the name
/// in the certificate, and the port).
struct ProxyEndpoints {
    var address: (host: String, port: Int)?
    var socketDirectory: String?
    var network: (host: String, port: Int)?
}
