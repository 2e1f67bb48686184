/// Why the sandbox could not be set up, with what to do about it.
public enum SandboxError: Error, CustomStringConvertible {
    case postgresNotInstalled
    case noPostgresUser
    case notCreated(home: String)
    case noFreePort
    case startFailed(log: String)
    case command(String)

    public var description: String {
        switch self {
        case .postgresNotInstalled:
            return "PostgreSQL server programs (initdb, pg_ctl) not found; install Debian's 'postgresql' package or set HOOPCTL_PG_BINDIR"
        case .noPostgresUser:
            return "running as root, but there is no 'postgres' OS user to own the cluster (initdb refuses root); install Debian's 'postgresql' package"
        case .notCreated(let home):
            return "no sandbox in \(home); run 'hoopctl sandbox up'"
        case .noFreePort:
            return "no free TCP port on 127.0.0.1"
        case .startFailed(let log):
            return "PostgreSQL did not start; the end of its log:\n\(log)"
        case .command(let message):
            return message
        }
    }
}
