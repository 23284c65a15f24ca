import Foundation
import MingaCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The node's private key file: base64 of the raw 32-byte Ed25519 key, created owner-only
/// beside the replica. It is never synced, never logged, and not part of `minga backup`.
enum KeyFile {
    static func write(_ key: SigningKey, to path: String) throws {
        // Created owner-only from the start (O_EXCL, mode 0600): the key is never readable by others.
        let fd = createOwnerOnly(path)
        guard fd >= 0 else { throw MingaError(.failed, "cannot create the private key file \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let text = Array((key.rawRepresentation.base64EncodedString() + "\n").utf8)
        guard writeAll(fd, text), fsync(fd) == 0 else {
            throw MingaError(.failed, "cannot write the private key file \(path): \(String(cString: strerror(errno)))")
        }
    }

    static func read(_ path: String) throws -> SigningKey? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        if let mode = (attributes?[.posixPermissions] as? NSNumber)?.intValue, mode & 0o077 != 0 {
            throw MingaError(
                .invalidInput,
                "the private key file \(path) is readable by other users (mode \(String(mode, radix: 8))); make it owner-only: chmod 600 \(path)"
            )
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
            let raw = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines))
        else { throw MingaError(.damaged, "the private key file \(path) is unreadable or damaged") }
        return try SigningKey(rawRepresentation: raw)
    }

}

/// open(2) of a new file, owner-only, failing if it exists (the platform's C library; at file
/// scope, where `open` and `write` are not shadowed by ``KeyFile``'s own).
private func createOwnerOnly(_ path: String) -> Int32 { open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600) }

/// write(2) of all of `bytes`: whether every byte was written.
private func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool { write(fd, bytes, bytes.count) == bytes.count }
