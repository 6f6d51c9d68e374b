import Dispatch

/// async/await access, GRDB-style, for Swift services.
///
/// Which calls may block, and where:
/// - `await db.read { }` runs on the calling task, with no hop: a read never waits for a
///   lock. (Touching a page that is not in memory is a page fault the kernel serves from
///   disk, as with any memory access.)
/// - `await db.write { }` runs on the database's own writer thread (a serial dispatch queue,
///   one per file), so waiting for the writer lock of another process and the commit's
///   fdatasync block that thread, never one of the cooperative pool's.
extension Database {
    /// Runs `body` in a read transaction at the newest commit, on the calling task.
    public func read<R>(_ body: (ReadTransaction) throws -> R) async throws -> R {
        let readNow: ((ReadTransaction) throws -> R) throws -> R = read  // the synchronous overload
        return try readNow(body)
    }

    /// Runs `body` in a write transaction on the database's writer thread and commits when it
    /// returns; a throw rolls everything back.
    ///
    /// Cancellation: a task cancelled before its transaction starts, or while `body` runs,
    /// gets `CancellationError` and its transaction is rolled back; a cancellation that
    /// arrives after the decision to commit leaves a complete commit. Never half of one.
    public func write<R: Sendable>(_ body: @escaping @Sendable (WriteTransaction) throws -> R) async throws -> R {
        let cancelled = CancellationFlag()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<R, any Error>) in
                environment.writerQueue.async {
                    do {
                        if cancelled.isSet { throw CancellationError() }
                        let writeNow: ((WriteTransaction) throws -> R) throws -> R = self.write  // synchronous
                        let result = try writeNow { transaction in
                            let result = try body(transaction)
                            // The last moment to back out: write() commits right after this returns.
                            if cancelled.isSet { throw CancellationError() }
                            return result
                        }
                        continuation.resume(returning: result)
                    } catch {
                        continuation.resume(throwing: error)
                    }
                }
            }
        } onCancel: {
            cancelled.set()
        }
    }
}

/// A flag set by a task's cancellation handler and read on the writer thread.
final class CancellationFlag: Sendable {
    private let value = Lock(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
}
