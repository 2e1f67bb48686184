import Foundation
import HoopGuardrails
import HoopLedger
import HoopPolicy
import HoopSQL
import HoopWire
import NIOCore

/// A logged-in connection between its client and the server, I/O-free: events go in (a client
/// message decoded, bytes from the server, records committed, a review decided, a timer fired,
/// the server's socket writable again) and actions come out, in `actions`, for the channel
/// handler to perform in order. Every statement is judged, recorded and only then forwarded;
/// the server's answers are masked and paired with the statements they end.
///
/// Tests drive it without sockets (RelayStateMachineTests); `ClientConnection` is its I/O.
struct RelayStateMachine {
    enum Action {
        /// Bytes for the client; the handler flushes at the end of the server's read burst.
        case writeClient(ByteBuffer)
        /// Bytes for the server, in order, and the end of a burst of them.
        case writeServer(ByteBuffer)
        case flushServer
        /// Entries to commit before the messages waiting on them may go: answer with
        /// `recorded(_:ids:)`, or `recordFailed()`.
        case record([LedgerEntry], PendingRecords)
        /// How a recorded statement ended (recorded when it suits the ledger, not waited for).
        case outcome(ResultBody.Outcome)
        /// A statement under review: answer with `reviewDecided(_:for:)`.
        case askReview(StatementUnderReview, PendingReview)
        /// A large text to analyse off the event loop: answer with `analysed(_:_:)`.
        case analyse(String)
        /// Stop (false) or resume reading the client: its messages wait past the limits.
        case readClient(Bool)
        /// Call `statementTimerFired()` at this deadline (one timer at a time).
        case armStatementTimer(NIODeadline)
        /// A statement ran past the policy's limit: cancel it at the server, and close the
        /// connection after `cancelGrace` unless `disarmCancelGrace` comes first.
        case cancelForTime
        case disarmCancelGrace
        /// Close the connection after this long idle in a transaction, unless disarmed.
        case armIdleTimer(TimeAmount)
        case disarmIdleTimer
        /// A FATAL error to the client, recorded as `event` when there is one; then close.
        case fail(code: String, message: String, event: String?)
        /// The client said Terminate: it has gone to the server; close.
        case close
    }

    /// Records asked for in one append, handed back when they have committed.
    struct PendingRecords: Sendable {
        fileprivate let items: [Unrecorded]
    }

    /// A text waiting for the broker's word.
    struct PendingReview {
        fileprivate let delivery: Delivery
        fileprivate let judged: [Judged]
        fileprivate let deciding: StatementDecision
    }

    /// A statement's analysis with the guardrails' decision on it.
    struct Judged {
        var analysis: StatementAnalysis
        var decision: StatementDecision
        /// After a review: what the ledger records instead of the guardrails' decision, and the request.
        var reviewed: (decision: String, request: String?)?
        /// Its values, for the ledger's preview and sealed copy (nil: not captured).
        var values: ValueCapture.Input?
        /// The Parse that prepared it, while that Parse's record waits for the end of its read:
        /// an Execute of exactly this statement in the same read stands for that record.
        var parse: Int?
    }

    /// How a text under review reached the proxy, so its outcome goes back the same way.
    fileprivate enum Delivery {
        case query(ByteBuffer)
        case parse(name: String, raw: ByteBuffer)
    }

    /// A client message waiting its turn to go upstream (behind the ledger, and in order).
    private struct Queued {
        var raw: ByteBuffer
        var ready: Bool
        var tokens: [ResponseTracker.Token]
        var terminate = false
    }

    private struct Execution {
        var recordID: Int64?
        var started: NIODeadline?
        /// What the statement does to the session's search_path, told to `resolution` when it completes.
        var facts: StatementFacts?
        /// Where the names of the columns it returned come from.
        var columns: ResultColumns.Source?
    }

    /// Queued messages whose records have not been asked for yet (see `enqueue`).
    fileprivate struct Unrecorded: Sendable {
        let index: Int
        let tokens: [ResponseTracker.Token]
        var entries: [LedgerEntry]
    }

    /// Messages, and bytes, a connection may have waiting for the server (or for a review)
    /// before the proxy stops reading from its client; one message more (at most the
    /// decoder's 64 MiB) can arrive while reads stop.
    static let maxQueued = 256
    static let maxBufferedBytes = 8 << 20
    static let timeoutGrace: TimeInterval = 1
    /// Statements one Query message may hold (each gets a record).
    static let maxStatementsPerText = 1000

    /// What the handler is to do, in order. It takes them after each event.
    var actions: [Action] = []

    let ticket: ProxyTicket
    private let analyzer: StatementAnalyzer
    /// The clock for statement durations and timers (a test's own in tests).
    private let now: () -> NIODeadline
    private var scanner: BackendScanner
    /// Masks text values in flight when the target has detectors.
    private var masker: ResultMasker?
    /// After a fatal error or Terminate: nothing more is relayed.
    private(set) var ended = false
    /// After `finish()`: nothing more is reported either.
    private var finished = false
    /// Whether the server's socket takes writes now.
    private var serverWritable = true
    /// The portal the client's last message described (its next Execute needs no Describe of ours).
    private var describedPortal: String?
    /// The names of the columns each statement returned, for the ledger.
    private var resultColumns = ResultColumns()
    private var scrubbedTexts: [String: String] = [:]
    private var tracker = ResponseTracker()
    private var queue: [Queued] = []
    /// Queue positions are counted from the first message ever queued.
    private var queueBase = 0
    /// Client messages held while a statement waits for the broker's word on its review or for
    /// its analysis, or a text waits for the server to settle (see `settled(for:)`); relayed in
    /// order afterwards.
    private var held: [FrontendMessage] = []
    private var paused = false
    /// Paused until this many ReadyForQuery have come (see `readyAnswered`).
    private var resumeAt: Int?
    /// A large text's analysis, made off the event loop, waiting for its message to be relayed again.
    private var analysed: (sql: String, analyses: [StatementAnalysis])?
    /// The transaction status of the last ReadyForQuery (`I`, `T` or `E`).
    private var transactionStatus: UInt8
    private var executions: [ResponseTracker.Token: Execution] = [:]
    private var nextToken = 0
    /// Prepared statements and portals of the extended protocol, with their decisions, by the
    /// client's names and the proxy's names for them upstream.
    private var names = StatementNames<Judged>()
    /// Lineage by what it is made of (a statement's names, not its text: two texts of one
    /// fingerprint can name different tables inside their literals).
    private var lineages: [LineageKey: (lineage: StatementLineage, summary: [String])] = [:]
    private struct LineageKey: Hashable {
        let fingerprint: String, relations: [String], columns: [String], writes: [String]
    }
    /// The session's search_path and temporary names, which resolve its statements' names
    /// (nil when the session has no masking views to resolve to).
    private var resolution: NameResolution?
    /// Statements prepared with SQL `PREPARE name AS ...`, so `EXECUTE name` is not opaque.
    private var sqlPrepared: [String: StatementFacts] = [:]
    /// A PREPARE sent and not yet answered, by its statement's token: taken back if it did not complete.
    private var sqlPending: [ResponseTracker.Token: String] = [:]

