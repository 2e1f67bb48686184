import Foundation
@testable import HoopBroker
import HoopBrokerAPI
import XCTest

/// A webhook's text as its sink (Slack's mrkdwn) reads it: what others wrote is shown, never
/// obeyed — no mention, no link, no line of its own, no control character.
final class NotifierTests: XCTestCase {
    func request(reason: String, requester: String = "user:bob") -> RequestInfo {
        RequestInfo(id: "0123456789ab", kind: "access", requester: requester, target: "sandbox", role: "write", reason: reason,
                    ttlSeconds: 900, createdAt: Date(), expiresAt: Date(), state: .pending, approvers: ["group:dba"], needed: 1,
                    everyGroup: false, votes: [], approvalExpiresAt: nil, session: nil, binding: "")
    }

    func text(_ request: RequestInfo) throws -> String {
        let payload = try Notifier.payload(event: .requestCreated, request: request)
        return try XCTUnwrap((try JSONSerialization.jsonObject(with: payload) as? [String: Any])?["text"] as? String)
    }

    func testOthersTextCannotMentionLinkOrStartALine() throws {
        let text = try text(request(reason: "x\" <!channel> <@U024BE7LH> <#C1|x> <https://evil.example|docs> & co\n\nSecurity: ok\r\u{1b}[2J<\u{301}!here>"))
        for forbidden in ["<", ">", "\n", "\r", "\u{1b}", " & "] {
            XCTAssertFalse(text.contains(forbidden), "\(forbidden.debugDescription) in \(text.debugDescription)")
        }
        XCTAssertTrue(text.contains("&lt;!channel&gt; &lt;@U024BE7LH&gt;"), text)
        XCTAssertTrue(text.contains("&amp; co\\n\\nSecurity: ok\\x0d\\x1b[2J&lt"), text)
        XCTAssertTrue(text.hasPrefix("user:bob asks for role write on sandbox"), text)
    }

    func testPlainTextStaysAsItIs() throws {
        XCTAssertTrue(try text(request(reason: "fix order 2 (ticket OPS-12)")).contains("\"fix order 2 (ticket OPS-12)\""))
    }
}
