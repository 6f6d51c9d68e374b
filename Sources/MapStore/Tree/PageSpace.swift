/// What the tree needs from a write transaction: reading pages, copying a page before
/// changing it (copy-on-write), allocating and freeing. The tree never does file I/O.
@usableFromInline
protocol PageSpace: AnyObject, PageReading {
    /// A writable copy of tree page `number`, its header checked: the same page if this
    /// transaction already owns it, else a fresh page (the old one is freed). With
    /// `checkingCells`, every cell is validated too (the page may then be edited in any
    /// way); without, until ``checkedPage(_:)`` validates it, the caller may only change
    /// child pointers and cells it has read through ``Node`` (which checks what it reads) and
    /// put new cells into the free gap.
    func writablePage(_ number: UInt64, checkingCells: Bool) throws(MapStoreError) -> (number: UInt64, page: Page)
    /// Takes back a copy ``writablePage(_:checkingCells:)`` just made of committed page
    /// `source`, found damaged before any edit: `copy` is freed at once and `source` stays the
    /// snapshot's (no longer freed by this transaction).
    func abandonCopy(_ copy: UInt64, of source: UInt64)
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
