import MapStoreTestSupport
import Testing
@testable import MapStore

/// `Node` on its own: decoding well-formed and damaged pages, and the search inside a page.
/// Pages are built with `NodeEditor` in a `MemoryPageSpace`, then damaged byte by byte.
@Suite struct NodeTests {
    /// A leaf page holding `entries` in the order given (not sorted: a test may want disorder).
    static func leaf(_ space: MemoryPageSpace, _ entries: [(key: [UInt8], value: [UInt8])]) throws -> (number: UInt64, page: Page) {
        let (number, page) = try space.allocate(1)
        let editor = NodeEditor(page)
        editor.reset(kind: .leaf)
        for (index, entry) in entries.enumerated() {
            let at = editor.insertSlot(at: index, size: Cell.leafHeader + entry.key.count + entry.value.count)
            entry.key.withUnsafeBytes { key in
                entry.value.withUnsafeBytes { value in
                    editor.writeLeafCell(at: at, key: key, flags: 0, valueLength: value.count, stored: value)
                }
            }
        }
        return (number, page)
    }

    /// A branch page with `children`; cell 0 has the empty key, cell `i` the key `separators[i - 1]`.
    static func branch(_ space: MemoryPageSpace, children: [UInt64], separators: [[UInt8]]) throws -> (number: UInt64, page: Page) {
        precondition(children.count == separators.count + 1 || children.isEmpty)
        let (number, page) = try space.allocate(1)
        let editor = NodeEditor(page)
        editor.reset(kind: .branch)
        for (index, child) in children.enumerated() {
            let key = index == 0 ? [] : separators[index - 1]
            key.withUnsafeBytes { editor.insertBranchCell(at: index, key: $0, child: child) }
        }
        return (number, page)
    }

    static func search(_ node: Node, leaf key: [UInt8]) throws -> (index: Int, found: Bool) {
        try withBytes(of: key) { (key) throws(MapStoreError) in try node.searchLeaf(key) }
    }

    static func search(_ node: Node, branch key: [UInt8]) throws -> Int {
        try withBytes(of: key) { (key) throws(MapStoreError) in try node.searchBranch(key) }
    }

    static let fruits: [(key: [UInt8], value: [UInt8])] = [
        (Array("apple".utf8), Array("1".utf8)), (Array("banana".utf8), Array("22".utf8)), (Array("cherry".utf8), Array("333".utf8)),
    ]

    // MARK: Well-formed pages

    @Test func aWellFormedLeafDecodesEveryCellAsWritten() throws {
        let space = MemoryPageSpace()
        let (number, page) = try Self.leaf(space, Self.fruits)
        let node = try Node(page, number: number)
        #expect(node.isLeaf)
        #expect(node.count == 3)
        #expect(node.number == number)
        try node.validateAll()
        for (index, fruit) in Self.fruits.enumerated() {
            let entry = try node.leafEntry(index)
            #expect(Array(entry.key) == fruit.key)
            #expect(entry.flags == 0 && !entry.isOverflow && !entry.isTable)
            #expect(entry.valueLength == fruit.value.count)
            #expect(Array(page.slice(entry.valueOffset, entry.valueLength)) == fruit.value)
            #expect(entry.cellSize == Cell.leafHeader + fruit.key.count + fruit.value.count)
            #expect(try node.cellSize(index) == entry.cellSize)
            #expect(Array(try node.leafKey(index)) == fruit.key)
            let inRange = try node.leafEntry(inRange: index)
            #expect(Array(inRange.key) == fruit.key && inRange.valueOffset == entry.valueOffset)
        }
        let beyond = corruption { try node.leafEntry(3) }
        #expect(beyond?.page == number)
        #expect(beyond?.reason.contains("cell 3 of 3") == true)
    }

    @Test func aWellFormedBranchDecodesEveryChildAndKey() throws {
        let space = MemoryPageSpace()
        let separators = [Array("m".utf8), Array("t".utf8)]
        let (number, page) = try Self.branch(space, children: [70, 80, 90], separators: separators)
        let node = try Node(page, number: number)
        #expect(!node.isLeaf)
        #expect(node.count == 3)
        try node.validateAll()
        #expect(try node.branchChild(0) == 70 && node.branchChild(1) == 80 && node.branchChild(2) == 90)
        #expect(try node.branchChild(inRange: 2) == 90)
        #expect(try node.branchKey(0).isEmpty)
        #expect(Array(try node.branchKey(1)) == separators[0])
        #expect(Array(try node.branchKey(2)) == separators[1])
        #expect(try node.cellSize(2) == Cell.branchHeader + 1)
    }

