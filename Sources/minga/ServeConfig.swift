import Configuration
import Foundation
import MingaCore
import SystemPackage

/// `minga serve --config FILE`: what `serve` takes, from a JSON file (read with
/// apple/swift-configuration), so that a service manager starts a node with one argument.
///
/// The keys are the long flags' names without the dashes (`"port": 8701`, `"peer":
/// ["https://…"]`, `"console-token-file": "console-tokens"`). A flag on the command line
/// overrides the file. Relative paths in the file are relative to the file's folder. A key
/// the file should not have, or a value of the wrong type, is refused by name: a typo must
/// not leave a node running with a default nobody chose.
struct ServeConfigFile {
    enum Kind: String {
        case text = "a string"
        case number = "a number"
        case integer = "an integer"
        case texts = "an array of strings"
        case flag = "true or false"
    }

    /// Every key a file may hold, with its type. Keys naming files are resolved against the file's folder.
    static let keys: [String: Kind] = [
        "db": .text, "host": .text, "port": .integer, "peer": .texts, "peer-tokens": .text, "ca-file": .text,
        "sync-interval": .number, "token-file": .text, "console-token-file": .text, "console": .flag,
        "tls-cert": .text, "tls-key": .text, "max-body-bytes": .integer, "max-batch-changes": .integer,
        "request-timeout": .number, "idle-timeout": .number, "max-sessions": .integer, "max-clock-skew": .number,
        "log-level": .text,
    ]
    static let pathKeys: Set<String> = ["db", "peer-tokens", "ca-file", "token-file", "console-token-file", "tls-cert", "tls-key"]

    let path: String
    let reader: ConfigReader
    let present: Set<String>

    /// Reads and checks `path`. Throws a ``MingaError`` naming the file and the key at fault.
    static func load(_ path: String) async throws -> ServeConfigFile {
        let data = try contents(of: path, what: "config")
        let parsed: Any
        do { parsed = try JSONSerialization.jsonObject(with: data) } catch {
            throw MingaError(.invalidInput, "the config file \(path) is not valid JSON: \(reason(error))")
        }
        guard let object = parsed as? [String: Any] else {
            throw MingaError(
                .invalidInput,
                "the config file \(path) is not a JSON object of settings, e.g. {\"port\": 8701, \"peer\": [\"https://10.0.0.5:8701\"]}"
            )
        }
        let unknown = object.keys.filter { keys[$0] == nil }.sorted()
        guard unknown.isEmpty else {
            throw MingaError(
                .invalidInput,
                "the config file \(path) has unknown key(s) \(unknown.joined(separator: ", ")); it may hold: \(keys.keys.sorted().joined(separator: ", "))"
            )
        }
        let provider = try await FileProvider<JSONSnapshot>(filePath: FilePath(path))
        let file = ServeConfigFile(path: path, reader: ConfigReader(provider: provider), present: Set(object.keys))
        for key in file.present { try file.checkType(of: key) }
        return file
    }

    /// A file's bytes; when it cannot be read, says why as the system does ("No such file or
    /// directory", "Permission denied", "Is a directory").
    static func contents(of path: String, what: String) throws -> Data {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
            throw MingaError(.failed, "cannot read the \(what) file \(path): it is a folder")
        }
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw MingaError(.failed, "cannot read the \(what) file \(path): \(String(cString: strerror(errno)))") }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        do { return try handle.readToEnd() ?? Data() } catch {
            throw MingaError(.failed, "cannot read the \(what) file \(path): \(reason(error))")
        }
    }

    /// Why a file could not be read or parsed, in words (the system's reason, or the parser's
    /// position of the mistake).
    static func reason(_ error: any Error) -> String {
        let error = error as NSError
        if let debug = error.userInfo[NSDebugDescriptionErrorKey] as? String { return debug }
        if error.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(error.code))) }
        return error.localizedDescription
    }

    /// The peers `serve` and `sync` reach: the flags' peers, peer tokens and CA file, each
    /// taken from the file where the command line gives none.
    func peers(over flags: PeerOptions) throws -> PeerOptions {
        var peers = flags
        if peers.peers.isEmpty { peers.peers = try texts("peer") ?? [] }
        peers.peerTokens = try peers.peerTokens ?? text("peer-tokens")
        peers.caFile = try peers.caFile ?? text("ca-file")
        return peers
    }

    /// Reads `key` once in its kind, so a wrong type is refused at start, by name.
    func checkType(of key: String) throws {
        switch Self.keys[key]! {
        case .text: _ = try text(key)
        case .number: _ = try number(key)
        case .integer: _ = try integer(key)
        case .texts: _ = try texts(key)
        case .flag: _ = try flag(key)
        }
    }

    func text(_ key: String) throws -> String? {
        guard present.contains(key) else { return nil }
        let value = try typed(key) { try reader.requiredString(forKey: ConfigKey([key])) }
        guard Self.pathKeys.contains(key), !value.hasPrefix("/") else { return value }
        return URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(value).path
    }

    func number(_ key: String) throws -> Double? {
        guard present.contains(key) else { return nil }
        if let whole = try? reader.requiredInt(forKey: ConfigKey([key])) { return Double(whole) }
        return try typed(key) { try reader.requiredDouble(forKey: ConfigKey([key])) }
    }

    func integer(_ key: String) throws -> Int? {
        guard present.contains(key) else { return nil }
        return try typed(key) { try reader.requiredInt(forKey: ConfigKey([key])) }
    }

    func texts(_ key: String) throws -> [String]? {
        guard present.contains(key) else { return nil }
        return try typed(key) { try reader.requiredStringArray(forKey: ConfigKey([key])) }
    }

    func flag(_ key: String) throws -> Bool? {
        guard present.contains(key) else { return nil }
        return try typed(key) { try reader.requiredBool(forKey: ConfigKey([key])) }
    }

    private func typed<T>(_ key: String, _ read: () throws -> T) throws -> T {
        do { return try read() } catch {
            throw MingaError(.invalidInput, "the config file \(path): \"\(key)\" must be \(Self.keys[key]!.rawValue)")
        }
    }
}
