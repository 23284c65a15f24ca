import Crypto
import Foundation

/// SHA-256 for conflict ids, bundle digests and the origin hash chains, backed by
/// swift-crypto (BoringSSL on Linux, CryptoKit on Apple platforms).
public enum SHA256Digest {
    /// An incremental hasher, for digests of files read line by line.
    public struct Hasher: Sendable {
        private var inner = Crypto.SHA256()

        public init() {}

        public mutating func update<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
            inner.update(data: Array(bytes))
        }

        public func finalize() -> [UInt8] { Array(inner.finalize()) }

        public func finalizeHex() -> String { SHA256Digest.hexString(finalize()) }
    }

    public static func hash<Bytes: Sequence>(_ bytes: Bytes) -> [UInt8] where Bytes.Element == UInt8 {
        Array(Crypto.SHA256.hash(data: Array(bytes)))
    }

    public static func hex<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        hexString(hash(bytes))
    }

    static func hexString(_ digest: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(digest.count * 2)
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