    /// The cell decoders of Pages/ read a cell's own bytes (what a split moves) as NodeEditor wrote them.
    @Test func cellBytesOutsideAPageDecodeAsWritten() throws {
        let space = MemoryPageSpace()
        let (_, leafPage) = try Self.leaf(space, Self.fruits)
        let leaf = NodeEditor(leafPage)
        for (index, fruit) in Self.fruits.enumerated() {
            let cell = leaf.cell(index)
            #expect(cell.count == Cell.leafHeader + fruit.key.count + fruit.value.count)
            #expect(Array(Cell.leafKey(of: cell)) == fruit.key)
        }
        let (_, branchPage) = try Self.branch(space, children: [5, 0x0102_0304_0506_0708], separators: [Array("kiwi".utf8)])
        let branch = NodeEditor(branchPage)
        #expect(Cell.branchChild(of: branch.cell(0)) == 5)
        #expect(Cell.branchKey(of: branch.cell(0)).isEmpty)
        #expect(Cell.branchChild(of: branch.cell(1)) == 0x0102_0304_0506_0708)
        #expect(Array(Cell.branchKey(of: branch.cell(1))) == Array("kiwi".utf8))
    }

    // MARK: Search positions

    /// Every key is found at its index, and every gap (before the first key, between two,
    /// after the last) gives its insertion point. 5 keys take the plain loop, 60 the
    /// prefetching one (16 or more cells).
    @Test(arguments: [5, 60])
    func searchLeafFindsEveryKeyAndTheInsertionPointOfEveryGap(count: Int) throws {
        let space = MemoryPageSpace(pageSize: 4096)
        let entries = (0..<count).map { (key: numberedKey(2 * $0 + 2), value: [UInt8](repeating: UInt8($0 & 0xFF), count: 3)) }
        let (number, page) = try Self.leaf(space, entries)
        let node = try Node(page, number: number)
        for index in 0..<count {
            let found = try Self.search(node, leaf: numberedKey(2 * index + 2))
            #expect(found.index == index && found.found, "key \(index)")
            // The odd number below key `index` falls in the gap before it.
            let gap = try Self.search(node, leaf: numberedKey(2 * index + 1))
            #expect(gap.index == index && !gap.found, "gap before \(index)")
            // A key that extends a stored key sorts right after it (the shorter key first).
            let longer = try Self.search(node, leaf: numberedKey(2 * index + 2) + [0])
            #expect(longer.index == index + 1 && !longer.found, "extension of \(index)")
        }
        let past = try Self.search(node, leaf: numberedKey(2 * count + 3))
        #expect(past.index == count && !past.found)
        let empty = try Self.search(node, leaf: [])
        #expect(empty.index == 0 && !empty.found)
    }

    @Test func searchingAnEmptyLeafGivesIndexZero() throws {
        let space = MemoryPageSpace()
        let (number, page) = try Self.leaf(space, [])
        let result = try Self.search(try Node(page, number: number), leaf: Array("anything".utf8))
        #expect(result.index == 0 && !result.found)
    }

    /// The child whose range holds a key: the last cell whose key is <= it; cell 0 takes
    /// everything below cell 1's key.
    @Test(arguments: [3, 40])
    func searchBranchPicksTheChildWhoseRangeHoldsTheKey(children: Int) throws {
        let space = MemoryPageSpace(pageSize: 4096)
        let separators = (1..<children).map { numberedKey(10 * $0) }
        let (number, page) = try Self.branch(space, children: (0..<children).map { UInt64(100 + $0) }, separators: separators)
        let node = try Node(page, number: number)
        #expect(try Self.search(node, branch: numberedKey(0)) == 0)
        #expect(try Self.search(node, branch: []) == 0)
        for child in 1..<children {
            #expect(try Self.search(node, branch: numberedKey(10 * child)) == child, "separator \(child)")
            #expect(try Self.search(node, branch: numberedKey(10 * child - 1)) == child - 1, "below separator \(child)")
            #expect(try Self.search(node, branch: numberedKey(10 * child + 5)) == child, "above separator \(child)")
            #expect(try node.branchChild(inRange: try Self.search(node, branch: numberedKey(10 * child + 1))) == UInt64(100 + child))
        }
        #expect(try Self.search(node, branch: numberedKey(999_999)) == children - 1)
    }

    @Test func aBranchWithNoChildrenFailsItsSearchNamingThePage() throws {
        let space = MemoryPageSpace()
        let (number, page) = try Self.branch(space, children: [], separators: [])
        let node = try Node(page, number: number)
        let problem = corruption { try Self.search(node, branch: Array("k".utf8)) }
        #expect(problem?.page == number)
        #expect(problem?.reason.contains("no children") == true)
    }

