import Dispatch

/// async/await access, GRDB-style, for Swift services.
///
/// Which calls may block, and where:
/// - `await db.read { }` runs on the calling task, with no hop: a read never waits for a
///   lock. (Touching a page that is not in memory is a page fault the kernel serves from
///   disk, as with any memory access.)
/// - `await db.write { }` runs on the database's own writer thread (a serial dispatch queue,
///   one per file), so waiting for the writer lock of another process and the commit's
///   fdatasync block that thread, never one of the cooperative pool's. With
///   ``Durability/lazy`` or ``Durability/none``, whose commits do not wait for the disk, group
///   commit on or off, a write runs on the calling task instead when the writer lock is free and the
///   commit will not sync (no hop to the writer thread and back, which costs more than such
///   a commit).
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
    ///
    /// With ``Options/groupCommit``, transactions of tasks that call this at the same time
    /// commit together and share their syncs; each call still returns only once its
    /// transaction is durable (as ``Options/durability`` defines it). With
    /// ``Durability/lazy`` or ``Durability/none``, a transaction whose commit will not sync
    /// runs on the calling task when the writer lock is free, with or without group commit.
    public func write<R: Sendable>(_ body: @escaping @Sendable (WriteTransaction) throws -> R) async throws -> R {
        // A commit that will not sync has nothing to share with a group: with the writer lock
        // free it runs here, group commit or not (one lazy writer was 3.4x slower through
        // the group's queue, bench/group-commit-bench).
        if options.durability == .lazy || options.durability == .none, let result = try writeHereIfNothingWaits(body) {
            return result.value
        }
        if options.groupCommit { return try await groupedWrite(body) }
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

extension Database {
    /// ``write(_:)`` on the calling task, when the writer lock is free (taken without waiting)
    /// and the commit will neither sync nor wait (``Writer/commitsWithoutWaiting(for:)``);
    /// nil when it cannot, and nothing was done. (The result is wrapped so that a body
    /// returning nil, when `R` is optional, is not taken for "could not".)
    private func writeHereIfNothingWaits<R>(_ body: (WriteTransaction) throws -> R) throws -> (value: R, Void)? {
        if Task.isCancelled { throw CancellationError() }
        try refuseWritesUnlessWritable()
        return try environment.withWriterIfFree { writer in
            guard writer.commitsWithoutWaiting(for: writeHandle) else { return nil }
            let value = try writer.run(for: writeHandle) { transaction in
                let value = try body(transaction)
                // As on the writer thread: the last moment to back out, just before the commit.
                if Task.isCancelled { throw CancellationError() }
                return value
            }
            return (value, ())
        }
    }

    /// ``write(_:)`` under group commit: the body runs in the next group (GroupCommit.swift).
    private func groupedWrite<R: Sendable>(_ body: @escaping @Sendable (WriteTransaction) throws -> R) async throws -> R {
        try refuseWritesUnlessWritable()
        let cancelled = CancellationFlag()
        let result = ResultBox<R>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<R, any Error>) in
                let request = GroupCommitQueue.Request(
                    handle: writeHandle,
                    run: { transaction in
                        let value = try body(transaction)
                        // The last moment to back out: the group writes this commit next.
                        if cancelled.isSet { throw CancellationError() }
                        result.value = value
                    },
                    answer: { error in
                        if let error { continuation.resume(throwing: error) } else { continuation.resume(returning: result.value!) }
                    },
                    cancelled: cancelled)
                environment.groupCommits.submit(request, to: environment)
            }
        } onCancel: {
            cancelled.set()
        }
    }
}

/// A grouped transaction's result, written on the writer thread before its caller is answered.
final class ResultBox<R>: @unchecked Sendable {
    var value: R?
}
