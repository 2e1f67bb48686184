@testable import HoopProxy
import XCTest

/// An Execute's columns come from its own portal's Describe or its own statement's, never from
/// one that described something else under the same name.
final class ResultColumnsTests: XCTestCase {
    func testAPortalDescribedSinceItsBindNamesItsColumnsWhenTheAnswerComes() {
        var columns = ResultColumns()
        columns.parse("")
        columns.bind(portal: "", statement: "")
        columns.describe(statement: false, name: "", group: 0)
        let source = columns.execute(portal: "")  // pipelined: sent before the answer came
        columns.described(["id"])
        XCTAssertEqual(columns.columns(source), ["id"])
    }

    /// psycopg: an unnamed portal described for one statement, then bound to another that is
    /// executed without a Describe of its own (the stale answer used to be taken).
    func testARebindForgetsThePortalsOldDescription() {
        var columns = ResultColumns()
        columns.bind(portal: "", statement: "")
        columns.describe(statement: false, name: "", group: 0)
        columns.described(["id"])
        columns.bind(portal: "", statement: "prepared")
        XCTAssertNil(columns.execute(portal: ""))
    }

    func testAStatementDescribedOnceNamesTheColumnsOfEachExecute() {
        var columns = ResultColumns()
        columns.parse("P_0")
        columns.describe(statement: true, name: "P_0", group: 0)
        columns.described(["email"])
        for _ in 0..<3 {
            columns.bind(portal: "", statement: "P_0")
            XCTAssertEqual(columns.columns(columns.execute(portal: "")), ["email"])
        }
        // Prepared again under the same name: the old description is not its.
        columns.parse("P_0")
        columns.bind(portal: "", statement: "P_0")
        XCTAssertNil(columns.execute(portal: ""))
    }

    /// An error skips the Describes up to the Sync: their answers never come, and the next
    /// answer is not taken for theirs.
    func testDescribesSkippedByAnErrorAreDroppedAtTheirSync() {
        var columns = ResultColumns()
        columns.describe(statement: false, name: "a", group: 0)  // skipped
        columns.ready(answered: 1)
        columns.bind(portal: "b", statement: "")
        columns.describe(statement: false, name: "b", group: 1)
        columns.described(["b1"])
        XCTAssertEqual(columns.columns(columns.execute(portal: "b")), ["b1"])
    }
}
