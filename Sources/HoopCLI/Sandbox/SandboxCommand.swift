import ArgumentParser
import HoopCommon
import HoopLedger
import HoopSandbox

extension Hoopctl {
    struct SandboxCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sandbox",
            abstract: "Run a throwaway local PostgreSQL with demo data and a demo policy.",
            discussion: """
                The sandbox is a PostgreSQL 15 cluster under $HOOPCTL_HOME/sandbox, on a free loopback \
                port and a private socket directory, with a 'shop' database (customers with personal \
                data, and orders), a demo policy that uses every policy feature, and a broker serving \
                it. When run as root, the cluster is owned by the 'postgres' OS user.
                """,
            subcommands: [Up.self, Down.self, Status.self, Env.self, Store.self]
        )
    }
}

extension Hoopctl.SandboxCommand {
    static var sandbox: Sandbox { Sandbox(home: StateDirectory.resolve()) }

    /// Sandbox changes go into the ledger like everything else.
    static func record(_ name: String, message: String, details: [String: String]) {
        let home = StateDirectory.resolve()
        do {
            // Beside a running broker, which counts its statements' lineage itself.
            let ledger = try Ledger(path: home.ledgerPath(), countsLineage: false)
            try ledger.append(LedgerEntry(EventBody(name: name, message: message, details: details),
                                          identity: "user:\(OSUser.name)", target: "sandbox"))
        } catch {
            Output.warning("could not record '\(name)' in the ledger: \(error)")
        }
    }
}
