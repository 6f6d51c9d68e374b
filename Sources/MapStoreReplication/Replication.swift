import Crypto
import CoreMetrics
import Logging
import MapStore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Where a database's replica lives: `s3://BUCKET/PREFIX`.
public struct ReplicaLocation: Sendable, Equatable, CustomStringConvertible {
    /// The bucket.
    public var bucket: String
    /// The key prefix every object of this replica starts with (no leading or trailing `/`;
    /// may be empty).
    public var prefix: String

    /// A location from its parts.
    public init(bucket: String, prefix: String) {
        self.bucket = bucket
        var trimmed = Substring(prefix)
        while trimmed.hasPrefix("/") { trimmed = trimmed.dropFirst() }
        while trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        self.prefix = String(trimmed)
    }

    /// Parses `s3://BUCKET[/PREFIX]`.
    public init(url: String) throws(S3Error) {
        guard url.hasPrefix("s3://") else { throw .badLocation("\(url): expected s3://BUCKET/PREFIX") }
        let rest = url.dropFirst(5)
        let bucket = rest.prefix { $0 != "/" }
        guard !bucket.isEmpty else { throw .badLocation("\(url): no bucket after s3://") }
        self.init(bucket: String(bucket), prefix: String(rest.dropFirst(bucket.count)))
    }

    /// `s3://BUCKET/PREFIX`.
    public var description: String { prefix.isEmpty ? "s3://\(bucket)" : "s3://\(bucket)/\(prefix)" }

    /// The key of the base copy of transaction `txn`.
    package func baseKey(_ txn: UInt64) -> String { key("base/\(Self.padded(txn)).mapstore.gz") }
    /// The key of the commit object that brings a replica at transaction `since` to `txn`.
    /// Both are in the name, so the chain can be followed from a listing alone: a replicator
    /// killed mid-upload can have its PUT land after its successor listed the bucket, leaving
    /// an object that nothing builds on (see ``chain(from:through:commits:)``).
    package func commitKey(_ txn: UInt64, since: UInt64) -> String { key("commits/\(Self.padded(txn))-\(Self.padded(since)).gz") }

    private func key(_ name: String) -> String { prefix.isEmpty ? name : "\(prefix)/\(name)" }

    /// Transaction ids in keys are 20 digits, so keys sort in transaction order.
    static func padded(_ txn: UInt64) -> String {
        let digits = String(txn)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits
    }

    /// The objects of this replica found in a listing: base copies and commits, each in
    /// transaction order. Keys that are not this replica's are ignored.
    package func catalog(_ objects: [S3Object]) -> (bases: [ReplicaObject], commits: [ReplicaObject]) {
        let start = prefix.isEmpty ? "" : prefix + "/"
        var bases: [ReplicaObject] = []
        var commits: [ReplicaObject] = []
        for object in objects where object.key.hasPrefix(start) {
            let name = object.key.dropFirst(start.count)
            if name.hasPrefix("base/"), name.hasSuffix(".mapstore.gz"), let txn = UInt64(name.dropFirst(5).dropLast(12)) {
                bases.append(ReplicaObject(txn: txn, key: object.key, size: object.size, lastModified: object.lastModified))
            } else if name.hasPrefix("commits/"), name.hasSuffix(".gz") {
                // TXN-SINCE, or TXN alone (objects shipped before the name carried `since`).
                let fields = name.dropFirst(8).dropLast(3).split(separator: "-", omittingEmptySubsequences: false)
                guard (1...2).contains(fields.count), let txn = UInt64(fields[0]) else { continue }
                let since = fields.count == 2 ? UInt64(fields[1]) : nil
                guard fields.count == 1 || since != nil else { continue }
                commits.append(ReplicaObject(txn: txn, key: object.key, size: object.size, lastModified: object.lastModified, since: since))
            }
        }
        return (bases.sorted { $0.txn < $1.txn }, commits.sorted { $0.txn < $1.txn })
    }

