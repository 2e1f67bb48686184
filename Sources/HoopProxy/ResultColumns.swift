/// Which columns each statement returned, for the ledger (their names, never their values).
/// I/O-free: told what the client sent and what the server described, it says where an
/// Execute's columns will come from, and never names the columns of another statement: a
/// simple Query's statement gets its own RowDescription; an Execute gets the answer to the
/// Describe of its portal since its Bind, else that of its prepared statement's Describe since
/// its Parse, else nothing.
struct ResultColumns {
    /// Where an Execute's columns come from.
    enum Source: Equatable {
        /// The answer to the client's Describe number n (it may not have come yet).
        case describe(Int)
        /// Known already.
        case known([String])
    }

    private var pending: [(name: String, group: Int, number: Int)] = []
    private var sent = 0
    private var portalAnswers: [Int: [String]] = [:]
    private var statementColumns: [String: [String]] = [:]
    private var parsedAt: [String: Int] = [:]
    private var portalDescribe: [String: Int] = [:]
    private var portalStatements: [String: String] = [:]

    static let capacity = 1024

    /// Parse of a statement name: what was described under it before is no longer it.
    mutating func parse(_ name: String) {
        if parsedAt[name] == nil, parsedAt.count >= Self.capacity { parsedAt.removeAll(keepingCapacity: true) }
        parsedAt[name] = sent
        statementColumns[name] = nil
    }

    mutating func bind(portal: String, statement: String) {
        if portalStatements[portal] == nil, portalStatements.count >= Self.capacity { portalStatements.removeAll(keepingCapacity: true) }
        portalStatements[portal] = statement
        portalDescribe[portal] = nil
    }

    /// A Describe sent before the `group`th ReadyForQuery's Sync (an error skips it until then).
    mutating func describe(statement: Bool, name: String, group: Int) {
        sent += 1
        pending.append(((statement ? "S:" : "P:") + name, group, sent))
        if !statement {
            if portalDescribe[name] == nil, portalDescribe.count >= Self.capacity { portalDescribe.removeAll(keepingCapacity: true) }
            portalDescribe[name] = sent
        }
    }

    func execute(portal: String) -> Source? {
        if let number = portalDescribe[portal] { return .describe(number) }
        return portalStatements[portal].flatMap { statementColumns[$0] }.map(Source.known)
    }

    /// A RowDescription (or NoData, nil) for a Describe of the client's.
    mutating func described(_ columns: [String]) {
        guard !pending.isEmpty else { return }
        let (name, _, number) = pending.removeFirst()
        if name.hasPrefix("P:") {
            if portalAnswers.count >= Self.capacity { portalAnswers.removeAll(keepingCapacity: true) }
            portalAnswers[number] = columns
        } else if number > parsedAt[String(name.dropFirst(2)), default: 0] {
            if statementColumns.count >= Self.capacity { statementColumns.removeAll(keepingCapacity: true) }
            statementColumns[String(name.dropFirst(2))] = columns
        }
    }

    /// The `answered`th ReadyForQuery: Describes sent before its Sync that got no answer were skipped.
    mutating func ready(answered: Int) {
        pending.removeAll { $0.group < answered }
    }

    func columns(_ source: Source?) -> [String]? {
        switch source {
        case .describe(let number)?: return portalAnswers[number]
        case .known(let columns)?: return columns
        case nil: return nil
        }
    }
}