    /// Messages that end in a ReadyForQuery (Query, Sync, FunctionCall) sent, and the
    /// ReadyForQuery received: what was sent before the n-th such message is settled once
    /// `readyAnswered >= n`.
    private var readySent = 0, readyAnswered = 0
    /// Name changes of the extended protocol the server has not answered, in order, with a
    /// marker for each message that ends in ReadyForQuery. An error in an extended step makes
    /// the server skip the rest up to Sync: those changes are taken back.
    private enum PendingName {
        case change(StatementNames<Judged>.Undo, group: Int)
        /// A message that ends in ReadyForQuery: a Sync, or a Query or FunctionCall (which the
        /// server skips, with no ReadyForQuery, when an error in an extended step came before).
        case ready(sync: Bool)
    }
    private var pendingNames: [PendingName] = []
    /// An extended-protocol message was sent since the last Sync: the server is in that batch's transaction.
    private var extendedSinceSync = false
    private var clientReadsPaused = false
    /// Bytes of client messages held or queued.
    private var bufferedBytes = 0

    /// Inside a client read: messages are queued, and sent when the read ends.
    private var readBurst = false
    private var unrecorded: [Unrecorded] = []
    /// Of `unrecorded`, the position of each Parse's record by the Parse's number (`Judged.parse`).
    private var unrecordedParses: [Int: Int] = [:]
    private var parses = 0

    /// What a statement record holds that the statement's analysis alone decides (with the
    /// session's ticket and the role's default search_path), kept by the analysis's serial:
    /// resolving, scrubbing and sorting once per statement shape rather than per statement.
    private struct EntryTemplate {
        let sql: String
        let relations: [String]?
        let lineage: (lineage: StatementLineage, summary: [String])?
    }
    private var templates: [Int: EntryTemplate] = [:]

    // The policy's time limits (see `timeStatements`).
    private let statementLimit: TimeInterval?
    private let idleLimit: TimeInterval?
    private var statementTimerArmed = false
    /// When the statement running now started, or the one before it finished (a timer is never
    /// reset by later messages: pipelining cannot stretch a statement's time); nil when none runs.
    private var timedFrom: NIODeadline?
    private var cancelGraceArmed = false
    private var idleTimerArmed = false

    /// Starts relaying once the server said ReadyForQuery (`status`) to the login; `scanner`
    /// carries on framing the server's bytes where the login left it.
    init(ticket: ProxyTicket, analyzer: StatementAnalyzer, scanner: BackendScanner, transactionStatus: UInt8,
         now: @escaping () -> NIODeadline = { .now() }) {
        self.ticket = ticket
        self.analyzer = analyzer
        self.scanner = scanner
        self.transactionStatus = transactionStatus
        self.now = now
        statementLimit = ticket.statementTimeout
        idleLimit = ticket.idleInTransactionTimeout
        resolution = ticket.visibleTables.map { NameResolution(roleDefault: $0.searchPath) }
        if let engine = ticket.detectors, !engine.isEmpty { masker = ResultMasker(engine: engine) }
    }

    // MARK: Events

    /// A message of the client's current read.
    mutating func clientMessage(_ message: FrontendMessage) {
        guard !ended else { return }
        readBurst = true
        guard paused || !held.isEmpty else { return relay(message) }
        // A client that keeps sending while a reviewed statement runs is paused, not buffered without end.
        held.append(message)
        buffered(message.raw?.readableBytes ?? 0)
    }

    /// The client's read ended: what its messages queued goes upstream, in one write, once
    /// their records are in.
    mutating func clientReadComplete() {
        readBurst = false
        guard !ended else { return }
        recordUnrecorded()
        drain()
    }

    /// Messages the client sent while the proxy logged in to the server (reads stopped, when
    /// `readsPaused`, for too many of them).
    mutating func heldAtLogin(_ messages: [FrontendMessage], readsPaused: Bool) {
        for message in messages {
            held.append(message)
            bufferedBytes += message.raw?.readableBytes ?? 0
        }
        clientReadsPaused = readsPaused
        relayHeld()
    }

    /// Bytes from the server: masked, scanned, and on their way to the client.
    mutating func serverBytes(_ input: ByteBuffer) {
        guard !ended else { return }
        let buffer = masker?.process(input) ?? input
        do {
            for event in try scanner.scan(buffer) {
                if case .parameterStatus(let name, let value) = event, !StartupSettings.keepsPinned(name, value) {
                    return fail(code: "0A000", "the session changed \(name) to \(value.prefix(32)), which hoopctl cannot analyse; the connection is closed",
                                event: "proxy.setting-changed")
                }
                settleNames(event)
                if case .error = event { resolution?.failed() }
                if case .rowDescription(let columns) = event { described(columns) } else if case .noData = event { described([]) }
                for completion in tracker.received(event) { report(completion) }
                if case .readyForQuery(let status) = event {
                    resultColumns.ready(answered: readyAnswered)
                    transactionStatus = status
                    resolution?.ready(status: status, answered: readyAnswered)
                    timeIdleness()
                }
            }
        } catch {
            return fail(code: "08006", "the database broke the protocol: \(error)", event: "proxy.upstream-failed")
        }
        actions.append(.writeClient(buffer))
        if let count = resumeAt, readyAnswered >= count {
            resumeAt = nil
            paused = false
            relayHeld()
        }
    }

    mutating func serverWritabilityChanged(_ writable: Bool) {
        serverWritable = writable
        if writable, !ended { drain() }
    }

