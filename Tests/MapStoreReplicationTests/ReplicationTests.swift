import Foundation
import MapStore
import MapStoreReplication
import MapStoreTestSupport
import MetricsTestKit
import Testing

/// Shipping a database's commits to a real SeaweedFS and restoring them (``Replicator``,
/// ``ReplicaRestore``).
@Suite(.enabled(if: SeaweedFS.enabled, SeaweedFS.missing))
struct ReplicationTests {
    /// Every entry of the main tree and of every table: what a restored copy must equal.
    static func contents(_ db: Database) throws -> [String: [[UInt8]]] {
        try db.read { txn in
            var all: [String: [[UInt8]]] = [:]
            all[""] = try txn.entries().flatMap { [$0.key, $0.value] }
            for name in try txn.tableNames() { all[name] = try txn.table(name).entries().flatMap { [$0.key, $0.value] } }
            return all
        }
    }

    /// A replica of a fresh bucket, with its client.
    static func replica() async throws -> (ReplicaLocation, S3Client) {
        let client = try await SeaweedFS.shared().client()
        let bucket = SeaweedFS.bucketName()
        try await client.createBucket(bucket)
        return (ReplicaLocation(bucket: bucket, prefix: "dbs/orders"), client)
    }

    /// Some changes of every kind: new keys, overwrites, deletes, a table, a value long enough
    /// for an overflow run, and several commits between two rounds of shipping.
    static func change(_ db: Database, round: Int) throws {
        for commit in 0..<5 {
            try db.write { txn in
                for key in 0..<40 { try txn.put(Array("k\(round)-\(commit)-\(key)".utf8), Array("value \(round) \(commit) \(key)".utf8)) }
                if round > 0 { _ = try txn.delete(Array("k\(round - 1)-\(commit)-3".utf8)) }
                try txn.put(Array("shared".utf8), Array("round \(round) commit \(commit)".utf8))
                try txn.table("orders").put(Array("o\(round)-\(commit)".utf8), [UInt8](repeating: UInt8(round), count: 9_000))
            }
        }
    }

