import ArgumentParser
import Foundation
import HoopCommon

/// `--since 1h` (back from now) or `--since 2026-11-25T14:00` (a point in time).
struct TimeArgument: ExpressibleByArgument {
    let date: Date

    init?(argument: String) {
        if let span = try? TimeSpan(parsing: argument) {
            date = Date(timeIntervalSinceNow: -TimeInterval(span.seconds))
            return
        }
        guard let parsed = TimeArgument.parseDate(argument) else { return nil }
        date = parsed
    }

    static func parseDate(_ text: String) -> Date? {
        let iso = ISO8601DateFormatter()
        for options: ISO8601DateFormatter.Options in [[.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime]] {
            iso.formatOptions = options
            if let date = iso.date(from: text) { return date }
        }
        let local = DateFormatter()
        local.locale = Locale(identifier: "en_US_POSIX")
        local.timeZone = TimeZone.current
        for format in ["yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd'T'HH:mm", "yyyy-MM-dd HH:mm", "yyyy-MM-dd"] {
            local.dateFormat = format
            if let date = local.date(from: text) { return date }
        }
        return nil
    }

    static var defaultCompletionKind: CompletionKind { .default }
}
