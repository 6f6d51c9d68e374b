/// How the data file is mapped into the process, each a real `mmap` (DESIGN.md section 2).
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
    /// Sync the data pages but not the meta page: a power cut may lose the last commits,
    /// never consistency.
    case noMetaSync
    /// No syncs: survives a process crash, not a power cut.
    case none
}
