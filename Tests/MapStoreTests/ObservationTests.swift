import Atomics
import Foundation
import MapStoreTestSupport
import Testing
@testable import MapStore

/// Observation (DatabaseObservation.swift): commit events, a key's and a range's states, in one
/// process and across two, under a slow consumer, and what cancelling leaves behind.
///
/// No test depends on timing: each waits for what it expects under a generous deadline, after
/// which the consuming task is cancelled (which ends the sequence) and the test fails instead
/// of hanging.
@Suite(.serialized) struct ObservationTests {
    /// Runs `body` in a task that is cancelled after `seconds`; returns what it returned.
    func withDeadline<R: Sendable>(seconds: Double = 120, _ body: @escaping @Sendable () async throws -> R) async throws -> R {
        let task = Task { try await body() }
        let timer = Task {
            try? await Task.sleep(for: .seconds(seconds))
            task.cancel()
        }
        defer { timer.cancel() }
        return try await task.value
    }

    /// Polls `condition` (a test's wait for a thread to exit, not a timing claim) for at most a minute.
    func eventually(_ condition: () -> Bool) -> Bool {
        let deadline = ContinuousClock.now + .seconds(60)
        while !condition() {
            if ContinuousClock.now > deadline { return false }
            usleep(2_000)
        }
        return true
    }

    /// The transaction id of the sequence's next event (nil: none before the deadline).
    func firstEvent(of events: CommitEvents) async throws -> UInt64? {
        try await withDeadline {
            var iterator = events.makeAsyncIterator()
            return await iterator.next()?.transactionID
        }
    }

    func put(_ db: Database, _ key: String, _ value: String, table: String? = nil) throws -> UInt64 {
        try db.write { txn in
            if let table { try txn.table(table).put(key, value) } else { try txn.put(key, value) }
            return txn.committingTransactionID
        }
    }

    // MARK: Commits