    /// memcmp order, shorter first on a common prefix, across the 8-byte, 4-, 2- and 1-byte steps.
    @Test func compareKeysIsMemcmpOrder() {
        var rng = SeededGenerator(seed: 17)
        for _ in 0..<20_000 {
            // A two-letter alphabet and shared prefixes make equal runs and prefix pairs common.
            let a = (0..<Int.random(in: 0...20, using: &rng)).map { _ in UInt8.random(in: 0...1, using: &rng) * 0x80 + 1 }
            var b = Array(a.prefix(Int.random(in: 0...a.count, using: &rng)))
            for _ in 0..<Int.random(in: 0...6, using: &rng) { b.append(UInt8.random(in: 0...1, using: &rng) * 0x80 + 1) }
            let expected = a == b ? 0 : (a.lexicographicallyPrecedes(b) ? -1 : 1)
            let actual = a.withUnsafeBytes { x in b.withUnsafeBytes { y in compareKeys(x, y) } }
            #expect(actual.signum() == expected, "\(a) vs \(b)")
        }
    }

    // MARK: Damaged headers

    @Test func aPageOfAnotherKindIsRejectedNamingThePage() throws {
        let space = MemoryPageSpace()
        let (number, page) = try Self.leaf(space, Self.fruits)
        page.setU8(PageLayout.kindOffset, PageKind.overflow.rawValue)
        let problem = corruption { try Node(page, number: number) }
        #expect(problem?.page == number)
        #expect(problem?.reason.contains("expected a tree page, found kind 4") == true)
    }

    @Test func aPageWhoseHeaderNamesAnotherPageIsRejected() throws {
        let space = MemoryPageSpace()
        let (number, page) = try Self.leaf(space, Self.fruits)
        let problem = corruption { try Node(page, number: number + 7) }
        #expect(problem?.page == number + 7)
        #expect(problem?.reason.contains("says it is page \(number)") == true)
    }

    /// The slot array must end at or before `upper`, and `upper` at or before the page end.
    @Test(arguments: [(count: 300, upper: -1), (count: 3, upper: 513), (count: 3, upper: 36)])
    func aSlotArrayThatDoesNotFitIsRejected(damage: (count: Int, upper: Int)) throws {
        let space = MemoryPageSpace()
        let (number, page) = try Self.leaf(space, Self.fruits)
        page.setU16(PageLayout.countOffset, damage.count)
        if damage.upper >= 0 { page.setU16(PageLayout.upperOffset, damage.upper) }
        let problem = corruption { try Node(page, number: number) }
        #expect(problem?.page == number)
        #expect(problem?.reason.contains("do not fit the page") == true)
    }

    // MARK: Damaged cells

    /// A slot pointing into the header or slot array: every reader of the cell refuses it.
    @Test func aSlotPointingIntoTheSlotArrayIsRejected() throws {
        let space = MemoryPageSpace()
        let (number, page) = try Self.leaf(space, Self.fruits)
        page.setSlot(1, 10)
        let node = try Node(page, number: number)
        for problem in [corruption { try node.validateAll() }, corruption { try node.leafEntry(inRange: 1) },
                        corruption { try node.leafKey(1) },
                        // The binary search's first probe of three cells is cell 1.
                        corruption { try Self.search(node, leaf: Array("banana".utf8)) }] {
            #expect(problem?.page == number)
            #expect(problem?.reason.contains("slot 1 points at 10") == true, "\(String(describing: problem))")
        }
        // Cells 0 and 2 still decode.
        #expect(Array(try node.leafEntry(2).key) == Array("cherry".utf8))
    }

    /// A slot so near the page end that the cell's header does not fit.
    @Test func aCellHeaderPastThePageEndIsRejected() throws {
        let space = MemoryPageSpace()
        let (number, page) = try Self.leaf(space, Self.fruits)
        page.setSlot(2, page.size - 3)
        let node = try Node(page, number: number)
        let all = corruption { try node.validateAll() }
        #expect(all?.page == number)
        #expect(all?.reason.contains("cell 2 header runs past the page end") == true, "\(String(describing: all))")
        let one = corruption { try node.leafEntry(2) }
        #expect(one?.page == number)
        #expect(one?.reason.contains("too near the page end") == true)
    }

    @Test func aKeyLengthPastThePageEndIsRejected() throws {
        let space = MemoryPageSpace()
        let (number, page) = try Self.leaf(space, Self.fruits)
        page.setU16(page.slot(2) + Cell.leafKeyLengthOffset, 1000)
        let node = try Node(page, number: number)
        let all = corruption { try node.validateAll() }
        #expect(all?.page == number)
        #expect(all?.reason.contains("cell 2 runs past the page end") == true)
        let key = corruption { try node.leafKey(2) }
        #expect(key?.page == number)
        #expect(key?.reason.contains("cell 2 key runs past the page end") == true)
        let probe = corruption { try Self.search(node, leaf: Array("zebra".utf8)) }
        #expect(probe?.page == number)
        #expect(probe?.reason.contains("cell 2 key runs past the page end") == true)
    }

