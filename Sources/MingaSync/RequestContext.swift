import Hummingbird
import NIOCore

/// The context of every request a node serves: Hummingbird's basic context plus the
/// client's address, which the console needs to answer only on loopback when it has no
/// operator token (see `MingaConsole`).
public struct MingaRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The connection's peer address; `nil` when unknown (in-process router tests).
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// Whether the client connects from this machine (127.0.0.0/8 or ::1).
    public var isLoopback: Bool {
        guard let address = remoteAddress?.ipAddress else { return false }
        return address == "::1" || address.hasPrefix("127.") || address.hasPrefix("::ffff:127.")
    }
}

/// Secrets compared in constant time.
public enum SecretComparison {
    /// Whether `candidate` equals one of `secrets`. Every secret is compared in full, so the
    /// time taken does not reveal a matching prefix.
    public static func matches(_ candidate: String, any secrets: Set<String>) -> Bool {
        var found = false
        let given = Array(candidate.utf8)
        for secret in secrets {
            let expected = Array(secret.utf8)
            var difference = UInt8(given.count == expected.count ? 0 : 1)
            for i in 0..<expected.count { difference |= expected[i] ^ (i < given.count ? given[i] : 0) }
            if difference == 0 { found = true }
        }
        return found
    }
}
