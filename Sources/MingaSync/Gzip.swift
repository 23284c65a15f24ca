import CompressNIO
import Foundation
import MingaCore
import NIOCore

/// gzip for request and response bodies: links between ministries are slow, and change
/// batches (repetitive JSON) shrink several-fold.
enum Gzip {
    static func compress(_ buffer: ByteBuffer) throws -> ByteBuffer {
        var input = buffer
        return try input.compress(with: .gzip)
    }

    /// Inflates at most `limit` bytes, so a small "gzip bomb" cannot exhaust memory.
    static func decompress(_ buffer: ByteBuffer, limit: Int) throws -> ByteBuffer {
        var input = buffer
        do {
            let output = try input.decompress(with: .gzip, maxSize: limit)
            // The library stops at the first buffer past `maxSize`, not at `maxSize` itself.
            guard output.readableBytes <= limit else { throw CompressNIOError.bufferOverflow }
            return output
        } catch let error as CompressNIOError where error == .bufferOverflow {
            throw ErrorEnvelope(.tooLarge, "the decompressed body exceeds the limit of \(limit) bytes")
        } catch {
            throw ErrorEnvelope(.malformed, "the body is not valid gzip")
        }
    }

    static func accepts(_ header: String?) -> Bool {
        guard let header else { return false }
        return header.lowercased().split(separator: ",").contains { item in
            let parts = item.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.first == "gzip" else { return false }
            let quality = parts.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            return quality > 0
        }
    }
}