    /// The commit objects that take a replica at `start` as far as it goes without passing
    /// `limit` (nil: no limit), each applying to the one before, from the names alone. Where
    /// two objects apply to the same transaction, the newer is taken: the other is one that a
    /// killed replicator's PUT left after its successor had listed the bucket and shipped past
    /// it, and nothing builds on it. An object whose name has no `since` (shipped before names
    /// carried it) applies to the object before it.
    static func chain(from start: UInt64, through limit: UInt64?, commits: [ReplicaObject]) -> [ReplicaObject] {
        var bySince: [UInt64: [ReplicaObject]] = [:]
        var previous = start
        for commit in commits where commit.txn > start && commit.txn <= (limit ?? .max) {
            bySince[commit.since ?? previous, default: []].append(commit)
            previous = commit.txn
        }
        var path: [ReplicaObject] = []
        var at = start
        while let next = bySince[at]?.filter({ $0.txn > at }).max(by: { $0.txn < $1.txn }) {
            path.append(next)
            at = next.txn
        }
        return path
    }

    /// The keys that retention deletes: every object that no restore point at or after
    /// `cutoff` (seconds since 1970) needs. The state at `cutoff` is the newest object stored
    /// at or before it; restoring it, or anything newer, needs the newest base at or before
    /// that object's transaction and the commits after that base. So everything older than
    /// that base goes, and nothing else: never the newest base, nor a commit after it. An
    /// object with no known time counts as new.
    static func expired(bases: [ReplicaObject], commits: [ReplicaObject], cutoff: Int) -> [String] {
        let points = (bases + commits).filter { ($0.lastModified ?? Int.max) <= cutoff }
        guard let state = points.map(\.txn).max(), let keep = bases.last(where: { $0.txn <= state }) else { return [] }
        return bases.filter { $0.txn < keep.txn }.map(\.key) + commits.filter { $0.txn <= keep.txn }.map(\.key)
    }
}

/// One base copy or commit object of a replica, as a listing shows it.
package struct ReplicaObject: Equatable, Sendable {
    /// The transaction it holds (a base) or brings the replica to (a commit).
    package var txn: UInt64
    package var key: String
    /// Bytes stored (compressed).
    package var size: Int
    /// When it was stored (seconds since 1970), if the listing said.
    package var lastModified: Int?
    /// For a commit object, the transaction it applies to, from its name (nil in names of
    /// objects shipped before the name carried it).
    package var since: UInt64? = nil
}

/// When a ``Replicator`` ships a new base copy and what it deletes.
public struct ReplicationPolicy: Sendable, Equatable {
    /// A new base copy is shipped, of the same commit as that round's commit object, once the
    /// commit objects after the newest base add up to more than `baseRatio` times its size
    /// (both compressed): a restore then downloads at most about (1 + `baseRatio`) times a
    /// base. 0 ships a base every round.
    public var baseRatio: Double
    /// How far back in time a point-in-time restore must stay possible: objects that no
    /// restore point within the window needs are deleted after each round (the newest base,
    /// and the commits after it, never are). nil keeps every object.
    public var retain: Duration?

    /// The defaults: a new base when the chain outgrows the base, and 24 hours kept.
    public init(baseRatio: Double = 1, retain: Duration? = .seconds(24 * 3600)) {
        self.baseRatio = baseRatio
        self.retain = retain
    }
}

/// What replication found wrong, beyond the object store's own errors (``S3Error``).
public enum ReplicationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No commit at or before the transaction asked for is in the replica.
    case noCommit(location: String, atOrBefore: UInt64?)
    /// An object that does not decode or whose checksum does not hold: nothing was restored.
    case damagedObject(key: String, reason: String)
    /// A commit object that does not apply to the state before it (a gap in the chain).
    case brokenChain(key: String, expected: UInt64, found: UInt64)
    /// The database is at an older transaction than the replica has: it was replaced (a restored
    /// backup, a new file). Ship to a new prefix.
    case databaseIsBehindReplica(database: UInt64, replica: UInt64, location: String)

    /// One line naming the object or the location.
    public var description: String {
        switch self {
        case let .noCommit(location, txn):
            return txn.map { "\(location) holds no commit at or before transaction \($0)" } ?? "\(location) holds no replica (no base copy)"
        case let .damagedObject(key, reason):
            return "\(key) is damaged: \(reason); nothing was restored"
        case let .brokenChain(key, expected, found):
            return "\(key) applies to transaction \(found), but the replica before it is at \(expected); nothing was restored"
        case let .databaseIsBehindReplica(database, replica, location):
            return "the database is at transaction \(database), older than \(location)'s \(replica): it was replaced; replicate to a new prefix"
        }
    }
}

