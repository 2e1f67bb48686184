import Foundation

/// A fresh directory under /tmp, removed by `remove()` (tests call it in tearDown).
public struct TemporaryDirectory {
    public let url: URL
    public var path: String { url.path }

    public init(_ label: String = "test") throws {
        url = URL(fileURLWithPath: "/tmp/hoopctl-\(label)-\(UUID().uuidString.prefix(8))", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
    }

    public func file(_ name: String) -> String { url.appendingPathComponent(name).path }

    public func remove() { try? FileManager.default.removeItem(at: url) }
}