    /// The records of `pending` committed with these ids: what waited on them may go.
    mutating func recorded(_ pending: PendingRecords, ids: [Int64]) {
        guard !ended else { return }
        var offset = 0
        for item in pending.items {
            for (token, id) in zip(item.tokens, ids[offset...]) { executions[token]?.recordID = id }
            offset += item.entries.count
        }
        for item in pending.items {
            let position = item.index - queueBase
            guard position >= 0, position < queue.count else { continue }
            queue[position].ready = true
        }
        drain()
    }

    /// The ledger could not take them: nothing that waited on them may run.
    mutating func recordFailed() {
        fail(code: "58000", "the ledger cannot record this statement, so it was not run", event: nil)
    }

    /// A large text's analysis, made off the event loop.
    mutating func analysed(_ sql: String, _ analyses: [StatementAnalysis]) {
        guard !ended else { return }
        analysed = (sql, analyses)
        paused = false
        relayHeld()
    }

    /// The broker's word on a text under review.
    mutating func reviewDecided(_ outcome: ReviewOutcome, for pending: PendingReview) {
        guard !ended else { return }
        reviewed(outcome, pending)
        paused = false
        relayHeld()
    }

    /// The statement timer armed by `armStatementTimer` went off.
    mutating func statementTimerFired() {
        statementTimerArmed = false
        guard !ended, let limit = statementLimit, let from = timedFrom else { return }
        if now() >= from + Self.amount(limit + Self.timeoutGrace) {
            // Past the policy's limit (a SET statement_timeout or set_config lifted the server's
            // own): the server cancels the statement, as its own timeout would have.
            timedFrom = nil
            cancelGraceArmed = true
            actions.append(.cancelForTime)
        } else {
            armStatementTimer()
        }
    }

    /// The connection ends: whatever was still running ends as interrupted.
    mutating func finish() {
        guard !finished else { return }
        finished = true
        ended = true
        for completion in tracker.interruptAll() { report(completion) }
    }

    /// Inside a transaction block, or with statements still in flight: what runs as the owner
    /// after a review would not be part of it (the broker is told).
    var inTransaction: Bool { transactionStatus != UInt8(ascii: "I") || !tracker.isIdle || !queue.isEmpty }

    // MARK: Relaying

    private mutating func relay(_ message: FrontendMessage) {
        let describedBefore = describedPortal
        if case .flush = message {} else { describedPortal = nil }
        switch message {
        case .query(let sql, let raw):
            guard settled(for: sql, message), let analyses = analyses(of: sql, message) else { return }
            if analyses.count > Self.maxStatementsPerText {
                // One record, not one per statement: a megabyte of `select 1;` made half a
                // million records (red team rt18). Refused whatever the policy says of classes.
                let analysis = StatementAnalysis(normalized: "<a text of \(analyses.count) statements>", statementClass: .unparseable,
                                                 note: "a text of \(analyses.count) statements")
                var judged = judge([analysis])[0]
                judged.decision.decision = .deny
                judged.decision.rule = "max_statements_per_text"
                judged.decision.reason = "a text of \(analyses.count) statements; at most \(Self.maxStatementsPerText) are read in one message, "
                    + "send them in several"
                return sendQuery(raw, judged: [judged], standIn: Self.refusal(of: [judged], target: ticket.target))
            }
            // PREPARE, EXECUTE or DEALLOCATE of a name whose PREPARE the server has not answered yet: wait for it.
            if !sqlPending.isEmpty {
                let touched = Set(analyses.flatMap { [$0.facts.prepares, $0.facts.executes, $0.facts.deallocates].compactMap { $0 } })
                if !touched.isEmpty, !touched.isDisjoint(with: sqlPending.values) || touched.contains("*") {
                    return wait(until: readySent, message)
                }
            }
            if let count = resolution?.mustWait(readySent: readySent, readyAnswered: readyAnswered) { return wait(until: count, message) }
            let judged = withValues(judge(analyses), sql: sql)
            if let deciding = judged.first(where: { $0.decision.decision == .review }), !judged.contains(where: { $0.decision.decision == .deny }) {
                return review(sql: sql, delivery: .query(raw), judged: judged, deciding: deciding)
            }
            sendQuery(raw, judged: judged, standIn: Self.refusal(of: judged, target: ticket.target))
        case .parse(let name, let sql, let raw):
            resultColumns.parse(name)
            guard settled(for: sql, message), let analyses = analyses(of: sql, message) else { return }
            var analysis = analyses.first ?? StatementAnalysis(normalized: "", fingerprint: "", facts: StatementFacts())
            if analyses.count > 1 {
                // The server refuses it too, but only after the proxy would have judged its first statement alone.
                analysis = StatementAnalysis(normalized: analyses.map(\.normalized).joined(separator: "; "), statementClass: .unparseable,
                                             note: "a Parse message holds \(analyses.count) statements; a prepared statement is one")
            }
            var judged = judge([analysis])[0]
            if ticket.capture?.values ?? .none != .none {
                judged = withValues([judged], sql: sql)[0]
                judged.values?.types = FrontendMessage.parameterTypes(ofParse: raw)
            }
            // DDL and DCL under review run as the owner when approved, so they can come this way
            // (migration tools send everything with the extended protocol); they take no parameters.
            if judged.decision.decision == .review, [.ddl, .dcl].contains(analysis.facts.statementClass) {
                return review(sql: sql, delivery: .parse(name: name, raw: raw), judged: [judged], deciding: judged)
            }
            prepare(name, raw: raw, judged: judged, standIn: Self.refusal(of: [judged], target: ticket.target))
        case .bind(let portal, let statement, let raw):
            if let count = unsettled("S:" + statement) { return wait(until: count, message) }
            let undo = names.undoing(portal: portal)
            let upstream = names.bind(portal: portal, statement: statement)
            resultColumns.bind(portal: portal, statement: statement)
            if upstream.value?.values != nil, let parameters = BindParameters.decode(bind: raw) {
                names.update(portal: portal) { judged in
                    let types = judged.values?.types ?? []
                    judged.values?.parameters = parameters.enumerated().map { index, parameter in
                        ValueCapture.Bound(binary: parameter.binary, bytes: parameter.bytes, type: index < types.count ? types[index] : 0)
                    }
                }
            }
            changing(undo)
            sent(.bind)
            enqueue(upstream.portal == portal && upstream.statement == statement ? raw : MessageWriter.renaming(raw, to: [upstream.portal, upstream.statement]))
        case .execute(let portal, _, let raw):
            if let count = unsettled("P:" + portal) { return wait(until: count, message) }
            if let count = resolution?.mustWait(readySent: readySent, readyAnswered: readyAnswered) { return wait(until: count, message) }
            let token = newToken()
            let bound = names.portal(portal)
            let judged = bound.value ?? judge([StatementAnalysis(normalized: "<unknown portal>", statementClass: .opaque,
                                                                 note: "an Execute of a portal the proxy did not see bound")])[0]
            let (entries, resolved) = entries([judged], via: "execute")
            sending([judged], tokens: [token], resolution: resolved)
            if masker != nil, describedBefore != portal {
                // Rows are masked by their own description, which the client may not have asked for.
                masker?.expect(.describe(forwarded: false))
                enqueue(MessageWriter.describePortal(bound.upstream))
            }
            sent(.execute(token))
            executions[token]?.columns = resultColumns.execute(portal: portal)
            // Running exactly what a Parse of this read prepared, its record stands for the Parse's
            // (they commit together, before either goes): one record for both. Anything else (a
            // Close in between, another name) leaves the Parse its own.
            if !unrecordedParses.isEmpty, let parse = bound.value?.parse, let index = unrecordedParses.removeValue(forKey: parse) {
                unrecorded[index].entries = []
            }
            enqueue(bound.upstream == portal ? raw : MessageWriter.renaming(raw, to: [bound.upstream]), tokens: [token], entries: entries)
        case .describe(let kind, let name, let raw):
            let upstream = kind == UInt8(ascii: "S") ? names.describe(statement: name) : names.describe(portal: name)
            sent(.describe(statement: kind == UInt8(ascii: "S")))
            resultColumns.describe(statement: kind == UInt8(ascii: "S"), name: name, group: readySent)
            if kind == UInt8(ascii: "P") { describedPortal = name }
            enqueue(upstream == name ? raw : MessageWriter.renaming(raw, to: [upstream]))
        case .close(let kind, let name, let raw):
            let undo = kind == UInt8(ascii: "S") ? names.undoing(statement: name) : names.undoing(portal: name)
            let upstream = kind == UInt8(ascii: "S") ? names.close(statement: name) : names.close(portal: name)
            changing(undo)
            sent(.close)
            enqueue(upstream == name ? raw : MessageWriter.renaming(raw, to: [upstream]))
        case .sync(let raw):
            sent(.sync)
            enqueue(raw)
        case .flush(let raw), .copyData(let raw), .copyDone(let raw), .copyFail(let raw):
            enqueue(raw)
        case .functionCall(let oid, let raw):
            let token = newToken()
            var analysis = StatementAnalysis(normalized: "<function call \(oid)>", statementClass: .opaque, note: "a function call by oid")
            // It could be set_config: what it leaves the search_path cannot be told.
            analysis.facts.searchPath = SearchPathChange(.unknown)
            let judged = judge([analysis])
            let (entries, resolved) = entries(judged, via: "function")
            sent(.functionCall(token))
            if let refusal = Self.refusal(of: judged, target: ticket.target) {
                // A refused call ends as a failed call does: ErrorResponse, then ReadyForQuery.
                enqueue(MessageWriter.query(refusal), tokens: [token], entries: entries)
            } else {
                sending(judged, tokens: [token], resolution: resolved)
                enqueue(raw, tokens: [token], entries: entries)
            }
        case .terminate(let raw):
            queue.append(Queued(raw: raw, ready: true, tokens: [], terminate: true))
            bufferedBytes += raw.readableBytes
            drain()
        default:
            fail(code: "08P01", "protocol violation: unexpected message after startup", event: "proxy.protocol-violation")
        }
    }

