import HoopBrokerAPI
import HoopDetectors
import HoopPolicy
import HoopPostgres

/// `hoopctl target doctor`: what would let a session role get around masking or guardrails.
/// `bypass` findings mean a session could read an unmasked value; sessions are then refused
/// (unless the policy allows it). `risk` findings weaken a guarantee without exposing values.
public enum TargetDoctor {
    public typealias Finding = DoctorReport.Finding

    public static func examine(_ db: PostgresConnection, target: Target) throws -> [Finding] {
        let catalog = try Catalog.tables(db)
        let inScope = Dictionary(grouping: target.roles.values.flatMap { Catalog.inScope(catalog, of: $0) }, by: \.qualifiedName)
            .compactMap { $0.value.first }.sorted { $0.qualifiedName < $1.qualifiedName }
        let maskedTables = Set(target.masking.keys.map { "\($0.schema).\($0.table)" })
        var findings: [Finding] = []

        // 1. PUBLIC grants on tables in scope, table-wide or on a column.
        let publicGrants = try db.execute("""
            SELECT n.nspname, c.relname, a.privilege_type
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a
            WHERE a.grantee = 0 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
            UNION
            SELECT n.nspname, c.relname, a.privilege_type || ' (' || att.attname || ')'
            FROM pg_attribute att JOIN pg_class c ON c.oid = att.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace,
                 aclexplode(att.attacl) a
            WHERE a.grantee = 0
            ORDER BY 1, 2, 3
            """).rows
        for row in publicGrants {
            let name = "\(row[0] ?? "").\(row[1] ?? "")"
            guard inScope.contains(where: { $0.qualifiedName == name }) else { continue }
            let privilege = row[2] ?? ""
            let exposes = maskedTables.contains(name) && privilege.hasPrefix("SELECT")
            findings.append(Finding(severity: exposes ? .bypass : .risk, check: "public-grant", object: name,
                                    message: "PUBLIC has \(privilege) on \(name)\(exposes ? ", which has masked columns" : ""); sessions must reach it only through masking views (REVOKE ALL ON \(name) FROM PUBLIC)"))
        }

        // 2. Views other than ours that read a masked column and that PUBLIC may read.
        let views = try db.execute("""
            SELECT DISTINCT vn.nspname, v.relname, tn.nspname, t.relname, att.attname
            FROM pg_depend d
            JOIN pg_rewrite r ON r.oid = d.objid
            JOIN pg_class v ON v.oid = r.ev_class
            JOIN pg_namespace vn ON vn.oid = v.relnamespace
            JOIN pg_class t ON t.oid = d.refobjid
            JOIN pg_namespace tn ON tn.oid = t.relnamespace
            JOIN pg_attribute att ON att.attrelid = t.oid AND att.attnum = d.refobjsubid
            WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass AND v.oid <> t.oid
              AND vn.nspname NOT LIKE 'hoop\\_%'
              AND EXISTS (SELECT 1 FROM aclexplode(v.relacl) a WHERE a.grantee = 0 AND a.privilege_type = 'SELECT')
            ORDER BY 1, 2, 5
            """).rows
        for row in views {
            let column = ColumnName(schema: row[2] ?? "", table: row[3] ?? "", column: row[4] ?? "")
            guard target.masking[column] != nil else { continue }
            let view = "\(row[0] ?? "").\(row[1] ?? "")"
            findings.append(Finding(severity: .bypass, check: "public-view", object: view,
                                    message: "view \(view) reads masked column \(column) and PUBLIC may select from it"))
        }

        // 3. SECURITY DEFINER functions anyone may call: a bypass when their owner can read a
        //    masked table, a risk when a non-admin role owns them.
        let definers = try db.execute("""
            SELECT n.nspname, p.proname, pg_get_function_identity_arguments(p.oid), r.rolname, r.rolsuper::text,
                   p.oid::regprocedure::text
            FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_roles r ON r.oid = p.proowner
            WHERE p.prosecdef AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'hoop')
              AND (p.proacl IS NULL OR EXISTS (SELECT 1 FROM aclexplode(p.proacl) a WHERE a.grantee = 0))
            ORDER BY 1, 2
            """).rows
        for row in definers {
            let function = "\(row[0] ?? "").\(row[1] ?? "")(\(row[2] ?? ""))", owner = row[3] ?? ""
            let superuser = row[4] == "true"
            var readable: [String] = []
            for table in maskedTables.sorted() {
                let canRead = superuser ? "t" : try db.execute("SELECT has_table_privilege($1, $2, 'SELECT')::text", [owner, table]).scalar
                if canRead == "t" || canRead == "true" { readable.append(table) }
            }
            if !readable.isEmpty {
                findings.append(Finding(severity: .bypass, check: "security-definer", object: function,
                                        message: "SECURITY DEFINER function \(function) runs as \(owner), who can read \(readable.joined(separator: ", ")), and PUBLIC may execute it"))
            } else if !superuser, owner != MaskingFunctions.ownerRole {
                findings.append(Finding(severity: .risk, check: "security-definer", object: function,
                                        message: "SECURITY DEFINER function \(function) is owned by non-admin role \(owner) and PUBLIC may execute it"))
            }
        }

        // 4. Operators in schemas PUBLIC can use, owned by non-admin roles (trojans for admins' queries).
        let operators = try db.execute("""
            SELECT n.nspname, o.oprname, format_type(o.oprleft, NULL), format_type(o.oprright, NULL), r.rolname
            FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace JOIN pg_roles r ON r.oid = o.oprowner
            WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND NOT r.rolsuper
              AND has_schema_privilege('public', n.oid, 'USAGE')
            ORDER BY 1, 2
            """).rows
        for row in operators {
            let name = "\(row[0] ?? "").\(row[1] ?? "")(\(row[2] ?? ""), \(row[3] ?? ""))"
            findings.append(Finding(severity: .risk, check: "operator", object: name,
                                    message: "operator \(name) in a schema everyone can use is owned by non-admin role \(row[4] ?? "")"))
        }

        // 5. Tables in scope without a view of the current version (not initialised, or the policy
        //    or the schema changed since): sessions could not start.
        let current = try MaskingInstaller.currentSchemas(db, target: target).schemas
        for (role, schema) in current.sorted(by: { $0.key < $1.key }) where schema == nil {
            findings.append(Finding(severity: .risk, check: "views", object: "role \(role)",
                                    message: "role \(role) has no masking views for the current policy and schema: run 'hoopctl target init \(target.name)'"))
        }

        // 6. TEMP: sessions could create temporary functions and tables.
        let temp = try db.execute("""
            SELECT (d.datacl IS NULL OR EXISTS (SELECT 1 FROM aclexplode(d.datacl) a WHERE a.grantee = 0 AND a.privilege_type = 'TEMPORARY'))::text
            FROM pg_database d WHERE d.datname = current_database()
            """).scalar
        if temp == "true" {
            findings.append(Finding(severity: .risk, check: "temp", object: "database \(target.database)",
                                    message: "PUBLIC may create temporary objects in \(target.database) (REVOKE TEMPORARY ON DATABASE \(target.database) FROM PUBLIC)"))
        }

        // 7. Row-level security on tables in scope is evaluated as the view owner, not the session.
        for table in inScope where table.rowSecurity {
            findings.append(Finding(severity: .risk, check: "row-security", object: table.qualifiedName,
                                    message: "\(table.qualifiedName) has row-level security; through masking views its policies apply to hoop_owner, not to the session"))
        }

        // 8. Session and reader roles must hold nothing but what hoopctl granted.
        let memberships = try db.execute("""
            SELECT member.rolname, granted.rolname
            FROM pg_auth_members m JOIN pg_roles member ON member.oid = m.member JOIN pg_roles granted ON granted.oid = m.roleid
            WHERE (member.rolname LIKE 'hoop\\_s\\_%' OR member.rolname LIKE 'hoop\\_r\\_%')
              AND granted.rolname NOT LIKE 'hoop\\_r\\_%'
            ORDER BY 1, 2
            """).rows
        for row in memberships {
            findings.append(Finding(severity: .bypass, check: "membership", object: row[0] ?? "",
                                    message: "\(row[0] ?? "") is a member of \(row[1] ?? ""), which hoopctl never grants"))
        }
        let owner = try db.execute("SELECT rolsuper::text, rolbypassrls::text FROM pg_roles WHERE rolname = $1", [MaskingFunctions.ownerRole]).rows.first
        if let owner, owner[0] == "true" || owner[1] == "true" {
            findings.append(Finding(severity: .risk, check: "owner", object: MaskingFunctions.ownerRole,
                                    message: "hoop_owner is a superuser or bypasses row-level security; it should hold only what its views read"))
        }
        // 10. A masked column the catalog no longer has: renamed (or dropped and added again),
        //     its values would come back in clear under the new name.
        for column in target.masking.keys.sorted() {
            guard let table = catalog.first(where: { $0.schema == column.schema && $0.name == column.table }) else {
                findings.append(Finding(severity: .bypass, check: "masked-column", object: column.description,
                                        message: "the policy masks \(column), but \(column.schema).\(column.table) is not there: renamed? "
                                            + "mask the table by its new name"))
                continue
            }
            if !table.columns.contains(where: { $0.name == column.column }) {
                findings.append(Finding(severity: .bypass, check: "masked-column", object: column.description,
                                        message: "the policy masks \(column), but \(table.qualifiedName) has no column \(column.column): renamed? "
                                            + "mask the column by its new name"))
            }
        }

        // 11. A login made for a reviewed statement that outlived its run.
        for row in try db.execute("SELECT rolname::text, rolcanlogin::text FROM pg_roles WHERE rolname LIKE 'hoop\\_rv\\_%' ORDER BY 1").rows {
            findings.append(Finding(severity: .risk, check: "review-login", object: row[0] ?? "",
                                    message: "\(row[0] ?? "") was made for one reviewed statement and is still there\(row[1] == "true" ? " (it can log in)" : ""): "
                                        + "DROP OWNED BY and DROP ROLE it"))
        }

        // 13. A mask that reads a value's text, on a type whose text the session's settings decide.
        for refused in MaskingPlan.settingDependentMasks(target: target, catalog: catalog) {
            findings.append(Finding(severity: .risk, check: "masked-type", object: refused.column.description,
                                    message: "\(refused.column) is \(refused.type), whose text a session's settings decide: \(refused.mask) would "
                                        + "keep or hash characters the session chooses, so target init refuses it; mask it with redact or null"))
        }

        // 12. Free text that only the in-flight detectors mask: a transformation in SQL gets past
        //     them. What they find in a sample, by kind (counts, never values).
        findings += try undeclaredText(db, target: target, tables: inScope)

        // 9. The broker's own admin role: a superuser turns any mistake into every privilege of the cluster.
        if let me = try db.execute("SELECT current_user::text, rolsuper::text FROM pg_roles WHERE rolname = current_user").rows.first,
           me[1] == "true" {
            let owners = try LeastPrivilege.tableOwners(db, tables: inScope)
            let grants = try LeastPrivilege.grants(broker: "hoop_broker", database: target.database, tableOwners: owners, quote: db.quoteIdentifier)
            findings.append(Finding(severity: .risk, check: "admin-superuser", object: "role \(me[0] ?? "")",
                                    message: "the admin DSN of \(target.name) logs in as superuser \(me[0] ?? ""); give the broker a role that is not one: "
                                        + "CREATE ROLE hoop_broker LOGIN PASSWORD '...'; " + grants.joined(separator: "; ")))
        }
        return findings
    }

