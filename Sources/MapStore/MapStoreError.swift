#if canImport(Glibc)
import Glibc
#endif

/// Every failure MapStore reports: the environment or a file can cause these, a bug cannot.
///
/// Each case has a stable ``code`` that scripts and logs can match on, and a
/// ``description`` that names what went wrong and where. "Not found" is not an error:
/// getters return `nil`.
public enum MapStoreError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A page (or the meta page, page 0/1) failed a structural or checksum check.
    case corrupted(page: UInt64, reason: String)
    /// The file system has no room to grow or write the data file (ENOSPC or EDQUOT from the
    /// growth's fallocate, or from a commit's write or sync).
    case diskFull(path: String)
    /// The data file would grow past ``Options/maxSize``.
    case mapFull(limit: Int)
    /// A key is empty or longer than ``Database/maxKeySize``.
    case keyTooLarge(size: Int, limit: Int)
    /// A value is longer than ``Database/maxValueSize``.
    case valueTooLarge(size: Int, limit: Int)
    /// A write was attempted through a handle or transaction that cannot write.
    case readOnly(reason: String)
    /// A system call failed: its errno, the call, and the file it was about.
    case io(errno: Int32, operation: String, path: String)
    /// The file was written by an incompatible format version or with another page size.
    case versionMismatch(reason: String)
    /// The writer lock is held elsewhere and the wait gave up; or, rarely, a commit's meta page
    /// moved on under a reader that needed it (its free list): read again.
    case locked(reason: String)
    /// An argument is out of range or malformed.
    case invalidArgument(reason: String)
    /// An earlier I/O error during a commit left this handle unable to write; reopen it.
    case poisoned(reason: String)
    /// A typed table's stored key or value is not an encoding of its key or value type (the
    /// type changed, other code wrote the table, or the bytes are damaged); the reason names
    /// the type, the key and the place in the bytes.
    case decodingFailed(reason: String)
    /// The database is a read replica (it has a replica marker, `DB-replica`): it applies the
    /// commits of `source` (`s3://BUCKET/PREFIX`) and refuses local write transactions.
    case readReplica(source: String)

    /// A short, stable name for the kind of error (`"corrupted"`, `"io"`, ...).
    public var code: String {
        switch self {
        case .corrupted: "corrupted"
        case .diskFull: "diskFull"
        case .mapFull: "mapFull"
        case .keyTooLarge: "keyTooLarge"
        case .valueTooLarge: "valueTooLarge"
        case .readOnly: "readOnly"
        case .io: "io"
        case .versionMismatch: "versionMismatch"
        case .locked: "locked"
        case .invalidArgument: "invalidArgument"
        case .poisoned: "poisoned"
        case .decodingFailed: "decodingFailed"
        case .readReplica: "readReplica"
        }
    }

    /// One line naming what went wrong and where.
    public var description: String {
        switch self {
        case let .corrupted(page, reason): "corrupted page \(page): \(reason)"
        case let .diskFull(path): "disk full writing \(path)"
        case let .mapFull(limit): "database full: it would grow past its maximum size of \(limit) bytes"
        case let .keyTooLarge(size, limit): "key of \(size) bytes is outside the allowed 1...\(limit) bytes"
        case let .valueTooLarge(size, limit): "value of \(size) bytes is larger than the limit of \(limit) bytes"
        case let .readOnly(reason): "read-only: \(reason)"
        case let .io(errno, operation, path):
            "\(operation) failed on \(path): \(String(cString: strerror(errno))) (errno \(errno))"
        case let .versionMismatch(reason): "incompatible file: \(reason)"
        case let .locked(reason): "locked: \(reason)"
        case let .invalidArgument(reason): "invalid argument: \(reason)"
        case let .poisoned(reason): "handle poisoned by an earlier commit failure (\(reason)); reopen the database"
        case let .decodingFailed(reason): "cannot decode \(reason)"
        case let .readReplica(source): "read replica of \(source): it applies that replica's commits and refuses local writes"
        }
    }
}

extension MapStoreError {
    /// What went wrong without the kind's prefix: the reason of the cases that have one, for
    /// an error that wraps another's message.
    var reason: String {
        switch self {
        case let .corrupted(_, reason), let .readOnly(reason), let .versionMismatch(reason), let .locked(reason),
             let .invalidArgument(reason), let .poisoned(reason), let .decodingFailed(reason):
            reason
        default: description
        }
    }
}
