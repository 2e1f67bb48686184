/// The client's names for prepared statements and portals, and the names they have upstream.
/// A named statement or portal gets a fresh upstream name each time it is made, never reused:
/// whatever the server did with earlier ones (a Parse that failed, a Close in an aborted
/// transaction, a name the client used twice), a Bind or Execute runs exactly the statement
/// the proxy analysed and recorded under that name. Unnamed ones keep the empty name: the
/// server drops the old one before it makes the new. I/O-free.
struct StatementNames<Value> {
    /// Upstream names begin with this; SQL PREPARE and DECLARE of such names are refused.
    static var reservedPrefix: String { "hoop_" }
    /// The name given to what the client names but the proxy does not know (a statement made
    /// with SQL PREPARE, a cursor made with DECLARE): never made, so the server refuses it.
    static var unknown: String { "hoop_unknown" }
    /// Where a Parse refused for want of room goes (the client's name stays unknown).
    static var refused: String { "hoop_refused" }
    /// Named statements a connection may hold; a Parse past it is refused.
    static var capacity: Int { 10_000 }

    private(set) var statements: [String: (upstream: String, value: Value)] = [:]
    private(set) var portals: [String: (upstream: String, value: Value?)] = [:]
    private var made = 0

    /// The upstream name for a Parse of `name`, now naming `value`; nil when the connection holds too many.
    mutating func parse(_ name: String, _ value: Value) -> String? {
        guard !name.isEmpty else {
            statements[""] = ("", value)
            return ""
        }
        guard statements[name] != nil || statements.count < Self.capacity else { return nil }
        made += 1
        let upstream = "\(Self.reservedPrefix)s\(made)"
        statements[name] = (upstream, value)
        return upstream
    }

    func statement(_ name: String) -> (upstream: String, value: Value)? { statements[name] }

    /// What a name was before a change: the server may skip the message that made the change
    /// (after an error, until Sync), and the change is then taken back.
    enum Undo {
        case statement(String, (upstream: String, value: Value)?)
        case portal(String, (upstream: String, value: Value?)?)

        /// `S:name` or `P:name`.
        var key: String {
            switch self {
            case .statement(let name, _): return "S:" + name
            case .portal(let name, _): return "P:" + name
            }
        }
    }

    /// This change, undone to what `earlier` (a change of the same name, taken back) undid to:
    /// when the server skipped the earlier one, this one replaced what was there before it.
    func carrying(_ earlier: Undo, into later: Undo) -> Undo {
        switch (earlier, later) {
        case (.statement(_, let previous), .statement(let name, _)): return .statement(name, previous)
        case (.portal(_, let previous), .portal(let name, _)): return .portal(name, previous)
        default: return later
        }
    }

    func undoing(statement name: String) -> Undo { .statement(name, statements[name]) }
    func undoing(portal name: String) -> Undo { .portal(name, portals[name]) }

    mutating func undo(_ undo: Undo) {
        switch undo {
        case .statement(let name, let previous): statements[name] = previous
        case .portal(let name, let previous): portals[name] = previous
        }
    }

    /// Bind: the portal's and the statement's upstream names, and what the portal will run (nil: unknown).
    mutating func bind(portal: String, statement: String) -> (portal: String, statement: String, value: Value?) {
        let known = statements[statement]
        var upstream = ""
        if !portal.isEmpty {
            // Portals end with their transaction upstream; the names of ended ones are dropped when too many pile up.
            if portals[portal] == nil, portals.count >= Self.capacity { portals.removeAll(keepingCapacity: true) }
            made += 1
            upstream = "\(Self.reservedPrefix)p\(made)"
        }
        portals[portal] = (upstream, known?.value)
        return (upstream, known?.upstream ?? Self.unknown, known?.value)
    }

    /// Changes what a bound portal will run with (its parameters, for the ledger).
    mutating func update(portal name: String, _ change: (inout Value) -> Void) {
        guard var entry = portals[name], var value = entry.value else { return }
        change(&value)
        entry.value = value
        portals[name] = entry
    }

    /// Execute of a portal: its upstream name and what it runs (nil: unknown, and the name is
    /// one the server refuses, so nothing the proxy did not analyse runs).
    func portal(_ name: String) -> (upstream: String, value: Value?) {
        portals[name] ?? (name.isEmpty ? "" : Self.unknown, nil)
    }

    /// Describe of a statement or portal, which runs nothing: the upstream name, or the
    /// client's own for one the proxy did not make (a cursor DECLAREd in SQL, as psycopg's
    /// server-side cursors are described).
    func describe(statement name: String) -> String { statements[name]?.upstream ?? name }
    func describe(portal name: String) -> String { portals[name]?.upstream ?? name }

    /// Close of a statement or portal, which can only take something away: the upstream name
    /// to close (the client's own when the proxy did not make it). The name is then free.
    mutating func close(statement name: String) -> String {
        statements.removeValue(forKey: name)?.upstream ?? name
    }

    mutating func close(portal name: String) -> String {
        portals.removeValue(forKey: name)?.upstream ?? name
    }

    /// DISCARD ALL or DEALLOCATE ALL dropped every prepared statement upstream.
    mutating func discardStatements() { statements.removeAll(keepingCapacity: true) }
}
