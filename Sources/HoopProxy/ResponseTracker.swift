import HoopWire

/// Pairs the server's answers with the client's requests, so each recorded statement learns
/// how it ended. I/O-free: fed what was sent and what came back, it returns completions.
///
/// The protocol answers in order: Parse → ParseComplete, Bind → BindComplete, Describe →
/// ParameterDescription? + RowDescription|NoData, Execute → CommandComplete|EmptyQueryResponse|
/// PortalSuspended, Close → CloseComplete, Sync → ReadyForQuery, Query → one result per
/// statement then ReadyForQuery. After an error in the extended protocol the server skips
/// everything up to the next Sync.
public struct ResponseTracker: Sendable {
    /// The caller's handle for one recorded statement execution.
    public typealias Token = Int

    public enum Request: Sendable, Equatable {
        case parse, bind, close
        case describe(statement: Bool)
        case execute(Token)
        case sync
        /// A simple Query with one token per statement, in order.
        case query([Token])
        case functionCall(Token)
    }

    public struct Completion: Sendable, Equatable {
        public enum Outcome: String, Sendable { case completed, failed, suspended, skipped, interrupted }
        public let token: Token
        public let outcome: Outcome
        public let rows: Int?
        public let sqlState: String?

        public init(token: Token, outcome: Outcome, rows: Int? = nil, sqlState: String? = nil) {
            self.token = token
            self.outcome = outcome
            self.rows = rows
            self.sqlState = sqlState
        }
    }

    private var queue: [Request] = []
    /// The next statement of the Query at the front that has not answered yet.
    private var queryPosition = 0

    public init() {}

    public var isIdle: Bool { queue.isEmpty }

    /// What a RowDescription arriving now answers: a Describe, or a statement of a Query.
    public enum Describing: Equatable, Sendable {
        case describe(statement: Bool)
        case statement(Token)
    }

    public var describing: Describing? {
        switch queue.first {
        case .describe(let statement): return .describe(statement: statement)
        case .query(let tokens): return queryPosition < tokens.count ? .statement(tokens[queryPosition]) : nil
        case .execute(let token): return .statement(token)
        default: return nil
        }
    }

    /// Whether the next answer belongs to an extended-protocol step (Parse, Bind, Describe,
    /// Execute, Close): an error there makes the server skip everything up to the next Sync.
    public var answersExtendedStep: Bool {
        switch queue.first {
        case .parse, .bind, .close, .describe, .execute: return true
        default: return false
        }
    }

    /// Whether an Execute was sent since the last Sync (or Query): an extended-protocol batch
    /// that has run something and whose ReadyForQuery will not come until the client syncs.
    public var executedSinceSync: Bool {
        for request in queue.reversed() {
            switch request {
            case .sync, .query, .functionCall: return false
            case .execute: return true
            default: continue
            }
        }
        return false
    }

    public mutating func sent(_ request: Request) { queue.append(request) }

    public mutating func received(_ event: BackendEvent) -> [Completion] {
        guard let front = queue.first else { return [] }
        switch event {
        case .parseComplete:
            if front == .parse { queue.removeFirst() }
        case .bindComplete:
            if front == .bind { queue.removeFirst() }
        case .closeComplete:
            if front == .close { queue.removeFirst() }
        case .rowDescription, .noData:
            if case .describe = front { queue.removeFirst() }
        case .commandComplete(let tag):
            return finishStatement(front, outcome: .completed, rows: rowCount(ofCommandTag: tag))
        case .emptyQueryResponse:
            return finishStatement(front, outcome: .completed, rows: nil)
        case .portalSuspended:
            return finishStatement(front, outcome: .suspended, rows: nil)
        case .functionCallResponse:
            if case .functionCall(let token) = front {
                queue[0] = .sync  // the ReadyForQuery that follows closes it
                return [Completion(token: token, outcome: .completed)]
            }
        case .error(let fields):
            return failed(front, sqlState: fields[UInt8(ascii: "C")])
        case .readyForQuery:
            return ready()
        default:
            break
        }
        return []
    }

    /// The connection ended: everything still waiting is interrupted.
    public mutating func interruptAll() -> [Completion] {
        var completions: [Completion] = []
        for (index, request) in queue.enumerated() {
            switch request {
            case .execute(let token), .functionCall(let token):
                completions.append(Completion(token: token, outcome: .interrupted))
            case .query(let tokens):
                let start = index == 0 ? queryPosition : 0
                completions += tokens.dropFirst(start).map { Completion(token: $0, outcome: .interrupted) }
            default:
                break
            }
        }
        queue.removeAll()
        queryPosition = 0
        return completions
    }

    private mutating func finishStatement(_ front: Request, outcome: Completion.Outcome, rows: Int?) -> [Completion] {
        switch front {
        case .execute(let token):
            queue.removeFirst()
            return [Completion(token: token, outcome: outcome, rows: rows)]
        case .query(let tokens):
            guard queryPosition < tokens.count else { return [] }
            queryPosition += 1
            return [Completion(token: tokens[queryPosition - 1], outcome: outcome, rows: rows)]
        default:
            return []
        }
    }

    private mutating func failed(_ front: Request, sqlState: String?) -> [Completion] {
        switch front {
        case .query(let tokens):
            // This statement failed; the rest of the string never runs.
            guard queryPosition < tokens.count else { return [] }
            let failed = Completion(token: tokens[queryPosition], outcome: .failed, sqlState: sqlState)
            let skipped = tokens.dropFirst(queryPosition + 1).map { Completion(token: $0, outcome: .skipped) }
            queryPosition = tokens.count
            return [failed] + skipped
        case .functionCall(let token):
            queue[0] = .sync
            return [Completion(token: token, outcome: .failed, sqlState: sqlState)]
        case .sync:
            return []
        default:
            // Extended protocol: this step failed, everything up to the Sync is skipped.
            var completions: [Completion] = []
            if case .execute(let token) = front { completions.append(Completion(token: token, outcome: .failed, sqlState: sqlState)) }
            queue.removeFirst()
            // Skipped up to the Sync: Queries and FunctionCalls too (the server answers none of them).
            while let next = queue.first, next != .sync {
                switch next {
                case .execute(let token), .functionCall(let token): completions.append(Completion(token: token, outcome: .skipped))
                case .query(let tokens): completions += tokens.map { Completion(token: $0, outcome: .skipped) }
                default: break
                }
                queue.removeFirst()
            }
            return completions
        }
    }

    /// ReadyForQuery ends a Query, or everything up to and including the first Sync (what an
    /// error made the server skip, even if it was sent after the error came back).
    private mutating func ready() -> [Completion] {
        defer { queryPosition = 0 }
        if case .query(let tokens) = queue.first {
            queue.removeFirst()
            return tokens.dropFirst(queryPosition).map { Completion(token: $0, outcome: .skipped) }
        }
        var completions: [Completion] = []
        while !queue.isEmpty {
            let next = queue.removeFirst()
            if next == .sync { break }
            if case .execute(let token) = next { completions.append(Completion(token: token, outcome: .skipped)) }
        }
        return completions
    }
}