/// What one round of shipping did.
public struct ShipReport: Sendable, Equatable {
    /// The base copy shipped this round (its transaction id), if one was needed.
    public var base: UInt64?
    /// The commit object shipped this round (the transaction it brings the replica to).
    public var commit: UInt64?
    /// The transaction the replica is at afterwards.
    public var replicaAt: UInt64
    /// Pages shipped in the commit object.
    public var pages: Int
    /// Bytes uploaded (compressed).
    public var bytes: Int
    /// Objects deleted this round because the retention window no longer needs them.
    public var deleted: Int = 0
    /// Damaged objects found where the round was to build on them (what an upload killed
    /// mid-way can leave), each deleted before the round shipped from the object before it:
    /// their keys and why.
    public var damaged: [DamagedObject] = []
}

/// An object of a replica that does not decode, as a round found it.
public struct DamagedObject: Sendable, Equatable {
    /// Its key.
    public var key: String
    /// What is wrong with it ("not a whole gzip stream", ...).
    public var reason: String

    /// One object and why it is damaged.
    public init(key: String, reason: String) {
        self.key = key
        self.reason = reason
    }
}

/// Ships a database's commits to object storage: a base copy (a plain backup, gzip), then,
/// each round, one object holding every page the newest commit reaches that was written since
/// the replica's last transaction, and that commit's meta.
///
/// It learns a commit's pages from the tree itself: each page carries the id of the
/// transaction that wrote it, so the pages newer than the replica's transaction, reached from
/// the newest commit, are exactly what the replica lacks (the walk stops at older pages, whose
/// subtrees are unchanged). Commits made while no replicator ran are covered the same way: the
/// next round ships what they left, as one object. It only reads (a read transaction pins the
/// commit it copies), so it never blocks the writer.
public struct Replicator: Sendable {
    /// The database shipped.
    public let database: Database
    /// Where to.
    public let location: ReplicaLocation
    /// The object store.
    public let client: S3Client
    /// When it ships new base copies and what it deletes.
    public let policy: ReplicationPolicy
    private let logger: Logger?
    private let metrics: ReplicationMetrics
    /// The objects this replicator shipped or checked, so a round downloads its newest object
    /// only when someone else stored it (see `removeDamagedNewest(bases:commits:)`).
    private let known = KnownObjects()

    /// A replicator of `database` to `location` through `client`. Events go to `logger`;
    /// metrics (objects and bytes shipped, lag in commits and seconds: docs/observability.md)
    /// to `metricsFactory`, or to the factory the process bootstrapped when nil.
    public init(database: Database, location: ReplicaLocation, client: S3Client, policy: ReplicationPolicy = ReplicationPolicy(),
                logger: Logger? = nil, metricsFactory: (any MetricsFactory)? = nil) {
        self.database = database
        self.location = location
        self.client = client
        self.policy = policy
        self.logger = logger
        self.metrics = ReplicationMetrics(location: location, factory: metricsFactory)
    }

