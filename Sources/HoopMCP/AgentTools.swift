import Foundation
import HoopBrokerAPI
import HoopPostgres
import MCP

/// The tools `hoopctl mcp` offers, and how each answers.
enum AgentTools {
    static let all: [Tool] = [
        Tool(name: "query", description: """
            Run SQL on the database through hoopctl's guard proxy and get the rows as JSON (capped by policy: rows, counting the items packed in arrays and JSON values, and bytes of answer). \
            Personal data comes back masked; each column says how. A statement that needs a review fails with \
            a request id: once a person approves it, send exactly the same SQL again and it runs once.
            """,
             inputSchema: .object(["type": "object", "properties": .object(["sql": .object(["type": "string", "description": "The SQL text"])]),
                                   "required": .array(["sql"])])),
        Tool(name: "list_tables", description: "The tables this session can see (masking views), with their masked columns.",
             inputSchema: .object(["type": "object", "properties": .object([:])])),
        Tool(name: "describe_table", description: "The columns of a visible table: name, type, and whether each is masked.",
             inputSchema: .object(["type": "object", "properties": .object(["table": .object(["type": "string", "description": "A table name from list_tables"])]),
                                   "required": .array(["table"])])),
        Tool(name: "explain_policy", description: "What the guardrails would decide for SQL (allow, deny or review, and why), without running it.",
             inputSchema: .object(["type": "object", "properties": .object(["sql": .object(["type": "string", "description": "The SQL text"])]),
                                   "required": .array(["sql"])])),
    ]

    static func uri(_ target: String, _ table: String) -> String { "hoopctl://\(target)/tables/\(table)" }

    static func find(_ name: String, in catalog: SessionCatalog) -> SessionCatalog.Table? {
        catalog.tables.first { $0.name == name || $0.base == name || $0.base == "public.\(name)" }
    }

    static func describe(_ table: SessionCatalog.Table) -> [String: Any] {
        ["table": table.name, "base_table": table.base,
         "columns": table.columns.map { ["name": $0.name, "type": $0.type, "masked": $0.masking == "view", "masking": $0.masking] }]
    }

    static func json(_ object: [String: Any]) throws -> CallTool.Result {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return .init(content: [.text(text: String(decoding: data, as: UTF8.self), annotations: nil, _meta: nil)], isError: false)
    }

    static func json<T: Encodable>(_ value: T) throws -> CallTool.Result {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return .init(content: [.text(text: String(decoding: try encoder.encode(value), as: UTF8.self), annotations: nil, _meta: nil)], isError: false)
    }

    /// Runs the text with the simple query protocol (reviewers approve the exact text, values
    /// included) and returns at most the policy's rows and bytes.
    static func query(_ sql: String, connection: PostgresConnection, catalog: SessionCatalog, lineage: [String]) -> CallTool.Result {
        // How each column read comes back, by column name: `read public.customers.email view`.
        var masking: [String: String] = [:]
        for line in lineage {
            let parts = line.split(separator: " ")
            guard parts.count == 3, parts[0] == "read", let dot = parts[1].lastIndex(of: ".") else { continue }
            let column = String(parts[1][parts[1].index(after: dot)...]), how = String(parts[2])
            // The strongest protection named for the column wins: view, view-detect, detector, clear.
            let strength = ["clear": 0, "detector": 1, "view-detect": 2, "view": 3]
            if strength[how, default: 0] >= strength[masking[column] ?? "clear", default: 0] || masking[column] == nil { masking[column] = how }
        }
        do {
            let result = try connection.executeScript(sql)
            let columns = result.columns.map { ["name": $0, "masking": masking[$0] ?? "unknown"] }
            let masked = result.columns.filter { ["view", "view-detect", "detector"].contains(masking[$0] ?? "") }
            let caps = AnswerCaps(maxRows: catalog.maxRows, maxBytes: catalog.maxBytes)
            let data = try caps.answer(rows: result.rows) { rows, truncated, counted in
                var answer: [String: Any] = ["command": result.commandTag, "columns": columns, "rows": rows, "row_count": result.rows.count,
                                             "truncated": truncated, "masked_columns": masked]
                if truncated {
                    answer["note"] = "only \(rows.count) of \(result.rows.count) rows fit the policy's caps (\(catalog.maxRows) rows, counting "
                        + "the items packed in arrays and JSON; \(catalog.maxBytes) bytes of answer): aggregate less, or add a LIMIT"
                }
                return answer
            }
            return .init(content: [.text(text: String(decoding: data, as: UTF8.self), annotations: nil, _meta: nil)], isError: false)
        } catch let error as PostgresError {
            var text = error.message
            if let hint = error.hint { text += "\nHINT: \(hint)" }
            if let state = error.sqlState { text += "\nSQLSTATE \(state)" }
            return .init(content: [.text(text: text, annotations: nil, _meta: nil)], isError: true)
        } catch {
            return .init(content: [.text(text: "\(error)", annotations: nil, _meta: nil)], isError: true)
        }
    }
}
