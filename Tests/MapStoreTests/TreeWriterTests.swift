import MapStoreTestSupport
import Testing
@testable import MapStore

/// `TreeWriter` on its own, over a `MemoryPageSpace` of 512-byte pages (a tree is three or
/// four levels deep after a few hundred keys): puts, deletes, splits and merges, with the
/// whole tree checked after each step (`MemoryPageSpace.problems(in:)`: every invariant
/// `check` verifies, plus no page leaked and none reached after it was freed).
@Suite struct TreeWriterTests {
    /// The tree's entries against the model, in key order.
    static func expectContents(_ space: MemoryPageSpace, _ tree: TreeRoot, _ model: [[UInt8]: [UInt8]],
                               sourceLocation: SourceLocation = #_sourceLocation) throws {
        let found = try space.contents(tree)
        let expected = model.sorted { $0.key.lexicographicallyPrecedes($1.key) }
        #expect(found.map(\.key) == expected.map(\.key), sourceLocation: sourceLocation)
        #expect(found.map(\.value) == expected.map(\.value), sourceLocation: sourceLocation)
        #expect(tree.entries == UInt64(model.count), sourceLocation: sourceLocation)
    }

    @Test func theFirstPutMakesALeafRoot() throws {
        let space = MemoryPageSpace()
        var tree = TreeRoot()
        var writer = TreeWriter(space: space)
        try writer.put(&tree, key: Array("k".utf8), value: Array("v".utf8))
        #expect(tree.depth == 1 && tree.entries == 1 && !tree.isEmpty)
        #expect(space.problems(in: tree) == [])
        #expect(space.livePages == [tree.root])
        try Self.expectContents(space, tree, [Array("k".utf8): Array("v".utf8)])
    }

    /// Keys put in order split the rightmost page each time: only the new cell moves right,
    /// so every leaf but the last is as full as it can be (its right neighbour's first cell
    /// would not fit in it).
    @Test func sequentialPutsSplitIntoFullLeaves() throws {
        let space = MemoryPageSpace()
        var tree = TreeRoot()
        var writer = TreeWriter(space: space)
        var model: [[UInt8]: [UInt8]] = [:]
        var depths: Set<Int> = []
        for number in 0..<600 {
            let key = numberedKey(number), value = [UInt8](repeating: UInt8(number & 0xFF), count: 20)
            try writer.put(&tree, key: key, value: value)
            model[key] = value
            #expect(space.problems(in: tree) == [], "after put \(number)")
            depths.insert(tree.depth)
            if number % 50 == 49 { space.commit() }
        }
        #expect(depths == [1, 2, 3], "the tree grew through every depth up to 3")
        try Self.expectContents(space, tree, model)
        let leaves = try space.leaves(tree)
        let cell = Cell.slotSize + Cell.leafHeader + 10 + 20
        for leaf in leaves.dropLast() {
            let used = NodeEditor(try space.readPage(leaf.number)).usedBytes()
            #expect(used + cell > 512 - PageLayout.headerSize, "leaf \(leaf.number) holds \(leaf.keys.count) cells")
        }
    }

    /// Keys put in reverse order split the leftmost page in half each time.
    @Test func reversePutsKeepTheTreeValid() throws {
        let space = MemoryPageSpace()
        var tree = TreeRoot()
        var writer = TreeWriter(space: space)
        var model: [[UInt8]: [UInt8]] = [:]
        for number in (0..<400).reversed() {
            let key = numberedKey(number), value = Array("value \(number)".utf8)
            try writer.put(&tree, key: key, value: value)
            model[key] = value
            #expect(space.problems(in: tree) == [], "after put \(number)")
        }
        #expect(tree.depth >= 3)
        try Self.expectContents(space, tree, model)
    }

