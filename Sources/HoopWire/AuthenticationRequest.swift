import NIOCore

/// What a server's Authentication message ('R') asks of the client, from its code and data.
public enum AuthenticationRequest: Equatable, Sendable {
    case ok
    case cleartextPassword
    case md5Password(salt: [UInt8])
    /// The SASL mechanisms the server offers, in its order.
    case sasl(mechanisms: [String])
    case saslContinue(String)
    case saslFinal(String)
    /// A known code whose data does not parse (SASL data must be UTF-8, not repaired).
    case malformed(code: Int32)
    /// A method the proxy does not speak (Kerberos, GSS, SSPI, ...).
    case other(code: Int32)

    public init(code: Int32, data: ByteBuffer) {
        var data = data
        switch code {
        case 0: self = .ok
        case 3: self = .cleartextPassword
        case 5:
            guard let salt = data.readBytes(length: 4) else { self = .malformed(code: code); return }
            self = .md5Password(salt: salt)
        case 10:
            var mechanisms: [String] = []
            while let name = data.readNullTerminatedString(), !name.isEmpty { mechanisms.append(name) }
            self = .sasl(mechanisms: mechanisms)
        case 11, 12:
            guard let bytes = data.readBytes(length: data.readableBytes), let text = String(validating: bytes, as: UTF8.self) else {
                self = .malformed(code: code)
                return
            }
            self = code == 11 ? .saslContinue(text) : .saslFinal(text)
        default:
            self = .other(code: code)
        }
    }
}

/// The client's first SASL message (a 'p' after AuthenticationSASL): the mechanism it chose and
/// its initial response.
public struct SASLInitialResponse: Equatable, Sendable {
    public let mechanism: String
    public let data: String

    /// Nil when the body does not hold a mechanism name and a response of the length it says.
    public init?(_ body: ByteBuffer) {
        var body = body
        guard let mechanism = body.readNullTerminatedString(), let length = body.readInteger(as: Int32.self), length >= 0,
              let bytes = body.readBytes(length: Int(length)), let data = String(validating: bytes, as: UTF8.self) else { return nil }
        self.mechanism = mechanism
        self.data = data
    }
}
