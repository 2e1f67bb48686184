#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// ISO 8601 UTC timestamps from microseconds since the epoch, without a shared formatter.
public enum UTCTime {
    /// `2026-11-25T18:41:07Z`
    public static func seconds(_ micros: Int64) -> String {
        var parts = tm()
        var time = time_t(micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000)
        gmtime_r(&time, &parts)
        return "\(pad(Int(parts.tm_year) + 1900, 4))-\(pad(Int(parts.tm_mon) + 1, 2))-\(pad(Int(parts.tm_mday), 2))"
            + "T\(pad(Int(parts.tm_hour), 2)):\(pad(Int(parts.tm_min), 2)):\(pad(Int(parts.tm_sec), 2))Z"
    }

    /// `2026-11-25T18:41:07.123456Z`
    public static func micros(_ micros: Int64) -> String {
        let fraction = ((micros % 1_000_000) + 1_000_000) % 1_000_000
        return String(seconds(micros).dropLast()) + "." + pad(Int(fraction), 6) + "Z"
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }
}
