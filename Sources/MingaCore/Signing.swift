import Crypto
import Foundation

/// Origin signatures (protocol/README.md, "Signatures").
///
/// Each origin's changes form a hash chain in sequence order: `link(s) = SHA-256(link(s-1) ‖
/// canonical(change s))`, with `link(0)` = 32 zero bytes. The origin signs a link with
/// Ed25519 at least every ``OriginChain/signingInterval`` changes, whenever the changes since
/// its last signature reach ``OriginChain/signingBytes``, and at the end of every run it seals;
/// a signature on link `s` vouches for changes 1…s of that origin. Receivers
/// recompute the chain from the link they already hold, so verifying costs one hash per
/// change and one signature check per signed change — not one per change.
public enum OriginChain {
    /// The most changes an origin issues between two signed links.
    public static let signingInterval = 256
    /// An origin also signs the change with which the changes since its last signature reach
    /// this many bytes of wire JSON (``Change/estimatedWireSize``): 256 KiB. Batches are cut
    /// only after signed changes (protocol §12), so this keeps a verifiable cut within any
    /// request limit that one change fits in, however large its values.
    public static let signingBytes = 256 << 10

    public static let genesis = [UInt8](repeating: 0, count: 32)

    public static func link(after previous: [UInt8], _ change: Change) -> [UInt8] {
        var hasher = Crypto.SHA256()
        hasher.update(data: previous)
        hasher.update(data: change.canonicalBytes)
        return Array(hasher.finalize())
    }

    /// What the origin signs: a domain label, then the link.
    static func message(_ link: [UInt8]) -> [UInt8] { Array("minga-chain-v1".utf8) + link }
}

/// A node's Ed25519 signing key. It lives in its own owner-only file beside the replica and
/// never travels; only ``publicKey`` does.
public struct SigningKey: Sendable {
    private let key: Curve25519.Signing.PrivateKey

    public init() { key = Curve25519.Signing.PrivateKey() }

    public init(rawRepresentation: some ContiguousBytes) throws(MingaError) {
        do { key = try Curve25519.Signing.PrivateKey(rawRepresentation: rawRepresentation) } catch {
            throw MingaError(.invalidInput, "the private key is not a 32-byte Ed25519 key")
        }
    }

    public var rawRepresentation: Data { key.rawRepresentation }
    public var publicKey: PublicKey { PublicKey(key: key.publicKey) }

    public func sign(link: [UInt8]) throws -> Data {
        try key.signature(for: OriginChain.message(link))
    }
}

/// An origin's Ed25519 public key, as listed in a roster. Written as base64 of the raw
/// 32-byte key.
public struct PublicKey: Hashable, Sendable, CustomStringConvertible {
    let key: Curve25519.Signing.PublicKey

    init(key: Curve25519.Signing.PublicKey) { self.key = key }

    public init(base64: String) throws(MingaError) {
        guard let data = Data(base64Encoded: base64.trimmingCharacters(in: .whitespacesAndNewlines)), data.count == 32,
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: data)
        else {
            throw MingaError(
                .invalidInput,
                "\"\(base64)\" is not a public key (expected base64 of a raw 32-byte Ed25519 key, as `minga status --json` shows it)"
            )
        }
        self.key = key
    }

    public var rawRepresentation: Data { key.rawRepresentation }
    public var base64: String { rawRepresentation.base64EncodedString() }
    public var description: String { base64 }

    public func isValid(signature: Data, link: [UInt8]) -> Bool {
        key.isValidSignature(signature, for: OriginChain.message(link))
    }

    public static func == (a: PublicKey, b: PublicKey) -> Bool { a.rawRepresentation == b.rawRepresentation }
    public func hash(into hasher: inout Hasher) { hasher.combine(rawRepresentation) }
}

extension Change {
    /// The change's signed form: every field but the signature, in a fixed binary layout
    /// (protocol/README.md, "Canonical bytes"). Strings are length-prefixed UTF-8, integers
    /// are 8 bytes big-endian, columns and context entries are sorted by name.
    public var canonicalBytes: [UInt8] {
        var out = CanonicalBytes()
        out.string(origin.rawValue)
        out.u64(seq)
        out.u64(hlc.packed)
        out.string(table)
        out.string(op.rawValue)
        out.u32(key.count)
        for value in key { out.value(value) }
        out.u32(columns.count)
        for (name, v) in columns {  // canonical order
            out.string(name)
            out.value(v)
        }
        let origins = context.origins
        out.u32(origins.count)
        for o in origins {
            out.string(o.rawValue)
            out.u64(context[o])
        }
        return out.bytes
    }
}

/// The writer of ``Change/canonicalBytes``'s layout.
private struct CanonicalBytes {
    var bytes: [UInt8]

    init() {
        bytes = Array("minga-change-v1".utf8)
        bytes.reserveCapacity(1024)  // a registry row's change, without growing
    }

    mutating func u32(_ n: Int) { withUnsafeBytes(of: UInt32(n).bigEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ n: Int64) { withUnsafeBytes(of: UInt64(bitPattern: n).bigEndian) { bytes.append(contentsOf: $0) } }

    mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            u32(utf8.count)
            bytes.append(contentsOf: utf8)
        }
    }

    mutating func value(_ v: Value) {
        switch v {
        case .null: bytes.append(UInt8(ascii: "n"))
        case .integer(let i):
            bytes.append(UInt8(ascii: "i"))
            u64(i)
        case .real(let d):
            bytes.append(UInt8(ascii: "r"))
            u64(Int64(bitPattern: d.bitPattern))
        case .text(let s):
            bytes.append(UInt8(ascii: "t"))
            string(s)
        case .blob(let b):
            bytes.append(UInt8(ascii: "b"))
            u32(b.count)
            bytes.append(contentsOf: b)
        }
    }
}