    @Test func shippedCommitsRestoreToTheSameDatabase() async throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file("primary.mapstore"), options: .testing(durability: .full))
        let (location, client) = try await Self.replica()
        // One base only: this test follows one chain (new bases: newBasesKeepOneUnbrokenChain).
        let replicator = Replicator(database: db, location: location, client: client, policy: ReplicationPolicy(baseRatio: .infinity))
        try Self.change(db, round: 0)
        let first = try await replicator.shipOnce()
        #expect(first.base != nil && first.commit == nil, "the first round ships a base copy")
        var expected: [(txn: UInt64, contents: [String: [[UInt8]]])] = [(first.replicaAt, try Self.contents(db))]
        for round in 1...3 {
            try Self.change(db, round: round)
            let report = try await replicator.shipOnce()
            #expect(report.base == nil)
            let newest = try await db.read { $0.transactionID }
            #expect(report.commit == newest, "one object for the five commits since the last round")
            #expect(report.pages > 0)
            expected.append((report.replicaAt, try Self.contents(db)))
        }
        let idle = try await replicator.shipOnce()
        #expect(idle.commit == nil && idle.base == nil, "nothing new: nothing shipped")

        let restored = dir.file("restored.mapstore")
        let report = try await ReplicaRestore.restore(from: location, client: client, to: restored)
        #expect(report.transactionID == expected.last!.txn && report.commits == 3)
        do {
            let copy = try Database(path: restored, options: .testing())
            #expect(try Self.contents(copy) == expected.last!.contents)
            #expect(try copy.check() == [])
        }

        // Point in time: each shipped commit, and a transaction between two of them.
        for point in expected {
            let path = dir.file("at-\(point.txn).mapstore")
            let at = try await ReplicaRestore.restore(from: location, client: client, to: path, transactionID: point.txn)
            #expect(at.transactionID == point.txn)
            let restoredAt = try Database(path: path, options: .testing())
            #expect(try Self.contents(restoredAt) == point.contents, "restore at \(point.txn)")
            #expect(try restoredAt.check() == [])
        }
        let between = try await ReplicaRestore.restore(from: location, client: client, to: dir.file("between.mapstore"), transactionID: expected[2].txn - 1)
        #expect(between.transactionID == expected[1].txn, "the newest shipped commit at or before the one asked for")
        await #expect(throws: ReplicationError.noCommit(location: location.description, atOrBefore: expected[0].txn - 1)) {
            try await ReplicaRestore.restore(from: location, client: client, to: dir.file("none.mapstore"), transactionID: expected[0].txn - 1)
        }
        // An existing database is replaced only when asked.
        await #expect(throws: (any Error).self) { try await ReplicaRestore.restore(from: location, client: client, to: restored) }
        _ = try await ReplicaRestore.restore(from: location, client: client, to: restored, overwrite: true)
    }

    /// A damaged commit object is found by its checksum; the restore names it and creates nothing.
    @Test func aDamagedObjectIsRefusedByName() async throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file("primary.mapstore"), options: .testing(durability: .full))
        let (location, client) = try await Self.replica()
        let replicator = Replicator(database: db, location: location, client: client, policy: ReplicationPolicy(baseRatio: .infinity))
        try Self.change(db, round: 0)
        _ = try await replicator.shipOnce()
        try Self.change(db, round: 1)
        let shipped = try await replicator.shipOnce()
        let listing = location.catalog(try await client.list(bucket: location.bucket, prefix: location.prefix + "/"))
        let key = try #require(listing.commits.first { $0.txn == shipped.commit }).key
        var bytes = try #require(try await client.get(bucket: location.bucket, key: key))
        bytes[bytes.count / 2] ^= 0x40
        try await client.put(bucket: location.bucket, key: key, bytes: bytes)
        let target = dir.file("restored.mapstore")
        do {
            _ = try await ReplicaRestore.restore(from: location, client: client, to: target)
            Issue.record("a damaged object was restored")
        } catch let error as ReplicationError {
            guard case let .damagedObject(named, _) = error else { Issue.record("\(error)"); return }
            #expect(named == key)
        }
        #expect(!FileManager.default.fileExists(atPath: target))
    }

    /// What a replicate killed in the middle of a PUT can leave: the first part of the object
    /// under its key. A new replicator (a restarted process) finds it is the newest object,
    /// deletes it and ships from the object before it, so the chain stays readable.
    @Test func aShortCommitObjectLeftByAKilledUploadIsShippedAgain() async throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file("primary.mapstore"), options: .testing(durability: .full))
        let (location, client) = try await Self.replica()
        let policy = ReplicationPolicy(baseRatio: .infinity)
        let killed = Replicator(database: db, location: location, client: client, policy: policy)
        try Self.change(db, round: 0)
        let base = try #require(try await killed.shipOnce().base)
        try Self.change(db, round: 1)
        let shipped = try #require(try await killed.shipOnce().commit)
        let key = location.commitKey(shipped, since: base)
        let whole = try #require(try await client.get(bucket: location.bucket, key: key))
        try await client.put(bucket: location.bucket, key: key, bytes: Array(whole.prefix(whole.count / 2)))
        try Self.change(db, round: 2)

        let restarted = Replicator(database: db, location: location, client: client, policy: policy)
        let report = try await restarted.shipOnce()
        let newest = try await db.read { $0.transactionID }
        #expect(report.commit == newest && report.base == nil)
        #expect(report.damaged == [DamagedObject(key: key, reason: "not a whole gzip stream")])
        let listing = location.catalog(try await client.list(bucket: location.bucket, prefix: location.prefix + "/"))
        #expect(listing.commits.map(\.key) == [location.commitKey(newest, since: base)], "the short object is gone; its successor applies to the base")
        let restored = dir.file("restored.mapstore")
        #expect(try await ReplicaRestore.restore(from: location, client: client, to: restored).transactionID == newest)
        let copy = try Database(path: restored, options: .testing())
        #expect(try Self.contents(copy) == Self.contents(db))
        #expect(try copy.check() == [])
    }

    /// A short base copy under the key of one this replicator shipped (a killed upload that
    /// landed after it) shows another size in the listing: the replicator's next round checks
    /// it, deletes it and ships a whole base again.
    @Test func aShortBaseCopyIsFoundBySizeAndShippedAgain() async throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file("primary.mapstore"), options: .testing(durability: .full))
        let (location, client) = try await Self.replica()
        let replicator = Replicator(database: db, location: location, client: client, policy: ReplicationPolicy(baseRatio: .infinity))
        try Self.change(db, round: 0)
        let base = try #require(try await replicator.shipOnce().base)
        let whole = try #require(try await client.get(bucket: location.bucket, key: location.baseKey(base)))
        try await client.put(bucket: location.bucket, key: location.baseKey(base), bytes: Array(whole.prefix(whole.count - 9)))
        try Self.change(db, round: 1)

        let report = try await replicator.shipOnce()
        let newest = try await db.read { $0.transactionID }
        #expect(report.base == newest && report.commit == nil, "no whole base was left, so a new one is shipped")
        #expect(report.damaged.map(\.key) == [location.baseKey(base)])
        let listing = location.catalog(try await client.list(bucket: location.bucket, prefix: location.prefix + "/"))
        #expect(listing.bases.map(\.txn) == [newest])
        let restored = dir.file("restored.mapstore")
        #expect(try await ReplicaRestore.restore(from: location, client: client, to: restored).transactionID == newest)
        #expect(try Self.contents(Database(path: restored, options: .testing())) == Self.contents(db))
    }

    /// With a base ratio of 0 every round ships a new base copy of the round's commit, after
    /// its commit object, so the chain never breaks: a follower moves on without re-syncing,
    /// and a restore at each point starts from the newest base at or before it.
    @Test func newBasesKeepOneUnbrokenChain() async throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file("primary.mapstore"), options: .testing(durability: .full))
        let (location, client) = try await Self.replica()
        let replicator = Replicator(database: db, location: location, client: client, policy: ReplicationPolicy(baseRatio: 0, retain: nil))
        let follower = Follower(location: location, client: client, path: dir.file("replica.mapstore"))
        try Self.change(db, round: 0)
        _ = try await replicator.shipOnce()
        _ = try await follower.followOnce()
        var points: [(txn: UInt64, contents: [String: [[UInt8]]])] = []
        for round in 1...3 {
            try Self.change(db, round: round)
            let report = try await replicator.shipOnce()
            #expect(report.commit != nil && report.base == report.commit, "round \(round): a new base of the commit shipped")
            let followed = try await follower.followOnce()
            #expect(followed.resyncedFromBase == nil && followed.commitObjects == 1 && followed.primaryTransaction == report.replicaAt)
            points.append((report.replicaAt, try Self.contents(db)))
        }
        let listing = location.catalog(try await client.list(bucket: location.bucket, prefix: location.prefix + "/"))
        #expect(listing.bases.count == 4 && listing.commits.count == 3)
        for point in points {
            let path = dir.file("at-\(point.txn).mapstore")
            let restored = try await ReplicaRestore.restore(from: location, client: client, to: path, transactionID: point.txn)
            #expect(restored.base == point.txn && restored.commits == 0)
            #expect(try Self.contents(Database(path: path, options: .testing())) == point.contents)
        }
        #expect(try FollowTests.contents(dir.file("replica.mapstore")) == Self.contents(db))
    }

    /// A retention window of 0 keeps only the newest base and what follows it: older bases and
    /// the commits before it are deleted, the latest commit still restores, an older point is
    /// gone (no commit at or before it).
    @Test func retentionDeletesWhatNoRestorePointInTheWindowNeeds() async throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file("primary.mapstore"), options: .testing(durability: .full))
        let (location, client) = try await Self.replica()
        let keepAll = Replicator(database: db, location: location, client: client, policy: ReplicationPolicy(baseRatio: .infinity, retain: nil))
        try Self.change(db, round: 0)
        let first = try await keepAll.shipOnce()
        for round in 1...2 {
            try Self.change(db, round: round)
            let kept = try await keepAll.shipOnce()
            #expect(kept.deleted == 0)
        }
        // A new base, then a commit on it; a window of 0 then needs only those two.
        try Self.change(db, round: 3)
        let rebased = try await Replicator(database: db, location: location, client: client, policy: ReplicationPolicy(baseRatio: 0, retain: nil)).shipOnce()
        let newBase = try #require(rebased.base)
        try Self.change(db, round: 4)
        let pruning = Replicator(database: db, location: location, client: client, policy: ReplicationPolicy(baseRatio: .infinity, retain: .zero))
        let pruned = try await pruning.shipOnce()
        let listing = location.catalog(try await client.list(bucket: location.bucket, prefix: location.prefix + "/"))
        #expect(listing.bases.map(\.txn) == [newBase], "only the newest base is left")
        #expect(listing.commits.map(\.txn) == [pruned.replicaAt], "and the commit after it")
        #expect(pruned.deleted == 1 + 3, "the first base, and the three commits up to the new base's")
        let latest = try await ReplicaRestore.restore(from: location, client: client, to: dir.file("latest.mapstore"))
        #expect(latest.transactionID == pruned.replicaAt && latest.base == newBase)
        #expect(try Self.contents(Database(path: dir.file("latest.mapstore"), options: .testing())) == Self.contents(db))
        await #expect(throws: ReplicationError.noCommit(location: location.description, atOrBefore: first.replicaAt)) {
            try await ReplicaRestore.restore(from: location, client: client, to: dir.file("old.mapstore"), transactionID: first.replicaAt)
        }
        let again = try await pruning.shipOnce()
        #expect(again.deleted == 0, "nothing more to delete: the newest base and its commits stay")
    }

    /// `run` ships round after round until its task is cancelled, then once more: after it
    /// returns the bucket holds the database's newest commit, and a follower's `run` beside it
    /// reaches that commit and stops when cancelled.
    @Test func runShipsUntilCancelledAndThenWhatIsPending() async throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file("primary.mapstore"), options: .testing(durability: .full))
        let (location, client) = try await Self.replica()
        let replicator = Replicator(database: db, location: location, client: client)
        try Self.change(db, round: 0)
        let rounds = Rounds()
        let shipping = Task { try await replicator.run(interval: .milliseconds(20)) { _ in rounds.add() } }
        // A follower starts from a base copy (without one it fails: noCommit): after round 1.
        try await ReplicationCLITests.eventually("the first round") { rounds.count >= 1 }
        let follower = Follower(location: location, client: client, path: dir.file("replica.mapstore"))
        let following = Task { try await follower.run(interval: .milliseconds(20)) }
        for round in 1...3 {
            try await ReplicationCLITests.eventually("round \(round * 2)") { rounds.count >= round * 2 }
            try Self.change(db, round: round)
        }
        shipping.cancel()
        try await shipping.value
        let newest = try await db.read { $0.transactionID }
        #expect(await ReplicationCLITests.shippedTransaction(client, location) == newest)
        try await ReplicationCLITests.eventually("the follower reaches \(newest)") {
            (try? Follower.replicatedTransaction(at: dir.file("replica.mapstore"))) == newest
        }
        following.cancel()
        try await following.value
        #expect(try FollowTests.contents(dir.file("replica.mapstore")) == Self.contents(db))
    }

    /// The replicator's and the follower's swift-metrics: objects and bytes shipped, objects
    /// applied, and a lag of 0 commits after rounds that caught up (a positive lag needs a commit
    /// between a round's read and its upload, which a test cannot place without timing).
    @Test func shippingAndFollowingAreMeasured() async throws {
        let dir = TemporaryDirectory()
        let db = try Database(path: dir.file("primary.mapstore"), options: .testing(durability: .full))
        let (location, client) = try await Self.replica()
        let metrics = TestMetrics()
        let replicator = Replicator(database: db, location: location, client: client, policy: ReplicationPolicy(baseRatio: .infinity),
                                    metricsFactory: metrics)
        let follower = Follower(location: location, client: client, path: dir.file("replica.mapstore"), metricsFactory: metrics)
        let at = [("location", location.description)]
        try Self.change(db, round: 0)
        let first = try await replicator.shipOnce()
        _ = try await follower.followOnce()
        try Self.change(db, round: 1)
        let second = try await replicator.shipOnce()
        #expect(try metrics.expectCounter("mapstore_replication_objects_total", at + [("kind", "base")]).totalValue == 1)
        #expect(try metrics.expectCounter("mapstore_replication_objects_total", at + [("kind", "commit")]).totalValue == 1)
        #expect(try metrics.expectCounter("mapstore_replication_bytes_total", at).totalValue == Int64(first.bytes + second.bytes))
        #expect(try metrics.expectGauge("mapstore_replication_lag_commits", at).lastValue == 0)
        #expect(try metrics.expectGauge("mapstore_replication_lag_seconds", at).lastValue ?? -1 >= 0)
        _ = try await follower.followOnce()
        #expect(try metrics.expectCounter("mapstore_follow_objects_total", at).totalValue == 1)
        #expect(try metrics.expectGauge("mapstore_follow_lag_commits", at).lastValue == 0)
        try Self.change(db, round: 2)
        _ = try await follower.followOnce()
        #expect(try metrics.expectGauge("mapstore_follow_lag_commits", at).lastValue == 0, "nothing shipped: nothing to lag behind")
        _ = try await replicator.shipOnce()
        #expect(try metrics.expectGauge("mapstore_replication_lag_commits", at).lastValue == 0)
        try await db.write { try $0.put("after", "the round") }
        _ = try await replicator.shipOnce()
        #expect(try metrics.expectCounter("mapstore_replication_objects_total", at + [("kind", "commit")]).totalValue == 3)
    }

    /// A database replaced by an older one (a restored backup) is not shipped onto the replica
    /// of the newer one.
    @Test func aDatabaseBehindItsReplicaIsRefused() async throws {
        let dir = TemporaryDirectory()
        let path = dir.file("primary.mapstore")
        let (location, client) = try await Self.replica()
        do {
            let db = try Database(path: path, options: .testing(durability: .full))
            try Self.change(db, round: 0)
            _ = try await Replicator(database: db, location: location, client: client).shipOnce()
            try Self.change(db, round: 1)
            _ = try await Replicator(database: db, location: location, client: client).shipOnce()
        }
        try FileManager.default.removeItem(atPath: path)
        try? FileManager.default.removeItem(atPath: path + "-lock")
        let fresh = try Database(path: path, options: .testing(durability: .full))
        try await fresh.write { try $0.put("only", "one") }
        await #expect(throws: ReplicationError.self) { try await Replicator(database: fresh, location: location, client: client).shipOnce() }
    }
}

/// Counts rounds reported from another task.
final class Rounds: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    var count: Int { lock.withLock { value } }
    func add() { lock.withLock { value += 1 } }
}
