import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOSSL

/// A network listener's certificate and key, as files: read at start, and again on SIGHUP
/// (`reload()`), so a renewed certificate takes effect without a restart. A reload that fails
/// keeps the old pair and says why; new connections take whichever pair is current.
public final class ServerTLS: Sendable {
    public let certificateFile: String
    public let keyFile: String
    private let current: NIOLockedValueBox<NIOSSLContext>

    public init(certificateFile: String, keyFile: String) throws(ServerTLSError) {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        current = NIOLockedValueBox(try Self.context(certificateFile: certificateFile, keyFile: keyFile))
    }

    public var context: NIOSSLContext { current.withLockedValue { $0 } }

    /// Reads the files again; on failure the current pair stays.
    public func reload() throws(ServerTLSError) {
        let fresh = try Self.context(certificateFile: certificateFile, keyFile: keyFile)
        current.withLockedValue { $0 = fresh }
    }

    /// TLS 1.2 or newer, the certificate chain and key given; clients are not asked for certificates.
    static func context(certificateFile: String, keyFile: String) throws(ServerTLSError) -> NIOSSLContext {
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(certificateFile)
            guard !chain.isEmpty else { throw ServerTLSError("\(certificateFile) holds no certificate") }
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

public struct ServerTLSError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
