import MapStoreTestSupport
import Testing
@testable import MapStore

/// `TreeCursor` on its own over a three-level tree of 512-byte pages (keys `key-000000`,
/// `key-000002`, ...: the odd numbers fall between entries), with most moves checked where
/// they cross from one leaf to the next.
@Suite struct TreeCursorTests {
    static let count = 600

    /// The tree, its leaves (numbers and keys) and the sorted keys.
    static func fixture() throws -> (space: MemoryPageSpace, tree: TreeRoot, leaves: [(number: UInt64, keys: [[UInt8]])]) {
        let space = MemoryPageSpace()
        // Put in a shuffled (seeded) order, so leaves are split in half, not packed.
        var rng = SeededGenerator(seed: 9)
        let entries = (0..<count).shuffled(using: &rng).map { (key: numberedKey(2 * $0), value: Array("value of \(2 * $0)".utf8)) }
        let tree = try space.buildTree(entries)
        let leaves = try space.leaves(tree)
        return (space, tree, leaves)
    }

    static func cursor(_ space: MemoryPageSpace, _ tree: TreeRoot) -> TreeCursor<MemoryPageSpace> {
        TreeCursor(source: space, tree: tree, pageCount: space.pageCount)
    }

    @Test func theFixtureIsADeepTreeOfManyLeaves() throws {
        let (space, tree, leaves) = try Self.fixture()
        #expect(space.problems(in: tree) == [])
        #expect(tree.depth == 3)
        #expect(leaves.count > 20)
        #expect(leaves.flatMap(\.keys) == (0..<Self.count).map { numberedKey(2 * $0) })
    }

    @Test func anEmptyTreeHasNoPosition() throws {
        let space = MemoryPageSpace()
        var cursor = Self.cursor(space, TreeRoot())
        #expect(try !cursor.first())
        #expect(try !cursor.last())
        #expect(try !cursor.seek(Array("a".utf8)))
        #expect(!cursor.isValid)
        #expect(try !cursor.next())
        #expect(try !cursor.previous())
        #expect(try cursor.here() == nil)
    }

