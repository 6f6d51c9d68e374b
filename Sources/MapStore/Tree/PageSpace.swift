/// Where the tree reads pages from: the map of a read transaction, or the map plus the
/// dirty copies of a write transaction.
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

/// What the tree needs from a write transaction: reading pages, copying a page before
/// changing it (copy-on-write), allocating and freeing. The tree never does file I/O.
@usableFromInline
protocol PageSpace: AnyObject, PageReading {
    /// A writable copy of tree page `number`, its header checked: the same page if this
    /// transaction already owns it, else a fresh page (the old one is freed). With
    /// `checkingCells`, every cell is validated too (the page may then be edited in any
    /// way); without, only child pointers the caller has read through ``Node`` may be
    /// changed until ``checkedPage(_:)`` validates it.
    func writablePage(_ number: UInt64, checkingCells: Bool) throws(MapStoreError) -> (number: UInt64, page: Page)
    /// A page this transaction owns, with every cell validated (done now if its copy skipped it).
    func checkedPage(_ number: UInt64) throws(MapStoreError) -> Page
    /// A fresh run of `count` pages owned by this transaction.
    func allocate(_ count: Int) throws(MapStoreError) -> (number: UInt64, page: Page)
    /// Releases a run that the current commit no longer reaches.
    func free(_ number: UInt64, count: Int)
    /// A page-sized buffer for rewriting a page in place.
    var scratch: Page { get }
    /// Whether a removed cell's bytes are zeroed at once (``Options/secureDelete``).
    var secureDelete: Bool { get }
}