    /// A Query's statements, each recorded: as sent, or with `standIn` going in their place.
    private mutating func sendQuery(_ raw: ByteBuffer, judged: [Judged], standIn: String?) {
        let tokens = judged.map { _ in newToken() }
        let (entries, resolved) = entries(judged, via: "query")
        if let standIn {
            sendInstead(standIn, judged: judged, tokens: tokens, entries: entries)
        } else {
            sending(judged, tokens: tokens, resolution: resolved)
            remember(judged, tokens: tokens)
            sent(.query(tokens))
            enqueue(raw, tokens: tokens, entries: entries)
        }
    }

    /// A Parse goes upstream (under the proxy's name for it): with `standIn`, as a statement that
    /// fails when executed, with the client's parameter types; otherwise as sent, after a
    /// record of its own, since the server parses and checks it (names, privileges, the
    /// catalog) and that is reaching the database.
    private mutating func prepare(_ name: String, raw: ByteBuffer, judged: Judged, standIn: String?) {
        var judged = judged
        if standIn == nil {
            parses += 1
            judged.parse = parses
        }
        sent(.parse)
        let undo = names.undoing(statement: name)
        guard let upstreamName = names.parse(name, judged) else { return enqueue(Self.tooManyStatements) }
        changing(undo)
        if let standIn {
            enqueue(MessageWriter.parse(name: upstreamName, sql: standIn, parameterTypes: FrontendMessage.parameterTypes(ofParse: raw)))
        } else {
            enqueue(upstreamName == name ? raw : MessageWriter.renaming(raw, to: [upstreamName]), entries: [parseEntry(judged)], parse: judged.parse)
        }
    }

    /// A server-side stand-in for a text that must not run as sent: the server answers in order
    /// with its error (or notice), then ReadyForQuery. Every statement is recorded; only the
    /// deciding one gets an outcome.
    private mutating func sendInstead(_ standIn: String, judged: [Judged], tokens: [ResponseTracker.Token], entries: [LedgerEntry]) {
        let deciding = judged.firstIndex { $0.decision.decision == .deny } ?? judged.firstIndex { $0.decision.decision != .allow } ?? 0
        sent(.query([tokens[deciding]]))
        for (index, token) in tokens.enumerated() where index != deciding { executions[token] = nil }
        enqueue(MessageWriter.query(standIn), tokens: tokens, entries: entries)
    }

