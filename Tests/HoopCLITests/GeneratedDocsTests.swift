import Foundation
import HoopCommon
import HoopTestSupport
import XCTest

/// man/ and completions/ are committed; they must say what the command tree says.
/// Regenerate both with `make docs`.
final class GeneratedDocsTests: XCTestCase {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func testCompletionScriptsMatchTheCommandTree() throws {
        for (shell, file) in [("bash", "hoopctl.bash"), ("zsh", "_hoopctl"), ("fish", "hoopctl.fish")] {
            let generated = try HoopctlBinary.run(["--generate-completion-script", shell])
            XCTAssertEqual(generated.status, 0, generated.stderr)
            let committed = try String(contentsOf: Self.repository.appendingPathComponent("completions/\(file)"), encoding: .utf8)
            XCTAssertEqual(committed, generated.stdout, "completions/\(file) is out of date: run `make docs`")
        }
    }

    /// Runs swift-argument-parser's generate-manual tool, which `make test` builds through its plugin.
    func testManualPagesMatchTheCommandTree() throws {
        let binary = URL(fileURLWithPath: HoopctlBinary.path)
        let tool = binary.deletingLastPathComponent().appendingPathComponent("generate-manual-tool").path
        guard FileManager.default.isExecutableFile(atPath: tool) else {
            return XCTFail("\(tool) is missing: run `make test` (it builds it with `swift package generate-manual`)")
        }
        let manDirectory = Self.repository.appendingPathComponent("man")
        let root = try String(contentsOf: manDirectory.appendingPathComponent("hoopctl.1"), encoding: .utf8)
        // Reuse the committed date, so only content can drift.
        let dateLine = try XCTUnwrap(root.split(separator: "\n").first { $0.hasPrefix(".Dd ") })
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "MMMM d, yyyy"
        let date = try XCTUnwrap(formatter.date(from: String(dateLine.dropFirst(4))))
        formatter.dateFormat = "yyyy-MM-dd"

        let output = try TemporaryDirectory("man")
        defer { output.remove() }
        try ChildProcess(tool, [binary.path, "--multi-page", "--date", formatter.string(from: date), "--output-directory", output.path]).check()
        let generated = try FileManager.default.contentsOfDirectory(atPath: output.path).sorted()
        let committed = try FileManager.default.contentsOfDirectory(atPath: manDirectory.path).sorted()
        XCTAssertEqual(committed, generated, "man/ has other pages than the command tree: run `make docs`")
        for page in generated where committed.contains(page) {
            XCTAssertEqual(try String(contentsOfFile: manDirectory.appendingPathComponent(page).path, encoding: .utf8),
                           try String(contentsOfFile: output.file(page), encoding: .utf8),
                           "man/\(page) is out of date: run `make docs`")
        }
    }
}
