import Foundation

/// An auditor key's passphrase: from a file (first line), `$HOOPCTL_KEY_PASSPHRASE`, or typed
/// on the terminal without echo. Never taken from argv (every local user can read it).
enum Passphrase {
    static let environment = "HOOPCTL_KEY_PASSPHRASE"

    static func read(file: String?, prompt: String, confirm: Bool = false) throws -> String? {
        if let file {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw CLIError("cannot read --passphrase-file \(file)", exitCode: ExitStatus.usage)
            }
            return String(text.split(separator: "\n", omittingEmptySubsequences: false).first ?? "")
        }
        if let text = ProcessInfo.processInfo.environment[environment], !text.isEmpty { return text }
        guard let first = try typed(prompt) else { return nil }
        if confirm {
            guard try typed("again: ") == first else { throw CLIError("the passphrases differ; nothing was written") }
        }
        return first
    }

    /// nil when there is no terminal to ask on.
    private static func typed(_ prompt: String) throws -> String? {
        let fd = open("/dev/tty", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var saved = termios()
        guard tcgetattr(fd, &saved) == 0 else { return nil }
        var quiet = saved
        quiet.c_lflag &= ~tcflag_t(ECHO)
        _ = prompt.withCString { write(fd, $0, strlen($0)) }
        tcsetattr(fd, TCSAFLUSH, &quiet)
        defer {
            tcsetattr(fd, TCSAFLUSH, &saved)
            _ = write(fd, "\n", 1)
        }
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while Glibc.read(fd, &byte, 1) == 1, byte != UInt8(ascii: "\n") {
            bytes.append(byte)
            if bytes.count > 4096 { break }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