    /// A text under review: the broker says whether it waits for reviewers (the client is refused
    /// with the request's id), runs once in the session, or ran as the owner. Later client
    /// messages wait, in order, until the broker has answered.
    private mutating func review(sql: String, delivery: Delivery, judged: [Judged], deciding: Judged) {
        paused = true
        let relations = Array(Set(judged.flatMap(\.analysis.facts.relations))).sorted()
        let statementClass = judged.map(\.analysis.facts.statementClass).max() ?? .read
        let ask = StatementUnderReview(
            sessionID: ticket.sessionID, identity: ticket.identity, target: ticket.target, role: ticket.role, sql: sql,
            normalized: judged.map(\.analysis.normalized).joined(separator: "; "), fingerprint: deciding.analysis.fingerprint,
            statementClass: StatementClass(rawValue: statementClass.rawValue) ?? .opaque, relations: relations,
            rule: deciding.decision.rule, reason: deciding.decision.reason, inTransaction: inTransaction,
            facts: judged.map(\.analysis.facts))
        actions.append(.askReview(ask, PendingReview(delivery: delivery, judged: judged, deciding: deciding.decision)))
    }

    private mutating func reviewed(_ outcome: ReviewOutcome, _ pending: PendingReview) {
        let deciding = pending.deciding
        // What goes to the server in the text's place (nil: the text itself), and what is recorded.
        let standIn: String?, decision: String, request: String?
        switch outcome {
        case .pending(let id, let approvers):
            standIn = Self.serverSide(code: "42501", message: "hoopctl: this statement needs a review on target '\(ticket.target)' (\(deciding.rule)): "
                                          + "\(deciding.reason); approval required: request \(id)",
                                      hint: "A reviewer (\(approvers.joined(separator: ", "))) approves it with: hoopctl approve \(id). "
                                          + "Then send the same text again in this session: it runs once.")
            (decision, request) = ("review", id)
        case .refused(let reason):
            standIn = Self.serverSide(code: "42501", message: "hoopctl: \(reason)", hint: nil)
            (decision, request) = ("review", nil)
        case .runInSession(let id):
            standIn = nil
            (decision, request) = ("approved", id)
        case .ranAsOwner(let id, let role, let tag):
            standIn = Self.serverSide(code: nil, message: "hoopctl: ran as \(role) after review \(id): \(tag)", hint: nil)
            (decision, request) = ("approved", id)
        case .failedAsOwner(let id, let role, let sqlState, let message):
            standIn = Self.serverSide(code: sqlState, message: message, hint: "hoopctl ran it as \(role) after review \(id).")
            (decision, request) = ("approved", id)
        }
        let judged = pending.judged.map { item in
            var item = item
            item.reviewed = (decision, request)
            return item
        }
        switch pending.delivery {
        case .query(let raw):
            sendQuery(raw, judged: judged, standIn: standIn)
        case .parse(let name, let raw):
            // Approved: prepared with a record of its own (and recorded again at each Execute);
            // otherwise the stand-in is what a later Execute runs.
            prepare(name, raw: raw, judged: judged[0], standIn: standIn)
        }
    }

    /// A Parse refused for want of room: prepared under a name no Bind of the client's can reach,
    /// as a statement that fails when executed.
    static let tooManyStatements = MessageWriter.parse(name: StatementNames<Judged>.refused, sql: serverSide(
        code: "54000", message: "hoopctl: this connection holds \(StatementNames<Judged>.capacity) prepared statements; close some first",
        hint: nil), parameterTypes: [])

    /// Whether `sql` may go to the server now. A text with a backslash is read differently under
    /// another standard_conforming_strings, backslash_quote or client_encoding; the analysis
    /// refuses every statement that changes those, and as a second line such a text waits until
    /// everything sent before it has finished, so a ParameterStatus reporting a changed setting
    /// (sent with ReadyForQuery) always arrives, and closes the connection, before the text
    /// could run. Inside an extended-protocol batch that has executed something and not yet
    /// synced, waiting could never end, so the text is refused. Texts without a backslash read
    /// the same under every setting and never wait.
    private mutating func settled(for sql: String, _ message: FrontendMessage) -> Bool {
        guard sql.utf8.contains(UInt8(ascii: "\\")) else { return true }
        if tracker.executedSinceSync {
            fail(code: "0A000", "a text with a backslash sent after an Execute in the same batch, before its Sync; send Sync first",
                 event: "proxy.refused")
            return false
        }
        guard readyAnswered < readySent else { return true }
        wait(until: readySent, message)
        return false
    }

    /// The analyses of `sql`: at once for small texts and known ones; a large new text is
    /// analysed off the event loop (the connection waits, others go on), and nil is returned
    /// until its message is relayed again with the result.
    private mutating func analyses(of sql: String, _ message: FrontendMessage) -> [StatementAnalysis]? {
        if let done = analysed, done.sql == sql {
            analysed = nil
            return done.analyses
        }
        guard sql.utf8.count > ParserLimits.inlineBytes else { return analyzer.analyze(sql) }
        holdAgain(message)
        actions.append(.analyse(sql))
        return nil
    }

    /// Relays what was held back, until a statement waits again.
    private mutating func relayHeld() {
        while !paused, !held.isEmpty, !ended {
            let message = held.removeFirst()
            bufferedBytes -= message.raw?.readableBytes ?? 0
            relay(message)
        }
        // Reads resume once the queue has room (see drain()).
        if held.isEmpty, !ended { drain() }
    }

    /// The guardrails' decision on each statement; `EXECUTE name` is judged as what `name` was prepared as.
    /// In order, so `PREPARE p AS ...; EXECUTE p` in one text judges the EXECUTE as what it runs.
    private func judge(_ analyses: [StatementAnalysis]) -> [Judged] {
        var prepared = sqlPrepared
        return analyses.map { analysis in
            var analysis = analysis
            if let name = analysis.facts.executes, let facts = prepared[name] {
                analysis.facts = facts
                analysis.facts.executes = name
            }
            Self.apply(analysis.facts, to: &prepared)
            return Judged(analysis: analysis, decision: GuardrailJudge.decide(analysis.facts, guardrails: ticket.guardrails,
                                                                               detectorsOn: ticket.detectors.map { !$0.isEmpty } ?? false))
        }
    }

    /// What a statement does to the SQL-level prepared statements, as the server does it: a
    /// PREPARE of a name that exists fails, DEALLOCATE and DISCARD ALL drop.
    static func apply(_ facts: StatementFacts, to prepared: inout [String: StatementFacts]) {
        if let name = facts.prepares, prepared[name] == nil { prepared[name] = facts }
        switch facts.deallocates {
        case .some("*"): prepared.removeAll()
        case .some(let name): prepared[name] = nil
        case .none: break
        }
    }

