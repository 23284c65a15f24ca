import Foundation
import GRDB

/// SQLite's own failures, in words an operator can act on. Whatever the cause, the
/// transaction that failed was rolled back whole: nothing of it was written.
public enum StoreFailure {
    public static func explain(_ error: any Error) -> String? {
        guard let e = error as? DatabaseError else { return nil }
        let detail = e.message ?? "\(e.resultCode)"
        switch e.resultCode {
        case .SQLITE_FULL:
            return
                "the replica's disk is full (or its size quota MINGA_MAX_PAGE_COUNT is reached): nothing of this operation was written; free some space and run it again"
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            return "the replica is busy: another program held its write lock for more than 30 seconds; nothing was written, try again"
        case .SQLITE_CORRUPT, .SQLITE_NOTADB:
            return "the replica file is damaged (\(detail)); restore it from a backup with `minga restore`"
        case .SQLITE_READONLY, .SQLITE_CANTOPEN, .SQLITE_IOERR, .SQLITE_PERM:
            return "cannot write the replica (\(detail)); check the file's permissions and the disk"
        default:
            return nil
        }
    }
}
