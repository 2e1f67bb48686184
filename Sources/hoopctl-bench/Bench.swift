import Foundation
import HoopCommon
import GRDB
import HoopLedger

/// `make bench`: the figures the issues ask for, each next to a baseline measured in the same run.
/// Run it from a release build; it times the real `hoopctl` binary beside it.
@main
enum Bench {
    static func main() throws {
        var sections = Array(CommandLine.arguments.dropFirst())
        // --keep leaves the scratch files (the 1M-record ledger, ...) for a closer look.
        let keep = sections.contains("--keep")
        sections.removeAll { $0 == "--keep" }
        let scratch = try TemporaryScratch()
        defer { if keep { print("kept \(scratch.path)") } else { scratch.remove() } }
        print("hoopctl benchmark · \(ProcessInfo.processInfo.activeProcessorCount) cores · \(Date())")
        print("hoopctl binary: \(HoopctlPath.path)\n")
        if sections.isEmpty || sections.contains("ledger") {
            try LedgerBench(scratch: scratch).run()
        }
        if sections.contains("append1") {
            // Hidden: appends alone, per batch size, to profile the ledger's per-record cost.
            let entry = LedgerEntry(StatementBody(sql: "SELECT abalance FROM pgbench_accounts WHERE aid = $1", fingerprint: "0123456789abcdef",
                                                  statementClass: "read", decision: "allow", via: "query"),
                                    identity: "user:bench", target: "prod", session: "0123456789ab")
            for indexes in [true, false] {
                let path = scratch.file("append1-\(indexes).sqlite")
                let ledger = try Ledger(path: path, durability: .batched(interval: .milliseconds(2000)))
                if !indexes {
                    try DatabaseQueue(path: path).write { try $0.execute(sql: "DROP INDEX records_ts; DROP INDEX records_identity_ts; DROP INDEX records_session") }
                }
                for batch in [1, 8, 64] {
                    let entries = Array(repeating: entry, count: batch)
                    let seconds = try Clock.seconds { for _ in 0..<(60_000 / batch) { try ledger.append(entries) } }
                    print("appends in batches of \(batch)\(indexes ? "" : ", no secondary index"): \(format(seconds / 60_000 * 1e6, decimals: 1)) µs per record")
                }
            }
        }
        if sections.first == "store-append", sections.count == 4, let records = Int(sections[2]), let batch = Int(sections[3]) {
            // A second process appending to the control store (one "broker" of StoreBench's two).
            try StoreBench.appendChild(dsnFile: sections[1], records: records, batch: batch)
            return
        }
        if sections.contains("store") {
            // Hidden: the control store's figures alone (issue 19), on a 1M-record ledger built for them.
            let big = scratch.file("big.sqlite")
            _ = try LedgerBench(scratch: scratch).buildBigLedger(at: big)
            try StoreBench(scratch: scratch, bigLedger: big, sqliteAppendRate: 0).run()
        }
        if sections.contains("entry1") {
            // Hidden: a statement record's body encoded alone (the event loop's share of a record).
            let seconds = Clock.seconds {
                var bytes = 0
                for n in 0..<200_000 {
                    var body = StatementBody(sql: "SELECT abalance FROM pgbench_accounts WHERE aid = $1", fingerprint: "0123456789abcdef",
                                             statementClass: "read", decision: "allow", via: "query", relations: ["public.pgbench_accounts"],
                                             lineage: ["read public.pgbench_accounts.abalance clear", "read public.pgbench_accounts.aid clear"])
                    body.preview = "SELECT abalance FROM pgbench_accounts WHERE aid = \(n)"
                    bytes += LedgerEntry(body, identity: "user:bench", target: "prod", session: "0123456789ab").body.utf8.count
                }
                precondition(bytes > 0)
            }
            print("a statement record's entry: \(format(seconds / 200_000 * 1e6, decimals: 2)) µs")
        }
        if sections.isEmpty || sections.contains("exec") {
            try ExecBench(scratch: scratch).run()
        }
        if sections.isEmpty || sections.contains("proxy") {
            try ProxyBench(scratch: scratch).run()
        }
        if sections.first == "relay-floor", sections.count == 4, let port = Int(sections[2]) {
            try RelayFloor.serve(upstreamDirectory: sections[1], port: port, listenDirectory: sections[3])
        }
        if sections.contains("proxy-cpu") {
            // Hidden: the proxy's pgbench runs alone, while working on its cost.
            try ProxyBench(scratch: scratch, pgbenchOnly: true).run()
        }
    }
}

/// A directory for the run's files, removed at the end.
struct TemporaryScratch {
    let path: String
    init() throws {
        path = "/tmp/hoopctl-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func file(_ name: String) -> String { "\(path)/\(name)" }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

enum HoopctlPath {
    static var path: String {
        let me = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
        return me.deletingLastPathComponent().appendingPathComponent("hoopctl").path
    }
}

/// Wall-clock timing.
enum Clock {
    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    /// Median wall time of `runs` runs of a command, in milliseconds.
    static func medianMilliseconds(runs: Int, _ command: ChildProcess) throws -> Double {
        var times: [Double] = []
        for _ in 0..<runs {
            var result: ChildProcess.Result?
            times.append(try seconds { result = try command.run() } * 1000)
            guard result?.succeeded == true else { throw ChildProcess.Failure(command: command.commandLine, result: result!) }
        }
        return times.sorted()[times.count / 2]
    }
}

/// A fixed-width results table.
struct Report {
    var rows: [[String]] = []
    let header: [String]

    mutating func add(_ cells: String...) { rows.append(cells) }

    func print() {
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in i == 0 ? cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
                : String(repeating: " ", count: widths[i] - cell.count) + cell }.joined(separator: "  ")
        }
        Swift.print(line(header))
        Swift.print(String(repeating: "-", count: widths.reduce(0, +) + 2 * (widths.count - 1)))
        for row in rows { Swift.print(line(row)) }
        Swift.print()
    }
}

func format(_ value: Double, decimals: Int = 0) -> String { String(format: "%.\(decimals)f", value) }
