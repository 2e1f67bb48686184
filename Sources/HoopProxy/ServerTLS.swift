import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOSSL
#if canImport(Glibc)
import Glibc
#endif

/// A network listener's certificate and key, as files: read at start, and again on SIGHUP
/// (`reload()`), so a renewed certificate takes effect without a restart. A reload that fails
/// keeps the old pair and says why; new connections take whichever pair is current.
public final class ServerTLS: Sendable {
    public let certificateFile: String
    public let keyFile: String
    /// The name clients reach the listeners by: a certificate that does not hold it is refused
    /// (sessions are handed it with verify-full, and every client would fail).
    public let publicHost: String
    private let current: NIOLockedValueBox<NIOSSLContext>

    public init(certificateFile: String, keyFile: String, publicHost: String) throws(ServerTLSError) {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.publicHost = publicHost
        current = NIOLockedValueBox(try Self.context(certificateFile: certificateFile, keyFile: keyFile, publicHost: publicHost))
    }

    public var context: NIOSSLContext { current.withLockedValue { $0 } }

    /// Reads the files again; on failure the current pair stays.
    public func reload() throws(ServerTLSError) {
        let fresh = try Self.context(certificateFile: certificateFile, keyFile: keyFile, publicHost: publicHost)
        current.withLockedValue { $0 = fresh }
    }

    /// TLS 1.2 or newer, the certificate chain and key given; clients are not asked for certificates.
    static func context(certificateFile: String, keyFile: String, publicHost: String) throws(ServerTLSError) -> NIOSSLContext {
        try checkKeyFile(keyFile)
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(certificateFile)
            guard let leaf = chain.first else { throw ServerTLSError("\(certificateFile) holds no certificate") }
            guard ClientConnection.names(publicHost, in: leaf) else {
                throw ServerTLSError("the certificate \(certificateFile) does not name \(publicHost) (--public-host), which clients check")
            }
            let key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
            var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
            configuration.minimumTLSVersion = .tlsv12
            return try NIOSSLContext(configuration: configuration)
        } catch let error as ServerTLSError {
            throw error
        } catch {
            // NIOSSL's errors name the file's problem, never the key's bytes.
            throw ServerTLSError("cannot use the certificate \(certificateFile) and key \(keyFile): \(error)")
        }
    }
}

extension ServerTLS {
    /// As PostgreSQL asks of its ssl_key_file: 0600 or less when the broker's user owns it,
    /// 0640 or less when root does (a group of readers the administrator chose).
    static func checkKeyFile(_ path: String) throws(ServerTLSError) {
        var status = stat()
        guard stat(path, &status) == 0 else { throw ServerTLSError("cannot read the key \(path): \(String(cString: strerror(errno)))") }
        guard status.st_mode & S_IFMT == S_IFREG else { throw ServerTLSError("the key \(path) is not a regular file") }
        let allowed: mode_t = status.st_uid == 0 ? 0o640 : 0o600
        guard status.st_uid == geteuid() || status.st_uid == 0 else {
            throw ServerTLSError("the key \(path) belongs to uid \(status.st_uid): it must be the broker's user's or root's")
        }
        guard status.st_mode & 0o777 & ~allowed == 0 else {
            throw ServerTLSError("the key \(path) may be read by others (mode \(String(status.st_mode & 0o777, radix: 8))): chmod \(String(allowed, radix: 8)) it")
        }
    }
}

public struct ServerTLSError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
