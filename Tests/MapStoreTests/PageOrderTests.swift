import MapStoreTestSupport
import Testing
@testable import MapStore

@Suite struct PageOrderTests {
    /// Arrays of every size around the insertion-sort limit, and page numbers of one to
    /// eight bytes, come out equal to the standard library's sort.
    @Test func agreesWithTheStandardSort() {
        var rng = SeededGenerator(seed: 7)
        for count in [0, 1, 2, 15, 16, 17, 18, 100, 1_000, 5_000] {
            for bits in [1, 8, 9, 16, 24, 40, 63, 64] {
                let limit: UInt64 = bits == 64 ? .max : (1 << UInt64(bits)) - 1
                var pages = (0..<count).map { _ in UInt64.random(in: 0...limit, using: &rng) }
                let expected = pages.sorted()
                PageOrder.sort(&pages)
                #expect(pages == expected, "count \(count), \(bits)-bit pages")
            }
        }
    }

    /// Pairs sort by their key only, and pairs with equal keys keep their order (the
    /// radix sort is stable), so a payload travels with its page.
    @Test func pairsKeepTheirPayloadAndEqualKeysTheirOrder() {
        var rng = SeededGenerator(seed: 11)
        for count in [5, 40, 700] {
            let pairs = (0..<count).map { index in (page: UInt64.random(in: 1...300, using: &rng) << 12, index: index) }
            var sorted = pairs
            sorted.withUnsafeMutableBufferPointer { elements in
                withUnsafeTemporaryAllocation(of: (page: UInt64, index: Int).self, capacity: count) { scratch in
                    PageOrder.sort(elements, scratch: scratch, key: { $0.page })
                }
            }
            let expected = pairs.enumerated().sorted { ($0.element.page, $0.offset) < ($1.element.page, $1.offset) }.map(\.element)
            #expect(sorted.map(\.page) == expected.map(\.page))
            #expect(sorted.map(\.index) == expected.map(\.index))
        }
    }
}
