/// What `hoopctl mcp` asks the broker about its own session: what the session sees, and what
/// the guardrails would decide for a statement. Only the session's own identity may ask.

/// `GET /v1/sessions/{id}/catalog`
public struct SessionCatalog: Codable, Sendable, Equatable {
    public struct Column: Codable, Sendable, Equatable {
        public var name: String
        public var type: String
        /// `view` (its view masks it), `detector` (text the in-flight detectors scan) or `clear`.
        public var masking: String

        public init(name: String, type: String, masking: String) {
            self.name = name
            self.type = type
            self.masking = masking
        }
    }

    public struct Table: Codable, Sendable, Equatable {
        /// As the session names it: `customers`, or `hoop_read_<version>_sales.orders` outside public.
        public var name: String
        /// The base table: `public.customers`.
        public var base: String
        public var columns: [Column]

        public init(name: String, base: String, columns: [Column]) {
            self.name = name
            self.base = base
            self.columns = columns
        }
    }

    public var target: String
    public var role: String
    public var tables: [Table]
    /// Caps on what one agent query returns (the policy's `agents:`).
    public var maxRows: Int
    public var maxBytes: Int

    public init(target: String, role: String, tables: [Table], maxRows: Int, maxBytes: Int) {
        self.target = target
        self.role = role
        self.tables = tables
        self.maxRows = maxRows
        self.maxBytes = maxBytes
    }
}

/// `POST /v1/sessions/{id}/explain`
public struct ExplainRequest: Codable, Sendable {
    public var sql: String
    public init(sql: String) { self.sql = sql }
}

public struct ExplainResult: Codable, Sendable, Equatable {
    public struct Statement: Codable, Sendable, Equatable {
        public var sql: String
        public var statementClass: String
        public var bounded: Bool?
        public var relations: [String]
        public var decision: String
        public var rule: String
        public var reason: String

        public init(sql: String, statementClass: String, bounded: Bool?, relations: [String], decision: String, rule: String, reason: String) {
            self.sql = sql
            self.statementClass = statementClass
            self.bounded = bounded
            self.relations = relations
            self.decision = decision
            self.rule = rule
            self.reason = reason
        }

        enum CodingKeys: String, CodingKey {
            case sql, bounded, relations, decision, rule, reason
            case statementClass = "class"
        }
    }

    /// allow, deny or review: the most severe of the statements'.
    public var decision: String
    public var statements: [Statement]
    /// What it would read and write: `read public.customers.email view`, `write public.orders`.
    public var lineage: [String]

    public init(decision: String, statements: [Statement], lineage: [String]) {
        self.decision = decision
        self.statements = statements
        self.lineage = lineage
    }
}
