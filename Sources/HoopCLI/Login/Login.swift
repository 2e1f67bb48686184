import ArgumentParser
import Foundation
import HoopBrokerAPI
import HoopBrokerClient
import HoopCommon
import HoopHTTP
import HoopOIDC

extension Hoopctl {
    struct Login: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign in to a remote broker with its identity provider.",
            discussion: """
                The broker says which provider it trusts. By default the device flow: hoopctl prints a URL and a \
                code to enter there, from any device, and waits. --browser opens a browser on this machine and \
                takes the answer on a loopback port (PKCE). The sign-in is kept, refreshed silently, per broker \
                in $XDG_CONFIG_HOME/hoopctl/brokers/ (mode 0600), and later commands use the broker signed in \
                to last unless --broker or $HOOPCTL_BROKER names another. Nothing secret is printed.

                Example: hoopctl login https://hoop.example.com:8443 --ca-file company-ca.pem
                """)

        @Argument(help: ArgumentHelp("The broker's URL (default: $HOOPCTL_BROKER, else the broker signed in to last).", valueName: "broker-url"))
        var brokerURL: String?

        @Option(help: ArgumentHelp("The CA that signed the broker's certificate (PEM), if not one the system trusts.", valueName: "file"),
                completion: .file())
        var caFile: String?

        @Flag(help: "Sign in in a browser on this machine ($BROWSER, else xdg-open) instead of with a code.")
        var browser = false

        func run() async throws {
            let store = CredentialStore.standard()
            let named = store.named(brokerURL)
            guard let url = named, let parsed = URL(string: url), let host = parsed.host, !host.isEmpty else {
                throw CLIError("give the broker's URL: hoopctl login https://HOST:PORT", exitCode: ExitStatus.usage)
            }
            // The sign-in and every token after it travel over TLS only.
            guard parsed.scheme?.lowercased() == "https" else {
                throw CLIError("\(url): a broker is signed in to over https only", exitCode: ExitStatus.usage)
            }
            let broker = "https://\(host)\(parsed.port.map { ":\($0)" } ?? "")"
            let caFile = try self.caFile.map { try store.keepCA($0, for: broker) } ?? (try? store.load(broker))?.caFile
            let address: HTTPAddress
            do { address = try HTTPAddress(url: parsed, caFile: caFile) } catch { throw CLIError("\(error)", exitCode: ExitStatus.usage) }
            let info: SignInInfo
            do { info = try await BrokerClient(address: address).call(Endpoints.signIn) } catch {
                throw BrokerConnection.cliError(error)
            }
            guard let provider = info.oidc else {
                throw CLIError("\(broker) takes no identity provider's sign-in; ask an admin for a token (hoopctl token issue)",
                               exitCode: ExitStatus.denied)
            }
            let tokens: TokenSet
            do {
                let discovery = try await OIDCDiscovery.fetch(issuer: provider.issuer, caFile: nil)
                let signIn = SignIn(discovery: discovery, clientID: provider.clientID, caFile: nil)
                tokens = browser ? try await signIn.browserAuthorization(open: Self.openBrowser) : try await device(signIn)
            } catch let error as OIDCError {
                if case .refused = error { throw CLIError("sign-in refused: \(error)", exitCode: ExitStatus.denied) }
                throw CLIError("cannot sign in with \(provider.issuer): \(error)", exitCode: ExitStatus.brokerUnreachable)
            }
            let login = StoredLogin(broker: broker, caFile: caFile, issuer: provider.issuer, clientID: provider.clientID,
                                    accessToken: tokens.accessToken, refreshToken: tokens.refreshToken,
                                    expiresAt: Date().addingTimeInterval(TimeInterval(tokens.expiresIn ?? 300)))
            // The broker must take the token before it is kept.
            let me: HoopBrokerAPI.WhoAmI
            do { me = try await BrokerClient(address: address, token: login.accessToken).call(Endpoints.whoami) } catch {
                throw BrokerConnection.cliError(error)
            }
            try store.save(login)
            Output.note("signed in to \(broker) as \(me.principal) (\(me.method), \(provider.issuer))")
        }

        private func device(_ signIn: SignIn) async throws(OIDCError) -> TokenSet {
            let code = try await signIn.startDeviceAuthorization()
            Output.note("To sign in, open \(code.verificationURI) and enter the code \(code.userCode)")
            if let complete = code.verificationURIComplete { Output.note("(or open \(complete))") }
            Output.note("waiting for the sign-in (expires in \(code.expiresIn / 60) min)...")
            return try await signIn.awaitDeviceAuthorization(code)
        }

        /// `$BROWSER URL`, else `xdg-open URL`; the URL carries no secret (the PKCE verifier stays here).
        @Sendable static func openBrowser(_ url: String) throws {
            let program = ProcessInfo.processInfo.environment["BROWSER"].flatMap { $0.isEmpty ? nil : $0 } ?? "xdg-open"
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [program, url]
            do { try process.run() } catch {
                throw CLIError("cannot open a browser (\(program)): open this URL yourself: \(url)", exitCode: ExitStatus.failure)
            }
            Output.note("a browser is opening the sign-in page; if none does, open: \(url)")
        }
    }

    struct Logout: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign out of a remote broker: the provider revokes the sign-in, and hoopctl forgets it.")

        @Argument(help: ArgumentHelp("The broker's URL (default: $HOOPCTL_BROKER, else the broker signed in to last).", valueName: "broker-url"))
        var brokerURL: String?

        func run() async throws {
            let store = CredentialStore.standard()
            let named = store.named(brokerURL)
            guard let broker = named, let login = try store.load(broker) else {
                throw CLIError("not signed in to \(named ?? "any broker")", exitCode: ExitStatus.usage)
            }
            var revoked = false
            if let refreshToken = login.refreshToken {
                do {
                    let discovery = try await OIDCDiscovery.fetch(issuer: login.issuer, caFile: nil)
                    revoked = try await SignIn(discovery: discovery, clientID: login.clientID, caFile: nil).revoke(refreshToken)
                } catch {
                    Output.warning("the identity provider did not revoke the sign-in (\(error)); it is forgotten here all the same")
                }
            }
            store.delete(login.broker)
            Output.note("signed out of \(login.broker)" + (revoked ? "; the provider revoked the sign-in" : ""))
        }
    }
}
