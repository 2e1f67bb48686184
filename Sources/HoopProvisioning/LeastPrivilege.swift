import HoopPostgres

/// What the broker's admin role needs on a target, and no more: it is not a superuser.
///
/// - `CREATEROLE`: session roles, reader roles, `hoop_owner`, and the logins reviewed statements
///   run over; with it the broker grants itself membership in the roles it makes.
/// - `CREATE` on the database: the `hoop` schema and the masking view schemas.
/// - membership in `pg_signal_backend`: ending a revoked session's backends.
/// - membership in each role that owns tables in scope: granting `hoop_owner` what its views
///   read, and the write-limit triggers on those tables.
public enum LeastPrivilege {
    /// The statements that give `broker` exactly that on `database`, whose tables in scope are
    /// owned by `tableOwners`.
    public static func grants(broker: String, database: String, tableOwners: [String],
                              quote: (String) throws -> String) rethrows -> [String] {
        let role = try quote(broker)
        return ["ALTER ROLE \(role) NOSUPERUSER CREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS",
                "GRANT CREATE, CONNECT ON DATABASE \(try quote(database)) TO \(role)",
                "GRANT pg_signal_backend TO \(role)"]
            + (try tableOwners.map { "GRANT \(try quote($0)) TO \(role)" })
    }

    /// Each of `tables` with the role that owns it, and whether the connection's user acts as
    /// that role (is it, a member of it, or a superuser).
    public static func owners(_ db: PostgresConnection, tables: [CatalogTable]) throws -> [(table: String, owner: String, held: Bool)] {
        guard !tables.isEmpty else { return [] }
        return try db.execute("""
            SELECT t.s || '.' || t.r, pg_get_userbyid(c.relowner), pg_has_role(current_user, c.relowner, 'USAGE')::text
            FROM unnest($1::text[], $2::text[]) AS t(s, r)
            JOIN pg_namespace n ON n.nspname = t.s JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = t.r
            ORDER BY 1
            """, [textArray(tables.map(\.schema)), textArray(tables.map(\.name))]).rows.map { ($0[0] ?? "", $0[1] ?? "", $0[2] == "true") }
    }

    /// The roles that own `tables`, sorted.
    public static func tableOwners(_ db: PostgresConnection, tables: [CatalogTable]) throws -> [String] {
        Array(Set(try owners(db, tables: tables).map(\.owner))).sorted()
    }

    /// A text[] literal, passed as a parameter (never spliced into SQL).
    static func textArray(_ items: [String]) -> String {
        "{" + items.map { "\"" + $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }
            .joined(separator: ",") + "}"
    }
}
