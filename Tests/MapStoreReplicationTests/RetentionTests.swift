import Testing
@testable import MapStoreReplication

/// Which objects the retention window deletes (``ReplicaLocation/expired(bases:commits:cutoff:)``),
/// on made-up listings with times, and the listing's times as S3 writes them.
struct RetentionTests {
    static func object(_ txn: UInt64, base: Bool = false, at time: Int?) -> ReplicaObject {
        ReplicaObject(txn: txn, key: base ? "b\(txn)" : "c\(txn)", size: 1, lastModified: time)
    }

    /// Bases at 10 (time 100) and 40 (time 400); commits 20, 30 (200, 300), 40 (400), 50 (500).
    static let bases = [object(10, base: true, at: 100), object(40, base: true, at: 400)]
    static let commits = [object(20, at: 200), object(30, at: 300), object(40, at: 400), object(50, at: 500)]

    @Test func theStateAtTheCutoffKeepsItsBase() {
        // At 350 the state is commit 30, which needs base 10: nothing goes.
        #expect(ReplicaLocation.expired(bases: Self.bases, commits: Self.commits, cutoff: 350) == [])
        // At 450 the state is commit 40, which base 40 holds: base 10 and commits up to 40 go.
        #expect(ReplicaLocation.expired(bases: Self.bases, commits: Self.commits, cutoff: 450) == ["b10", "c20", "c30", "c40"])
        // Far in the future: the same; the newest base and the commit after it stay.
        #expect(ReplicaLocation.expired(bases: Self.bases, commits: Self.commits, cutoff: 1_000_000) == ["b10", "c20", "c30", "c40"])
        // Before anything was stored: nothing goes.
        #expect(ReplicaLocation.expired(bases: Self.bases, commits: Self.commits, cutoff: 50) == [])
    }

    @Test func anObjectWithoutATimeCountsAsNew() {
        // Only commit 30 is known to be older than the cutoff: the state there needs base 10.
        let bases = [Self.object(10, base: true, at: 100), Self.object(40, base: true, at: nil)]
        let commits = [Self.object(20, at: 200), Self.object(30, at: 300), Self.object(40, at: nil), Self.object(50, at: nil)]
        #expect(ReplicaLocation.expired(bases: bases, commits: commits, cutoff: 1_000_000) == [])
    }

    @Test func listingTimesParse() {
        #expect(S3Object.seconds(iso8601: "1970-01-01T00:00:00.000Z") == 0)
        #expect(S3Object.seconds(iso8601: "2026-12-03T04:21:54Z") == 1_796_271_714)
        #expect(S3Object.seconds(iso8601: "2026-12-03T04:21:54.123Z") == 1_796_271_714)
        for bad in ["", "2026-12-03", "2026-13-03T04:21:54Z", "2026-12-03 04:21:54Z", "2026-12-03T04:21:54+01:00", "2026-12-03T04:21:54.1x3Z"] {
            #expect(S3Object.seconds(iso8601: bad) == nil, "\(bad)")
        }
    }
}

/// How restore and follow find the chain of commit objects from the listing's names
/// (``ReplicaLocation/chain(from:through:commits:)``).
struct CommitChainTests {
    static func commit(_ txn: UInt64, since: UInt64?) -> ReplicaObject {
        ReplicaObject(txn: txn, key: "c\(txn)", size: 1, lastModified: nil, since: since)
    }

    @Test func namesParseWithAndWithoutSince() {
        let location = ReplicaLocation(bucket: "b", prefix: "p")
        let listing = [S3Object(key: location.commitKey(9, since: 4), size: 1), S3Object(key: "p/commits/00000000000000000003.gz", size: 1),
                       S3Object(key: "p/commits/12-x.gz", size: 1), S3Object(key: "p/commits/1-2-3.gz", size: 1)]
        let commits = location.catalog(listing).commits
        #expect(commits.map(\.txn) == [3, 9] && commits.map(\.since) == [nil, 4])
    }

    /// A killed replicator's PUT of 5 (on 1) landed after its successor had shipped 7 on 1:
    /// the chain goes 1, 7, 9 and leaves 5 out, unless the limit stops before 7.
    @Test func anObjectNothingBuildsOnIsLeftOut() {
        let commits = [Self.commit(5, since: 1), Self.commit(7, since: 1), Self.commit(9, since: 7)]
        #expect(ReplicaLocation.chain(from: 1, through: nil, commits: commits).map(\.txn) == [7, 9])
        #expect(ReplicaLocation.chain(from: 1, through: 6, commits: commits).map(\.txn) == [5])
        #expect(ReplicaLocation.chain(from: 7, through: nil, commits: commits).map(\.txn) == [9])
    }

    @Test func aGapEndsTheChainAndOldNamesLinkInOrder() {
        let gap = [Self.commit(3, since: 1), Self.commit(8, since: 6)]
        #expect(ReplicaLocation.chain(from: 1, through: nil, commits: gap).map(\.txn) == [3])
        let old = [Self.commit(3, since: nil), Self.commit(4, since: nil), Self.commit(6, since: 4)]
        #expect(ReplicaLocation.chain(from: 1, through: nil, commits: old).map(\.txn) == [3, 4, 6])
    }
}