    /// Types whose values are free text a session could transform.
    static func isText(_ type: String) -> Bool {
        ["text", "character varying", "character", "json", "jsonb", "xml", "citext", "name"].contains { type == $0 || type.hasPrefix($0 + "(") }
    }

    static let sampleRows = 1000

    private static func undeclaredText(_ db: PostgresConnection, target: Target, tables: [CatalogTable]) throws -> [Finding] {
        let engine = target.detectors.isEmpty ? nil : try? DetectorEngine(detectors: target.detectors)
        var findings: [Finding] = []
        for table in tables {
            for column in table.columns where isText(column.type)
            && target.masking[ColumnName(schema: table.schema, table: table.name, column: column.name)] == nil {
                let name = "\(table.qualifiedName).\(column.name)"
                var found = "no detectors to sample it with"
                if let engine {
                    let sample = try db.execute("SELECT \(try db.quoteIdentifier(column.name))::text FROM \(try db.quoteQualified(table.schema, table.name)) LIMIT \(sampleRows)")
                    var counts: [String: Int] = [:]
                    for row in sample.rows {
                        guard let value = row[0] ?? nil else { continue }
                        for match in engine.matches(in: Array(value.utf8)) { counts[match.detector, default: 0] += 1 }
                    }
                    let rows = sample.rows.count == 1 ? "1 row" : "\(sample.rows.count) rows"
                    found = counts.isEmpty ? "the detectors find nothing in \(rows)"
                        : "the detectors find " + counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ") + " in \(rows)"
                }
                findings.append(Finding(severity: .risk, check: "free-text", object: name,
                                        message: "\(name) is \(column.type) that only the in-flight detectors mask (a transformation in SQL gets past them); "
                                            + "\(found): mask it, or declare it (\(name): detect)"))
            }
        }
        return findings
    }
}