    /// An inline value longer than the page is damage; the same length on an overflow cell
    /// is not (the cell then holds only the run's page number).
    @Test func aValueLengthPastThePageEndIsRejectedUnlessTheValueOverflows() throws {
        let space = MemoryPageSpace()
        let (number, page) = try Self.leaf(space, Self.fruits)
        let cell = page.slot(1)
        page.setU32(cell + Cell.leafValueLengthOffset, 100_000)
        let node = try Node(page, number: number)
        let all = corruption { try node.validateAll() }
        #expect(all?.page == number)
        #expect(all?.reason.contains("cell 1 runs past the page end") == true)
        let entry = corruption { try node.leafEntry(1) }
        #expect(entry?.page == number)
        #expect(entry?.reason.contains("value 100000 bytes") == true)

        // Repaired, then "apple" (written first, so its 14 bytes end at the page end) marked
        // as overflowing: its 8-byte reference would run 7 bytes past the page.
        page.setU32(cell + Cell.leafValueLengthOffset, 2)
        try node.validateAll()
        page.setU8(page.slot(0) + Cell.leafFlagsOffset, Cell.overflow)
        let overflowAtTheEnd = corruption { try node.validateAll() }
        #expect(overflowAtTheEnd?.page == number)
        #expect(overflowAtTheEnd?.reason.contains("cell 0 runs past the page end") == true)
    }

    @Test func anOverflowCellWithALargeValueLengthIsWellFormed() throws {
        let space = MemoryPageSpace()
        let reference = withUnsafeBytes(of: UInt64(42).littleEndian) { Array($0) }
        let (number, page) = try space.allocate(1)
        let editor = NodeEditor(page)
        editor.reset(kind: .leaf)
        let key = Array("big".utf8)
        let at = editor.insertSlot(at: 0, size: Cell.leafHeader + key.count + 8)
        key.withUnsafeBytes { key in
            reference.withUnsafeBytes { editor.writeLeafCell(at: at, key: key, flags: Cell.overflow, valueLength: 100_000, stored: $0) }
        }
        let node = try Node(page, number: number)
        try node.validateAll()
        let entry = try node.leafEntry(0)
        #expect(entry.isOverflow && entry.valueLength == 100_000)
        #expect(entry.cellSize == Cell.leafHeader + key.count + 8)
        #expect(page.u64(entry.valueOffset) == 42)
    }

    @Test func aBranchKeyPastThePageEndIsRejected() throws {
        let space = MemoryPageSpace()
        let (number, page) = try Self.branch(space, children: [3, 4, 5], separators: [Array("m".utf8), Array("t".utf8)])
        page.setU16(page.slot(1) + Cell.branchKeyLengthOffset, 600)
        let node = try Node(page, number: number)
        let all = corruption { try node.validateAll() }
        #expect(all?.page == number)
        #expect(all?.reason.contains("cell 1 runs past the page end") == true)
        let search = corruption { try Self.search(node, branch: Array("p".utf8)) }
        #expect(search?.page == number)
        #expect(search?.reason.contains("cell 1 key runs past the page end") == true)
        // The child pointer itself is in the cell header, which still fits.
        #expect(try node.branchChild(1) == 4)
    }

    /// Node reads keys in any order (it does not sort); the checker walks the tree and
    /// reports the disorder on the page that has it.
    @Test func keysOutOfOrderAreReportedOnTheirPage() throws {
        let space = MemoryPageSpace()
        let unsorted = [Self.fruits[1], Self.fruits[0], Self.fruits[2]]
        let (number, page) = try Self.leaf(space, unsorted)
        let node = try Node(page, number: number)
        try node.validateAll()
        #expect(Array(try node.leafKey(0)) == Array("banana".utf8))
        space.sealLivePages()
        var checker = TreeChecker(source: space, pageCount: space.pageCount)
        checker.check(tree: TreeRoot(root: number, depth: 1, entries: 3), name: "tree", referrer: 0, isMain: false)
        #expect(checker.problems == [CheckProblem(page: number, message: "cell 1: keys out of order")])
    }

    @Test func limitsFollowFromThePageSize() {
        let limits = NodeLimits(pageSize: 4096)
        #expect(limits.maxCell == 1016)
        #expect(limits.maxKeySize == 998)
        #expect(limits.isInline(keyLength: 10, valueLength: 1016 - 2 - 8 - 10))
        #expect(!limits.isInline(keyLength: 10, valueLength: 1016 - 2 - 8 - 10 + 1))
        #expect(limits.overflowPages(valueLength: 4096 - 32) == 1)
        #expect(limits.overflowPages(valueLength: 4096 - 31) == 2)
    }
}
