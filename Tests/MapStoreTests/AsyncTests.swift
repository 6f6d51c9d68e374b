import Dispatch
import Foundation
import MapStoreTestSupport
import Testing
@testable import MapStore

@Suite struct AsyncTests {
    /// More tasks than cores, each writing and reading: every read sees a committed state
    /// (two balances that always sum to 1,000), every write lands, nothing deadlocks.
    @Test func manyTasksReadAndWrite() async throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        try await db.write { txn in
            try txn.put("a", "1000")
            try txn.put("b", "0")
            try txn.put("count", "0")
        }
        let tasks = 64, rounds = 15
        let violations = try await withThrowingTaskGroup(of: Int.self) { group in
            for task in 0..<tasks {
                group.addTask {
                    var violations = 0
                    for round in 0..<rounds {
                        try await db.write { txn in
                            let a = Int(try txn.getString("a")!)!, b = Int(try txn.getString("b")!)!
                            let amount = (task + round) % 7
                            try txn.put("a", String(a - amount))
                            try txn.put("b", String(b + amount))
                            try txn.put("count", String(Int(try txn.getString("count")!)! + 1))
                        }
                        let sum = try await db.read { txn in
                            Int(try txn.getString("a")!)! + Int(try txn.getString("b")!)!
                        }
                        if sum != 1000 { violations += 1 }
                    }
                    return violations
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(violations == 0)
        #expect(try await db.read { try $0.getString("count") } == String(tasks * rounds))
        #expect(try db.check() == [])
    }

    /// A task cancelled while its transaction runs gets CancellationError and changes nothing:
    /// on the writer thread, in a group, or on its own task (a commit that will not sync).
    /// (The body blocks its thread until it is cancelled; on its own task that is a thread of
    /// the cooperative pool, one per core, so a thread of the test's own cancels it: neither a
    /// task nor a dispatch worker, which the writer queues need.)
    @Test(arguments: [Durability.none, .lazy, .full], [false, true])
    func cancellationAbortsTheTransaction(durability: Durability, groupCommit: Bool) async throws {
        let dir = TemporaryDirectory()
        var options = Options.testing(durability: durability)
        options.groupCommit = groupCommit
        let db = try Database(path: dir.file(), options: options)
        let started = DispatchSemaphore(value: 0)
        let proceed = DispatchSemaphore(value: 0)
        let task = Task {
            try await db.write { txn in
                try txn.put("half", "done")
                started.signal()
                proceed.wait()
            }
        }
        Thread {
            started.wait()
            task.cancel()
            proceed.signal()
        }.start()
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(try await db.read { try $0.get("half") } == nil)
        // The writer thread is free again.
        try await db.write { try $0.put("after", "1") }
        #expect(try await db.read { try $0.getString("after") } == "1")
    }

    /// A task cancelled before its transaction starts never runs its body.
    @Test func cancelledBeforeStartingNeverRuns() async throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await db.write { txn in try txn.put("ran", "yes") }
        }
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(try await db.read { try $0.get("ran") } == nil)
    }
}
