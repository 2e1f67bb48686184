import ArgumentParser
import HoopBrokerAPI

extension Hoopctl {
    struct Approve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Approve a request (reviewers named by the policy; never your own, unless the policy allows it).")

        @Argument(help: "The request id, or an unambiguous prefix of at least 4 characters.")
        var id: String

        @Option(help: "A note for the ledger and the requester.")
        var comment: String?

        @OptionGroup var broker: BrokerOptions

        func run() async throws {
            let request: RequestInfo = try await broker.call { try await $0.call(Endpoints.approve, id, RequestVote(comment: comment)) }
            if request.state == .approved, request.kind == "statement" {
                Output.line("approved request \(request.id): \(request.requester) may run the statement once in session \(request.session ?? "-") until \(request.approvalExpiresAt.map(RequestFormat.time) ?? "-")")
            } else if request.state == .approved {
                Output.line("approved request \(request.id): \(request.requester) may use role \(request.role) on \(request.target) until \(request.approvalExpiresAt.map(RequestFormat.time) ?? "-")")
            } else {
                Output.line("recorded your approval of request \(request.id): \(request.approvals) of \(request.peopleNeeded)\(request.everyGroup ? ", one from each of \(request.approvers.joined(separator: ", "))" : "")")
            }
        }
    }

    struct Deny: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Deny a request; the requester sees your reason.")

        @Argument(help: "The request id, or an unambiguous prefix of at least 4 characters.")
        var id: String

        @Option(help: "Why (required).")
        var reason: String

        @OptionGroup var broker: BrokerOptions

        func validate() throws {
            if reason.trimmingCharacters(in: .whitespaces).isEmpty { throw ValidationError("--reason must say why") }
        }

        func run() async throws {
            let request: RequestInfo = try await broker.call { try await $0.call(Endpoints.deny, id, RequestVote(comment: reason)) }
            Output.line("denied request \(request.id) of \(request.requester)")
        }
    }
}
