import Foundation
import MingaCore
import NIOSSL

/// TLS settings read from PEM files, with errors that name the file at fault. Certificate
/// verification is never turned off: a node either trusts the system's roots or, with a CA
/// file, exactly the authorities in it (a private CA, or a peer's self-signed certificate).
public enum TLSFiles {
    /// The server side: a certificate chain (leaf first) and its private key.
    public static func server(certificateFile: String, keyFile: String) throws -> TLSConfiguration {
        let chain = try certificates(certificateFile, what: "TLS certificate")
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(bytes: try bytes(keyFile, what: "TLS key"), format: .pem)
        } catch let error as MingaError {
            throw error
        } catch {
            throw MingaError(.invalidInput, "the TLS key \(keyFile) holds no PEM private key this node can use (\(error))")
        }
        let configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        // Checked now, so that a key of another certificate stops `minga serve` with its file names.
        do { _ = try NIOSSLContext(configuration: configuration) } catch {
            throw MingaError(.invalidInput, "the TLS key \(keyFile) cannot serve the certificate \(certificateFile) (\(error))")
        }
        return configuration
    }

    /// The client side: trusts the certificates of `caFile` instead of the system's roots
    /// when one is given; `nil` (the HTTP client's default, the system trust store) otherwise.
    public static func client(caFile: String?) throws -> TLSConfiguration? {
        guard let caFile else { return nil }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .certificates(try certificates(caFile, what: "CA file"))
        return configuration
    }

    static func certificates(_ path: String, what: String) throws -> [NIOSSLCertificate] {
        let data = try bytes(path, what: what)
        guard let certificates = try? NIOSSLCertificate.fromPEMBytes(data), !certificates.isEmpty else {
            throw MingaError(.invalidInput, "the \(what) \(path) holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
        }
        return certificates
    }

    static func bytes(_ path: String, what: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else { throw MingaError(.failed, "cannot read the \(what) \(path)") }
        return Array(data)
    }
}
