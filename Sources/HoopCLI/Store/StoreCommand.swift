import ArgumentParser

extension Hoopctl {
    struct StoreCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "store",
            abstract: "Set up the PostgreSQL control store that several brokers share, or move a SQLite ledger into it.",
            discussion: """
                A broker keeps its ledger in $HOOPCTL_HOME's SQLite file unless 'hoopctl serve --store-dsn-file FILE' \
                names a control store. The store's tables belong to a role of their own (the one 'store init' runs as); \
                the brokers' role may read and append, never change or remove a record.
                """,
            subcommands: [Init.self, Migrate.self]
        )
    }
}

/// The control store a command works on.
struct StoreOptions: ParsableArguments {
    @Option(help: ArgumentHelp("A file holding the control store's libpq connection string (mode 0600).", valueName: "file"),
            completion: .file())
    var dsnFile: String
}