    /// Rounds of ``shipOnce()`` every `interval` until the task is cancelled; then one last
    /// round ships what is pending (in a task of its own, so that the cancellation does not
    /// abort its requests) and it returns. A round that fails for a reason that may pass
    /// (``S3Error/isTransient``: the store is down or restarting) is logged and tried again
    /// after the interval; any other failure is thrown. `onRound` sees each round's report.
    ///
    /// ```swift
    /// let shipping = Task { try await replicator.run(interval: .seconds(1)) }
    /// // ... at shutdown:
    /// shipping.cancel()
    /// try await shipping.value   // the last commit is in the bucket
    /// ```
    public func run(interval: Duration = .seconds(1), onRound: @escaping @Sendable (ShipReport) -> Void = { _ in }) async throws {
        while !Task.isCancelled {
            do {
                onRound(try await shipOnce())
            } catch let error as S3Error where error.isTransient || Task.isCancelled {
                if !Task.isCancelled {
                    logger?.warning("replica round failed; trying again", metadata: ["location": "\(location)", "error": "\(error)"])
                }
            } catch where Task.isCancelled {
                // Cancelled mid-round: the last round below ships it.
            }
            do { try await Task.sleep(for: interval) } catch { break }
        }
        let replicator = self
        onRound(try await Task { try await replicator.shipOnce() }.value)
    }

    /// One round: a base copy if the replica has none, then one commit object if the
    /// database has moved past the replica, and with it a new base copy of the same commit
    /// when the chain has outgrown the policy's ratio; then the objects the retention window
    /// no longer needs are deleted. A bucket that does not exist is created.
    public func shipOnce() async throws -> ShipReport {
        let location = self.location, database = self.database
        var (bases, commits) = location.catalog(try await listingCreatingBucket())
        var report = ShipReport(base: nil, commit: nil, replicaAt: 0, pages: 0, bytes: 0)
        report.damaged = try await removeDamagedNewest(bases: &bases, commits: &commits)
        var at: UInt64
        if let newestBase = bases.last {
            at = max(newestBase.txn, commits.last?.txn ?? 0)
        } else {
            let (txn, bytes) = try database.readWithFreeList { txn in (txn.transactionID, try Self.baseCopy(of: txn, in: database)) }
            try await upload(bytes, to: location.baseKey(txn))
            metrics.baseObjects.increment()
            metrics.bytes.increment(by: bytes.count)
            logger?.info("replica base shipped", metadata: ["location": "\(location)", "txn": "\(txn)", "bytes": "\(bytes.count)"])
            report.base = txn
            report.bytes += bytes.count
            bases.append(ReplicaObject(txn: txn, key: location.baseKey(txn), size: bytes.count, lastModified: Int(time(nil))))
            at = txn
        }
        let since = at
        // The commit object, and a new base of the very commit it brings the replica to, so
        // the chain stays unbroken for followers: both from one snapshot.
        let newestBase = bases.last!
        let chainBytes = commits.filter { $0.txn > newestBase.txn }.reduce(0) { $0 + $1.size }
        let ratio = policy.baseRatio
        let readAt = ContinuousClock.now
        // Through readWithFreeList: the commit's meta page, with its inline free list, is
        // overwritten two commits on, so it is read before anything else.
        let shipped: (object: (txn: UInt64, pages: Int, bytes: [UInt8]), base: [UInt8]?)? = try database.readWithFreeList { txn in
            guard txn.transactionID != since else { return nil }
            guard txn.transactionID > since else {
                throw ReplicationError.databaseIsBehindReplica(database: txn.transactionID, replica: since, location: location.description)
            }
            let object = try CommitObject.make(from: txn, since: since)
            let outgrown = Double(chainBytes + object.bytes.count) > ratio * Double(newestBase.size)
            return (object, outgrown ? try Self.baseCopy(of: txn, in: database) : nil)
        }
        if let (object, base) = shipped {
            try await upload(object.bytes, to: location.commitKey(object.txn, since: since))
            let delay = ContinuousClock.now - readAt
            metrics.commitObjects.increment()
            metrics.bytes.increment(by: object.bytes.count)
            metrics.lagSeconds.record(Double(delay.components.seconds) + Double(delay.components.attoseconds) / 1e18)
            logger?.info("replica commit shipped", metadata: ["location": "\(location)", "txn": "\(object.txn)", "pages": "\(object.pages)", "bytes": "\(object.bytes.count)"])
            report.commit = object.txn
            report.pages = object.pages
            report.bytes += object.bytes.count
            commits.append(ReplicaObject(txn: object.txn, key: location.commitKey(object.txn, since: since), size: object.bytes.count,
                                         lastModified: Int(time(nil)), since: since))
            at = object.txn
            if let base {
                try await upload(base, to: location.baseKey(object.txn))
                metrics.baseObjects.increment()
                metrics.bytes.increment(by: base.count)
                logger?.info("replica base shipped", metadata: ["location": "\(location)", "txn": "\(object.txn)", "bytes": "\(base.count)",
                                                               "reason": "chain past \(ratio) of the base"])
                report.base = object.txn
                report.bytes += base.count
                bases.append(ReplicaObject(txn: object.txn, key: location.baseKey(object.txn), size: base.count, lastModified: Int(time(nil))))
            }
        }
        report.replicaAt = at
        let newest = try await database.read { $0.transactionID }
        metrics.lagCommits.record(Double(newest >= at ? newest - at : 0))
        if let retain = policy.retain {
            let cutoff = Int(time(nil)) - Int(retain.components.seconds)
            for key in ReplicaLocation.expired(bases: bases, commits: commits, cutoff: cutoff) {
                try await client.delete(bucket: location.bucket, key: key)
                report.deleted += 1
            }
            if report.deleted > 0 {
                logger?.info("replica objects past the retention window deleted", metadata: ["location": "\(location)", "objects": "\(report.deleted)"])
            }
        }
        return report
    }

