import Foundation
import HoopTestSupport
import XCTest

final class PolicyCheckCommandTests: XCTestCase {
    var directory: TemporaryDirectory!
    override func setUpWithError() throws { directory = try TemporaryDirectory("policy") }
    override func tearDown() { directory.remove() }

    func testErrorsPrintCompilerStyleAndExitTwo() throws {
        let path = directory.file("broken.yaml")
        try """
            version: 1
            admins: [user:root]
            targets:
              prod:
                admin_dsn_file: /etc/hoopctl/prod.dsn
                database: shop
                roles:
                  read: { tables: ["public.*"], max_ttl: 3x }
            access:
              - { who: group:nobody, target: prod, roles: [read] }
            """.write(toFile: path, atomically: true, encoding: .utf8)
        let result = try HoopctlBinary.run(["policy", "check", path])
        XCTAssertEqual(result.status, 2)
        XCTAssertEqual(result.stdout, """
            \(path):8:46: error: 'max_ttl' of role 'read' must be a duration like 90s, 30m, 8h or 1d, found '3x' (unknown unit 'x')
            \(path):10:12: error: unknown group 'nobody'; no groups are defined
            \(path): 2 errors; nothing was applied

            """)

        let json = try HoopctlBinary.run(["policy", "check", "--json", path])
        XCTAssertEqual(json.status, 2)
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        XCTAssertEqual(object?["valid"] as? Bool, false)
        let diagnostics = object?["diagnostics"] as? [[String: Any]]
        XCTAssertEqual(diagnostics?.map { "\($0["line"]!):\($0["column"]!)" }, ["8:46", "10:12"])
    }

    func testTheDefaultFileComesFromTheEnvironment() throws {
        let path = directory.file("policy.yaml")
        try "version: 1\nadmins: [user:root]\ntargets:\n  prod:\n    admin_dsn_env: PROD_DSN\n    database: shop\n    roles:\n      read: { tables: public.* }\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        let viaPolicy = try HoopctlBinary.run(["policy", "check"], environment: ["HOOPCTL_POLICY": path])
        XCTAssertEqual(viaPolicy.status, 0, viaPolicy.stdout)
        XCTAssertEqual(viaPolicy.stdout, "\(path): valid: 1 target, 1 role, 0 groups, 0 access rules, 0 masked columns, 0 detectors\n")
        let viaHome = try HoopctlBinary.run(["policy", "check"], environment: ["HOOPCTL_POLICY": "", "HOOPCTL_HOME": directory.path])
        XCTAssertEqual(viaHome.status, 0, viaHome.stdout)
    }

    func testAbsentFileIsAnErrorNotACrash() throws {
        let result = try HoopctlBinary.run(["policy", "check", directory.file("nope.yaml")])
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stdout.hasPrefix("\(directory.file("nope.yaml")):1:1: error: policy file does not exist"))
    }
}
