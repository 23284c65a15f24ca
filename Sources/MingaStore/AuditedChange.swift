import Foundation
import MingaCore

/// A change as `minga log` shows it to an auditor.
public struct AuditedChange: Sendable {
    public enum Signature: Sendable, Equatable {
        /// The origin's signature at `signedAt` (this change or a later one of the same origin)
        /// verifies, and the hash chain links this change to it.
        case verified(signedAt: Dot)
        case unknownOrigin
        case broken(String)

        public var text: String {
            switch self {
            case .verified(let dot): return "verified (signed at \(dot))"
            case .unknownOrigin: return "unverifiable: origin not in the roster"
            case .broken(let why): return "NOT VERIFIED: \(why)"
            }
        }

        public var isVerified: Bool {
            if case .verified = self { return true }
            return false
        }
    }

    public let change: Change
    public let signature: Signature
}