    /// Makes sure the object a round builds on is whole. A replicator killed in the middle of
    /// an upload can leave a short object behind (some stores keep what part of a body
    /// arrived), and a round that went on from it would chain every later commit to an object
    /// no restore can read. So the newest object (a base copy is uploaded after the commit
    /// object of its transaction, so the newest base when no commit is newer) is downloaded
    /// and decoded, unless this replicator stored it or checked it before with the size the
    /// listing shows. A damaged one holds nothing a restore could use: it is deleted, with a
    /// warning, and the object before it is checked in its place. The round then goes on
    /// from the last whole object, and its commit object (named after the transaction it
    /// applies to) takes the damaged one's place in the chain. Returns what it deleted.
    private func removeDamagedNewest(bases: inout [ReplicaObject], commits: inout [ReplicaObject]) async throws -> [DamagedObject] {
        var removed: [DamagedObject] = []
        while let newestBase = bases.last {
            let isBase = newestBase.txn >= (commits.last?.txn ?? 0)
            let newest = isBase ? newestBase : commits.last!
            if known.contains(newest) { break }
            let bytes = try await client.get(bucket: location.bucket, key: newest.key)
            let reason: String? = if let bytes { Self.damage(in: bytes, key: newest.key, isBase: isBase) } else { "it was listed but is gone" }
            guard let reason else {
                known.remember(newest.key, size: newest.size)
                break
            }
            logger?.warning("replica object damaged; deleted, and shipped again from the object before it",
                            metadata: ["location": "\(location)", "key": "\(newest.key)", "reason": "\(reason)"])
            if bytes != nil { try await client.delete(bucket: location.bucket, key: newest.key) }
            if isBase { bases.removeLast() } else { commits.removeLast() }
            removed.append(DamagedObject(key: newest.key, reason: reason))
        }
        return removed
    }

    /// What is wrong with a downloaded base copy or commit object, or nil when it decodes whole.
    private static func damage(in bytes: [UInt8], key: String, isBase: Bool) -> String? {
        if isBase { return Gzip.decompress(bytes) == nil ? "not a whole gzip stream" : nil }
        do {
            _ = try CommitObject(decoding: bytes, key: key)
            return nil
        } catch {
            guard case let .damagedObject(_, reason) = error else { return error.description }
            return reason
        }
    }

    /// Uploads an object and remembers it as whole (``KnownObjects``).
    private func upload(_ bytes: [UInt8], to key: String) async throws(S3Error) {
        try await client.put(bucket: location.bucket, key: key, bytes: bytes)
        known.remember(key, size: bytes.count)
    }

