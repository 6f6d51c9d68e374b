/// How the data file is mapped into the process, each a real `mmap` (docs/format.md).
public enum MappingMode: String, Sendable, CaseIterable, Codable {
    /// MAP_SHARED with PROT_READ; commits write pages with `pwrite`. The default, like LMDB's.
    case readOnly
    /// MAP_SHARED with PROT_READ|PROT_WRITE; a write transaction writes pages in place in the
    /// map and a commit flushes them with `msync(MS_SYNC)`.
    case writeMap
    /// MAP_PRIVATE: writes land in private copy-on-write pages and never reach the file.
    /// Closing the handle discards every change. A scratch copy of a database at the cost
    /// of only the pages written.
    case privateCopyOnWrite
}

/// The access pattern MapStore advises the kernel of with `madvise`.
public enum AccessPattern: String, Sendable, CaseIterable {
    /// MADV_RANDOM on the map for point lookups; MADV_SEQUENTIAL+WILLNEED for full scans,
    /// backups and checks (the default).
    case automatic
    /// MADV_RANDOM: read-ahead off; best for point lookups on files larger than memory.
    case random
    /// MADV_SEQUENTIAL: aggressive read-ahead; best for scans.
    case sequential
    /// MADV_NORMAL: the kernel's default read-ahead.
    case normal
}

/// How much a commit waits for the disk.
public enum Durability: String, Sendable, CaseIterable {
    /// Sync the data pages, then the meta page: an acknowledged commit survives a power cut.
    case full
    /// Sync the data pages but not the meta page (LMDB's MDB_NOMETASYNC). A commit's meta
    /// reaches the disk with the next sync of the file by any writer (the next commit's first
    /// sync, in this process or another). After a power cut the database opens at the last
    /// commit whose meta reached the disk: it may lose the last `.noMetaSync` commit, never an
    /// earlier one, and never damages the commit it opens at, since no writer reuses a page
    /// freed by a commit whose meta is not known to be on disk.
    case noMetaSync
    /// Commits are written and published without waiting for the disk; a commit syncs only
    /// when ``Options/lazySyncInterval`` has passed since the file's last sync by this
    /// writer, when ``Options/lazySyncBytes`` have been written since then, or when the pages
    /// written since then no longer fit one meta page's list (about 250 runs of 4 KiB
    /// pages). That sync is one fdatasync, as for `.full`, and makes every commit before it
    /// durable; ``Database/sync()`` and closing the database's last handle make one too.
    /// Like libmdbx's `MDBX_SAFE_NOSYNC` or SQLite's `synchronous = NORMAL` in WAL mode:
    /// survives a process crash; after a power cut the database opens consistent at a
    /// commit no older than the last sync, losing at most the commits made since. No
    /// lazy commit is written into the meta slot of the last synced commit, and no page
    /// freed after that commit is reused before the next sync, so the commit a power cut
    /// falls back to is always whole.
    case lazy
    /// No syncs: survives a process crash, not a power cut. After a power cut a file that a
    /// `.none` writer wrote may be damaged, commits other handles made durable before
    /// included: such a writer reuses pages without waiting for any sync (LMDB's MDB_NOSYNC).
    case none
}
