import ArgumentParser
import Foundation
import HoopBrokerAPI
import HoopBrokerClient
import HoopCommon

/// Waits for reviewers: a spinner with the elapsed time on a terminal, a plain line now and
/// then otherwise. Ctrl-C (or SIGTERM) withdraws the request.
struct ApprovalWait {
    let request: RequestInfo
    let sessions: SessionClient
    let limit: TimeSpan

    static let frames = Array("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")

    /// The approved request; exits with the documented code when it is denied, expires or the wait runs out.
    func run() async throws -> RequestInfo {
        let interrupted = InterruptFlag()
        ForegroundChild.whileIdle { interrupted.set($0) }
        defer { ForegroundChild.whileIdle(nil) }
        let terminal = isatty(STDERR_FILENO) == 1 && ProcessInfo.processInfo.environment["TERM"] != "dumb"
        let started = Date()
        var current = request
        var lastPoll = Date.distantPast, lastLine = Date.distantPast
        var frame = 0
        while true {
            if let signal = interrupted.value {
                if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
                await sessions.withdraw(request.id)
                Output.note("request \(request.id) withdrawn")
                exit(128 + signal)
            }
            let elapsed = Date().timeIntervalSince(started)
            // Four looks a second: a decision (made through any broker) is acted on within a second of it.
            if Date().timeIntervalSince(lastPoll) >= 0.25 {
                lastPoll = Date()
                let decision: SessionClient.Decision
                do {
                    decision = try await sessions.decision(on: request.id)
                } catch {
                    if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
                    throw BrokerConnection.cliError(error)
                }
                switch decision {
                case .approved(let approved):
                    if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
                    Output.note("request \(request.id) approved by \(approved.votes.filter { $0.verdict == "approve" }.map(\.approver).joined(separator: ", ")) after \(Self.clock(elapsed))")
                    return approved
                case .denied(_, let denial):
                    if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
                    throw CLIError("request \(request.id) was denied by \(denial?.approver ?? "a reviewer")" + (denial?.comment.map { ": \($0)" } ?? ""),
                                   exitCode: ExitStatus.approvalDenied)
                case .over(let over):
                    if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
                    throw CLIError("request \(request.id) \(over.state.rawValue) before it was approved", exitCode: ExitStatus.approvalExpired)
                case .pending(let pending):
                    current = pending
                }
            }
            if elapsed >= TimeInterval(limit.seconds) {
                if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
                Output.note("still waiting after \(limit); request \(request.id) stays pending. Once approved: hoopctl exec \(request.target) --request \(request.id) -- ...")
                throw ExitStatus.pending
            }
            let status = "waiting for approval of request \(request.id) · \(current.approvals) of \(current.peopleNeeded) from \(current.approvers.joined(separator: ", ")) · \(Self.clock(elapsed))"
            if terminal {
                FileHandle.standardError.write(Data("\r\u{1B}[K\(Self.frames[frame % Self.frames.count]) \(status)".utf8))
                frame += 1
            } else if Date().timeIntervalSince(lastLine) >= 30 {
                lastLine = Date()
                Output.note(status)
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    static func clock(_ seconds: TimeInterval) -> String {
        let total = Int(seconds)
        return total >= 3600 ? String(format: "%ld:%02ld:%02ld", total / 3600, total / 60 % 60, total % 60)
            : String(format: "%ld:%02ld", total / 60, total % 60)
    }
}

/// Set from the signal relay's thread, read by the waiting loop.
final class InterruptFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var signal: Int32?
    func set(_ value: Int32) { lock.withLock { signal = value } }
    var value: Int32? { lock.withLock { signal } }
}