    /// The replica's objects; a bucket that does not exist yet is created (a first replica
    /// into a bucket nobody made: ours to fill) and has none.
    private func listingCreatingBucket() async throws(S3Error) -> [S3Object] {
        let prefix = location.prefix.isEmpty ? "" : location.prefix + "/"
        var missing = false
        do {
            return try await client.list(bucket: location.bucket, prefix: prefix)
        } catch {
            guard error.code == "NoSuchBucket" else { throw error }
            missing = true
        }
        if missing { try await client.createBucket(location.bucket) }
        return []
    }

    /// A plain gzip backup of the commit `txn` reads (checked by the backup itself), read back.
    private static func baseCopy(of txn: ReadTransaction, in database: Database) throws -> [UInt8] {
        let directory = temporaryDirectory()
        defer { _ = rmdir(directory) }
        let path = directory + "/base.mapstore.gz"
        defer { _ = unlink(path) }
        try database.backup(of: txn, to: try OutputFile(path: path), compression: .gzip)
        return try FileBytes.read(path)
    }

    static func temporaryDirectory() -> String {
        var template = Array("/tmp/mapstore-replica-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { return "/tmp" }
        return String(cString: made)
    }
}

/// Objects a ``Replicator`` uploaded or downloaded whole, by key, with the size each had.
final class KnownObjects: Sendable {
    private let sizes = Mutex<[String: Int]>([:])

    func remember(_ key: String, size: Int) {
        sizes.withLock { $0[key] = size }
    }

    /// Whether `object` is one of them with the same size: an upload killed mid-way that
    /// landed on the same key afterwards shows a different size.
    func contains(_ object: ReplicaObject) -> Bool {
        sizes.withLock { $0[object.key] == object.size }
    }
}

/// What a restore rebuilt.
public struct ReplicaRestoreReport: Sendable, Equatable {
    /// The transaction the restored database is at.
    public var transactionID: UInt64
    /// The base copy's transaction, and the commit objects applied on it.
    public var base: UInt64
    /// Commit objects applied.
    public var commits: Int
}

/// Rebuilds a database from its replica: the newest base copy at or before the commit asked
/// for, then every commit object after it up to that commit, into a temporary file; the file
/// is then restored like a backup (``Database/restoreBackup(from:to:overwrite:progress:)``):
/// checked, and renamed into place only when sound, so a damaged object changes nothing.
public enum ReplicaRestore {
    /// Restores `location` as `path`: the latest commit, or the newest at or before
    /// `transactionID`. An existing `path` is replaced only with `overwrite`.
    public static func restore(from location: ReplicaLocation, client: S3Client, to path: String,
                               transactionID wanted: UInt64? = nil, overwrite: Bool = false) async throws -> ReplicaRestoreReport {
        let (bases, commits) = location.catalog(try await client.list(bucket: location.bucket, prefix: location.prefix.isEmpty ? "" : location.prefix + "/"))
        let target: UInt64
        let points = (bases.map(\.txn) + commits.map(\.txn)).filter { wanted == nil || $0 <= wanted! }
        guard let newest = points.max(), let base = bases.last(where: { $0.txn <= newest }) else {
            throw ReplicationError.noCommit(location: location.description, atOrBefore: wanted)
        }
        target = newest
        guard let baseBytes = try await client.get(bucket: location.bucket, key: base.key) else {
            throw ReplicationError.damagedObject(key: base.key, reason: "it was listed but is gone")
        }
        guard let image = Gzip.decompress(baseBytes) else {
            throw ReplicationError.damagedObject(key: base.key, reason: "not a whole gzip stream")
        }
        let directory = Replicator.temporaryDirectory()
        defer { _ = rmdir(directory) }
        let imagePath = directory + "/image.mapstore"
        defer { _ = unlink(imagePath); _ = unlink(imagePath + "-lock") }
        let file = try ImageFile(path: imagePath, bytes: image)
        var at = base.txn
        var applied = 0
        let links = ReplicaLocation.chain(from: base.txn, through: target, commits: commits)
        if (links.last?.txn ?? base.txn) != target, let unreachable = commits.first(where: { $0.txn == target }) {
            // The newest point asked for is not reachable from its base: a gap in the chain.
            throw ReplicationError.brokenChain(key: unreachable.key, expected: links.last?.txn ?? base.txn, found: unreachable.since ?? 0)
        }
        for commit in links {
            guard let compressed = try await client.get(bucket: location.bucket, key: commit.key) else {
                throw ReplicationError.damagedObject(key: commit.key, reason: "it was listed but is gone")
            }
            let object = try CommitObject(decoding: compressed, key: commit.key)
            guard object.since == at else { throw ReplicationError.brokenChain(key: commit.key, expected: at, found: object.since) }
            guard object.txn == commit.txn else {
                throw ReplicationError.damagedObject(key: commit.key, reason: "it holds transaction \(object.txn)")
            }
            try file.apply(object, key: commit.key)
            at = object.txn
            applied += 1
        }
        try file.finish()
        try Database.restoreBackup(from: imagePath, to: path, overwrite: overwrite)
        return ReplicaRestoreReport(transactionID: at, base: base.txn, commits: applied)
    }
}

/// One commit object: the pages a commit reaches that were written after `since`, and the
/// commit's meta page, framed and checksummed (SHA-256), then gzip.
///
/// ```
/// 0   8  magic "MSCOMMIT"
/// 8   4  format version (1)
/// 12  4  page size
/// 16  8  since: the transaction this object applies to
/// 24  8  txn: the transaction it brings the replica to
/// 32  8  pageCount of that commit
/// 40  4  number of runs
/// 44  4  zero
/// 48     the commit's meta page (page size bytes)
///        per run: first page (8), page count (4), zero (4), then the pages' bytes
/// end 32 SHA-256 of everything before it
/// ```
struct CommitObject {
    static let magic = Array("MSCOMMIT".utf8)
    var pageSize: Int
    var since: UInt64
    var txn: UInt64
    var pageCount: UInt64
    var meta: ArraySlice<UInt8>
    var runs: [(first: UInt64, count: Int, bytes: ArraySlice<UInt8>)]

