import Crypto
import Foundation
@testable import HoopWire
import XCTest

final class ChannelBindingTests: XCTestCase {
    /// A certificate made by openssl, as DER.
    func certificate(_ arguments: [String]) throws -> [UInt8] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cb-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = ["req", "-x509", "-nodes", "-days", "1", "-subj", "/CN=cb", "-outform", "DER",
                             "-keyout", directory.appendingPathComponent("k").path, "-out", directory.appendingPathComponent("c").path] + arguments
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return Array(try Data(contentsOf: directory.appendingPathComponent("c")))
    }

    /// The hash follows the certificate's signature algorithm, as PostgreSQL's does (RFC 5929).
    func testTheEndPointHashFollowsTheSignatureAlgorithm() throws {
        let ec256 = try certificate(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-sha256"])
        XCTAssertEqual(ChannelBinding.tlsServerEndPoint(certificateDER: ec256), Array(SHA256.hash(data: ec256)))
        XCTAssertEqual(ServerIdentity.commonName(certificateDER: ec256), "cb", "the subject's common name, read from the DER")
        let rsa384 = try certificate(["-newkey", "rsa:2048", "-sha384"])
        XCTAssertEqual(ChannelBinding.tlsServerEndPoint(certificateDER: rsa384), Array(SHA384.hash(data: rsa384)))
        let rsa1 = try certificate(["-newkey", "rsa:2048", "-sha1"])
        XCTAssertEqual(ChannelBinding.tlsServerEndPoint(certificateDER: rsa1), Array(SHA256.hash(data: rsa1)), "SHA-1 and MD5 become SHA-256")
        let ed25519 = try certificate(["-newkey", "ed25519"])
        XCTAssertNil(ChannelBinding.tlsServerEndPoint(certificateDER: ed25519), "no hash is defined: no binding")
        XCTAssertNil(ChannelBinding.tlsServerEndPoint(certificateDER: [0x30, 0x82, 0xFF]), "malformed")
    }

    func testTheClientSaysWhatItBindsTo() {
        XCTAssertTrue(SCRAMClient(password: "x").clientFirst.hasPrefix("n,,n=,r="))
        XCTAssertTrue(SCRAMClient(password: "x", binding: .unsupportedByServer).clientFirst.hasPrefix("y,,"))
        let bound = SCRAMClient(password: "x", binding: .tlsServerEndPoint([1, 2, 3]))
        XCTAssertTrue(bound.clientFirst.hasPrefix("p=tls-server-end-point,,"))
        XCTAssertEqual(bound.mechanism, "SCRAM-SHA-256-PLUS")
    }
}

final class ServerIdentityTests: XCTestCase {
    func testHostNamesAndAddressesAreCheckedAsLibpqChecksThem() {
        let loopback: [UInt8] = [127, 0, 0, 1]
        XCTAssertTrue(ServerIdentity.matches(host: "localhost", dnsNames: ["localhost"], ipAddresses: [loopback], commonName: nil))
        XCTAssertFalse(ServerIdentity.matches(host: "localhost", dnsNames: [], ipAddresses: [loopback], commonName: "evil.example"),
                       "an address in the certificate does not vouch for a host name")
        XCTAssertTrue(ServerIdentity.matches(host: "localhost", dnsNames: [], ipAddresses: [loopback], commonName: "localhost"),
                      "without a DNS name, the common name counts for a host name (as libpq)")
        XCTAssertFalse(ServerIdentity.matches(host: "localhost", dnsNames: ["other"], ipAddresses: [], commonName: "localhost"),
                       "with a DNS name, the common name does not count")
        XCTAssertTrue(ServerIdentity.matches(host: "127.0.0.1", dnsNames: ["127.0.0.1"], ipAddresses: [], commonName: nil),
                      "an address written as a DNS name (as libpq)")
        XCTAssertTrue(ServerIdentity.matches(host: "127.0.0.1", dnsNames: [], ipAddresses: [loopback], commonName: nil))
        XCTAssertFalse(ServerIdentity.matches(host: "127.0.0.2", dnsNames: [], ipAddresses: [loopback], commonName: "127.0.0.2"),
                       "with an IP address, the common name does not count")
        XCTAssertTrue(ServerIdentity.matches(host: "db.Example.com", dnsNames: ["*.example.com"], ipAddresses: [], commonName: nil))
        XCTAssertFalse(ServerIdentity.matches(host: "a.db.example.com", dnsNames: ["*.example.com"], ipAddresses: [], commonName: nil))
        XCTAssertFalse(ServerIdentity.matches(host: "example.com", dnsNames: ["*.example.com"], ipAddresses: [], commonName: nil))
        XCTAssertTrue(ServerIdentity.matches(host: "db", dnsNames: [], ipAddresses: [], commonName: "db"))
        XCTAssertFalse(ServerIdentity.matches(host: "10db.example", dnsNames: ["other"], ipAddresses: [], commonName: nil),
                       "a name that starts with a digit is a name")
    }
}
