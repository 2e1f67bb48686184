import Foundation
import HoopLedger
import XCTest

/// HPKE to the auditor's key: what the broker seals only the private key opens, bound to its
/// session; the key file's passphrase is checked, never guessed around.
final class SealedValuesTests: XCTestCase {
    func testSealedValuesOpenOnlyWithTheKeyAndTheirSession() throws {
        let (file, publicKey) = try AuditorKeyFile.generate(passphrase: nil)
        let sealer = try ValueSealer(to: AuditorPublicKey(parsing: publicKey.description))
        let payload = CapturedValues(values: [.init(n: 1, form: "literal", value: "'x@y.z'")]).json()
        let sealed = try sealer.seal(Array(payload.utf8), context: "session-a")
        XCTAssertFalse(sealed.contains("x@y.z"))
        XCTAssertEqual(ValueOpener.keyID(of: sealed), publicKey.id)

        let opener = ValueOpener(try file.privateKey(passphrase: nil))
        XCTAssertEqual(String(decoding: try opener.open(sealed, context: "session-a"), as: UTF8.self), payload)
        XCTAssertEqual(try JSONDecoder().decode(CapturedValues.self, from: Data(payload.utf8)).values.first?.value, "'x@y.z'")
        XCTAssertThrowsError(try opener.open(sealed, context: "session-b"), "moved to another session")
        var tampered = Array(sealed)
        tampered[tampered.count - 3] = tampered[tampered.count - 3] == "A" ? "B" : "A"
        XCTAssertThrowsError(try opener.open(String(tampered), context: "session-a"))

        let (other, _) = try AuditorKeyFile.generate(passphrase: nil)
        XCTAssertThrowsError(try ValueOpener(try other.privateKey(passphrase: nil)).open(sealed, context: "session-a"))
    }

    func testThePassphraseProtectsTheKeyFile() throws {
        let (file, publicKey) = try AuditorKeyFile.generate(passphrase: "correct horse battery")
        XCTAssertTrue(file.needsPassphrase)
        XCTAssertNotNil(Data(base64Encoded: file.privateKey))
        XCTAssertThrowsError(try file.privateKey(passphrase: nil))
        XCTAssertThrowsError(try file.privateKey(passphrase: "wrong horse"))
        XCTAssertEqual(AuditorPublicKey(try file.privateKey(passphrase: "correct horse battery").publicKey), publicKey)
    }

    func testAnEditedPublicKeyIsRefused() throws {
        let (_, publicKey) = try AuditorKeyFile.generate(passphrase: nil)
        var text = Array(publicKey.description)
        text[20] = text[20] == "a" ? "b" : "a"
        XCTAssertThrowsError(try AuditorPublicKey(parsing: String(text)))
        XCTAssertThrowsError(try AuditorPublicKey(parsing: "ssh-ed25519 AAAA"))
    }
}
