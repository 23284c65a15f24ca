/// The single error type of Minga's libraries: a code from a closed set, which programs (and
/// tests) decide by, and a sentence an operator can act on.
///
/// The same codes name a pushed or pulled change that a receiver holds back (protocol §13)
/// and the `error.code` of the HTTP error envelope (protocol §16), so a refusal means one
/// thing whether it was met in a replica, on the wire or in a bundle.
public struct MingaError: Error, CustomStringConvertible, Sendable, Equatable {
    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    /// Why something was refused. Raw values are the wire's `error.code` and the held
    /// changes' `code` (protocol §13, §16).
    public enum Code: String, Sendable, CaseIterable, Codable {
        // A change refused on its own: the receiver holds it, its origin's changes after it
        // and whatever depends on it, and applies everything else (protocol §13).
        /// Its HLC is further ahead of the receiver's clock than the allowed skew.
        case clockAhead = "clock_ahead"
        /// Its origin's node is not in the receiver's roster.
        case unknownOrigin = "unknown_origin"
        /// The signature that vouches for it does not verify with its origin's key.
        case badSignature = "bad_signature"
        /// A copy of a change the receiver holds, which differs from it.
        case alteredCopy = "altered_copy"
        /// Its content breaks the protocol's or the schema's rules (§3, §13).
        case badContent = "bad_content"
        /// It breaks its origin's order: an HLC not later than the one before, the receiver's
        /// own current origin at a sequence number the receiver never issued, or a context
        /// naming its own origin at or above its own sequence number.
        case outOfOrder = "out_of_order"
        /// Writing it failed on the receiver (a foreign key, NOT NULL).
        case applyFailed = "apply_failed"
        /// It follows a held change of its origin, or names one in its causal context.
        case heldBehind = "held_behind"
        /// It names a table or column this node does not have: it was written under a schema
        /// migration the node does not hold yet (§20), and applies once the migration arrives.
        case needsMigration = "needs_migration"

        // A request, batch or bundle refused whole, changing nothing.
        /// Not the protocol's shape: bad JSON, a missing member, an invalid value, a bundle
        /// whose digest or end marker is wrong.
        case malformed
        /// A well-formed batch that breaks the protocol's batch rules: changes out of causal
        /// order, an origin's run that does not end on a signed change (§13).
        case rejected
        /// Another protocol version or schema.
        case incompatible
        case unauthorized
        case notFound = "not_found"
        case tooLarge = "too_large"
        /// The server is serving as many requests as it takes; retry after `Retry-After`.
        case busy
        case timeout
        /// The node cannot take the request now (its tables drifted, its disk is full).
        case unavailable

        // What an operator or a program asked of this node itself. These never travel: a
        // node that meets one while serving a request answers `unavailable` (protocol §16).
        /// What was asked for cannot be done as given: an unknown table or column, a key of
        /// the wrong shape, an option out of range, a schema Minga cannot track, a file that
        /// is not what it should be (a config, a CSV or IATI file, a key, a backup).
        case invalidInput = "invalid_input"
        /// The node's own files contradict themselves: a change log, conflict log or merge
        /// state that does not read back as it was written. Restore from a backup.
        case damaged
        /// The world around the node failed: a file that cannot be read or written, a peer
        /// that cannot be reached or answers what the protocol does not allow.
        case failed

        /// Whether a change refused with this code is held back (protocol §13) rather than
        /// the whole input refused.
        public var holdsChange: Bool {
            switch self {
            case .clockAhead, .unknownOrigin, .badSignature, .alteredCopy, .badContent, .outOfOrder, .applyFailed, .heldBehind, .needsMigration: true
            default: false
            }
        }

        /// The HTTP status of an error envelope with this code (protocol §16).
        public var httpStatus: Int {
            switch self {
            case .malformed: 400
            case .unauthorized: 401
            case .notFound: 404
            case .timeout: 408
            case .incompatible: 409
            case .tooLarge: 413
            case .busy: 429
            case .unavailable: 503
            case .invalidInput: 400
            case .damaged, .failed: 500
            default: 422  // a pushed batch refused for a change in it
            }
        }

        /// What the code means, in words, for status lines and the held-changes list.
        public var explanation: String {
            switch self {
            case .clockAhead: "its origin's clock is ahead of this node's"
            case .unknownOrigin: "its origin is not in this node's roster"
            case .badSignature: "its signature does not verify"
            case .alteredCopy: "a copy differs from the change this node holds"
            case .badContent: "its content breaks the rules"
            case .outOfOrder: "it breaks its origin's order"
            case .applyFailed: "writing it failed here"
            case .heldBehind: "it follows or depends on a held change"
            case .needsMigration: "it needs a schema migration this node does not hold yet"
            case .malformed: "malformed"
            case .rejected: "a batch that breaks the protocol's rules"
            case .incompatible: "another protocol or schema"
            case .unauthorized: "not authorised"
            case .notFound: "not found"
            case .tooLarge: "too large"
            case .busy: "busy"
            case .timeout: "timed out"
            case .unavailable: "unavailable"
            case .invalidInput: "not usable as given"
            case .damaged: "damaged"
            case .failed: "failed"
            }
        }
    }
}
