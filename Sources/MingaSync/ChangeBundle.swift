import Foundation
import MingaCore
import MingaStore

/// A bundle file: the offline transport. JSON Lines — a header, then change batches exactly
/// as `/v1/pull` returns them, then a trailer with the counts and the SHA-256 of every byte
/// before it, so that a truncated or altered file is recognised and refused whole.
/// See protocol/README.md, "Bundles".
public enum ChangeBundle {
    public struct Header: Codable, Sendable {
        public var minga: String
        public var `protocol`: Int
        public var node: NodeID
        /// The writer's schema version (protocol §20).
        public var schema: String
        public var since: VersionVector
        public var created: String
        /// What a node needs to join on the writer's schema (`minga init --from BUNDLE`);
        /// absent from bundles of Minga before migrations, whose `schema` was the genesis.
        public var joining: SchemaDescription?
    }

    public struct Trailer: Codable, Sendable {
        public struct End: Codable, Sendable {
            public var batches: Int
            public var changes: Int
            public var sha256: String
        }
        public var end: End
    }

    /// What a bundle import or export did.
    public struct Summary: Sendable {
        public var batches = 0
        public var changes = 0
        public var applied = 0
        public var duplicates = 0
        public var newConflicts = 0
        /// Held changes of earlier imports and syncs that applied at this import.
        public var retried = 0
        /// The origins this node holds changes of after the import (protocol §13).
        public var held: [HeldOrigin] = []
    }

