import HoopSQL

/// The session's search_path as the server has it, followed through the statements that
/// change it and the transactions that keep or undo those changes; I/O-free.
///
/// The server decides at the end of each transaction: a SET is kept by COMMIT (or by the end
/// of an implicit transaction without error) and undone by ROLLBACK, by an error outside a
/// transaction block, or by ROLLBACK TO a savepoint made before it; SET LOCAL lasts until the
/// transaction ends. Whatever cannot be told from the statements (a set_config under a
/// condition, a DO block) makes the path `unknown` until a plain SET or RESET: names are then
/// not resolved, which the ledger shows by keeping them as written.
struct SearchPathTracker: Sendable {
    enum Path: Sendable, Equatable {
        case known([String])
        case unknown
    }

    let roleDefault: [String]
    /// As of the end of the last transaction.
    private(set) var session: Path
    /// Set in the open transaction (not LOCAL), kept if it commits.
    private var transaction: Path?
    /// SET LOCAL in the open transaction.
    private var local: Path?
    private var savepoints: [(name: String, transaction: Path?, local: Path?)] = []
    private var inBlock = false, blockFailed = false

    init(roleDefault: [String]) {
        self.roleDefault = roleDefault
        session = .known(roleDefault)
    }

    var current: Path { local ?? transaction ?? session }

    /// Whether a statement with these facts can change what `current` is.
    static func matters(_ facts: StatementFacts) -> Bool { facts.searchPath != nil || facts.transaction != nil }

    /// A statement completed without error.
    mutating func completed(_ facts: StatementFacts) {
        switch facts.transaction {
        case .begin?:
            inBlock = true
        case .commit(let chain)?:
            if blockFailed { discard() } else { session = transaction ?? session; endTransaction() }
            inBlock = chain
        case .rollback(let chain)?:
            discard()
            inBlock = chain
        case .savepoint(let name)?:
            savepoints.append((name, transaction, local))
        case .release(let name)?:
            if let index = savepoints.lastIndex(where: { $0.name == name }) { savepoints.removeSubrange(index...) }
        case .rollbackTo(let name)?:
            if let index = savepoints.lastIndex(where: { $0.name == name }) {
                (transaction, local) = (savepoints[index].transaction, savepoints[index].local)
                savepoints.removeSubrange((index + 1)...)
            } else {
                transaction = .unknown
            }
            blockFailed = false
        case nil:
            break
        }
        guard let change = facts.searchPath else { return }
        let value: Path = switch change.value {
        case .schemas(let schemas): .known(schemas)
        case .roleDefault: .known(roleDefault)
        case .unknown: .unknown
        }
        if change.local {
            // Outside a block SET LOCAL only warns; inside an implicit one it holds to its end.
            local = inBlock ? value : .unknown
        } else {
            transaction = value
            local = nil
        }
    }

    /// An ErrorResponse: a block fails (and waits for ROLLBACK); an implicit transaction ends undone.
    mutating func failed() {
        if inBlock { blockFailed = true } else { discard() }
    }

    /// ReadyForQuery with the server's transaction status.
    mutating func ready(status: UInt8) {
        switch status {
        case UInt8(ascii: "I"):
            // An implicit transaction that reached its end without error is committed; a block
            // that ended in an error without ROLLBACK (a COMMIT or PREPARE TRANSACTION that
            // failed) was rolled back.
            if blockFailed { discard() } else { session = transaction ?? session }
            endTransaction()
            inBlock = false
        case UInt8(ascii: "E"):
            inBlock = true
            blockFailed = true
        default:
            inBlock = true
        }
    }

    private mutating func discard() {
        // A change the proxy could not follow may have been committed inside (a DO block's COMMIT).
        if transaction == .unknown { session = .unknown }
        endTransaction()
    }

    private mutating func endTransaction() {
        transaction = nil
        local = nil
        savepoints = []
        blockFailed = false
    }
}

/// What a connection resolves its statements' names with: the search_path as the server has
/// it (its answers applied) and as it will be once everything sent has run (each statement
/// assumed to succeed), and the names the session made temporary; I/O-free.
///
/// A statement is resolved with the expected path. That is exact within a batch (a Query, or
/// extended messages up to Sync): what follows a failed statement there does not run. A
/// statement of a later batch than an unanswered change waits for that change's
/// ReadyForQuery (`mustWait`), after which the expected path is the server's again.
struct NameResolution: Sendable {
    private var server: SearchPathTracker
    private var expected: SearchPathTracker
    /// The ReadyForQuery (by count) that settles the last change sent.
    private var settledAt = 0
    /// Names of temporary relations made (or tried) in this connection: they may hide others.
    private(set) var temporary: Set<String> = []

    init(roleDefault: [String]) {
        server = SearchPathTracker(roleDefault: roleDefault)
        expected = server
    }

    /// The search_path the next statement sent runs with; nil when it cannot be told.
    var path: [String]? {
        if case .known(let schemas) = expected.current { return schemas }
        return nil
    }

    /// Whether the role's own path is in force and nothing hides a name (lineage may be cached).
    var isRoleDefault: Bool { path == expected.roleDefault && temporary.isEmpty }

    /// The count of ReadyForQuery to wait for before resolving a statement of the batch being
    /// sent, given how many have been sent and answered; nil: resolve now.
    func mustWait(readySent: Int, readyAnswered: Int) -> Int? {
        settledAt > readyAnswered && settledAt <= readySent ? settledAt : nil
    }

    /// A statement goes to the server in the batch that the `group`-th ReadyForQuery ends.
    mutating func sending(_ facts: StatementFacts, group: Int) {
        temporary.formUnion(facts.temporaryRelations)
        guard SearchPathTracker.matters(facts) else { return }
        expected.completed(facts)
        settledAt = group
    }

    mutating func completed(_ facts: StatementFacts) {
        if SearchPathTracker.matters(facts) { server.completed(facts) }
    }

    mutating func failed() { server.failed() }

    /// The `answered`-th ReadyForQuery came with this transaction status.
    mutating func ready(status: UInt8, answered: Int) {
        server.ready(status: status)
        if answered >= settledAt { expected = server }
    }
}
