import Foundation
import MingaCore
import MingaStore

/// What one sync with one peer did.
public struct SyncSummary: Sendable {
    public var peer: String
    public var peerNode: NodeID?
    /// Changes received from the peer and applied.
    public var received = 0
    /// Changes held back before this sync (by an earlier sync or import) that applied during
    /// it, their cause gone (protocol §13): applied here, but not received from this peer.
    public var released = 0
    public var sent = 0
    public var newConflicts = 0
    /// Changes received that this node held back rather than applied (protocol §13).
    public var heldReceived = 0
    /// Copies of changes this node holds that arrived altered, per origin: never applied.
    public var alteredCopies: [HeldOrigin] = []
    public var rounds = 0
    public var bytesSent = 0
    public var bytesReceived = 0
    public var duration: Duration = .zero
    /// Why the sync failed, in words; `nil` when it succeeded.
    public var error: String?
    /// The failure's code, for programs to decide by; `nil` when the sync succeeded or failed
    /// for a reason outside Minga's codes (a connection refused, a TLS handshake).
    public var errorCode: MingaError.Code?
    /// Origins this node holds changes of after the sync (protocol §13): held by this sync,
    /// or earlier and not yet applicable. Not a failure of the sync.
    public var held: [HeldOrigin] = []
    /// Origins the peer held changes of that this node pushed, as the peer said.
    public var heldByPeer: [PushResponse.HeldBack] = []
    /// Changes this node could not push: as JSON, each is larger than the peer's body limit
    /// (`--max-body-bytes` below what the protocol's change size needs, §3). Their origins,
    /// and what depends on them, stay unsent to this peer; it can still pull them.
    public var tooLargeForPeer: [(dot: Dot, bytes: Int, limit: Int)] = []
    /// The peer asked to come back later (429 busy, 503 unavailable): retry, it is no fault.
    public var retryLater = false
    /// How long the peer asked to wait, when it said (`Retry-After`).
    public var retryAfter: Duration?

    public var succeeded: Bool { error == nil }
}

/// How far a sync with one peer has come, for an operator's progress line.
public struct SyncProgress: Sendable, Equatable {
    /// Changes received and applied so far.
    public var received: Int
    /// Changes the peer held that this node lacked when the sync began.
    public var toReceive: Int
    /// Changes sent so far.
    public var sent: Int
}
