import ArgumentParser
import Foundation
import HoopCommon
import HoopLedger

extension Hoopctl.AuditCommand {
    struct Keygen: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write an auditor key pair: statement values are sealed to its public half.",
            discussion: """
                Writes the private key to FILE (mode 0600; it must not exist yet), protected by a passphrase \
                (--passphrase-file, $HOOPCTL_KEY_PASSPHRASE, or typed at the terminal) unless --no-passphrase. \
                Prints the public key: list it under the target's 'capture: auditor_keys' in the policy (newest \
                last; older keys stay listed while records sealed to them are kept). Keep the private key \
                offline; 'hoopctl audit replay --reveal --key FILE' opens values with it.
                """)

        @Option(name: .customLong("out"), help: ArgumentHelp("Where to write the private key.", valueName: "file"), completion: .file())
        var output: String

        @Option(help: ArgumentHelp("Read the passphrase from the first line of this file.", valueName: "file"), completion: .file())
        var passphraseFile: String?

        @Flag(help: "Write the private key without a passphrase.")
        var noPassphrase = false

        func validate() throws {
            if noPassphrase, passphraseFile != nil { throw ValidationError("--no-passphrase and --passphrase-file cannot be used together") }
            if FileManager.default.fileExists(atPath: output) { throw ValidationError("\(output) exists; an auditor key is never overwritten") }
        }

        func run() async throws {
            var passphrase: String?
            if !noPassphrase {
                guard let typed = try Passphrase.read(file: passphraseFile, prompt: "passphrase for the new auditor key: ", confirm: passphraseFile == nil)
                else { throw CLIError("no terminal to ask a passphrase on: give --passphrase-file, $\(Passphrase.environment) or --no-passphrase", exitCode: ExitStatus.usage) }
                guard typed.count >= 8 else { throw CLIError("the passphrase is shorter than 8 characters; nothing was written", exitCode: ExitStatus.usage) }
                passphrase = typed
            }
            let (file, publicKey) = try AuditorKeyFile.generate(passphrase: passphrase)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            do {
                try PrivateFile.write(String(decoding: try encoder.encode(file), as: UTF8.self) + "\n", to: output)
            } catch {
                throw CLIError("cannot write \(output): \(error)")
            }
            Output.note("wrote the private key to \(output) (key \(publicKey.id)\(passphrase == nil ? ", no passphrase" : ""))")
            Output.note("add the public key to the target's 'capture: auditor_keys' in the policy:")
            Output.line(publicKey.description)
        }
    }
}
