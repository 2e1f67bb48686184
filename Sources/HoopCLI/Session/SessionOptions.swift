import ArgumentParser
import Foundation
import HoopBrokerAPI
import HoopCommon

/// What `exec` and `connect` ask the broker for.
struct SessionOptions: ParsableArguments {
    @Argument(help: "The target (a database in the policy).")
    var target: String

    @Option(help: "The role to use (default: your only role, or the first that needs no approval).")
    var role: String?

    @Option(help: "Why you need access; kept in the ledger.")
    var reason: String?

    @Option(help: ArgumentHelp("How long the session may live, up to the role's max_ttl (default: its default_ttl).", valueName: "duration"))
    var ttl: TimeSpan?

    @Flag(help: "Do not print the session line on standard error.")
    var quiet = false

    func request(kind: String) -> SessionRequest {
        SessionRequest(target: target, role: role, reason: reason, ttlSeconds: ttl.map { Int($0.seconds) }, kind: kind)
    }
}

extension TimeSpan: ExpressibleByArgument {
    public init?(argument: String) {
        guard let span = try? TimeSpan(parsing: argument), span.seconds > 0 else { return nil }
        self = span
    }
}

/// Opens a session, runs a command in it, and ends the session however the command ends.
enum SessionRunner {
    static func run(_ options: SessionOptions, kind: String, command: [String]) async throws -> Never {
        // From here on, signals other processes send us go to the command; before it runs
        // they end us (the broker notices the vanished client and revokes the session).
        ForegroundChild.catchSignals()
        let grant: SessionGrant = try await BrokerConnection.call { try await $0.post("/v1/sessions", options.request(kind: kind)) }
        let session = grant.session
        if !options.quiet {
            FileHandle.standardError.write(Data("hoopctl: session \(session.id) on \(session.target) as \(session.role) (\(session.roleName)), until \(UTCTime.seconds(Int64(session.expiresAt.timeIntervalSince1970 * 1e6)))\n".utf8))
        }
        var environment = ProcessInfo.processInfo.environment
        for key in ["PGSERVICE", "PGSERVICEFILE", "PGPASSFILE", "PGHOSTADDR", "PGOPTIONS"] { environment[key] = nil }
        for (key, value) in grant.connection.environment { environment[key] = value }
        environment["HOOPCTL_SESSION"] = session.id

        let termination: ForegroundChild.Termination
        do {
            let child = try ForegroundChild(executable: command[0], arguments: Array(command.dropFirst()), environment: environment)
            termination = await withCheckedContinuation { continuation in
                Thread.detachNewThread { continuation.resume(returning: child.wait()) }
            }
        } catch {
            Output.error("\(error)")
            await end(session.id, SessionEnd(exitCode: 127, endedBy: "not-started"))
            exit(127)
        }
        switch termination {
        case .exited(let code): await end(session.id, SessionEnd(exitCode: Int(code), endedBy: "exit"))
        case .signaled(let signal): await end(session.id, SessionEnd(exitCode: Int(128 + signal), endedBy: "signal"))
        }
        exit(termination.exitCode)
    }

    private static func end(_ id: String, _ end: SessionEnd) async {
        do {
            let _: SessionInfo = try await BrokerConnection.client.post("/v1/sessions/\(id)/end", end)
        } catch {
            Output.warning("could not end session \(id) (\(error)); the broker revokes it when it sees this process gone, or at its TTL")
        }
    }
}