    /// Writes the changes `replica` holds above `since` (all when empty) to `path`, in
    /// batches of at most `batchSize`. The file appears only when complete.
    @discardableResult
    public static func export(
        from replica: Replica,
        to path: String,
        since: VersionVector = VersionVector(),
        batchSize: Int = 1000
    ) throws -> Summary {
        let temporary = path + ".partial"
        _ = FileManager.default.createFile(atPath: temporary, contents: nil)
        guard let handle = FileHandle(forWritingAtPath: temporary) else {
            throw MingaError(.failed, "cannot write \(path): check that its folder exists and is writable")
        }
        var summary = Summary()
        do {
            var hasher = SHA256Digest.Hasher()
            func emit(_ line: Data) throws {
                var line = line
                line.append(0x0A)
                hasher.update(line)
                try handle.write(contentsOf: line)
            }
            let schema = try replica.schemaDescription()
            let header = Header(
                minga: "bundle",
                protocol: ChangeBatch.protocolVersion,
                node: replica.nodeID,
                schema: schema.schemaVersion,
                since: since,
                created: Date().formatted(.iso8601),
                joining: schema
            )
            try emit(try JSONEncoder.wire.encode(header))
            var vector = since
            while true {
                let changes = try replica.changes(above: vector, limit: batchSize)
                if changes.isEmpty { break }
                try emit(Data(ChangeBatch(changes: changes).wireJSON.utf8))
                vector = vector.raised(by: changes)
                summary.batches += 1
                summary.changes += changes.count
            }
            let trailer = Trailer(end: .init(batches: summary.batches, changes: summary.changes, sha256: hasher.finalizeHex()))
            var last = try JSONEncoder.wire.encode(trailer)
            last.append(0x0A)
            try handle.write(contentsOf: last)
            try handle.synchronize()
            try handle.close()
            if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
            try FileManager.default.moveItem(atPath: temporary, toPath: path)
        } catch {
            try? handle.close()
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
        return summary
    }

    /// Verifies the whole file (format, digest, schema, per-origin order) before applying
    /// anything, then applies it batch by batch, each batch one transaction. A change refused
    /// for a reason of its own is held with what depends on it, and the rest applied (protocol
    /// §13); held changes of earlier imports and syncs are tried again first. An interrupted
    /// import resumes when run again; re-importing changes nothing.
    ///
    /// Pipelined as a pull is: while one batch is written, the next is read, decoded and
    /// checked (hash chain, signatures, content) from the admission the one before leaves
    /// (``Replica/precheck(_:after:)``), so the checks keep the other core busy; a batch whose
    /// check went stale (the replica moved meanwhile) is checked again as it applies.
    @discardableResult
    public static func `import`(
        into replica: Replica,
        from path: String,
        progress: (_ done: Int, _ total: Int) -> Void = { _, _ in }
    ) async throws -> Summary {
        let total = try verify(path, for: replica)
        var summary = Summary()
        summary.retried = try await replica.retryHeld().applied
        let start = try await replica.sealedAdmission()
        func precheck(_ line: Data, after previous: Task<CheckedBatch, any Error>?) -> Task<CheckedBatch, any Error> {
            Task {
                let batch = try ChangeBatch.decode(wire: line)
                return try await replica.precheck(batch, after: try await previous?.value.end ?? start)
            }
        }
        var batches = try BatchLines(path)
        var ahead = try batches.next().map { precheck($0, after: nil) }
        defer { ahead?.cancel() }
        while let checking = ahead {
            ahead = try batches.next().map { precheck($0, after: checking) }
            let checked = try await checking.value
            let result = try await replica.apply(checked, source: "bundle \(path)")
            summary.batches += 1
            summary.changes += checked.batch.changes.count
            summary.applied += result.applied
            summary.duplicates += result.duplicates
            summary.newConflicts += result.newConflicts
            progress(summary.changes, total)
        }
        summary.held = try replica.heldOrigins()
        return summary
    }

    /// The lines of a bundle that hold change batches, one by one: after the header, without
    /// the trailer. Each is decoded where it is checked, beside the batch before it being written.
    struct BatchLines {
        private var lines: LineReader
        private var first = true

        init(_ path: String) throws { lines = try LineReader(path) }

        mutating func next() throws -> Data? {
            while let (_, line, _) = try lines.next() {
                if first {
                    first = false
                    continue
                }
                if ChangeBundle.isTrailer(line) { continue }
                return line
            }
            return nil
        }
    }

    /// Checks everything that can be checked without writing; returns the number of changes.
    static func verify(_ path: String, for replica: Replica) throws -> Int {
        var verifier = Verifier(path: path, replica: replica, admission: try replica.admission())
        try readLines(path) { number, line, terminated in try verifier.take(line, number: number, terminated: terminated) }
        return try verifier.finish()
    }

    /// Whether a line is the bundle's trailer (its end marker, ``Trailer``), not a batch.
    static func isTrailer(_ line: Data) -> Bool { line.starts(with: Array("{\"end\"".utf8)) }

    /// A bundle's first line as its header, or `nil` when it is not one.
    static func decodeHeader(_ line: Data) -> Header? {
        guard let header = try? JSONDecoder().decode(Header.self, from: line), header.minga == "bundle" else { return nil }
        return header
    }

    /// Reads a bundle line by line, checking each as it comes: the header against this
    /// node, each batch as the replica would apply it (from the admission the batches before
    /// it leave), the trailer's counts and the digest of every byte before it.
    struct Verifier {
        let path: String
        let replica: Replica
        var admission: Admission
        var hasher = SHA256Digest.Hasher()
        var header: Header?
        var trailer: Trailer?
        var batches = 0
        var changes = 0

        init(path: String, replica: Replica, admission: Admission) {
            (self.path, self.replica, self.admission) = (path, replica, admission)
        }

        mutating func take(_ line: Data, number: Int, terminated: Bool) throws {
            let path = self.path  // so that `fail` does not capture self, which `checkBatch` modifies
            func fail(_ code: MingaError.Code, _ message: String) -> MingaError {
                MingaError(code, "bundle \(path), line \(number): \(message)")
            }
            if trailer != nil { throw fail(.malformed, "there is data after the end of the bundle") }
            if header == nil {
                header = try checkedHeader(line, terminated: terminated, fail)
            } else if ChangeBundle.isTrailer(line) {
                do { trailer = try JSONDecoder().decode(Trailer.self, from: line) } catch let error as DecodingError {
                    if !terminated { throw fail(.malformed, "the file is truncated in its end marker (copy it again from its source)") }
                    throw fail(.malformed, "the trailer is malformed: \(error.explanation)")
                }
                return  // the digest covers every byte before the trailer
            } else {
                try checkBatch(line, terminated: terminated, fail)
            }
            hasher.update(line + [0x0A])
        }

        func checkedHeader(_ line: Data, terminated: Bool, _ fail: (MingaError.Code, String) -> MingaError) throws -> Header {
            guard let header = ChangeBundle.decodeHeader(line) else {
                if !terminated, line.first == UInt8(ascii: "{") {
                    throw fail(
                        .malformed,
                        "the file ends inside its first line: a bundle cut short in its header (copy it again from its source), or not a bundle"
                    )
                }
                throw fail(.malformed, "this is not a Minga bundle (the first line must be its header)")
            }
            guard header.protocol == ChangeBatch.protocolVersion else {
                throw fail(.incompatible, "the bundle speaks protocol \(header.protocol); this node speaks \(ChangeBatch.protocolVersion)")
            }
            guard (header.joining?.genesisVersion ?? header.schema) == replica.genesisVersion else {
                throw fail(
                    .incompatible,
                    "the bundle was made by \(header.node), created from schema \(header.joining?.genesisVersion ?? header.schema); this node was created from \(replica.genesisVersion); both nodes must be created from the same schema file (or join with `minga init --from BUNDLE`)"
                )
            }
            return header
        }

        mutating func checkBatch(_ line: Data, terminated: Bool, _ fail: (MingaError.Code, String) -> MingaError) throws {
            let batch: ChangeBatch
            do { batch = try ChangeBatch.decode(wire: line) } catch let error as DecodingError {
                if !terminated {
                    throw fail(.malformed, "the file is truncated: its last line ends in the middle of a batch (copy it again from its source)")
                }
                throw fail(.malformed, "malformed batch: \(error.explanation)")
            }
            do { try replica.check(batch, &admission) } catch let error as MingaError { throw fail(error.code, error.message) }
            batches += 1
            changes += batch.changes.count
        }

        /// After the last line: the file must have ended on its trailer, with its counts and digest.
        func finish() throws -> Int {
            guard header != nil else { throw MingaError(.malformed, "bundle \(path) is empty") }
            guard let end = trailer?.end else {
                throw MingaError(.malformed, "bundle \(path) is truncated: its last line is not the end marker (copy it again from its source)")
            }
            guard end.batches == batches, end.changes == changes else {
                throw MingaError(
                    .malformed,
                    "bundle \(path) is incomplete: its end marker announces \(end.batches) batches and \(end.changes) changes, the file holds \(batches) and \(changes)"
                )
            }
            guard end.sha256 == hasher.finalizeHex() else {
                throw MingaError(.malformed, "bundle \(path) was altered: its contents do not match the SHA-256 recorded at export")
            }
            return changes
        }
    }

    /// The header of the bundle at `path` (its first line), unchecked beyond its shape.
    public static func header(of path: String) throws -> Header {
        var lines = try LineReader(path)
        guard let (_, line, _) = try lines.next() else { throw MingaError(.malformed, "\(path) is empty, not a Minga bundle") }
        guard let header = decodeHeader(line) else {
            throw MingaError(.malformed, "\(path) is not a Minga bundle (the first line must be its header)")
        }
        return header
    }

    /// Reads `path` line by line with bounded memory. A final line without its newline
    /// is still passed on (the trailer check then decides whether the file is whole).
    static func readLines(_ path: String, _ body: (_ number: Int, _ line: Data, _ terminated: Bool) throws -> Void) throws {
        var lines = try LineReader(path)
        while let (number, line, terminated) = try lines.next() { try body(number, line, terminated) }
    }

    /// A bundle's lines in order, read a chunk at a time, each with its number and whether a
    /// newline ended it.
    struct LineReader {
        private let handle: FileHandle
        private var buffer = Data()
        /// Where the next line starts in `buffer`.
        private var lineStart = 0
        private var number = 0
        private var atEnd = false

        init(_ path: String) throws {
            guard let handle = FileHandle(forReadingAtPath: path) else {
                throw MingaError(.failed, "cannot read bundle \(path): no such file, or not readable")
            }
            self.handle = handle
        }

        mutating func next() throws -> (number: Int, line: Data, terminated: Bool)? {
            while true {
                // Lines are cut from the buffer's bytes in place, and the consumed ones removed
                // once per chunk: a bundle is read twice (verify, import), 100 MB for 1M changes.
                if let newline = buffer.withUnsafeBytes({ $0[lineStart...].firstIndex(of: 0x0A) }) {
                    number += 1
                    defer { lineStart = newline + 1 }
                    return (number, buffer.subdata(in: buffer.startIndex + lineStart..<buffer.startIndex + newline), true)
                }
                buffer.removeSubrange(buffer.startIndex..<buffer.startIndex + lineStart)
                lineStart = 0
                if atEnd {
                    guard !buffer.isEmpty else { return nil }
                    number += 1
                    defer { buffer = Data() }
                    return (number, buffer, false)
                }
                let chunk = try handle.read(upToCount: 1 << 20) ?? Data()
                if chunk.isEmpty {
                    atEnd = true
                    try? handle.close()
                }
                buffer.append(chunk)
            }
        }
    }
}