    /// Keeps what allowed SQL-level PREPAREs prepared (and forgets what DEALLOCATE drops); a
    /// PREPARE that turns out not to have run (an error before it in the text) is taken back
    /// when its outcome comes. A DEALLOCATE that did not run leaves the proxy knowing less than
    /// the server: an EXECUTE of that name is then opaque, which fails closed.
    private mutating func remember(_ judged: [Judged], tokens: [ResponseTracker.Token]) {
        for (item, token) in zip(judged, tokens) {
            if let name = item.analysis.facts.prepares, sqlPrepared[name] == nil { sqlPending[token] = name }
            Self.apply(item.analysis.facts, to: &sqlPrepared)
            if item.analysis.facts.deallocates == "*" { names.discardStatements() }
        }
    }

    /// A statement that makes the server refuse in the client's place, when the decision is
    /// deny (or review, where reviews cannot be asked for): its error (SQLSTATE 42501) comes back
    /// in order with everything else.
    static func refusal(of judged: [Judged], target: String) -> String? {
        guard let deciding = (judged.first { $0.decision.decision == .deny } ?? judged.first { $0.decision.decision != .allow })?.decision
        else { return nil }
        switch deciding.decision {
        case .review:
            // A write with parameters (extended protocol) is not reviewed: reviewers approve what they can read, values included.
            return serverSide(code: "42501", message: "hoopctl: this statement needs a review on target '\(target)' (\(deciding.rule)): \(deciding.reason)",
                              hint: "Statements with parameters cannot be reviewed: send it with its values inline (the simple query protocol), "
                                  + "then a reviewer approves that exact text.")
        default:
            return serverSide(code: "42501", message: "hoopctl: denied on target '\(target)' by \(deciding.rule): \(deciding.reason)",
                              hint: "hoopctl policy explain --target \(target) --sql '...' shows each statement's decision.")
        }
    }

    /// A DO block that raises the error `code` (or, without one, a notice) with message and hint.
    static func serverSide(code: String?, message: String, hint: String?) -> String {
        func literal(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }
        let level = code == nil ? "NOTICE" : "EXCEPTION"
        var options = ["MESSAGE = \(literal(message))"]
        if let code { options.insert("ERRCODE = \(literal(code))", at: 0) }
        if let hint { options.append("HINT = \(literal(hint))") }
        let body = "BEGIN RAISE \(level) USING \(options.joined(separator: ", ")); END"
        var tag = "hoop"
        while body.contains("$\(tag)$") { tag += "_" }
        return "DO $\(tag)$\(body)$\(tag)$"
    }

    /// Tells the tracker and the masker, and counts the messages that end in ReadyForQuery.
    private mutating func sent(_ request: ResponseTracker.Request) {
        tracker.sent(request)
        switch request {
        case .query, .functionCall:
            masker?.expect(.query)
            readySent += 1
            pendingNames.append(.ready(sync: false))
        case .sync:
            masker?.expect(.sync)
            readySent += 1
            pendingNames.append(.ready(sync: true))
            extendedSinceSync = false
        case .describe:
            masker?.expect(.describe(forwarded: true))
            extendedSinceSync = true
        case .parse, .bind, .close, .execute:
            masker?.expect(.step)
            extendedSinceSync = true
        }
    }

    /// Notes a name change the server has yet to answer.
    private mutating func changing(_ undo: StatementNames<Judged>.Undo) {
        pendingNames.append(.change(undo, group: readySent))
    }

    /// When `key`'s latest unanswered change was sent before a message that ends in
    /// ReadyForQuery that has not come yet, the number of ReadyForQuery that settles it. (A
    /// change in the same batch needs no wait: if it was skipped, so is what uses it.)
    private func unsettled(_ key: String) -> Int? {
        for pending in pendingNames.reversed() {
            guard case .change(let undo, let group) = pending, undo.key == key else { continue }
            return group < readySent ? group + 1 : nil
        }
        return nil
    }

    /// Holds `message` (at the front) until `count` ReadyForQuery have come.
    private mutating func wait(until count: Int, _ message: FrontendMessage) {
        resumeAt = count
        holdAgain(message)
    }

    /// Puts a message being relayed back at the front of what is held, and pauses relaying.
    private mutating func holdAgain(_ message: FrontendMessage) {
        paused = true
        held.insert(message, at: 0)
        bufferedBytes += message.raw?.readableBytes ?? 0
    }

    /// The server's answers settle name changes: a completion keeps the first, an error in an
    /// extended step takes back everything up to the next ReadyForQuery, a ReadyForQuery ends its group.
    private mutating func settleNames(_ event: BackendEvent) {
        switch event {
        case .parseComplete, .bindComplete, .closeComplete:
            if let index = pendingNames.firstIndex(where: { if case .change = $0 { return true } else { return false } }) {
                pendingNames.remove(at: index)
            }
        case .error where tracker.answersExtendedStep:
            // The server skips everything up to the next Sync, Queries and FunctionCalls included
            // (their ReadyForQuery never comes, so they count as answered).
            let end = pendingNames.firstIndex { if case .ready(sync: true) = $0 { return true } else { return false } } ?? pendingNames.count
            for pending in pendingNames[..<end].reversed() {
                switch pending {
                case .change(let undo, _):
                    // A later batch, sent before this error came, may have changed the name again:
                    // it keeps its change, which now undoes to what this one undid to.
                    if let later = pendingNames[end...].firstIndex(where: { if case .change(let next, _) = $0 { next.key == undo.key } else { false } }),
                       case .change(let next, let group) = pendingNames[later] {
                        pendingNames[later] = .change(names.carrying(undo, into: next), group: group)
                    } else {
                        names.undo(undo)
                    }
                case .ready: readyAnswered += 1
                }
            }
            pendingNames.removeSubrange(..<end)
        case .readyForQuery:
            readyAnswered += 1
            if let end = pendingNames.firstIndex(where: { if case .ready = $0 { return true } else { return false } }) {
                pendingNames.removeSubrange(...end)
            }
        default:
            break
        }
    }