    @Test func nextVisitsEveryEntryInOrderAndPreviousComesBack() throws {
        let (space, tree, leaves) = try Self.fixture()
        let keys = leaves.flatMap(\.keys)
        var cursor = Self.cursor(space, tree)
        #expect(try cursor.first())
        var forward: [[UInt8]] = []
        var leafNumbers: [UInt64] = []
        repeat {
            forward.append(try #require(try cursor.key()))
            if leafNumbers.last != cursor.leaf?.number { leafNumbers.append(cursor.leaf!.number) }
        } while try cursor.next()
        #expect(forward == keys)
        #expect(leafNumbers == leaves.map(\.number), "the cursor went through every leaf once, in order")
        #expect(!cursor.isValid)
        #expect(try !cursor.next(), "past the end stays past the end")

        #expect(try cursor.last())
        var backward: [[UInt8]] = []
        repeat { backward.append(try #require(try cursor.key())) } while try cursor.previous()
        #expect(backward == keys.reversed())
        #expect(!cursor.isValid)
    }

    /// At each boundary between two leaves: next from a leaf's last entry lands on the next
    /// leaf's first, previous from there comes back, and a seek between the two (past the
    /// last key of the left leaf) lands on the right leaf's first entry.
    @Test func movesAcrossEveryLeafBoundary() throws {
        let (space, tree, leaves) = try Self.fixture()
        var cursor = Self.cursor(space, tree)
        for (left, right) in zip(leaves, leaves.dropFirst()) {
            let last = left.keys.last!, first = right.keys.first!
            #expect(try cursor.seek(last))
            #expect(cursor.leaf?.number == left.number)
            #expect(try cursor.key() == last)
            #expect(try cursor.next())
            #expect(cursor.leaf?.number == right.number)
            #expect(try cursor.key() == first)
            #expect(try cursor.previous())
            #expect(cursor.leaf?.number == left.number)
            #expect(try cursor.key() == last)

            // The odd key after `last` sorts past every key of the left leaf.
            let between = numberedKey(Int(String(decoding: last.dropFirst(4), as: UTF8.self))! + 1)
            #expect(try cursor.seek(between))
            #expect(try cursor.key() == first)
            #expect(cursor.leaf?.number == right.number)

            let (page, entry) = try #require(try cursor.advance(forward: false))
            #expect(Array(entry.key) == last)
            #expect(Array(page.slice(entry.valueOffset, entry.valueLength)) == Array("value of \(Int(String(decoding: last.dropFirst(4), as: UTF8.self))!)".utf8))
            let (_, again) = try #require(try cursor.advance(forward: true))
            #expect(Array(again.key) == first)
        }
    }

    @Test func seekFindsEachKeyOrTheNextOne() throws {
        let (space, tree, leaves) = try Self.fixture()
        let keys = leaves.flatMap(\.keys)
        var cursor = Self.cursor(space, tree)
        for number in 0..<(2 * Self.count) {
            let found = try cursor.seek(numberedKey(number))
            // Even numbers are keys; an odd one lands on the next even one, none past the last.
            let expected = number % 2 == 0 ? number : number + 1
            if expected < 2 * Self.count {
                #expect(found, "seek \(number)")
                #expect(try cursor.key() == numberedKey(expected), "seek \(number)")
            } else {
                #expect(!found, "seek \(number)")
                #expect(!cursor.isValid)
            }
        }
        #expect(try cursor.seek([]))
        #expect(try cursor.key() == keys.first)
        #expect(try !cursor.seek(Array("zzz".utf8)))
        #expect(try !cursor.previous(), "a cursor past the end does not step back")
    }

    @Test func theEndsStopTheCursor() throws {
        let (space, tree, leaves) = try Self.fixture()
        var cursor = Self.cursor(space, tree)
        #expect(try cursor.first())
        #expect(cursor.leaf?.number == leaves.first?.number)
        #expect(try !cursor.previous())
        #expect(!cursor.isValid)
        #expect(try cursor.last())
        #expect(cursor.leaf?.number == leaves.last?.number)
        #expect(try cursor.key() == leaves.last?.keys.last)
        #expect(try !cursor.next())
        #expect(try cursor.advance(forward: true) == nil)
    }

    /// `walk` lends entries leaf by leaf and stops where the body says, leaving the cursor
    /// on that entry; run to the end it leaves the cursor off the tree.
    @Test(arguments: [true, false])
    func walkStopsWhereTheBodySays(forward: Bool) throws {
        let (space, tree, leaves) = try Self.fixture()
        let keys = leaves.flatMap(\.keys)
        let ordered = forward ? keys : keys.reversed()
        var cursor = Self.cursor(space, tree)
        #expect(try forward ? cursor.first() : cursor.last())
        var seen: [[UInt8]] = []
        let stopped = try cursor.walk(forward: forward) { (_, entry) throws(MapStoreError) in
            seen.append(Array(entry.key))
            return seen.count < 250
        }
        #expect(stopped)
        #expect(seen == Array(ordered.prefix(250)))
        #expect(try cursor.key() == ordered[249])
        var rest = 0
        #expect(try !cursor.walk(forward: forward) { (_, _) throws(MapStoreError) in rest += 1; return true })
        #expect(rest == ordered.count - 249, "the second walk starts on the entry the first stopped at")
        #expect(!cursor.isValid)
    }

    /// `rebase` points the cursor at a changed tree, off any entry.
    @Test func rebaseFollowsAWriter() throws {
        let (space, tree, _) = try Self.fixture()
        var cursor = Self.cursor(space, tree)
        #expect(try cursor.seek(numberedKey(500)))
        var changed = tree
        var writer = TreeWriter(space: space)
        try writer.put(&changed, key: numberedKey(501), value: Array("new".utf8))
        cursor.rebase(tree: changed, pageCount: space.pageCount)
        #expect(!cursor.isValid)
        #expect(try cursor.seek(numberedKey(501)))
        #expect(try cursor.key() == numberedKey(501))
        #expect(try cursor.next())
        #expect(try cursor.key() == numberedKey(502))
    }

    /// A leaf that is damaged stops the cursor when it reaches it, naming the page.
    @Test func aDamagedLeafStopsTheCursorNamingThePage() throws {
        let (space, tree, leaves) = try Self.fixture()
        let victim = leaves[5]
        space.rawPage(victim.number).setU8(PageLayout.kindOffset, PageKind.freeList.rawValue)
        var cursor = Self.cursor(space, tree)
        #expect(try cursor.seek(leaves[4].keys.last!))
        let problem = corruption { try cursor.next() }
        #expect(problem?.page == victim.number)
        #expect(problem?.reason.contains("expected a tree page") == true)
        let seek = corruption { try cursor.seek(victim.keys[0]) }
        #expect(seek?.page == victim.number)
    }

    /// A leaf limit below the number of leaves (as a cycle in a damaged tree would need) stops
    /// a walk with an error instead of looping.
    @Test func aWalkVisitingMoreLeavesThanThePageCountIsACycle() throws {
        let (space, tree, leaves) = try Self.fixture()
        var cursor = TreeCursor(source: space, tree: tree, pageCount: UInt64(leaves.count - 1))
        #expect(try cursor.first())
        var steps = 0
        let problem = corruption { () throws(MapStoreError) -> Int in
            while try cursor.next() { steps += 1 }
            return steps
        }
        #expect(problem?.page == tree.root)
        #expect(problem?.reason.contains("a cycle") == true)
        #expect(steps == leaves.dropLast().map(\.keys.count).reduce(0, +) - 1, "stopped on entering the last leaf")
    }
}
