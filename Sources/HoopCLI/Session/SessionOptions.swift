import ArgumentParser
import Foundation
import HoopBrokerAPI
import HoopBrokerClient
import HoopCommon

/// What `exec` and `connect` ask the broker for.
struct SessionOptions: ParsableArguments {
    @Argument(help: "The target (a database in the policy).")
    var target: String

    @Option(help: "The role to use (default: your only role, or the first that needs no approval).")
    var role: String?

    @Option(help: "Why you need access; kept in the ledger, and shown to reviewers.")
    var reason: String?

    @Option(help: ArgumentHelp("How long the session may live, up to the role's max_ttl (default: its default_ttl).", valueName: "duration"))
    var ttl: TimeSpan?

    @Option(help: ArgumentHelp("Use this approved request (an id or a prefix of one).", valueName: "id"))
    var request: String?

    @Option(help: ArgumentHelp("How long to wait for an approval before giving up (the request stays pending).", valueName: "duration"))
    var wait: TimeSpan = TimeSpan(seconds: 900)

    @Flag(help: "Do not wait for an approval: print the request id and exit 75.")
    var noWait = false

    @Flag(help: "Do not print the session line on standard error.")
    var quiet = false

    @Flag(help: ArgumentHelp("""
        Hand the command your broker token as $HOOPCTL_TOKEN. By default the command gets a database \
        session and nothing of your identity: $HOOPCTL_TOKEN is removed from its environment.
        """))
    var passToken = false

    @OptionGroup var job: JobOptions
    var correlation: String? { job.correlation }

    @OptionGroup var broker: BrokerOptions

    func sessionRequest(kind: String, request approved: String?) -> SessionRequest {
        SessionRequest(target: target, role: role, reason: reason, ttlSeconds: ttl.map { Int($0.seconds) }, kind: kind,
                       request: approved, correlation: correlation)
    }
}

extension TimeSpan: ExpressibleByArgument {
    public init?(argument: String) {
        guard let span = try? TimeSpan(parsing: argument), span.seconds > 0 else { return nil }
        self = span
    }
}

/// Opens a session (asking for an approval first when the role needs one), runs a command in
/// it, and ends the session however the command ends.
enum SessionRunner {
    static func run(_ options: SessionOptions, kind: String, command: [String]) async throws -> Never {
        // From here on, signals other processes send us go to the command; before it runs
        // they end us (the broker notices the vanished client and revokes the session).
        ForegroundChild.catchSignals()
        let sessions = SessionClient(broker: try await options.broker.client())
        let grant = try await openSession(options, kind: kind, sessions: sessions)
        let session = grant.session
        if !options.quiet {
            Output.note("session \(session.id) on \(session.target) as \(session.role) (\(session.roleName)), until \(UTCTime.seconds(Int64(session.expiresAt.timeIntervalSince1970 * 1e6)))")
        }
        var environment = ProcessInfo.processInfo.environment
        for key in ["PGSERVICE", "PGSERVICEFILE", "PGPASSFILE", "PGHOSTADDR", "PGOPTIONS"] { environment[key] = nil }
        // The command gets a database session, not the caller's identity: a token it inherited
        // would let it approve, issue tokens or open sessions as the caller.
        environment["HOOPCTL_TOKEN"] = options.passToken ? try options.broker.token() : nil
        // Nor can it read the token from this process: /proc/PID/environ, its memory.
        if !options.passToken { ProcessSecrets.conceal(environment: ["HOOPCTL_TOKEN"]) }
        var connection = grant.connection
        // A remote broker's proxy is checked against the CA its sign-in keeps (verify-full).
        connection.sslRootCert = options.broker.remoteCA()
        for (key, value) in connection.environment { environment[key] = value }
        environment["HOOPCTL_SESSION"] = session.id
        if let correlation = options.correlation { environment["HOOPCTL_CORRELATION_ID"] = correlation }

        // A session opened from the network lives while this process renews it.
        let keepAlive = Task { await sessions.keepAlive(grant) }
        defer { keepAlive.cancel() }
        let termination: ForegroundChild.Termination
        do {
            let child = try ForegroundChild(executable: command[0], arguments: Array(command.dropFirst()), environment: environment)
            termination = await withCheckedContinuation { continuation in
                Thread.detachNewThread { continuation.resume(returning: child.wait()) }
            }
        } catch {
            Output.error("\(error)")
            await end(session.id, SessionEnd(exitCode: 127, endedBy: "not-started"), sessions: sessions)
            exit(127)
        }
        switch termination {
        case .exited(let code): await end(session.id, SessionEnd(exitCode: Int(code), endedBy: "exit"), sessions: sessions)
        case .signaled(let signal): await end(session.id, SessionEnd(exitCode: Int(128 + signal), endedBy: "signal"), sessions: sessions)
        }
        exit(termination.exitCode)
    }

    private static func openSession(_ options: SessionOptions, kind: String, sessions: SessionClient) async throws -> SessionGrant {
        let request = options.sessionRequest(kind: kind, request: options.request)
        do {
            switch try await sessions.open(request) {
            case .granted(let grant):
                return grant
            case .approvalRequired(let failure):
                Output.note(failure.message)
                let approved = try await requestApproval(options, request: request, sessions: sessions)
                return try await sessions.open(request, approved: approved)
            }
        } catch let error as BrokerClientError {
            throw BrokerConnection.cliError(error)
        }
    }

    /// Creates the request and waits for its approval (or, with --no-wait, prints its id and exits 75).
    private static func requestApproval(_ options: SessionOptions, request: SessionRequest, sessions: SessionClient) async throws -> RequestInfo {
        guard let role = options.role else { throw CLIError("choose the role with --role", exitCode: ExitStatus.usage) }
        guard let reason = options.reason, !reason.isEmpty else {
            throw CLIError("role '\(role)' needs an approval: say why with --reason, for the reviewers", exitCode: ExitStatus.usage)
        }
        let created = try await sessions.requestApproval(request, role: role, reason: reason)
        Output.note("request \(created.id) created: \(created.needed) approval\(created.needed == 1 ? "" : "s") from \(created.approvers.joined(separator: ", ")); a reviewer runs: hoopctl approve \(created.id)")
        if options.noWait {
            Output.line(created.id)
            throw ExitStatus.pending
        }
        return try await ApprovalWait(request: created, sessions: sessions, limit: options.wait).run()
    }

    private static func end(_ id: String, _ end: SessionEnd, sessions: SessionClient) async {
        do {
            try await sessions.end(id, end)
        } catch {
            Output.warning("could not end session \(id) (\(error)); the broker revokes it when it sees this process gone, or at its TTL")
        }
    }
}
