/// Where pages are read from: the map of a read transaction, or the map plus the dirty
/// copies of a write transaction. The tree reads through it, and so does the free list's
/// chain (FreeListChain.swift), which is why it lives here, beneath both.
///
/// Class-bound: a witness then takes the source itself as `self`, so specialized tree code
/// calls the source's `readPage` directly instead of through a witness thunk (which also
/// made the caller retain the source around each call).
@usableFromInline
protocol PageReading: AnyObject {
    /// The page size of the file.
    var pageSize: Int { get }
    /// The file's data-page checksum (format version 1 or 2), for checks and copies.
    var pageChecksum: PageChecksum { get }
    /// Page `number` for reading (a dirty copy if this transaction has one); the number is
    /// checked against the snapshot's page count.
    func readPage(_ number: UInt64) throws(MapStoreError) -> Page
    /// `count` pages from `first` as one view (an overflow run), bounds-checked.
    func readRun(_ first: UInt64, count: Int) throws(MapStoreError) -> Page
}