    /// A writer task and a `for await` consumer: every event is a commit made after the sequence
    /// began, the ids grow, and the last commit is seen.
    @Test func aConsumerSeesTheCommitsOfAWriterTask() async throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        let start = try await db.read { $0.transactionID }
        let events = db.commits()
        let writer = Task {
            var last: UInt64 = 0
            for i in 0..<20 {
                last = try await db.write { txn in
                    try txn.put("k\(i)", "v")
                    return txn.committingTransactionID
                }
            }
            return last
        }
        let last = try await writer.value
        #expect(last == start + 20)
        let seen = try await withDeadline {
            var seen: [UInt64] = []
            for await event in events {
                seen.append(event.transactionID)
                #expect(event.changedTables == nil, "tables are reported only when asked for")
                if event.transactionID >= last { break }
            }
            return seen
        }
        #expect(seen.last == last)
        #expect(seen.allSatisfy { $0 > start && $0 <= last })
        #expect(seen == seen.sorted() && Set(seen).count == seen.count, "ids only grow: \(seen)")
    }

    /// A consumer that takes nothing while 100 commits happen does not hold the writer up (all
    /// 100 commit before it takes a second event), then gets the newest commit in fewer events
    /// than there were commits: what it missed is folded into one event.
    @Test func aSlowConsumerGetsTheNewestCommitInFewerEvents() async throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        let (first, last, events) = try await withDeadline {
            var iterator = db.commits().makeAsyncIterator()
            let first = try self.put(db, "first", "1")
            #expect(await iterator.next()?.transactionID == first)
            // The consumer takes nothing while the writer commits.
            var last: UInt64 = 0
            for i in 0..<100 { last = try self.put(db, "k\(i)", String(i)) }
            var events = 0
            while let event = await iterator.next() {
                events += 1
                if event.transactionID == last { break }
                try await Task.sleep(for: .milliseconds(20))  // and stays slow
            }
            return (first, last, events)
        }
        #expect(last == first + 100, "the writer committed all 100 while the consumer took nothing")
        #expect(events >= 1 && events < 100, "events for 100 commits: \(events)")
    }

    /// With `reportingTables`, an event names the tables its commit created, wrote or dropped,
    /// and no table for a commit of the main tree's own keys.
    @Test func eventsNameTheTablesACommitChanged() async throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        _ = try put(db, "x", "1", table: "b")
        let events = db.commits(reportingTables: true)
        let steps: [(String, @Sendable (WriteTransaction) throws -> Void, Set<String>)] = [
            ("a new table", { try $0.table("a").put("k", "1") }, ["a"]),
            ("two tables", { txn in try txn.table("a").put("k", "2"); try txn.table("b").put("k", "2") }, ["a", "b"]),
            ("a main key", { try $0.put("main", "1") }, []),
            ("a drop", { _ = try $0.dropTable("b") }, ["b"]),
            ("an overwrite with the same value", { try $0.table("a").put("k", "2") }, ["a"]),
        ]
        try await withDeadline {
            var iterator = events.makeAsyncIterator()
            for (what, change, expected) in steps {
                let txn = try await db.write { txn in
                    try change(txn)
                    return txn.committingTransactionID
                }
                let event = await iterator.next()
                #expect(event?.transactionID == txn, "\(what)")
                #expect(event?.changedTables == expected, "\(what)")
            }
        }
    }

    /// Events of commits published while the consumer was away are folded: the union of their tables.
    @Test func foldedEventsNameEveryTableTheirCommitsChanged() async throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        let events = db.commits(reportingTables: true)
        var committed: UInt64 = 0
        for name in ["t1", "t2", "t3"] { committed = try put(db, "k", "v", table: name) }
        let last = committed
        let tables = try await withDeadline {
            var tables: Set<String> = []
            for await event in events {
                tables.formUnion(event.changedTables ?? [])
                if event.transactionID == last { break }
            }
            return tables
        }
        #expect(tables == ["t1", "t2", "t3"])
    }

    /// The watch thread asleep in its futex wait is woken by the commit itself: with its idle
    /// wake an hour away, the event still comes (a writer that woke nobody would leave the
    /// consumer waiting until the deadline cancels it).
    @Test func aSleepingWatchIsWokenByTheCommit() async throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        let watch = db.environment.commitWatch
        let usual = CommitWatch.idleWake
        CommitWatch.idleWake = .seconds(3600)
        defer { CommitWatch.idleWake = usual }
        let events = db.commits()
        #expect(eventually { watch.signal.waiterCount == 1 }, "the watch thread is asleep")
        let txn = try put(db, "k", "v")
        #expect(try await firstEvent(of: events) == txn)
    }

    /// A private copy-on-write handle, whose commits no other process sees, is told of its own.
    @Test func aPrivateHandleIsToldOfItsOwnCommits() async throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        _ = try put(try Database(path: path, options: .testing()), "k", "0")
        let db = try Database(path: path, options: .testing(.privateCopyOnWrite))
        let events = db.commits()
        let txn = try put(db, "k", "1")
        #expect(try await firstEvent(of: events) == txn)
    }

    // MARK: Cancellation

    /// Cancelling the consuming task ends the sequence (the loop returns) and the watch thread
    /// exits: no thread, no waiter count left in the lock file.
    @Test func cancellingTheConsumerEndsTheSequenceAndItsThread() async throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        let watch = db.environment.commitWatch
        let started = ManagedAtomic<Bool>(false)
        let consumer = Task {
            var count = 0
            let events = db.commits()
            started.store(true, ordering: .sequentiallyConsistent)
            for await _ in events { count += 1 }
            return count
        }
        #expect(eventually { started.load(ordering: .sequentiallyConsistent) && watch.liveThreads.load(ordering: .sequentiallyConsistent) == 1 })
        #expect(eventually { watch.signal.waiterCount == 1 }, "the watch thread waits in the lock file's count")
        consumer.cancel()
        let count = try await withDeadline { await consumer.value }
        #expect(count == 0)
        #expect(eventually { watch.liveThreads.load(ordering: .sequentiallyConsistent) == 0 }, "the watch thread exited")
        #expect(watch.signal.waiterCount == 0)
        // A commit after that reaches nobody and starts nothing.
        _ = try put(db, "k", "v")
        #expect(watch.liveThreads.load(ordering: .sequentiallyConsistent) == 0)
    }

    /// A sequence whose iterator is dropped without cancelling (a `break` out of the loop) ends too.
    @Test func droppingTheSequenceEndsItsObservation() async throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        let watch = db.environment.commitWatch
        let seen = try await withDeadline {
            let events = db.commits(reportingTables: true)
            let txn = try self.put(db, "k", "v")
            for await event in events where event.transactionID == txn { return true }
            return false
        }
        #expect(seen)
        try await withDeadline {
            var iterator = try db.changes(forKey: "k").makeAsyncIterator()
            #expect(try await iterator.next()?.value == Array("v".utf8))
        }
        #expect(eventually { watch.liveThreads.load(ordering: .sequentiallyConsistent) == 0 })
    }

    // MARK: A key, a range

    /// A key's sequence yields its value now, then its value after each commit that changed it,
    /// and nothing for commits that did not (another key, the same value again).
    @Test func aKeysChangesYieldItsNewValues() async throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        _ = try put(db, "k", "0")
        for table in [nil, "t"] as [String?] {
            let changes = try db.changes(forKey: "k", inTable: table)
            let now = try await db.read { $0.transactionID }
            try await withDeadline {
                var iterator = changes.makeAsyncIterator()
                let initial = try await iterator.next()
                #expect(initial == ValueChange(transactionID: now, value: table == nil ? Array("0".utf8) : nil))
                let one = try put(db, "k", "1", table: table)
                #expect(try await iterator.next() == ValueChange(transactionID: one, value: Array("1".utf8)))
                _ = try put(db, "other", "x", table: table)
                _ = try put(db, "k", "1", table: table)
                let two = try put(db, "k", "2", table: table)
                #expect(try await iterator.next() == ValueChange(transactionID: two, value: Array("2".utf8)), "nothing for the other key or the same value")
                let deleted = try await db.write { txn in
                    if let table { try txn.table(table).delete(Array("k".utf8)) } else { try txn.delete(Array("k".utf8)) }
                    return txn.committingTransactionID
                }
                #expect(try await iterator.next() == ValueChange(transactionID: deleted, value: nil))
            }
        }
    }

    /// A prefix's sequence yields the entries now, then all of them again after each commit
    /// that changed one, and nothing for commits outside it.
    @Test func aPrefixsChangesYieldItsEntries() async throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        _ = try put(db, "user:1", "ann")
        let changes = try db.changes(prefix: "user:")
        @Sendable func keys(_ change: RangeChange?) -> [String] {
            (change?.entries ?? []).map { String(decoding: $0.key, as: UTF8.self) + "=" + String(decoding: $0.value, as: UTF8.self) }
        }
        try await withDeadline {
            var iterator = changes.makeAsyncIterator()
            #expect(keys(try await iterator.next()) == ["user:1=ann"])
            _ = try put(db, "other", "x")
            _ = try put(db, "users", "x")  // past the prefix
            let two = try put(db, "user:2", "bob")
            let change = try await iterator.next()
            #expect(change?.transactionID == two)
            #expect(keys(change) == ["user:1=ann", "user:2=bob"])
            let deleted = try await db.write { txn in
                try txn.delete(Array("user:1".utf8))
                return txn.committingTransactionID
            }
            let after = try await iterator.next()
            #expect(after?.transactionID == deleted)
            #expect(keys(after) == ["user:2=bob"])
        }
    }

    /// A read that meets a damaged page ends a key's sequence: its next element is the error,
    /// and after that it is over.
    @Test func aDamagedPageEndsAKeysSequenceWithItsError() async throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        let db = try Database(path: path, options: .testing())
        _ = try put(db, "k", "1", table: "t")
        let root = try await db.read { try $0.root(of: .table("t")).root }
        let changes = try db.changes(forKey: "k", inTable: "t")
        // The table's root page (seen through the shared map): another writer's id, so the tree
        // looks changed, and a kind no tree page has.
        let fd = open(path, O_WRONLY)
        defer { close(fd) }
        let offset = off_t(Int(root) * db.pageSize)
        let writer = [UInt8](repeating: 0xFF, count: 8), kind: [UInt8] = [0xEE]
        #expect(pwrite(fd, writer, 8, offset + 8) == 8 && pwrite(fd, kind, 1, offset + 24) == 1)
        _ = try put(db, "main", "x")  // any commit: the observer looks again
        let outcome = try await withDeadline {
            var iterator = changes.makeAsyncIterator()
            let initial = try await iterator.next()
            var thrown: MapStoreError?
            do throws(MapStoreError) { _ = try await iterator.next() } catch { thrown = error }
            let after = try await iterator.next()
            return (initial?.value, thrown, after == nil)
        }
        #expect(outcome.0 == Array("1".utf8))
        guard case let .corrupted(page, _)? = outcome.1 else {
            Issue.record("expected a corrupted page, got \(String(describing: outcome.1))")
            return
        }
        #expect(page == root)
        #expect(outcome.2, "nothing after the error")
    }

    /// A key too long to exist is refused when the observation is made.
    @Test func anImpossibleKeyIsRefused() throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file(), options: .testing())
        #expect(throws: MapStoreError.self) { _ = try db.changes(forKey: [UInt8](repeating: 1, count: db.maxKeySize + 1)) }
        #expect(throws: MapStoreError.self) { _ = try db.changes(forKey: "k", inTable: "") }
    }

    // MARK: Two processes

    /// Commits of another process wake this one's observers: the commit events reach the last
    /// of its commits, and the key it writes is seen at its last value.
    @Test func commitsOfAnotherProcessAreObserved() async throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        let db = try Database(path: path, options: .testing())
        let start = try await db.read { $0.transactionID }
        let events = db.commits()
        let counter = try db.changes(forKey: "count")
        let child = try TestHelper.start(["commit-n", path, "25", "count"])
        #expect(child.readLine() == "done \(start + 25)")
        #expect(child.wait() == 0)
        let seen = try await withDeadline {
            var seen: [UInt64] = []
            for await event in events {
                seen.append(event.transactionID)
                if event.transactionID >= start + 25 { break }
            }
            return seen
        }
        #expect(seen.last == start + 25)
        let value = try await withDeadline {
            for try await change in counter where change.value == Array("25".utf8) { return change.transactionID }
            return 0
        }
        #expect(value == start + 25)
    }

    /// A process waiting for commits (asleep in the lock file's futex, with no idle wake) is
    /// told of a commit of this one: the waiting child prints the commit and exits.
    @Test func aWaitingProcessIsToldOfACommit() throws {
        let dir = TemporaryDirectory()
        let path = dir.file()
        let db = try Database(path: path, options: .testing())
        let target = try db.read { $0.transactionID } + 1
        let child = try TestHelper.start(["watch-commits", path, String(target)])
        defer { if child.process.isRunning { child.kill() } }
        #expect(child.readLine() == "ready \(target - 1)")
        #expect(eventually { db.environment.commitWatch.signal.waiterCount >= 1 }, "the child waits in the shared count")
        #expect(try put(db, "k", "v") == target)
        #expect(child.readLine() == "seen \(target)")
        #expect(child.wait() == 0)
    }
}
