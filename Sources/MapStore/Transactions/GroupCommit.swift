import Dispatch

/// Async write transactions waiting for the writer thread, committed in groups that share
/// their syncs (``Options/groupCommit``).
///
/// While one group's fdatasync runs, the next callers queue up here; the writer thread then
/// takes all of them at once, runs each transaction in turn under one hold of the writer
/// lock, writes each one's pages (commit steps 1-3), and makes the lot durable with one sync
/// of the pages, one meta and one sync of the meta (steps 4-7). Every caller is answered only
/// after that shared sync, so an acknowledged write is as durable as with a commit of its own.
/// A transaction that throws is rolled back alone; the others of its group still commit.
final class GroupCommitQueue: Sendable {
    /// One caller's transaction, its result kept until the group is durable.
    struct Request: Sendable {
        /// The handle the caller wrote through (its options: durability, checksums, shadow).
        let handle: WriteHandle
        /// Runs the caller's body in `transaction` and keeps its result.
        let run: @Sendable (_ transaction: WriteTransaction) throws -> Void
        /// Answers the caller: nil for success, else the error.
        let answer: @Sendable (_ error: (any Error)?) -> Void
        let cancelled: CancellationFlag
    }

    private let waiting = Lock((requests: [Request](), draining: false, unanswered: 0))

    /// Callers queued or in a group that is not durable yet.
    var unanswered: Int { waiting.withLock { $0.unanswered } }

    /// Queues `request` and, unless a drain is already under way, starts one on the
    /// environment's writer thread.
    func submit(_ request: Request, to environment: Environment) {
        let startDrain = waiting.withLock { state in
            state.requests.append(request)
            state.unanswered += 1
            defer { state.draining = true }
            return !state.draining
        }
        if startDrain { environment.writerQueue.async { self.drain(environment) } }
    }

    /// Commits groups until no caller is waiting.
    private func drain(_ environment: Environment) {
        while true {
            let group = waiting.withLock { state in
                defer { state.requests.removeAll() }
                if state.requests.isEmpty { state.draining = false }
                return state.requests
            }
            if group.isEmpty { return }
            commit(group, in: environment)
        }
    }

    private func answer(_ request: Request, _ error: (any Error)?) {
        waiting.withLock { $0.unanswered -= 1 }
        request.answer(error)
    }

    /// Runs every transaction of `group` and makes those that committed durable together.
    private func commit(_ group: [Request], in environment: Environment) {
        do {
            try environment.withWriter(timeout: group[0].handle.options.writerTimeout) { writer in commit(group, writer: writer) }
        } catch {
            for request in group { answer(request, error) }
        }
    }

    /// ``commit(_:in:)`` holding the writer lock.
    private func commit(_ group: [Request], writer: Writer) {
        var written = WrittenCommits()
        var durability = Durability.none
        var toAnswer: [Request] = []
        for request in group {
            do {
                if request.cancelled.isSet { throw CancellationError() }
                var transaction = try writer.begin(for: request.handle)
                defer { writer.end(&transaction, keepingIn: request.handle) }
                try request.run(transaction)
                _ = try transaction.writeCommit(into: &written)
                durability = durability.stronger(request.handle.options.durability)
                // Answered after the group's sync, even when it changed nothing: it may have
                // read what an earlier transaction of the group wrote.
                toAnswer.append(request)
            } catch {
                answer(request, error)
            }
        }
        do {
            try writer.makeDurable(written, durability: durability)
            for request in toAnswer { answer(request, nil) }
        } catch {
            for request in toAnswer { answer(request, error) }
        }
    }
}

extension Durability {
    /// The one of the two that waits for more: a group syncs as its most demanding member asks.
    func stronger(_ other: Durability) -> Durability {
        func rank(_ durability: Durability) -> Int {
            switch durability {
            case .none: 0
            case .lazy: 1
            case .noMetaSync: 2
            case .full: 3
            }
        }
        return rank(other) > rank(self) ? other : self
    }
}

/// A flag set by a task's cancellation handler and read on the writer thread.
final class CancellationFlag: Sendable {
    private let value = Lock(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
}
