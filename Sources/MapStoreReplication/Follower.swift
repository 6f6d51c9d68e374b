import CoreMetrics
import Dispatch
import Logging
import MapStore

#if canImport(Glibc)
import Glibc
#endif

/// Why a follower would not start on a path.
public enum FollowError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The database exists and is not a read replica (it has no replica marker, `DB-replica`):
    /// a follower makes its replica only where no database is yet.
    case notAReplica(path: String, location: String)
    /// The database is a read replica of another location.
    case replicaOfAnotherSource(path: String, source: String, location: String)

    /// One line naming the database and the locations.
    public var description: String {
        switch self {
        case let .notAReplica(path, location):
            return "\(path) exists and is not a read replica of \(location); follow makes a replica only of a path that does not exist yet"
        case let .replicaOfAnotherSource(path, source, location):
            return "\(path) is a read replica of \(source), not of \(location)"
        }
    }
}

/// What one round of following did.
public struct FollowReport: Sendable, Equatable {
    /// The primary's commit the replica holds after the round.
    public var primaryTransaction: UInt64
    /// The replica's own commit that holds it (the replica numbers its commits itself).
    public var localTransaction: UInt64
    /// Commit objects applied this round.
    public var commitObjects: Int = 0
    /// Whether the replica was created this round, restored from the bucket.
    public var restored = false
    /// The base copy this round re-synced from (a broken chain, a lost position), if any.
    public var resyncedFromBase: UInt64?
    /// Keys written and deleted in the replica this round (in every table).
    public var puts = 0
    public var deletes = 0
}

/// Keeps a read replica of a database's shipped commits (``Replicator``) up to date: a
/// database at `path` that other processes read through the normal API and CLI while commits
/// are applied, never seeing a torn state. It refuses every writer but the follower
/// (``MapStore/MapStoreError/readReplica(source:)``).
///
/// A commit object may overwrite pages that the primary's previous shipped commit reached
/// (freed and reused between two rounds of shipping), so its pages are never written into the
/// replica. They go into the follower's private **mirror**, `path + "-mirror"`, a page image of
/// the primary that nobody else reads; the replica is then changed by one ordinary local write
/// transaction that makes it equal to the mirror's newest commit, found by walking only the
/// subtrees the commit changed. Readers of the replica keep their snapshots as with any commit.
///
/// Where it is (the primary's commit the replica holds, the commit the mirror holds) is kept
/// in the replica marker `path + "-replica"`, written before and after each step, so a
/// follower killed at any point resumes exactly. When the bucket's chain no longer links to
/// where the follower is (commit objects deleted, a newer base with no commits linking it),
/// it re-syncs: a new mirror from the newest base, and a full comparison with the replica.
///
/// ```swift
/// let follower = Follower(location: try ReplicaLocation(url: "s3://backups/shop"),
///                         client: S3Client(configuration: try .fromEnvironment()), path: "shop-replica.mapstore")
/// try await follower.run(interval: .seconds(1))   // until the task is cancelled
/// ```
public struct Follower: Sendable {
    /// Where the primary's commits are.
    public let location: ReplicaLocation
    /// The object store.
    public let client: S3Client
    /// The replica's data file.
    public let path: String
    private let logger: Logger?
    private let metrics: ReplicationMetrics

    /// A follower keeping `path` a replica of `location`. Events go to `logger`; metrics
    /// (objects applied, lag in commits: docs/observability.md) to `metricsFactory`, or to the
    /// factory the process bootstrapped when nil.
    public init(location: ReplicaLocation, client: S3Client, path: String, logger: Logger? = nil,
                metricsFactory: (any MetricsFactory)? = nil) {
        self.location = location
        self.client = client
        self.path = path
        self.logger = logger
        self.metrics = ReplicationMetrics(location: location, factory: metricsFactory)
    }

    /// The follower's page image of the primary.
    public var mirrorPath: String { path + "-mirror" }

    /// The primary's commit that the replica at `path` holds, or nil when `path` is not a
    /// replica or its position is unknown (its follower will re-sync).
    public static func replicatedTransaction(at path: String) throws -> UInt64? {
        guard let marker = try ReplicaMarker.read(databasePath: path) else { return nil }
        var options = Options()
        options.readOnly = true
        options.create = false
        let local = try Database(path: path, options: options).read { $0.transactionID }
        return marker.primaryTransaction(atLocal: local)
    }

    /// Rounds of ``followOnce()`` every `interval` until the task is cancelled (then it
    /// returns). A round under way when the task is cancelled is finished (or, if cancelled
    /// inside an object store request, abandoned: every step is one a restart resumes from). A
    /// round that fails for a reason that may pass (``S3Error/isTransient``) is logged and tried
    /// again after the interval; any other failure is thrown.
    public func run(interval: Duration = .seconds(1), onRound: @Sendable (FollowReport) -> Void = { _ in }) async throws {
        while !Task.isCancelled {
            do {
                onRound(try await followOnce())
            } catch let error as S3Error where error.isTransient || Task.isCancelled {
                if Task.isCancelled { return }
                logger?.warning("replica round failed; trying again", metadata: ["location": "\(location)", "path": "\(path)", "error": "\(error)"])
            } catch where Task.isCancelled {
                return
            }
            do { try await Task.sleep(for: interval) } catch { return }
        }
    }

