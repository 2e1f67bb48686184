import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// libpg_query recurses once per level of a statement's tree (parse, normalize, fingerprint,
/// JSON output) and has no depth guard of its own: `SELECT 1+1+...+1` with 40,000 terms ran
/// a thread's 8 MiB stack out and took the whole broker down. A statement nests at most one
/// level per two bytes of text, so its size bounds its depth: small texts are analysed where
/// they arrive, larger ones on a thread whose stack holds the deepest tree their size allows,
/// and texts past `maxBytes` are not parsed at all. What passes the parser is then read only
/// to `maxTreeDepth` levels. Past any limit a text is `unparseable` (fails closed), and the
/// reason names the limit.
public enum ParserLimits {
    /// The longest SQL text analysed: 1 MiB (an IN list of 100,000 ids is about 700 KB).
    public static let maxBytes = 1 << 20
    /// Texts up to this size nest too little to trouble any thread's stack (a Swift task's
    /// 512 KiB included; measured: about 400 bytes of stack per level), so they are parsed in place.
    public static let inlineBytes = 1_024
    /// Texts past this size take turns, one at a time: a megabyte of text costs a parse
    /// hundreds of megabytes and seconds. Smaller ones never wait behind them (red team rt18:
    /// a client pipelining 1 MiB texts made another user's 2 KiB text wait 44 s), only behind
    /// each other, a few at a time.
    public static let sharedBytes = 64 << 10
    /// The deepest tree a text of `bytes` bytes can make (bytes / 2 levels at about 400 bytes
    /// each), twice over; 1 GiB for `maxBytes`. Only the pages a parse touches are ever committed.
    static func stackBytes(forBytes bytes: Int) -> Int { min(1 << 30, max(16 << 20, bytes * 400 * 2)) }
    /// The deepest parse tree read (levels of libpg_query's JSON: an operator chain of about
    /// 120 terms, or 40 nested sub-selects, reaches 350).
    public static let maxTreeDepth = 400
    /// How many texts up to `sharedBytes` (and over `inlineBytes`) are parsed at once.
    public static let mediumAtOnce = 4
    static let largeParses = DispatchSemaphore(value: 1)
    static let mediumParses = DispatchSemaphore(value: mediumAtOnce)

    /// Why a text is not analysed, when it is too large to be.
    public static func refusal(ofSize bytes: Int) -> String? {
        bytes > maxBytes ? "the text is \(bytes) bytes, over the \(maxBytes) bytes the analysis reads" : nil
    }

    /// Why a parse tree is not read, when it nests too deep: counts the brackets of the JSON
    /// outside its strings (a byte scan, cheaper than the parse it guards).
    static func refusal(ofTree json: String) -> String? {
        var depth = 0, deepest = 0, inString = false, escaped = false
        for byte in json.utf8 {
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                if depth > deepest { deepest = depth }
            case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
            default: break
            }
        }
        return deepest > maxTreeDepth ? "it nests deeper than the \(maxTreeDepth) levels of parse tree the analysis reads" : nil
    }

    /// Runs `body` (which parses a text of `bytes` bytes) where the text's depth cannot
    /// overflow the stack; nil when no such thread could be had (the caller fails closed).
    static func withStack<T>(forBytes bytes: Int, _ body: () -> T) -> T? {
        guard bytes > inlineBytes else { return body() }
        // Large texts one at a time (a client sending many must not multiply their memory);
        // the rest a few at a time, never behind a large one.
        let lane = bytes > sharedBytes ? largeParses : mediumParses
        lane.wait()
        defer { lane.signal() }
        return withoutActuallyEscaping(body) { body in
            var result: T?
            let work = BigStackWork(body: { result = body() })
            guard work.runAndWait(stackBytes: stackBytes(forBytes: bytes)) else { return nil }
            return result
        }
    }
}

/// One call on a thread of its own with a large stack; the caller waits for it.
private final class BigStackWork {
    let body: () -> Void
    init(body: @escaping () -> Void) { self.body = body }

    /// False when no thread could be started.
    func runAndWait(stackBytes: Int) -> Bool {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setstacksize(&attributes, stackBytes)
        var thread = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let created = pthread_create(&thread, &attributes, { context in
            let work = Unmanaged<BigStackWork>.fromOpaque(context!).takeRetainedValue()
            work.body()
            return nil
        }, context)
        guard created == 0 else {
            Unmanaged<BigStackWork>.fromOpaque(context).release()
            return false
        }
        pthread_join(thread, nil)
        return true
    }
}