    /// A normalized text (what the normalizer keeps: comments, quoted identifiers, utility
    /// statements' constants), or a result column's name, through the detectors, once per text.
    private mutating func scrubbed(_ normalized: String) -> String {
        guard let capture = ticket.capture else { return normalized }
        if let known = scrubbedTexts[normalized] { return known }
        let text = capture.scrub(normalized)
        if scrubbedTexts.count >= 1024 { scrubbedTexts.removeAll(keepingCapacity: true) }
        scrubbedTexts[normalized] = text
        return text
    }

    /// Each statement of a text with its values, when the session captures them.
    private func withValues(_ judged: [Judged], sql: String) -> [Judged] {
        guard let capture = ticket.capture, capture.values != .none else { return judged }
        let literals = LiteralExtractor.literals(in: sql, normalized: judged.map(\.analysis.normalized))
        return judged.enumerated().map { index, item in
            var item = item
            item.values = ValueCapture.Input(literals: literals?[index], text: literals == nil ? sql : nil)
            return item
        }
    }

    /// A RowDescription (or NoData) arrived: it names the columns of a Describe's statement or
    /// portal, or of the statement of a Query now running.
    private mutating func described(_ columns: [String]) {
        switch tracker.describing {
        case .describe?: resultColumns.described(columns)
        case .statement(let token)?: executions[token]?.columns = .known(columns)
        case nil: break
        }
    }

    private mutating func newToken() -> ResponseTracker.Token {
        nextToken += 1
        executions[nextToken] = Execution()
        return nextToken
    }

    /// The records of statements about to be sent in one message, in order, each with its
    /// names resolved as it will run; and the name resolution as it will be once they have run
    /// (to keep if they are sent). A statement's search_path change is noted on its execution.
    private mutating func entries(_ judged: [Judged], via: String) -> (entries: [LedgerEntry], resolution: NameResolution?) {
        var resolution = self.resolution
        var entries: [LedgerEntry] = []
        for item in judged {
            // A statement that itself changes the path in a way the proxy cannot follow (inside
            // a DO block, a set_config beside a FROM) resolves its own names with an unknown path.
            var own = resolution
            if item.analysis.facts.searchPath?.value == .unknown { own?.sending(item.analysis.facts, group: readySent + 1) }
            entries.append(entry(item, via: via, resolution: own))
            resolution?.sending(item.analysis.facts, group: readySent + 1)
        }
        return (entries, resolution)
    }

    /// The statements are sent: the name resolution is as they leave it, and each change to
    /// the search_path is told to the server's side of it when its statement completes.
    private mutating func sending(_ judged: [Judged], tokens: [ResponseTracker.Token], resolution resolved: NameResolution?) {
        resolution = resolved
        for (item, token) in zip(judged, tokens) where SearchPathTracker.matters(item.analysis.facts) {
            executions[token]?.facts = item.analysis.facts
        }
    }

    private mutating func entry(_ judged: Judged, via: String, resolution: NameResolution?, prepareOnly: Bool = false) -> LedgerEntry {
        let analysis = judged.analysis
        // Only what runs touches data: a refused statement, one waiting for review, or one only
        // prepared, has no lineage (nor values: an Execute has them).
        let runs = !prepareOnly && (judged.reviewed.map { $0.decision == "approved" } ?? (judged.decision.decision == .allow))
        // EXECUTE name carries what `name` prepared, not what its analysis says; another path resolves other tables.
        let cacheable = analysis.serial != 0 && analysis.facts.executes == nil && resolution?.isRoleDefault ?? true
        let key = analysis.serial * 2 + (runs ? 1 : 0)
        let template: EntryTemplate
        if cacheable, let known = templates[key] {
            template = known
        } else {
            // Names as the server resolves them (`public.customers` for the view a session reads);
            // one that cannot be told stays as written.
            let relations = analysis.facts.relations.map { written in
                ticket.visibleTables?.resolve(written, path: resolution?.path, temporary: resolution?.temporary ?? []) ?? written
            }
            template = EntryTemplate(sql: scrubbed(analysis.normalized),
                                     relations: relations.isEmpty ? nil : Array(Set(relations)).sorted(),
                                     lineage: runs ? lineage(of: analysis, resolution: resolution) : nil)
            if cacheable {
                if templates.count >= 1024 { templates.removeAll(keepingCapacity: true) }
                templates[key] = template
            }
        }
        var body = StatementBody(sql: template.sql, fingerprint: analysis.fingerprint, statementClass: analysis.statementClass,
                                 decision: judged.reviewed?.decision ?? judged.decision.decision.rawValue, via: via,
                                 relations: template.relations, request: judged.reviewed?.request)
        if let lineage = template.lineage, !lineage.lineage.items.isEmpty { body.lineage = lineage.summary }
        if !prepareOnly, let capture = ticket.capture, let values = judged.values {
            let captured = capture.capture(normalized: analysis.normalized, columns: analysis.parameterColumns, input: values, context: ticket.sessionID)
            body.preview = captured.preview == body.sql ? nil : captured.preview
            body.sealed = captured.sealed
        }
        var entry = LedgerEntry(body, identity: ticket.identity, target: ticket.target, session: ticket.sessionID)
        entry.lineage = template.lineage?.lineage
        return entry
    }

    /// Resolved once per statement shape (the fingerprint) for the connection's lifetime, with
    /// the lines the statement record keeps.
    private mutating func lineage(of analysis: StatementAnalysis, resolution: NameResolution?) -> (lineage: StatementLineage, summary: [String])? {
        guard let tables = ticket.visibleTables, let resolution else { return nil }
        // EXECUTE name carries what `name` prepared, which its own text does not show; another
        // search_path resolves the same text to other tables.
        let cacheable = analysis.facts.executes == nil && resolution.isRoleDefault
        let key = LineageKey(fingerprint: analysis.fingerprint, relations: analysis.facts.relations, columns: analysis.facts.columns,
                             writes: analysis.facts.writes)
        if cacheable, let known = lineages[key] { return known }
        let lineage = tables.lineage(of: analysis.facts, fingerprint: analysis.fingerprint, job: ticket.job, path: resolution.path,
                                     temporary: resolution.temporary)
        let resolved = (lineage, lineage.summary)
        if cacheable, lineages.count < 1024 { lineages[key] = resolved }
        return resolved
    }

    /// The record of a Parse: the statement prepared (it runs, and is recorded again, at each Execute).
    private mutating func parseEntry(_ judged: Judged) -> LedgerEntry {
        entry(judged, via: "parse", resolution: resolution, prepareOnly: true)
    }

    // MARK: The queue to the server