    /// The object for `txn` applied on `since`, gzip, with its page count.
    static func make(from txn: ReadTransaction, since: UInt64) throws -> (txn: UInt64, pages: Int, bytes: [UInt8]) {
        let runs = try txn.pagesWritten(after: since)
        let (pageSize, pageCount) = txn.pageLayout
        var out = magic
        out.reserveCapacity(48 + pageSize * (1 + runs.reduce(0) { $0 + $1.count }) + 16 * runs.count + 32)
        append(UInt32(1), to: &out)
        append(UInt32(pageSize), to: &out)
        append(since, to: &out)
        append(txn.transactionID, to: &out)
        append(pageCount, to: &out)
        append(UInt32(runs.count), to: &out)
        append(UInt32(0), to: &out)
        out += try txn.metaPageBytes()
        var pages = 0
        for run in runs {
            append(run.first, to: &out)
            append(UInt32(run.count), to: &out)
            append(UInt32(0), to: &out)
            out += try txn.pageBytes(run.first, count: run.count)
            pages += run.count
        }
        out += SHA256.hash(data: out)
        return (txn.transactionID, pages, Gzip.compress(out))
    }

    /// Decodes and checks an object as stored (gzip); throws ``ReplicationError/damagedObject(key:reason:)``.
    init(decoding compressed: [UInt8], key: String) throws(ReplicationError) {
        func damaged(_ reason: String) -> ReplicationError { .damagedObject(key: key, reason: reason) }
        guard let bytes = Gzip.decompress(compressed) else { throw damaged("not a whole gzip stream") }
        guard bytes.count >= 48 + 32, Array(bytes[0..<8]) == Self.magic else { throw damaged("not a MapStore commit object") }
        let body = bytes[..<(bytes.count - 32)]
        guard Array(SHA256.hash(data: body)) == Array(bytes[(bytes.count - 32)...]) else { throw damaged("its SHA-256 does not match its bytes") }
        guard Self.u32(bytes, 8) == 1 else { throw damaged("format version \(Self.u32(bytes, 8)), this build reads 1") }
        pageSize = Int(Self.u32(bytes, 12))
        guard pageSize >= 512, pageSize <= 1 << 16 else { throw damaged("page size \(pageSize)") }
        since = Self.u64(bytes, 16)
        txn = Self.u64(bytes, 24)
        pageCount = Self.u64(bytes, 32)
        let runCount = Int(Self.u32(bytes, 40))
        var offset = 48
        guard offset + pageSize <= body.count else { throw damaged("shorter than its meta page") }
        meta = bytes[offset..<(offset + pageSize)]
        offset += pageSize
        runs = []
        for _ in 0..<runCount {
            guard offset + 16 <= body.count else { throw damaged("a run header past its end") }
            let first = Self.u64(bytes, offset)
            let count = Int(Self.u32(bytes, offset + 8))
            offset += 16
            guard count >= 1, first >= 2, first + UInt64(count) <= pageCount, offset + count * pageSize <= body.count else {
                throw damaged("run of \(count) pages at page \(first) outside its \(pageCount) pages or its bytes")
            }
            runs.append((first, count, bytes[offset..<(offset + count * pageSize)]))
            offset += count * pageSize
        }
        guard offset == body.count else { throw damaged("\(body.count - offset) bytes after its last run") }
    }

