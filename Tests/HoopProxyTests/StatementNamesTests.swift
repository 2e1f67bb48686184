@testable import HoopProxy
import XCTest

/// What a Bind or Execute runs is always the text the proxy analysed under that name.
final class StatementNamesTests: XCTestCase {
    func testNamedStatementsGetAFreshUpstreamNameEachTime() {
        var names = StatementNames<String>()
        let first = names.parse("s1", "SELECT 1")
        let second = names.parse("s1", "SELECT pg_sleep($1)")
        XCTAssertNotNil(first)
        XCTAssertNotEqual(first, second, "a re-Parse never reuses the upstream name, whatever the server did with the first")
        XCTAssertEqual(names.statement("s1")?.value, "SELECT pg_sleep($1)")
        let bound = names.bind(portal: "", statement: "s1")
        XCTAssertEqual(bound.statement, second)
        XCTAssertEqual(bound.value, "SELECT pg_sleep($1)")
        XCTAssertEqual(names.portal("").value, "SELECT pg_sleep($1)")
        XCTAssertEqual(names.parse("", "SELECT 2"), "", "the unnamed statement stays unnamed")
    }

    func testWhatTheProxyDidNotParseIsUnknownUpstream() {
        var names = StatementNames<String>()
        // A statement made with SQL PREPARE: the Bind names one that does not exist, so the server refuses it.
        let bound = names.bind(portal: "p", statement: "made_by_sql")
        XCTAssertEqual(bound.statement, StatementNames<String>.unknown)
        XCTAssertNil(bound.value)
        XCTAssertNil(names.portal("p").value)
        XCTAssertEqual(names.portal("a_sql_cursor").upstream, StatementNames<String>.unknown)
        // Describing and closing run nothing: a name the proxy did not make passes as it is.
        XCTAssertEqual(names.describe(portal: "a_sql_cursor"), "a_sql_cursor")
        XCTAssertEqual(names.close(statement: "made_by_sql"), "made_by_sql")
        XCTAssertEqual(names.close(statement: ""), "")
    }

    /// A change the server skipped (an error before its Sync) is taken back; a later change of
    /// the same name, sent before the error came, stays, and would itself undo to the older value.
    func testTakingBackAChangeKeepsALaterOne() {
        var names = StatementNames<String>()
        _ = names.parse("", "SET a")
        let failing = names.undoing(statement: "")
        _ = names.parse("", "SELECT 1/0")
        let later = names.undoing(statement: "")
        _ = names.parse("", "SELECT 'next batch'")
        let carried = names.carrying(failing, into: later)
        XCTAssertEqual(names.statement("")?.value, "SELECT 'next batch'")
        names.undo(carried)
        XCTAssertEqual(names.statement("")?.value, "SET a", "undoing the later change goes back past the skipped one")
    }

    func testPortalsAndClose() {
        var names = StatementNames<String>()
        _ = names.parse("s", "SELECT 1")
        let a = names.bind(portal: "c", statement: "s")
        let b = names.bind(portal: "c", statement: "s")
        XCTAssertNotEqual(a.portal, b.portal)
        XCTAssertEqual(names.portal("c").upstream, b.portal)
        XCTAssertEqual(names.describe(portal: "c"), b.portal)
        XCTAssertEqual(names.close(portal: "c"), b.portal)
        XCTAssertEqual(names.portal("c").upstream, StatementNames<String>.unknown)
        let upstream = names.statement("s")!.upstream
        XCTAssertEqual(names.close(statement: "s"), upstream)
        XCTAssertNil(names.statement("s"))
        names.discardStatements()
        XCTAssertTrue(names.statements.isEmpty)
    }

    func testTheNumberOfNamedStatementsIsBounded() {
        var names = StatementNames<Int>()
        for index in 0..<StatementNames<Int>.capacity { XCTAssertNotNil(names.parse("s\(index)", index)) }
        XCTAssertNil(names.parse("one more", 0))
        XCTAssertNotNil(names.parse("s0", 1), "an existing name can be parsed again")
    }
}

final class StartupSettingsTests: XCTestCase {
    func testSettingsThePolicyFixesAreRefusedAtLogin() {
        for parameters in [["statement_timeout": "0"], ["options": "-c statement_timeout=0"], ["options": "-cstatement_timeout=0"],
                           ["options": "--statement-timeout=0"], ["options": "-c Search_Path=hoop"], ["options": "-c role=postgres"],
                           ["options": "-c work_mem=4MB -c idle_in_transaction_session_timeout=0"], ["search_path": "hoop"],
                           ["standard_conforming_strings": "off"], ["client_encoding": "SJIS"],
                           ["options": "-c backslash_quote=on"], ["options": "-c default_transaction_read_only=off"]] {
            XCTAssertNotNil(StartupSettings.refusal(of: parameters), "\(parameters)")
        }
        for parameters in [["options": "-c work_mem=4MB"], ["application_name": "x"], ["client_encoding": "utf-8"],
                           ["standard_conforming_strings": "on"], ["options": "-c client_encoding=UTF8 --work-mem=1MB"], ["_pq_.x": "1"]] {
            XCTAssertNil(StartupSettings.refusal(of: parameters), "\(parameters)")
        }
        XCTAssertNotNil(StartupSettings.refusal(of: ["options": "-B 1"]), "switches other than settings")
        XCTAssertNotNil(StartupSettings.refusal(of: ["options": "-c"]))
    }

    func testOptionsAreSplitAsTheServerSplitsThem() {
        let settings = StartupSettings.settings(inOptions: "-c a=1  -c b=two\\ words --c-d=3 -ce=4")
        XCTAssertEqual(settings?.map { "\($0.0)=\($0.1)" }, ["a=1", "b=two words", "c-d=3", "e=4"])
        XCTAssertNil(StartupSettings.settings(inOptions: "-c noequals"))
    }
}

final class ConnectionLimitsTests: XCTestCase {
    func testEachCallerHasItsOwnLimitAndIsReportedOnce() {
        let limits = ConnectionLimits<UInt32>(perCaller: 2, total: 3)
        XCTAssertEqual(limits.admit(1), .admitted)
        XCTAssertEqual(limits.admit(1), .admitted)
        XCTAssertEqual(limits.admit(1), .refused(limit: "2 connections per caller", firstTime: true))
        XCTAssertEqual(limits.admit(1), .refused(limit: "2 connections per caller", firstTime: false))
        XCTAssertEqual(limits.admit(2), .admitted, "another caller is served")
        XCTAssertEqual(limits.admit(3), .refused(limit: "3 connections in all", firstTime: true))
        limits.release(1)
        XCTAssertEqual(limits.admit(1), .admitted)
        limits.release(1)
        limits.release(1)
        XCTAssertEqual(limits.admit(1), .admitted)
        XCTAssertEqual(limits.admit(1), .admitted)
        XCTAssertEqual(limits.admit(1), .refused(limit: "2 connections per caller", firstTime: true), "reported again once it was under")
    }
}