    /// A same-size inline value is overwritten in the page; another size replaces the cell;
    /// an overflow value gets a run, and replacing or deleting it frees the run.
    @Test func replacingValuesRewritesOrFreesWhatTheOldOneUsed() throws {
        let space = MemoryPageSpace()
        var tree = TreeRoot()
        var writer = TreeWriter(space: space)
        let key = Array("key".utf8)
        try writer.put(&tree, key: key, value: Array("aaaa".utf8))
        space.commit()
        try writer.put(&tree, key: key, value: Array("bbbb".utf8))
        #expect(try space.contents(tree).map(\.value) == [Array("bbbb".utf8)])
        try writer.put(&tree, key: key, value: Array("cc".utf8))
        #expect(try space.contents(tree).map(\.value) == [Array("cc".utf8)])
        #expect(tree.entries == 1)
        #expect(space.livePages.count == 1)

        // 1500 bytes: a run of 3 pages of 512 (32-byte header).
        let big = (0..<1500).map { UInt8($0 % 251) }
        try writer.put(&tree, key: key, value: big)
        #expect(space.problems(in: tree) == [])
        #expect(space.livePages.count == 1 + 3)
        #expect(try space.contents(tree).map(\.value) == [big])
        let bigger = (0..<2000).map { UInt8($0 % 13) }
        try writer.put(&tree, key: key, value: bigger)
        #expect(space.problems(in: tree) == [])
        #expect(space.livePages.count == 1 + 4, "the 3-page run was freed, a 4-page one taken")
        #expect(try space.contents(tree).map(\.value) == [bigger])
        #expect(try writer.delete(&tree, key: key))
        #expect(tree.isEmpty && tree.depth == 0 && tree.entries == 0)
        #expect(space.livePages.isEmpty)
    }

    /// A delete that misses changes nothing: no page is copied, the root stays.
    @Test func deletingAnAbsentKeyCopiesNothing() throws {
        let space = MemoryPageSpace()
        let tree = try space.buildTree((0..<200).map { (numberedKey(2 * $0), Array("v".utf8)) })
        let pages = space.livePages
        var copy = tree
        var writer = TreeWriter(space: space)
        #expect(try !writer.delete(&copy, key: numberedKey(7)))
        #expect(try !writer.delete(&copy, key: Array("zzz".utf8)))
        #expect(copy == tree)
        #expect(space.livePages == pages)
    }

    /// Deleting most of a deep tree merges pages back and shrinks the root to a leaf;
    /// deleting the rest empties it and frees every page.
    @Test func deletesMergePagesAndShrinkTheTree() throws {
        let space = MemoryPageSpace()
        var model: [[UInt8]: [UInt8]] = [:]
        let entries = (0..<500).map { (key: numberedKey($0), value: Array("value-\($0)".utf8)) }
        for entry in entries { model[entry.key] = entry.value }
        var tree = try space.buildTree(entries)
        #expect(tree.depth == 3)
        let fullPages = space.livePages.count
        var writer = TreeWriter(space: space)
        // Delete from the middle out, so merges happen on both sides of the gap.
        let order = (0..<500).sorted { abs($0 - 250) < abs($1 - 250) }
        var depths: [Int] = []
        for (step, number) in order.enumerated() {
            #expect(try writer.delete(&tree, key: numberedKey(number)))
            model[numberedKey(number)] = nil
            #expect(space.problems(in: tree) == [], "after deleting \(number)")
            if depths.last != tree.depth { depths.append(tree.depth) }
            if step == 449 {
                try Self.expectContents(space, tree, model)
                #expect(space.livePages.count * 4 < fullPages, "50 keys left in \(space.livePages.count) of \(fullPages) pages")
            }
            if step % 40 == 0 { space.commit() }
        }
        #expect(depths.first == 3 && depths.last == 0 && depths == depths.sorted(by: >), "depths \(depths)")
        #expect(tree == TreeRoot())
        #expect(space.livePages.isEmpty)
    }

