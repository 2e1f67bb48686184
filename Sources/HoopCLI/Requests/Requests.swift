import ArgumentParser
import HoopBrokerAPI

extension Hoopctl {
    struct Requests: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List requests, or show one.",
            subcommands: [List.self, Show.self],
            defaultSubcommand: List.self
        )
    }
}

extension Hoopctl.Requests {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Requests that wait for you or on you (the default), yours, or all you may see.")

        enum Filter: String, EnumerableFlag {
            case pending, mine, all
        }

        @Flag(help: "Which requests.")
        var filter: Filter = .pending

        @Flag(help: "One JSON object per line.")
        var json = false

        @OptionGroup var broker: BrokerOptions

        func run() async throws {
            let list: RequestList = try await broker.call { try await $0.call(Endpoints.listRequests, nil, RequestListing(filter: filter.rawValue)) }
            if json {
                for request in list.requests { Output.line(try RequestFormat.json(request)) }
                return
            }
            guard !list.requests.isEmpty else {
                Output.line(Output.dim(filter == .pending ? "no pending requests" : "no requests"))
                return
            }
            Output.table(header: ["REQUEST", "REQUESTER", "TARGET", "ASKS FOR", "STATE", "CREATED", "REASON"],
                         rows: list.requests.map {
                             [$0.id, $0.requester, $0.target, RequestFormat.subject($0), RequestFormat.state($0),
                              RequestFormat.time($0.createdAt), $0.reason]
                         })
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one request with its votes.")

        @Argument(help: "The request id, or an unambiguous prefix of at least 4 characters.")
        var id: String

        @Flag(help: "Print one JSON object.")
        var json = false

        @OptionGroup var broker: BrokerOptions

        func run() async throws {
            let request: RequestInfo = try await broker.call { try await $0.call(Endpoints.showRequest, id) }
            if json {
                Output.line(try RequestFormat.json(request))
                return
            }
            for (label, value) in RequestFormat.details(request) {
                Output.line(Output.bold(label.padding(toLength: 13, withPad: " ", startingAt: 0)) + value)
            }
        }
    }
}
