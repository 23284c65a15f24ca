import Hummingbird
import MingaCore

/// Reading what is left of a refused request, as nginx's lingering close does: a client that
/// does not send `Expect: 100-continue` (Python's urllib, many others) writes its whole body
/// before it reads the answer, so a server that stops reading leaves it blocked until the
/// idle timeout, and it never sees the refusal (protocol/README.md §16).
enum RequestDrain {
    /// The refusals answered before the body is read.
    static let refusedUnread: Set<MingaError.Code> = [.unauthorized, .busy, .notFound]
    /// How long, and how much, to read before giving up and closing the connection instead.
    static let time: Duration = .milliseconds(1500)
    static let bytes = 1 << 30

    /// `refusal`, after reading and dropping the rest of the body within the bounds; marked to
    /// close the connection when the body did not end by then (or broke off). A client that
    /// sent `Expect: 100-continue` for `request` waits for the answer and sends nothing:
    /// nothing is read (`nil` for a body already on its way).
    static func refusing(_ refusal: ErrorEnvelope, _ request: Request?, _ chunks: inout RequestBody.AsyncIterator) async -> ErrorEnvelope {
        if request?.headers[.expect]?.lowercased() == "100-continue" { return refusal }
        var answer = refusal
        answer.closesConnection = true
        let deadline = ContinuousClock.now + time
        var read = 0
        do {
            while let chunk = try await chunks.next() {
                read += chunk.readableBytes
                if read > bytes || ContinuousClock.now > deadline { return answer }
            }
        } catch {
            return answer
        }
        answer.closesConnection = false
        return answer
    }
}
