import CoreMetrics
import Logging

/// How a ``Database`` is opened.
public struct Options: Sendable {
    /// The mapping mode; see ``MappingMode``. Default `.readOnly` (pwrite commits).
    public var mappingMode: MappingMode = .readOnly
    /// What a commit waits for. Default `.full`.
    public var durability: Durability = .full
    /// With ``Durability/lazy``: the longest a commit stays unsynced. A lazy commit that
    /// finds this much time passed since this writer's last sync of the file syncs, making
    /// itself and every commit before it durable. Default 1 second; zero syncs every commit.
    /// Nothing syncs while no one commits: ``Database/sync()`` does it on demand.
    public var lazySyncInterval: Duration = .seconds(1)
    /// With ``Durability/lazy``: a lazy commit syncs once the commits since the last sync
    /// (itself included) have written this many bytes. Default 2 MiB. Pages freed by those
    /// commits are not reused before the sync, so this also bounds how far the file grows
    /// beyond what a synced writer would need, and how many pages the free list holds back:
    /// a longer window made each commit dearer (one async writer of single puts,
    /// `group-commit-bench --seconds 2 --writers 1,8 --repeat 1 --durability lazy`, one run
    /// each: 5,718 writes/s with 16 MiB, 11,137-11,916 with 2 MiB, 8,633-11,436 with 512 KiB,
    /// where the larger share of syncs takes over).
    public var lazySyncBytes: Int = 2 << 20
    /// The address space reserved at open, and so the largest the file may grow to.
    /// Default 1 TiB: reserving address space costs nothing until pages are touched, and
    /// the map never has to move while the file grows under it.
    public var maxSize: Int = 1 << 40
    /// The madvise policy; see ``AccessPattern``.
    public var accessPattern: AccessPattern = .automatic
    /// Verify each page's checksum every time a transaction reads it (``Database/check()``
    /// always does). Off by default: it costs a pass over every page read.
    public var verifyChecksums: Bool = false
    /// Erase deleted data from the file, like SQLite's `secure_delete`: every page a commit
    /// writes has zeros wherever it holds no live data (the space of the cells the commit
    /// removed, the free gap between a tree page's slots and its cells, the rest of a
    /// free-list page), and a freed page is overwritten with zeros by the commit of the first
    /// write transaction that may reuse it: once no reader can see it and a later commit is
    /// known to be durable (until then the previous commit must stay whole, so its pages keep
    /// their bytes). Pages a named snapshot pins keep theirs until the snapshot is deleted.
    ///
    /// It erases what is deleted while it is on: removed cells in pages written before, and
    /// pages that were already free, keep their bytes until they are rewritten or reused
    /// (``Database/backup(to:compact:compression:progress:)`` with `compact` writes a copy
    /// without any). A `.privateCopyOnWrite` handle never writes the file, so it zeroes no
    /// freed page. Backups and compacted copies never carry deleted bytes, whatever this says.
    ///
    /// Off by default: it costs about a tenth of a single-put commit's instructions (mostly
    /// zeroing free gaps) and, when released pages are not reused at once, a page write each.
    /// docs/format.md, "Erased bytes", has the details and the measured cost.
    public var secureDelete: Bool = false
    /// Open an existing database only for reading: write transactions throw ``MapStoreError/readOnly(reason:)``.
    public var readOnly: Bool = false
    /// Create the database file when it does not exist. Default `true`.
    public var create: Bool = true
    /// Reader slots in a new lock file: how many read transactions, across all processes,
    /// can be open at once. Default 126, like LMDB. An existing lock file keeps its own count.
    public var maxReaders: Int = 126
    /// How long a write transaction waits for the writer lock (held by another thread or
    /// process) before throwing ``MapStoreError/locked(reason:)``: nil waits for ever (the
    /// default), 0 fails at once.
    public var writerTimeout: Duration? = nil
    /// Group commit: async write transactions (``Database/write(_:)-async``) of tasks that
    /// write at the same time commit together, with one sync for the whole group instead of
    /// one per transaction. Each caller is answered after the shared sync, so nothing
    /// acknowledged is less durable. On by default: with one writer it costs nothing
    /// measurable and with several it multiplies durable writes per second
    /// (`group-commit-bench --seconds 3 --writers 1,8 --repeat 3`, `.full`: one writer 7,143
    /// writes/s alone and 7,270 grouped, then 7,178 and 6,928 in a second run of 5; eight
    /// writers 6,683 and 20,227). Turn it off to have each async write commit and sync alone.
    /// Synchronous ``Database/write(_:)`` calls always commit alone, and so does an async one
    /// with ``Durability/lazy`` or ``Durability/none`` whose commit will not sync, when it
    /// finds the writer lock free: it has no sync to share.
    public var groupCommit: Bool = true
    /// Shadow mode: every page this handle touches in its map, and every msync, madvise and
    /// growth, is reported to this tracer (see ``AccessTracer``). Nil (the default) costs one
    /// branch per page touch. Package-level: MapStoreShadow sets it (`Options.shadowRecorder`).
    package var shadow: (any AccessTracer)? = nil

    /// Whether this handle may write a read replica (a database with a ``ReplicaMarker``):
    /// set only by the follower that applies the replica's commits; every other handle's
    /// write transactions throw ``MapStoreError/readReplica(source:)``.
    package var appliesReplicaCommits = false

    /// Where MapStore logs what an operator should know: opening, recovery from a damaged
    /// meta page, reclaimed stale readers, a poisoned handle, a full disk. nil: no logging.
    /// The first handle to open a file in a process sets its logger.
    public var logger: Logger? = nil
    /// Where commit, page and reader metrics go (swift-metrics); nil: the factory the process
    /// bootstrapped `MetricsSystem` with (no-op if none). Labels are in docs/observability.md.
    public var metricsFactory: (any MetricsFactory)? = nil

    /// The calls that write and sync the data file (Mapping/StorageIO.swift): the system calls
    /// themselves (``SystemIO``) unless a test records them or makes them fail. Internal: the
    /// tests set it through `@testable import`. The first handle to open a file in a process
    /// sets it for every handle of that file.
    var storageIO: any StorageIO = SystemIO()

    /// The data-page checksum a file created by this handle gets (an existing file keeps its
    /// own). Internal: only tests choose XXH64, to make version-1 files as older builds did.
    var newFilePageChecksum: PageChecksum = .current

    /// Whether commits put the free list's working part inline in the meta page when it fits
    /// (format version 4). Internal: only tests turn it off, to make the version-2 and
    /// version-3 files of older builds, whose working part is in chain pages.
    var inlineFreeList = true

    /// Default options: a read-only map with pwrite commits, full durability, 1 TiB reservation.
    public init() {}

    /// Options with the given mapping mode and durability; everything else default.
    public init(mappingMode: MappingMode, durability: Durability = .full) {
        self.mappingMode = mappingMode
        self.durability = durability
    }
}
