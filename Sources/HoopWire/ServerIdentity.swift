#if canImport(Glibc)
import Glibc
#endif

/// Whether a server certificate names the host a client asked for, as libpq (PostgreSQL 15)
/// decides it for sslmode=verify-full: a host name against the certificate's DNS names (a `*.`
/// first label stands for one label), or its common name when it has no DNS name; an IP
/// address against its IP addresses or, as text, its DNS names, or its common name when it has
/// no IP address. An IP address in a certificate never vouches for a host name, even the one it
/// resolves to.
public enum ServerIdentity {
    public static func matches(host: String, dnsNames: [String], ipAddresses: [[UInt8]], commonName: String?) -> Bool {
        if let address = ipAddress(host) {
            if ipAddresses.contains(address) || dnsNames.contains(where: { $0.lowercased() == host.lowercased() }) { return true }
            return ipAddresses.isEmpty && commonName == host
        }
        if dnsNames.isEmpty { return commonName.map { nameMatches($0, host) } ?? false }
        return dnsNames.contains { nameMatches($0, host) }
    }

    /// `host` as the bytes of an IPv4 or IPv6 address, or nil for a host name.
    public static func ipAddress(_ host: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }

    static func nameMatches(_ pattern: String, _ host: String) -> Bool {
        let pattern = pattern.lowercased(), host = host.lowercased()
        guard pattern.hasPrefix("*.") else { return pattern == host }
        guard let dot = host.firstIndex(of: "."), dot != host.startIndex else { return false }
        return host[dot...] == pattern.dropFirst()
    }

    /// The subject's (last) common name of a certificate, from its DER.
    public static func commonName(certificateDER der: [UInt8]) -> String? {
        var reader = ChannelBinding.DERReader(der)
        guard var certificate = reader.element(tag: 0x30), var tbs = certificate.element(tag: 0x30) else { return nil }
        _ = tbs.element(tag: 0xA0)  // version, when present
        guard tbs.element(tag: 0x02) != nil, tbs.element(tag: 0x30) != nil, tbs.element(tag: 0x30) != nil,
              tbs.element(tag: 0x30) != nil, var subject = tbs.element(tag: 0x30) else { return nil }
        var name: String?
        while var set = subject.element(tag: 0x31) {
            while var attribute = set.element(tag: 0x30) {
                guard attribute.element(tag: 0x06)?.bytes == [0x55, 0x04, 0x03], let tag = attribute.bytes.first,
                      let value = attribute.element(tag: tag) else { continue }
                name = String(decoding: value.bytes, as: UTF8.self)
            }
        }
        return name
    }
}