    static func append<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out += $0 }
    }

    static func u32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * UInt32($1)) }
    }

    static func u64(_ bytes: [UInt8], _ offset: Int) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) }
    }
}

/// The plain file a restore assembles: the base image, then each commit's pages and meta
/// written at their places (pwrite), then one fsync.
final class ImageFile {
    let path: String
    let fd: Int32

    init(path: String, bytes: [UInt8]) throws {
        self.path = path
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ReplicationError.damagedObject(key: path, reason: "cannot create: \(String(cString: strerror(errno)))") }
        try write(bytes[...], at: 0)
    }

    /// Opens an image assembled before (a follower's mirror) to apply more commits to it.
    init(existing path: String) throws {
        self.path = path
        fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw ReplicationError.damagedObject(key: path, reason: "cannot open: \(String(cString: strerror(errno)))") }
    }

    deinit { close(fd) }

    func apply(_ object: CommitObject, key: String) throws {
        let size = Int(object.pageCount) * object.pageSize
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw ReplicationError.damagedObject(key: path, reason: "fstat: \(String(cString: strerror(errno)))") }
        if Int(status.st_size) < size, ftruncate(fd, off_t(size)) != 0 {
            throw ReplicationError.damagedObject(key: path, reason: "cannot grow: \(String(cString: strerror(errno)))")
        }
        for run in object.runs { try write(run.bytes, at: Int(run.first) * object.pageSize) }
        try write(object.meta, at: Int(object.txn % 2) * object.pageSize)
    }

    func finish() throws {
        guard fsync(fd) == 0 else { throw ReplicationError.damagedObject(key: path, reason: "fsync: \(String(cString: strerror(errno)))") }
    }

    private func write(_ bytes: ArraySlice<UInt8>, at offset: Int) throws {
        try bytes.withUnsafeBytes { buffer in
            var done = 0
            while done < buffer.count {
                let result = pwrite(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
                if result < 0, errno == EINTR { continue }
                guard result > 0 else { throw ReplicationError.damagedObject(key: path, reason: "write: \(String(cString: strerror(errno)))") }
                done += result
            }
        }
    }
}

/// Reads a whole file.
enum FileBytes {
    static func read(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ReplicationError.damagedObject(key: path, reason: "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count >= 0 else { throw ReplicationError.damagedObject(key: path, reason: "read: \(String(cString: strerror(errno)))") }
            if count == 0 { return out }
            out += chunk[0..<count]
        }
    }
}