    /// One round: creates the replica from the bucket if `path` does not exist; else applies
    /// the commit objects shipped since the last round (or re-syncs from the newest base when
    /// they do not link to it) as one local commit.
    public func followOnce() async throws -> FollowReport {
        guard access(path, F_OK) == 0 else { return try await start() }
        guard var marker = try ReplicaMarker.read(databasePath: path) else {
            throw FollowError.notAReplica(path: path, location: location.description)
        }
        guard marker.source == location.description else {
            throw FollowError.replicaOfAnotherSource(path: path, source: marker.source, location: location.description)
        }
        // Handles of the replica live only inside one step, never across a suspension: a
        // handle still open when the caller goes on would keep the file open in this process
        // with the follower's options.
        let local = try replicaTransaction()
        // nil: a local commit the marker does not know of; the replica is then compared whole.
        var since = marker.primaryTransaction(atLocal: local)
        var mirrorAt = access(mirrorPath, F_OK) == 0 ? marker.mirror : nil
        var report = FollowReport(primaryTransaction: since ?? 0, localTransaction: local)

        let (bases, commits) = location.catalog(try await client.list(bucket: location.bucket, prefix: location.prefix.isEmpty ? "" : location.prefix + "/"))
        guard let newestBase = bases.last else { throw ReplicationError.noCommit(location: location.description, atOrBefore: nil) }
        if let at = mirrorAt, since.map({ at >= $0 }) ?? true {
            if let objects = try await chain(after: at, commits: commits, newestBase: newestBase.txn) {
                if let last = objects.last {
                    marker.mirror = nil
                    try marker.write(databasePath: path)
                    let image = try ImageFile(existing: mirrorPath)
                    for (key, object) in objects { try image.apply(object, key: key) }
                    try image.finish()
                    marker.mirror = last.object.txn
                    try marker.write(databasePath: path)
                    mirrorAt = last.object.txn
                    report.commitObjects = objects.count
                }
            } else {
                logger?.warning("replica chain broken; re-syncing from the newest base",
                                metadata: ["location": "\(location)", "path": "\(path)", "mirror": "\(at)"])
                mirrorAt = nil
            }
        } else {
            mirrorAt = nil
        }
        if mirrorAt == nil {
            marker.mirror = nil
            try marker.write(databasePath: path)
            let restored = try await ReplicaRestore.restore(from: location, client: client, to: mirrorPath, overwrite: true)
            marker.mirror = restored.transactionID
            try marker.write(databasePath: path)
            mirrorAt = restored.transactionID
            report.resyncedFromBase = restored.base
            since = nil
        }
        let newestShipped = max(newestBase.txn, commits.last?.txn ?? 0)
        metrics.followObjects.increment(by: report.commitObjects)
        guard let target = mirrorAt, target != since else {
            metrics.followLagCommits.record(Double(newestShipped > report.primaryTransaction ? newestShipped - report.primaryTransaction : 0))
            return report
        }
        let (difference, localAfter) = try await apply(mirrorAt: target, since: since ?? 0, marker: &marker)
        report.primaryTransaction = target
        report.localTransaction = localAfter
        report.puts = difference.puts
        report.deletes = difference.deletes
        logger?.info("replica commit applied", metadata: [
            "location": "\(location)", "path": "\(path)", "txn": "\(target)", "local": "\(localAfter)",
            "objects": "\(report.commitObjects)", "puts": "\(difference.puts)", "deletes": "\(difference.deletes)",
        ])
        metrics.followLagCommits.record(Double(newestShipped > target ? newestShipped - target : 0))
        return report
    }

    /// The commit objects after `at`, downloaded and checked, each applying to the one before;
    /// nil when the bucket's objects do not link to `at` (the follower must re-sync). A damaged
    /// object is an error, except the newest: that may be what a replicator killed mid-upload
    /// left, which the next replicator round deletes and ships again (``Replicator``), so the
    /// chain stops before it, with a warning, and a later round takes what replaces it.
    private func chain(after at: UInt64, commits: [ReplicaObject], newestBase: UInt64) async throws -> [(key: String, object: CommitObject)]? {
        let newer = commits.filter { $0.txn > at }
        guard !newer.isEmpty else {
            // Nothing new, unless a newer base stands where no commit links to it, or the
            // bucket was reset behind the mirror.
            let newest = max(newestBase, commits.last?.txn ?? 0)
            return newestBase > at || newest < at ? nil : []
        }
        let path = ReplicaLocation.chain(from: at, through: nil, commits: commits)
        // Newer objects, none of which links to the mirror: the chain moved on without it.
        guard !path.isEmpty else { return nil }
        var objects: [(key: String, object: CommitObject)] = []
        var chainAt = at
        for commit in path {
            // Gone between the listing and now: deleted by retention, so the chain moved on.
            guard let bytes = try await client.get(bucket: location.bucket, key: commit.key) else { return nil }
            let object: CommitObject
            switch Result(catching: { () throws(ReplicationError) in try CommitObject(decoding: bytes, key: commit.key) }) {
            case let .success(decoded):
                object = decoded
            case let .failure(error):
                guard commit.key == path.last?.key else { throw error }
                logger?.warning("replica's newest object damaged; waiting for the replicator to ship it again",
                                metadata: ["location": "\(location)", "key": "\(commit.key)", "error": "\(error)"])
                return objects
            }
            guard object.since == chainAt, object.txn == commit.txn else { return nil }
            objects.append((commit.key, object))
            chainAt = object.txn
        }
        return objects
    }

