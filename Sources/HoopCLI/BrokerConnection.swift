import ArgumentParser
import Foundation
import HoopBrokerAPI
import HoopBrokerClient
import HoopCommon
import HoopHTTP

/// Who a command speaks as, and which broker it reaches: `--broker`, else `$HOOPCTL_BROKER`
/// (an https:// URL, or a unix socket path), else the broker signed in to last
/// (`hoopctl login`), else this machine's (`$HOOPCTL_HOME/broker.sock`). On this machine it
/// speaks as whoever the kernel says it is, or as the bearer of a token (`--token-file`, else
/// `$HOOPCTL_TOKEN`); to a remote broker, with that token or its sign-in, refreshed silently.
struct BrokerOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Present the broker-issued token in this file instead of your OS identity (default: $HOOPCTL_TOKEN).",
                               valueName: "file"),
            completion: .file())
    var tokenFile: String?

    @Option(help: ArgumentHelp("""
        The broker: an https:// URL you signed in to, or a unix socket path (default: $HOOPCTL_BROKER, \
        else the broker you signed in to last, else this machine's).
        """, valueName: "url|path"))
    var broker: String?

    /// Where the broker is, as chosen.
    enum Choice: Equatable {
        case local(socket: String)
        case remote(url: String)
    }

    func choice(environment: [String: String] = ProcessInfo.processInfo.environment) -> Choice {
        func parse(_ text: String) -> Choice { text.hasPrefix("https://") || text.hasPrefix("http://") ? .remote(url: text) : .local(socket: text) }
        if let broker, !broker.isEmpty { return parse(broker) }
        if let named = environment["HOOPCTL_BROKER"], !named.isEmpty { return parse(named) }
        if let last = CredentialStore.standard(environment: environment).current() { return .remote(url: last) }
        return .local(socket: BrokerConnection.socketPath)
    }

    func client(refreshing: Bool = false) async throws -> BrokerClient {
        switch choice() {
        case .local(let socket):
            return BrokerClient(socketPath: socket, token: try token())
        case .remote(let url):
            guard let parsed = URL(string: url) else { throw CLIError("--broker \(url) is not a URL", exitCode: ExitStatus.usage) }
            // Tokens travel over TLS only: an http:// broker is refused, loopback or not.
            guard parsed.scheme?.lowercased() == "https" else {
                throw CLIError("\(url): a remote broker is reached over https only", exitCode: ExitStatus.usage)
            }
            let store = CredentialStore.standard()
            let login = try store.load(url)
            let address: HTTPAddress
            do { address = try HTTPAddress(url: parsed, caFile: login?.caFile) } catch {
                throw CLIError("\(error)", exitCode: ExitStatus.usage)
            }
            if let token = try token() { return BrokerClient(address: address, token: token) }
            guard let login else { throw CLIError("not signed in to \(url): hoopctl login \(url)", exitCode: ExitStatus.denied) }
            // Fresh now, and again before each later call (a long wait or job outlives an access token).
            let first = try await RemoteSignIn.fresh(login, store: store, force: refreshing)
            let issued = Date()
            return BrokerClient(address: address) {
                if Date().timeIntervalSince(issued) < 1 { return first.accessToken }
                // Signed out meanwhile (the file is gone): nothing more is asked in this sign-in's name.
                guard let current = try store.load(url) else { throw CLIError("signed out of \(url)", exitCode: ExitStatus.denied) }
                return try await RemoteSignIn.fresh(current, store: store).accessToken
            }
        }
    }

    /// The CA a remote broker's certificates are checked against (for a session's client too).
    func remoteCA() -> String? {
        guard case .remote(let url) = choice() else { return nil }
        return (try? CredentialStore.standard().load(url))?.caFile
    }

    func token() throws -> String? {
        if let tokenFile {
            guard let text = try? String(contentsOfFile: tokenFile, encoding: .utf8) else {
                throw CLIError("cannot read --token-file \(tokenFile)", exitCode: ExitStatus.usage)
            }
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        if let token = ProcessInfo.processInfo.environment["HOOPCTL_TOKEN"], !token.isEmpty { return token }
        return nil
    }

    /// Runs a broker call, turning its failures into messages and documented exit codes. A
    /// remote broker that refuses the sign-in's access token (the provider rotated its keys,
    /// say) is asked once more with a refreshed one.
    func call<T>(_ body: (BrokerClient) async throws -> T) async throws -> T {
        let first = try await client()
        do {
            return try await body(first)
        } catch BrokerClientError.refused(let failure) where failure.code == .unauthenticated && signInCanRefresh() {
            do {
                return try await body(try await client(refreshing: true))
            } catch let error as BrokerClientError {
                throw BrokerConnection.cliError(error)
            }
        } catch let error as BrokerClientError {
            throw BrokerConnection.cliError(error)
        }
    }

    /// Whether the call spoke with a remote sign-in that has a refresh token.
    private func signInCanRefresh() -> Bool {
        guard (try? token()) == nil, case .remote(let url) = choice() else { return false }
        return (try? CredentialStore.standard().load(url))??.refreshToken != nil
    }
}

enum BrokerConnection {
    static var socketPath: String { BrokerAPI.socketPath(stateDirectory: StateDirectory.resolve().path) }

    /// As the OS user, for commands that never take a token (`sandbox up`).
    static func call<T>(_ body: (BrokerClient) async throws -> T) async throws -> T {
        do {
            return try await body(BrokerClient(socketPath: socketPath))
        } catch let error as BrokerClientError {
            throw cliError(error)
        }
    }

    static func cliError(_ error: BrokerClientError) -> CLIError {
        switch error {
        case .unreachable:
            return CLIError("\(error)", exitCode: ExitStatus.brokerUnreachable)
        case .refused(let failure):
            switch failure.code {
            case .denied, .unauthenticated: return CLIError("\(error)", exitCode: ExitStatus.denied)
            case .invalid, .notFound: return CLIError("\(error)", exitCode: ExitStatus.usage)
            case .approvalRequired: return CLIError("\(error)", exitCode: ExitStatus.pending)
            case .approvalDenied: return CLIError("\(error)", exitCode: ExitStatus.approvalDenied)
            case .approvalExpired: return CLIError("\(error)", exitCode: ExitStatus.approvalExpired)
            default: return CLIError("\(error)", exitCode: ExitStatus.failure)
            }
        case .protocolError:
            return CLIError("\(error)", exitCode: ExitStatus.failure)
        }
    }
}
