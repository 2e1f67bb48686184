import Foundation
import HoopBrokerAPI
import HoopBrokerClient
import HoopPostgres
import Logging
import MCP

/// `hoopctl mcp TARGET`: a Model Context Protocol server on stdio for one agent. It is a client
/// of the broker like `exec`: the agent's identity is the caller's, its session an ephemeral
/// masked role, and every statement goes through the guard proxy — masking, guardrails,
/// reviews and the ledger apply unchanged. The session starts when the MCP client says who it
/// is (its name and version go in the ledger) and ends when it disconnects.
public actor AgentGateway {
    public struct Settings: Sendable {
        public var target: String
        public var role: String?
        public var reason: String?
        public var ttlSeconds: Int?
        public var correlation: String?
        public var version: String

        public init(target: String, role: String?, reason: String?, ttlSeconds: Int?, correlation: String?, version: String) {
            self.target = target
            self.role = role
            self.reason = reason
            self.ttlSeconds = ttlSeconds
            self.correlation = correlation
            self.version = version
        }
    }

    let settings: Settings
    let broker: BrokerClient
    let sessions: SessionClient
    let logger: Logger
    private var grant: SessionGrant?
    private var keepAlive: Task<Void, Never>?
    private var connection: PostgresConnection?
    private var catalog: SessionCatalog?

    /// The CA a remote broker's proxy is checked against (nil on the broker's own host).
    let rootCertificate: String?

    public init(settings: Settings, broker: BrokerClient, rootCertificate: String? = nil) {
        self.settings = settings
        self.rootCertificate = rootCertificate
        self.broker = broker
        sessions = SessionClient(broker: broker)
        // stdout carries the protocol: anything the SDK logs goes to standard error.
        var logger = Logger(label: "hoopctl.mcp") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning
        self.logger = logger
    }

    /// Serves until the client disconnects, then ends the session.
    public func run() async throws {
        let server = Server(name: "hoopctl", version: settings.version, title: "hoopctl: governed PostgreSQL access",
                            instructions: Self.instructions,
                            capabilities: .init(resources: .init(subscribe: false, listChanged: false), tools: .init(listChanged: false)))
        await server.withMethodHandler(ListTools.self) { _ in .init(tools: AgentTools.all) }
        await server.withMethodHandler(CallTool.self) { [self] call in await self.capped(self.call(call.name, call.arguments ?? [:])) }
        await server.withMethodHandler(ListResources.self) { [self] _ in try await self.resources() }
        await server.withMethodHandler(ReadResource.self) { [self] read in try await self.read(read.uri) }
        try await server.start(transport: StdioTransport(logger: logger)) { [self] client, _ in
            try await self.open(agent: "\(client.name) \(client.version)")
        }
        await server.waitUntilCompleted()
        await end()
    }

    static let instructions = """
        PostgreSQL through hoopctl: you see masking views (personal data masked), every statement is checked by \
        guardrails and recorded. A statement that needs a review fails with the request id; a person approves it \
        (hoopctl approve ID) and you send the very same text again: it runs once.
        """

    // MARK: The session

    private func open(agent: String) async throws {
        guard grant == nil else { return }
        var request = SessionRequest(target: settings.target, role: settings.role, reason: settings.reason, ttlSeconds: settings.ttlSeconds,
                                     kind: "mcp", correlation: settings.correlation)
        request.agent = agent
        do {
            guard case .granted(let grant) = try await sessions.open(request) else {
                throw MCPError.invalidRequest("role \(settings.role ?? "(default)") on \(settings.target) needs an approval: open the session with 'hoopctl exec' after a reviewer approves, or choose a role that needs none")
            }
            self.grant = grant
            keepAlive = Task { [sessions] in await sessions.keepAlive(grant) }
            var settings = grant.connection
            settings.sslRootCert = rootCertificate
            connection = try PostgresConnection(conninfo: ConnectionString.conninfo(settings.parameters(applicationName: "hoopctl-mcp")))
            catalog = try await sessions.catalog(of: grant.session.id)
        } catch let error as MCPError {
            throw error
        } catch let error as BrokerClientError {
            throw MCPError.invalidRequest("hoopctl cannot open a session on \(settings.target): \(error)")
        } catch {
            await end()
            throw MCPError.internalError("hoopctl cannot connect to \(settings.target) through its guard proxy: \(error)")
        }
    }

    private func end() async {
        keepAlive?.cancel()
        connection = nil
        guard let grant else { return }
        self.grant = nil
        try? await sessions.end(grant.session.id, SessionEnd(exitCode: 0, endedBy: "mcp-disconnect"))
    }

    private func session() throws -> (SessionGrant, PostgresConnection, SessionCatalog) {
        guard let grant, let connection, let catalog else { throw MCPError.invalidRequest("the session is not open: initialize first") }
        return (grant, connection, catalog)
    }

    // MARK: Tools

    private func call(_ name: String, _ arguments: [String: Value]) async -> CallTool.Result {
        do {
            let (grant, connection, catalog) = try session()
            switch name {
            case "query":
                guard let sql = arguments["sql"]?.stringValue, !sql.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                    return Self.failure("query needs 'sql'")
                }
                let explained: ExplainResult = try await broker.call(Endpoints.explain, grant.session.id, ExplainRequest(sql: sql))
                return AgentTools.query(sql, connection: connection, catalog: catalog, lineage: explained.lineage)
            case "list_tables":
                return try AgentTools.json(["target": catalog.target, "role": catalog.role,
                                            "tables": catalog.tables.map { ["name": $0.name, "masked_columns": $0.columns.filter { $0.masking == "view" }.map(\.name)] }])
            case "describe_table":
                guard let table = arguments["table"]?.stringValue else { return Self.failure("describe_table needs 'table'") }
                guard let found = AgentTools.find(table, in: catalog) else {
                    return Self.failure("no table '\(table)' is visible to this session; list_tables shows what is")
                }
                return try AgentTools.json(AgentTools.describe(found))
            case "explain_policy":
                guard let sql = arguments["sql"]?.stringValue else { return Self.failure("explain_policy needs 'sql'") }
                let explained: ExplainResult = try await broker.call(Endpoints.explain, grant.session.id, ExplainRequest(sql: sql))
                return try AgentTools.json(explained)
            default:
                return Self.failure("unknown tool '\(name)'")
            }
        } catch let error as MCPError {
            return Self.failure(error.localizedDescription)
        } catch {
            return Self.failure("\(error)")
        }
    }

    /// Every tool result, errors included (PostgreSQL quotes the input back), within the
    /// session's byte cap as the agent receives it.
    private func capped(_ result: CallTool.Result) -> CallTool.Result {
        let caps = AnswerCaps(maxRows: catalog?.maxRows ?? 500, maxBytes: catalog?.maxBytes ?? 262_144)
        return .init(content: result.content.map { part in
            guard case .text(let text, let annotations, let meta) = part else { return part }
            return .text(text: caps.cut(text), annotations: annotations, _meta: meta)
        }, isError: result.isError)
    }

    static func failure(_ message: String) -> CallTool.Result {
        .init(content: [.text(text: message, annotations: nil, _meta: nil)], isError: true)
    }

    // MARK: Resources: the schema of each visible table

    private func resources() throws -> ListResources.Result {
        let (_, _, catalog) = try session()
        return .init(resources: catalog.tables.map {
            Resource(name: $0.name, uri: AgentTools.uri(catalog.target, $0.name), description: "Columns of \($0.name) as this session sees them",
                     mimeType: "application/json")
        })
    }

    private func read(_ uri: String) throws -> ReadResource.Result {
        let (_, _, catalog) = try session()
        guard let table = catalog.tables.first(where: { AgentTools.uri(catalog.target, $0.name) == uri }) else {
            throw MCPError.invalidParams("unknown resource \(uri)")
        }
        let data = try JSONSerialization.data(withJSONObject: AgentTools.describe(table), options: [.sortedKeys])
        return .init(contents: [.text(String(decoding: data, as: UTF8.self), uri: uri, mimeType: "application/json")])
    }
}