    /// Makes the replica equal to the mirror's commit `mirrorAt` in one local commit, taking
    /// the replica to hold commit `since` of the primary (0: nothing assumed), and records it.
    private func apply(mirrorAt: UInt64, since: UInt64, marker: inout ReplicaMarker) async throws -> (ReplicaDifferenceReport, UInt64) {
        let before = marker
        let follower = self
        let path = self.path
        let mirrorPath = self.mirrorPath
        let (difference, local, after) = try await offThePool { () throws -> (ReplicaDifferenceReport, UInt64, ReplicaMarker) in
            let replica = try follower.openReplica()
            var options = Options()
            options.readOnly = true
            options.create = false
            options.verifyChecksums = true
            let mirror = try Database(path: mirrorPath, options: options)
            var marker = before
            let difference = try mirror.read { source in
                guard source.transactionID == mirrorAt else {
                    throw ReplicationError.damagedObject(key: mirrorPath, reason: "the mirror opens at transaction \(source.transactionID), not \(mirrorAt)")
                }
                return try replica.write { txn in
                    let difference = try txn.applyDifference(from: source, since: since)
                    // Recorded before the commit: if the replica is found at this commit, it
                    // holds `mirrorAt`.
                    marker.pending = ReplicaMarker.Position(primary: mirrorAt, local: txn.committingTransactionID)
                    try marker.write(databasePath: path)
                    return difference
                }
            }
            // A commit that changed nothing is not made: the replica stays at its transaction.
            let local = try replica.read { $0.transactionID }
            marker.applied = ReplicaMarker.Position(primary: mirrorAt, local: local)
            marker.pending = nil
            try marker.write(databasePath: path)
            return (difference, local, marker)
        }
        marker = after
        return (difference, local)
    }

    /// Creates the replica: a mirror restored from the bucket, copied as the database, with
    /// the primary's named snapshots removed (they are not replicated).
    private func start() async throws -> FollowReport {
        var marker = ReplicaMarker(source: location.description)
        do {
            // The marker first: the database never exists without it.
            try marker.write(databasePath: path)
            let restored = try await ReplicaRestore.restore(from: location, client: client, to: mirrorPath, overwrite: true)
            marker.mirror = restored.transactionID
            try marker.write(databasePath: path)
            let path = self.path, mirrorPath = self.mirrorPath
            let local = try await offThePool { () throws -> UInt64 in
                try Database.restoreBackup(from: mirrorPath, to: path)
                let replica = try openReplica()
                for snapshot in try replica.snapshots() { _ = try replica.deleteSnapshot(snapshot.name) }
                return try replica.read { $0.transactionID }
            }
            marker.applied = ReplicaMarker.Position(primary: restored.transactionID, local: local)
            try marker.write(databasePath: path)
            logger?.info("replica created", metadata: ["location": "\(location)", "path": "\(path)", "txn": "\(restored.transactionID)",
                                                      "base": "\(restored.base)"])
            var report = FollowReport(primaryTransaction: restored.transactionID, localTransaction: local)
            report.restored = true
            report.resyncedFromBase = restored.base
            report.commitObjects = restored.commits
            return report
        } catch {
            if access(path, F_OK) != 0 {
                try? ReplicaMarker.remove(databasePath: path)
                _ = unlink(mirrorPath)
                _ = unlink(mirrorPath + "-lock")
            }
            throw error
        }
    }

    /// The replica's newest local commit, through a handle closed before this returns.
    private func replicaTransaction() throws -> UInt64 {
        try openReplica().read { $0.transactionID }
    }

    /// The replica, opened as its follower: the one handle that may write it.
    private func openReplica() throws -> Database {
        var options = Options()
        options.create = false
        options.durability = .full
        options.verifyChecksums = true
        options.appliesReplicaCommits = true
        return try Database(path: path, options: options)
    }
}

/// Runs blocking work (file I/O, a write transaction) on a dispatch thread, not on a thread of
/// Swift's cooperative pool. What `body` captures is released only after the caller has
/// resumed, so a database handle must be opened inside `body`, never captured.
private func offThePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
        }
    }
}