    /// Seeded random puts (inline and overflow values, keys of 1 to 60 bytes) and deletes
    /// against a dictionary, in transactions of random length, the tree checked after each.
    @Test(arguments: [1, 2, 3])
    func randomOperationsAgreeWithADictionary(seed: UInt64) throws {
        var rng = SeededGenerator(seed: seed)
        let space = MemoryPageSpace(capacity: 16384, secureDelete: seed % 2 == 0)
        var tree = TreeRoot()
        var writer = TreeWriter(space: space)
        var model: [[UInt8]: [UInt8]] = [:]
        let maxKey = NodeLimits(pageSize: space.pageSize).maxKeySize
        // A pool of keys, so that puts replace and deletes hit often.
        let keys: [[UInt8]] = (0..<300).map { _ in
            let length = Int.random(in: 1...min(60, maxKey), using: &rng)
            return (0..<length).map { _ in UInt8.random(in: 0x61...0x64, using: &rng) }
        }
        var sinceCommit = 0
        for step in 0..<2500 {
            let key = keys.randomElement(using: &rng)!
            if Int.random(in: 0..<10, using: &rng) < 6 {
                // Mostly small values; one in eight spills into an overflow run.
                let length = Int.random(in: 0..<8, using: &rng) == 0 ? Int.random(in: 100...1400, using: &rng) : Int.random(in: 0...40, using: &rng)
                let value = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
                try writer.put(&tree, key: key, value: value)
                model[key] = value
            } else {
                let removed = try writer.delete(&tree, key: key)
                #expect(removed == (model.removeValue(forKey: key) != nil), "step \(step)")
            }
            let problems = space.problems(in: tree)
            #expect(problems == [], "step \(step)")
            if !problems.isEmpty { return }
            sinceCommit += 1
            if sinceCommit >= Int.random(in: 1...12, using: &rng) {
                space.commit()
                sinceCommit = 0
            }
            if step % 100 == 0 { try Self.expectContents(space, tree, model) }
        }
        try Self.expectContents(space, tree, model)
        #expect(tree.depth >= 3, "the operations built a tree of depth \(tree.depth)")
    }

    /// A table descriptor and a data value cannot replace each other, and the entry count
    /// counts data only.
    @Test func tablesAndDataDoNotOverwriteEachOther() throws {
        let space = MemoryPageSpace()
        var tree = TreeRoot()
        var writer = TreeWriter(space: space)
        try writer.put(&tree, key: Array("data".utf8), value: Array("1".utf8))
        try writer.put(&tree, key: Array("table".utf8), value: [UInt8](repeating: 0, count: 20), isTable: true)
        #expect(tree.entries == 1)
        for (key, isTable) in [("data", true), ("table", false)] {
            var caught: MapStoreError?
            do { try writer.put(&tree, key: Array(key.utf8), value: Array("x".utf8), isTable: isTable) } catch { caught = error }
            #expect(caught?.code == "invalidArgument", "\(key)")
            caught = nil
            do { _ = try writer.delete(&tree, key: Array(key.utf8), isTable: isTable) } catch { caught = error }
            #expect(caught?.code == "invalidArgument", "\(key)")
        }
        #expect(try writer.delete(&tree, key: Array("table".utf8), isTable: true))
        #expect(tree.entries == 1)
        #expect(try space.contents(tree).map(\.key) == [Array("data".utf8)])
    }

    /// A damaged leaf under a write is refused with its page number, not edited.
    @Test func aDamagedLeafIsRefusedNamingItsPage() throws {
        let space = MemoryPageSpace()
        var tree = try space.buildTree((0..<100).map { (numberedKey($0), Array("v".utf8)) })
        let leaves = try space.leaves(tree)
        let victim = leaves[1]
        let page = space.rawPage(victim.number)
        page.setSlot(0, page.size - 2)
        var writer = TreeWriter(space: space)
        let put = corruption { try writer.put(&tree, key: victim.keys[0], value: Array("w".utf8)) }
        #expect(put?.page == victim.number)
        let delete = corruption { try writer.delete(&tree, key: victim.keys.last!) }
        #expect(delete?.page == victim.number)
    }

    /// `freeAll` frees every page of a tree, overflow runs included.
    @Test func freeAllReleasesEveryPage() throws {
        let space = MemoryPageSpace()
        let tree = try space.buildTree((0..<300).map { (numberedKey($0), $0 % 10 == 0 ? [UInt8](repeating: 7, count: 900) : Array("v".utf8)) })
        #expect(space.problems(in: tree) == [])
        #expect(!space.livePages.isEmpty)
        var writer = TreeWriter(space: space)
        try writer.freeAll(tree)
        #expect(space.livePages.isEmpty)
    }

    @Test func theShortestSeparatorSortsBetweenTheTwoKeys() {
        func separator(_ left: String, _ right: String) -> String {
            Array(left.utf8).withUnsafeBytes { l in
                Array(right.utf8).withUnsafeBytes { r in String(decoding: TreeWriter<MemoryPageSpace>.shortestSeparator(l, r), as: UTF8.self) }
            }
        }
        #expect(separator("apple", "banana") == "b")
        #expect(separator("key-000041", "key-000042") == "key-000042")
        #expect(separator("key-0001", "key-0100") == "key-01")
        #expect(separator("ab", "abc") == "abc")
    }
}
