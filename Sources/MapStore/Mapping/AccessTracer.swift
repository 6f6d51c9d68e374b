/// Receives every page the store touches in its map, and every call that changes what the
/// kernel keeps for that map (docs/shadow.md, shadow mode).
///
/// Set one as ``Options/shadow``. The engine calls it synchronously on the thread that
/// touched the page, so an implementation must be cheap and thread-safe. Page numbers are
/// file pages: page `n` lives at `base + n * pageSize` of the mapping reported by
/// ``mapped(base:length:fileBytes:pageSize:mode:)``. The engine knows nothing of what the
/// tracer does with the events (the Shadow layer feeds them to the VM model).
///
/// A hook of this package, not the store's API: MapStoreShadow's `ShadowRecorder` implements
/// it, and users attach one through that module (`Options.shadowRecorder`).
@usableFromInline
package protocol AccessTracer: AnyObject, Sendable {
    /// The data file was mapped: `length` bytes reserved at `base`, `fileBytes` of them backed
    /// by the file, mapped as `mode` says (see ``MappingMode``).
    func mapped(base: UInt, length: Int, fileBytes: Int, pageSize: Int, mode: MappingMode)
    /// `madvise` of `bytes` bytes from byte `from` of the map with the advice of `pattern`:
    /// at open (`from` 0) the read hint, plus MADV_WILLNEED for `.sequential`; after a growth
    /// (`from` > 0, the part the growth added) the read hint only.
    func advised(_ pattern: AccessPattern, from: Int, bytes: Int)
    /// `count` pages from `first` are read through the map.
    func pagesRead(_ first: UInt64, count: Int)
    /// `count` pages from `first` are written in place in the map (writable modes).
    func pagesWritten(_ first: UInt64, count: Int)
    /// `count` pages from `first` are written to the file with `pwrite`, not through the map.
    func pagesStored(_ first: UInt64, count: Int)
    /// `msync(MS_SYNC)` of `count` pages from `first`.
    func mapSynced(_ first: UInt64, count: Int)
    /// `fdatasync` or `fsync` of the data file.
    func fileSynced()
    /// The data file grew to `bytes` bytes (under the reserved map, which does not move).
    func fileGrew(toBytes bytes: Int)
}
