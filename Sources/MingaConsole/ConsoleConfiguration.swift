import MingaSync

/// How `minga serve` offers the operator's console under `/console`.
public struct ConsoleConfiguration: Sendable {
    /// Operator tokens (`--console-token-file`, never a peer's token). With none the console
    /// asks no sign-in and answers only clients on loopback; with some, every page asks for
    /// one of them first, from anywhere the server listens.
    public var tokens: Set<String> = []
    /// The peers this node syncs with (`--peer`): each gets a "sync now" action.
    public var peers: [PeerClient] = []
    /// Mark the session cookie `Secure` (the node serves HTTPS).
    public var secureCookies = false
    /// How long a session lasts without being used.
    public var idleSession: Duration = .seconds(8 * 3600)

    public init() {}
}
