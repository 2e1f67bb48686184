@testable import HoopProvisioning
import HoopPolicy
import HoopSandbox
import XCTest

/// The SQL `target init` generates, without a database: names, grants and versions.
final class MaskingPlanTests: XCTestCase {
    let target: Target = {
        let yaml = DemoPolicy.yaml(user: "tester").replacingOccurrences(of: "tables: [\"public.orders\"]",
                                                                        with: "tables: [\"public.orders\", \"loadtest.*\", \"an_unusually_long_schema_name.*\"]")
        let result = PolicyLoader.parse(yaml: yaml, file: "policy.yaml", baseDirectory: "/nonexistent")
        return result.policy!.targets[DemoPolicy.targetName]!
    }()

    func table(_ schema: String, _ name: String, _ columns: [String], references: [RelationName] = [], sequences: [RelationName] = []) -> CatalogTable {
        var table = CatalogTable(schema: schema, name: name, kind: "r", rowSecurity: false,
                                 columns: columns.map { .init(name: $0, type: "text") })
        table.references = references
        table.sequences = sequences
        return table
    }

    var catalog: [CatalogTable] {
        [
            table("an_unusually_long_schema_name", "t", ["a"]),
            table("loadtest", "load_test", ["id", "v"], sequences: [RelationName(schema: "loadtest", name: "load_test_id_seq")]),
            table("loadtest", "orders", ["id"]),
            table("public", "customers", ["id", "email", "ssn", "card_number", "phone"]),
            table("public", "orders", ["id", "customer_id"], references: [RelationName(schema: "public", name: "customers")]),
        ]
    }

    func plan(_ role: String, catalog: [CatalogTable]? = nil) -> MaskingPlan {
        MaskingPlan(target: target, role: target.roles[role]!, catalog: catalog ?? self.catalog)
    }

    func testEachSourceSchemaHasItsOwnViewSchemaPublicFirst() throws {
        let write = plan("write")
        XCTAssertEqual(write.viewSchemas.first, write.schema, "public's views come first on the search_path")
        XCTAssertEqual(write.viewSchemas.count, 3)
        XCTAssertTrue(write.viewSchemas.contains(write.schema + "_loadtest"))
        let long = write.viewSchema(for: "an_unusually_long_schema_name")
        XCTAssertTrue(long.hasPrefix(write.schema + "_an_unusually_"), long)
        XCTAssertLessThanOrEqual(long.utf8.count, 63, "an identifier PostgreSQL keeps whole")
        XCTAssertNotEqual(long, write.viewSchema(for: "an_unusually_long_schema_name2"))
        // Two tables named orders, in two schemas, get two views.
        let statements = try write.statements(quote: { "\"\($0)\"" })
        XCTAssertTrue(statements.contains { $0.hasPrefix("CREATE VIEW \"\(write.schema)\".\"orders\"") })
        XCTAssertTrue(statements.contains { $0.hasPrefix("CREATE VIEW \"\(write.schema)_loadtest\".\"orders\"") })
    }

    func testAnInsertingRoleGetsInsertOnlyOnTablesThatRevealNothingMasked() throws {
        let statements = try plan("write").statements(quote: { "\"\($0)\"" })
        let baseGrants = statements.filter { $0.hasPrefix("GRANT") && $0.contains("TO \"hoop_r_") && !$0.contains("hoop_write_") && !$0.contains("FUNCTION") && !$0.contains("SCHEMA") }
        XCTAssertEqual(Set(baseGrants.map { $0.components(separatedBy: " TO ")[0] }), [
            "GRANT INSERT ON \"loadtest\".\"load_test\"",
            "GRANT INSERT ON \"loadtest\".\"orders\"",
            "GRANT INSERT ON \"an_unusually_long_schema_name\".\"t\"",
            "GRANT USAGE ON SEQUENCE \"loadtest\".\"load_test_id_seq\"",
        ], "public.orders points at masked customers: views only")
        XCTAssertTrue(statements.contains { $0.hasPrefix("GRANT USAGE ON SCHEMA \"loadtest\" TO") })
        XCTAssertFalse(statements.contains { $0.hasPrefix("GRANT USAGE ON SCHEMA \"public\"") })

        let read = try plan("read").statements(quote: { "\"\($0)\"" })
        XCTAssertFalse(read.contains { $0.contains("GRANT INSERT") || $0.contains("SEQUENCE") }, "a reading role writes nothing")
    }

    func testTheVersionFollowsForeignKeysAndSequences() {
        let base = plan("write").version
        var changed = catalog
        changed[1].sequences = []
        XCTAssertNotEqual(plan("write", catalog: changed).version, base)
        changed = catalog
        changed[2].references = [RelationName(schema: "public", name: "customers")]
        XCTAssertNotEqual(plan("write", catalog: changed).version, base)
        XCTAssertEqual(plan("write", catalog: catalog).version, base)
    }
}
