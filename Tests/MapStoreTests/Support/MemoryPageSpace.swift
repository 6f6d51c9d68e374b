@testable import MapStore

/// A ``PageSpace`` in one heap buffer, for testing the tree without a file or a transaction.
///
/// It keeps the rules a write transaction keeps, so a tree bug shows here as it would in a
/// store: a page copied with ``writablePage(_:checkingCells:)`` gets a new number unless
/// this "transaction" allocated it (copy-on-write), and a copy made without checking its
/// cells is flagged until ``checkedPage(_:)`` validates it. ``commit()`` ends the
/// transaction: it seals the pages written (so ``TreeChecker`` can verify their checksums)
/// and makes the pages freed by it reusable. Reading a free page throws, so a tree that keeps
/// a pointer to a page it freed fails the test.
final class MemoryPageSpace: PageSpace {
    let pageSize: Int
    let pageChecksum: PageChecksum = .crc32c
    let secureDelete: Bool
    /// Pages the buffer holds (numbers `0..<capacity`; 0 and 1 stand for the meta pages).
    let capacity: Int
    private let buffer: UnsafeMutableRawPointer
    private let scratchBuffer: UnsafeMutableRawPointer
    /// The high-water mark: pages `2..<pageCount` have been handed out at some time.
    private(set) var pageCount: UInt64 = PageLayout.firstDataPage
    /// Pages that are free now, reusable by ``allocate(_:)``.
    private var reusable: Set<UInt64> = []
    /// Pages freed since the last commit that an older snapshot may still read.
    private var pendingFree: Set<UInt64> = []
    /// Pages allocated since the last commit (this transaction's own).
    private var owned: Set<UInt64> = []
    /// Run lengths of the runs handed out and not freed, by first page.
    private(set) var live: [UInt64: Int] = [:]

    init(pageSize: Int = 512, capacity: Int = 8192, secureDelete: Bool = true) {
        self.pageSize = pageSize
        self.capacity = capacity
        self.secureDelete = secureDelete
        buffer = .allocate(byteCount: pageSize * capacity, alignment: 64)
        buffer.initializeMemory(as: UInt8.self, repeating: 0xA5, count: pageSize * capacity)
        scratchBuffer = .allocate(byteCount: pageSize, alignment: 64)
    }

    deinit {
        buffer.deallocate()
        scratchBuffer.deallocate()
    }

    var scratch: Page { Page(scratchBuffer, size: pageSize) }

    /// Pages in use now (every page of every live run).
    var livePages: Set<UInt64> {
        var pages: Set<UInt64> = []
        for (first, count) in live { for page in first..<(first + UInt64(count)) { pages.insert(page) } }
        return pages
    }

    /// The view of `count` pages from `first`, whatever they hold (for tests that damage a page).
    func rawPage(_ first: UInt64, count: Int = 1) -> Page {
        precondition(first + UInt64(count) <= UInt64(capacity), "page outside the buffer")
        return Page(buffer + Int(first) * pageSize, size: count * pageSize)
    }

    // MARK: PageReading

    func readPage(_ number: UInt64) throws(MapStoreError) -> Page {
        try readRun(number, count: 1)
    }

    func readRun(_ first: UInt64, count: Int) throws(MapStoreError) -> Page {
        guard first >= PageLayout.firstDataPage, first + UInt64(count) <= pageCount else {
            throw MapStoreError.corrupted(page: first, reason: "outside the space's pages 2..<\(pageCount)")
        }
        guard live[first] == count else {
            throw MapStoreError.corrupted(page: first, reason: "read of \(count) pages that are not a live run")
        }
        return rawPage(first, count: count)
    }

    // MARK: PageSpace

    func writablePage(_ number: UInt64, checkingCells: Bool) throws(MapStoreError) -> (number: UInt64, page: Page) {
        let source = try readPage(number)
        if owned.contains(number) {
            if checkingCells { try checkCells(source, number: number) }
            return (number, source)
        }
        let node = try Node(source, number: number)
        if checkingCells { try node.validateAll() }
        let (copy, page) = try allocate(1)
        page.copyUsed(from: source, slotsEnd: node.slotsEnd, upper: source.upper)
        page.setU64(PageLayout.numberOffset, copy)
        page.setU8(PageLayout.flagsOffset, checkingCells ? 0 : PageLayout.uncheckedCells)
        free(number, count: 1)
        return (copy, page)
    }

    func abandonCopy(_ copy: UInt64, of source: UInt64) {
        free(copy, count: 1)
        if pendingFree.remove(source) != nil { live[source] = 1 }
    }

    func checkedPage(_ number: UInt64) throws(MapStoreError) -> Page {
        let page = try readPage(number)
        try checkCells(page, number: number)
        return page
    }

    private func checkCells(_ page: Page, number: UInt64) throws(MapStoreError) {
        guard page.u8(PageLayout.flagsOffset) & PageLayout.uncheckedCells != 0 else { return }
        try Node(page, number: number).validateAll()
        page.setU8(PageLayout.flagsOffset, 0)
    }

    func allocate(_ count: Int) throws(MapStoreError) -> (number: UInt64, page: Page) {
        let first: UInt64
        if count == 1, let page = reusable.min() {
            reusable.remove(page)
            first = page
        } else {
            guard pageCount + UInt64(count) <= UInt64(capacity) else { throw MapStoreError.mapFull(limit: capacity * pageSize) }
            first = pageCount
            pageCount += UInt64(count)
        }
        precondition(live[first] == nil, "page \(first) handed out twice")
        live[first] = count
        for page in first..<(first + UInt64(count)) { owned.insert(page) }
        let page = rawPage(first, count: count)
        page.initialize(kind: .leaf, number: first, txnID: 1)
        return (first, page)
    }

    func free(_ number: UInt64, count: Int) {
        precondition(live[number] == count, "free of \(count) pages at \(number) that are not a live run")
        live[number] = nil
        for page in number..<(number + UInt64(count)) {
            // A page this transaction allocated is free at once; an older one when it commits.
            if owned.remove(page) != nil { reusable.insert(page) } else { pendingFree.insert(page) }
        }
    }

    /// Ends the transaction: seals every page it wrote and releases the pages it freed.
    func commit() {
        for first in owned where live[first] != nil {
            let page = rawPage(first, count: live[first]!)
            page.setU8(PageLayout.flagsOffset, 0)
            page.seal(pageChecksum)
        }
        owned = []
        reusable.formUnion(pendingFree)
        pendingFree = []
    }
}
