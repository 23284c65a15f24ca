#if canImport(Glibc)
import Glibc
#endif
import Foundation
import MingaCore

/// The node's private key file: base64 of the raw 32-byte Ed25519 key, created owner-only
/// beside the replica. It is never synced, never logged, and not part of `minga backup`.
enum KeyFile {
    static func write(_ key: SigningKey, to path: String) throws {
        // Created owner-only from the start (O_EXCL, mode 0600): the key is never readable by others.
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw MingaError("cannot create the private key file \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let text = Array((key.rawRepresentation.base64EncodedString() + "\n").utf8)
        guard Glibc.write(fd, text, text.count) == text.count, fsync(fd) == 0 else {
            throw MingaError("cannot write the private key file \(path): \(String(cString: strerror(errno)))")
        }
    }

    static func read(_ path: String) throws -> SigningKey? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        if let mode = (attributes?[.posixPermissions] as? NSNumber)?.intValue, mode & 0o077 != 0 {
            throw MingaError("the private key file \(path) is readable by other users (mode \(String(mode, radix: 8))); make it owner-only: chmod 600 \(path)")
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
            let raw = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines))
        else { throw MingaError("the private key file \(path) is unreadable or damaged") }
        return try SigningKey(rawRepresentation: raw)
    }

}
