/// The class of a statement: the most severe aspect wins.
public enum SQLClass: String, Sendable, CaseIterable, Codable, Comparable {
    case read, session, write, ddl, dcl, admin, opaque, unparseable

    /// Position in `read < session < write < ddl < dcl < admin < opaque < unparseable`.
    public var severity: Int { Self.allCases.firstIndex(of: self)! }

    public static func < (a: SQLClass, b: SQLClass) -> Bool { a.severity < b.severity }
}

/// What one statement does, read off PostgreSQL's parse tree: what the guardrails decide on and
/// what the ledger keeps.
public struct StatementFacts: Sendable, Equatable {
    public var statementClass: SQLClass = .read
    /// Relations as written (`public.customers`, or `customers` when unqualified), sorted.
    public var relations: [String] = []
    /// The relations it writes to (INSERT, UPDATE, DELETE, MERGE, COPY FROM), as written, sorted.
    public var writes: [String] = []
    /// `relation.column` where the relation is known, `?.column` where it is not, sorted.
    public var columns: [String] = []
    /// Functions called, as written (`pg_sleep`, `hoop.mask_hash`), sorted.
    public var functions: [String] = []
    /// Server-admin, file, dynamic-SQL and hoopctl's own functions among them.
    public var privilegedFunctions: [String] = []
    /// For UPDATE and DELETE: whether every one has a WHERE that can be false. nil otherwise.
    public var bounded: Bool?
    /// `PREPARE name AS ...` (the class is that of the prepared statement).
    public var prepares: String?
    /// `EXECUTE name` (opaque unless the caller knows what `name` was prepared as).
    public var executes: String?
    /// `DEALLOCATE name` (`*` for DEALLOCATE ALL and DISCARD ALL).
    public var deallocates: String?
    /// Why the class is what it is, for `policy explain` and error messages.
    public var notes: [String] = []
    /// COPY ... TO in a form the in-flight detectors cannot read (binary, or a delimiter, quote,
    /// escape or encoding of the client's choosing): what it is.
    public var copyOutUnreadable: String?
    /// Settings that decide how SQL is read or who the session is, which this changes (or would
    /// change when a function it creates runs). Always `admin`.
    public var settingChanges: [String] = []
    /// What it does to the session's search_path, when it changes it.
    public var searchPath: SearchPathChange?
    /// BEGIN, COMMIT, SAVEPOINT ...: what keeps or undoes the session's changes.
    public var transaction: TransactionControl?
    /// Relations it creates in the session's own temporary schema, which hide others of the same name.
    public var temporaryRelations: [String] = []
    /// Whether a literal value changed the facts (`set_config('role', ...)`, `WHERE 1 = 1`):
    /// such an analysis must not be shared with texts that differ only in literals.
    public var dependsOnLiterals = false

    public init() {}

    /// Raises the class to `newClass` when that is more severe, noting why.
    mutating func raise(_ newClass: SQLClass, _ note: String) {
        if newClass > statementClass { statementClass = newClass }
        if newClass > .read, !notes.contains(note) { notes.append(note) }
    }

    /// Adds the facts of an inner statement: one that runs now (a DO body, a statement being
    /// prepared) adds everything; one that does not (the body of a function being created, a
    /// statement EXPLAIN only plans) adds only what it mentions.
    mutating func absorb(_ other: StatementFacts, runs: Bool = true) {
        relations += other.relations
        columns += other.columns
        functions += other.functions
        dependsOnLiterals = dependsOnLiterals || other.dependsOnLiterals
        if !other.settingChanges.isEmpty {
            settingChanges += other.settingChanges
            // A function body that changes a guarded setting changes it whenever it is called.
            if !runs { raise(.admin, "creates code that changes \(other.settingChanges.joined(separator: ", ")) when it runs") }
        }
        // Code that changes the session's search_path whenever it is called would move names
        // where the proxy cannot follow them (a function's own SET clause is scoped to it, and fine).
        if !runs, other.searchPath != nil { raise(.admin, "creates code that changes the session's search_path when it runs") }
        guard runs else { return }
        searchPath = other.searchPath ?? searchPath
        transaction = other.transaction ?? transaction
        temporaryRelations += other.temporaryRelations
        copyOutUnreadable = copyOutUnreadable ?? other.copyOutUnreadable
        if other.statementClass > statementClass { statementClass = other.statementClass }
        for note in other.notes where !notes.contains(note) { notes.append(note) }
        writes += other.writes
        privilegedFunctions += other.privilegedFunctions
        if let inner = other.bounded { bounded = (bounded ?? true) && inner }
    }

    mutating func tidy() {
        relations = Array(Set(relations)).sorted()
        writes = Array(Set(writes)).sorted()
        columns = Array(Set(columns)).sorted()
        functions = Array(Set(functions)).sorted()
        privilegedFunctions = Array(Set(privilegedFunctions)).sorted()
        settingChanges = Array(Set(settingChanges)).sorted()
    }
}

/// A statement's effect on the session's search_path, when it succeeds.
public struct SearchPathChange: Sendable, Equatable {
    public enum Value: Sendable, Equatable {
        /// These schemas (as the server will read them: folded, unquoted).
        case schemas([String])
        /// The value the connection started with, its role's (RESET, DISCARD ALL).
        case roleDefault
        /// Some value, or none, depending on what happens as it runs (a set_config under a
        /// condition, a SET inside a DO block).
        case unknown
    }
    public var value: Value
    /// SET LOCAL, `set_config(..., true)`: until the end of the transaction.
    public var local: Bool

    public init(_ value: Value, local: Bool = false) {
        self.value = value
        self.local = local
    }

    public static func set(_ schemas: [String], local: Bool = false) -> SearchPathChange { .init(.schemas(schemas), local: local) }
    public static let reset = SearchPathChange(.roleDefault)
}

/// Transaction control, as far as it decides what becomes of the session's settings.
public enum TransactionControl: Sendable, Equatable {
    case begin
    /// COMMIT (or END, or PREPARE TRANSACTION); `chain`: a new transaction starts at once.
    case commit(chain: Bool)
    case rollback(chain: Bool)
    case savepoint(String)
    case release(String)
    case rollbackTo(String)
}