    /// Queues a message for the server; with entries, it waits until they are committed. Within
    /// a client read the records are asked for when it ends, all in one append (one commit for a
    /// pipeline's statements); `parse` numbers a Parse, whose record an Execute of what it
    /// prepared, in the same read, stands for.
    private mutating func enqueue(_ raw: ByteBuffer, tokens: [ResponseTracker.Token] = [], entries: [LedgerEntry] = [], parse: Int? = nil) {
        queue.append(Queued(raw: raw, ready: entries.isEmpty, tokens: tokens))
        if !entries.isEmpty {
            if let parse { unrecordedParses[parse] = unrecorded.count }
            unrecorded.append(Unrecorded(index: queue.count - 1 + queueBase, tokens: tokens, entries: entries))
        }
        buffered(raw.readableBytes)
        // Within a read, its end drains (one write for all its messages).
        if !readBurst {
            recordUnrecorded()
            drain()
        }
    }

    /// Asks the ledger for the records of everything queued since the last time, in one append;
    /// the messages go once it has committed (or the connection does, if it cannot).
    private mutating func recordUnrecorded() {
        guard !unrecorded.isEmpty else { return }
        let items = unrecorded
        unrecorded.removeAll(keepingCapacity: true)
        unrecordedParses.removeAll(keepingCapacity: true)
        actions.append(.record(items.flatMap(\.entries), PendingRecords(items: items)))
    }

    private mutating func drain() {
        guard serverWritable || queue.first?.terminate == true else { return }
        var wrote = false, terminate = false
        let now = now()
        while let first = queue.first, first.ready {
            queue.removeFirst()
            queueBase += 1
            bufferedBytes -= first.raw.readableBytes
            for token in first.tokens { executions[token]?.started = now }
            actions.append(.writeServer(first.raw))
            wrote = true
            if first.terminate { terminate = true; break }
        }
        // Stopped at a message waiting for its record: its commit drains again and flushes
        // everything at once (a commit always ends, in success or in closing the connection).
        let waitingForRecord = queue.first.map { !$0.ready } ?? false
        if wrote, !waitingForRecord || terminate { actions.append(.flushServer) }
        if wrote {
            timeStatements(now: now)
            timeIdleness()
        }
        if terminate {
            ended = true
            return actions.append(.close)
        }
        buffered(0)
    }

    /// Counts bytes waiting (negative: gone upstream or dropped); stops reading the client past
    /// the limits and reads again once under half of them.
    private mutating func buffered(_ delta: Int) {
        bufferedBytes += delta
        let over = bufferedBytes > Self.maxBufferedBytes || queue.count + held.count > Self.maxQueued
        if over, !clientReadsPaused {
            clientReadsPaused = true
            actions.append(.readClient(false))
        } else if !over, clientReadsPaused, bufferedBytes < Self.maxBufferedBytes / 2, queue.count + held.count < Self.maxQueued / 2 {
            clientReadsPaused = false
            actions.append(.readClient(true))
        }
    }

    // MARK: The policy's time limits

    // The statement timer stays armed while statements run: it fires at `timedFrom` plus the
    // policy's statement_timeout plus a second, and then cancels the statement, or arms again
    // for a later `timedFrom`. Statements move `timedFrom` and leave the timer alone: arming
    // and cancelling a timer per statement was a measurable share of the proxy's cost.

    private var statementsRunning: Bool { executions.values.contains { $0.started != nil } }

    private static func amount(_ seconds: TimeInterval) -> TimeAmount { .milliseconds(Int64(seconds * 1000)) }

    /// A statement started (`now`) or one ended: times the one running, if any.
    private mutating func timeStatements(ended: Bool = false, now: NIODeadline? = nil) {
        guard statementLimit != nil else { return }
        if !statementsRunning {
            timedFrom = nil
        } else if ended || timedFrom == nil {
            timedFrom = now ?? self.now()
        }
        armStatementTimer()
    }

    private mutating func armStatementTimer() {
        guard !statementTimerArmed, let limit = statementLimit, let from = timedFrom else { return }
        statementTimerArmed = true
        actions.append(.armStatementTimer(from + Self.amount(limit + Self.timeoutGrace)))
    }

    /// Idle in a transaction: in a transaction block, or in an extended-protocol batch not yet
    /// synced, with no statement running and nothing waiting to go. Then the idle timer runs,
    /// and only a statement that starts stops it: a Flush, a Describe or a Parse does not, nor
    /// does asking again (a running timer is never reset).
    private mutating func timeIdleness() {
        let idle = (transactionStatus != UInt8(ascii: "I") || extendedSinceSync) && !statementsRunning && queue.isEmpty && held.isEmpty
        guard idle else {
            if idleTimerArmed {
                idleTimerArmed = false
                actions.append(.disarmIdleTimer)
            }
            return
        }
        guard !idleTimerArmed, let limit = idleLimit else { return }
        idleTimerArmed = true
        actions.append(.armIdleTimer(Self.amount(limit + Self.timeoutGrace)))
    }

    private mutating func report(_ completion: ResponseTracker.Completion) {
        // The next statement, if any, is timed from now.
        if cancelGraceArmed {
            cancelGraceArmed = false
            actions.append(.disarmCancelGrace)
        }
        defer { timeStatements(ended: true) }
        if let name = sqlPending.removeValue(forKey: completion.token), completion.outcome != .completed { sqlPrepared[name] = nil }
        defer { timeIdleness() }
        guard let execution = executions.removeValue(forKey: completion.token) else { return }
        // A suspended portal has run (a set_config in its first row has taken effect).
        if [.completed, .suspended].contains(completion.outcome), let facts = execution.facts { resolution?.completed(facts) }
        guard let recordID = execution.recordID else { return }
        let duration = execution.started.map { Int((now() - $0).nanoseconds / 1000) }
        let columns = resultColumns.columns(execution.columns).flatMap { $0.isEmpty ? nil : $0 }
        actions.append(.outcome(ResultBody.Outcome(statement: recordID, outcome: completion.outcome.rawValue, rows: completion.rows,
                                                   durationMicros: duration, sqlState: completion.sqlState,
                                                   columns: columns.map { $0.map { scrubbed($0) } })))
    }

    private mutating func fail(code: String, _ message: String, event: String?) {
        guard !ended else { return }
        ended = true
        actions.append(.fail(code: code, message: message, event: event))
    }
}
