import Foundation
import Synchronization

/// The console's signed-in sessions, in memory: a server restart signs everyone out.
///
/// A session is a random 256-bit id carried by an HttpOnly, SameSite=Strict cookie, and a
/// second random value, the CSRF token, that every form carries in a hidden field: a
/// request that changes something must bring both (OWASP's synchronizer token pattern).
final class ConsoleSessions: Sendable {
    /// A message for the next page shown, after an action redirects.
    struct Flash: Sendable {
        let text: String
        let error: Bool
    }

    struct Session: Sendable {
        let csrf: String
        var lastUse: ContinuousClock.Instant
        var flash: Flash?
    }

    private let sessions = Mutex<[String: Session]>([:])
    private let idle: Duration
    /// At most this many sessions live at once; the least recently used goes first.
    static let capacity = 1000

    init(idle: Duration) { self.idle = idle }

    /// A new session; returns its id.
    func open() -> String {
        let id = Self.randomToken()
        let now = ContinuousClock.now
        sessions.withLock { sessions in
            sessions = sessions.filter { now - $0.value.lastUse < idle }
            if sessions.count >= Self.capacity, let oldest = sessions.min(by: { $0.value.lastUse < $1.value.lastUse }) {
                sessions[oldest.key] = nil
            }
            sessions[id] = Session(csrf: Self.randomToken(), lastUse: now)
        }
        return id
    }

    /// The live session `id` names, marked as used now; `nil` if unknown or expired.
    func session(_ id: String?) -> Session? {
        guard let id else { return nil }
        let now = ContinuousClock.now
        return sessions.withLock { sessions in
            guard var session = sessions[id] else { return nil }
            guard now - session.lastUse < idle else {
                sessions[id] = nil
                return nil
            }
            session.lastUse = now
            sessions[id] = session
            return session
        }
    }

    func close(_ id: String) { _ = sessions.withLock { $0.removeValue(forKey: id) } }

    func setFlash(_ message: String, error: Bool = false, for id: String) {
        sessions.withLock { $0[id]?.flash = Flash(text: message, error: error) }
    }

    /// The pending message of session `id`, removed.
    func takeFlash(_ id: String) -> Flash? {
        sessions.withLock { sessions in
            defer { sessions[id]?.flash = nil }
            return sessions[id]?.flash
        }
    }

    /// When the next wrong sign-in may be answered: one a second for the whole console, so
    /// that guesses sent in parallel are as slow as guesses sent one by one.
    private let failedSignIns = Mutex(ContinuousClock.now)

    /// Takes the next one-second slot for a wrong sign-in's answer; `nil` when the queue is
    /// already half a minute long (answered at once, as too many attempts).
    func nextFailedSignIn() -> ContinuousClock.Instant? {
        failedSignIns.withLock { next in
            let now = ContinuousClock.now
            let slot = max(next, now + .seconds(1))
            guard slot - now <= .seconds(30) else { return nil }
            next = slot + .seconds(1)
            return slot
        }
    }

    /// 32 bytes from the system's cryptographic generator (getrandom on Linux), base64url.
    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<4).flatMap { _ in withUnsafeBytes(of: generator.next() as UInt64) { Array($0) } }
        return Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}
