import NIOCore

/// The parameters of a Bind message (already checked by `FrontendMessage`), for the ledger's
/// capture of statement values.
public enum BindParameters {
    public struct Parameter: Sendable, Equatable {
        public var binary: Bool
        /// nil: NULL.
        public var bytes: [UInt8]?
    }

    /// Each parameter with its format; nil when the message does not hold what Bind holds.
    public static func decode(bind raw: ByteBuffer) -> [Parameter]? {
        var body = raw
        guard body.readInteger(as: UInt8.self) == UInt8(ascii: "B"), body.readInteger(as: Int32.self) != nil,
              body.readNullTerminatedString() != nil, body.readNullTerminatedString() != nil,
              let formatCount = body.readInteger(as: Int16.self), formatCount >= 0 else { return nil }
        var formats: [Int16] = []
        for _ in 0..<Int(formatCount) {
            guard let format = body.readInteger(as: Int16.self) else { return nil }
            formats.append(format)
        }
        guard let count = body.readInteger(as: Int16.self), count >= 0, formats.count <= 1 || formats.count == Int(count) else { return nil }
        var parameters: [Parameter] = []
        parameters.reserveCapacity(Int(count))
        for index in 0..<Int(count) {
            let format = formats.isEmpty ? 0 : formats.count == 1 ? formats[0] : formats[index]
            guard let length = body.readInteger(as: Int32.self) else { return nil }
            if length < 0 {
                parameters.append(Parameter(binary: format == 1, bytes: nil))
                continue
            }
            guard let bytes = body.readBytes(length: Int(length)) else { return nil }
            parameters.append(Parameter(binary: format == 1, bytes: bytes))
        }
        return parameters
    }
}
