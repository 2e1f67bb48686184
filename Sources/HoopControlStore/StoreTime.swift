import Foundation

/// Times as the control store keeps them: microseconds since the epoch, UTC (as the ledger's `ts`).
enum StoreTime {
    static func micros(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1_000_000).rounded()) }
    /// As a text parameter.
    static func text(_ date: Date) -> String { String(micros(date)) }
    static func date(_ text: String?) -> Date? { text.flatMap { Int64($0) }.map { Date(timeIntervalSince1970: Double($0) / 1_000_000) } }
}
