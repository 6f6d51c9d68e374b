import Testing
@testable import MapStoreVM

/// The page cache's flat index: a dictionary's behaviour (set, replace, drop, count) and
/// iteration in page order.
@Suite struct PageCacheIndexTests {
    @Test func setReplaceAndDropKeepTheCount() {
        var index = PageCacheIndex()
        #expect(index.isEmpty)
        #expect(index[5] == nil)
        index[5] = 0  // PFN 0 is a value like any other, not "absent"
        index[2] = 77
        #expect(index.count == 2)
        #expect(index[5] == 0 && index[2] == 77 && index[3] == nil && index[1_000] == nil)
        index[2] = 78
        #expect(index.count == 2 && index[2] == 78)
        index[5] = nil
        index[9_999] = nil  // dropping a page past the end grows nothing
        #expect(index.count == 1 && index[5] == nil)
    }

    @Test func iteratesInPageOrderAsADictionaryWouldSorted() {
        var index = PageCacheIndex()
        var reference: [UInt64: UInt64] = [:]
        var random = SplitMix64(seed: 7)
        for _ in 0..<500 {
            let page = random.next() % 300
            if random.next() % 4 == 0 {
                index[page] = nil
                reference[page] = nil
            } else {
                let pfn = random.next() % 10_000
                index[page] = pfn
                reference[page] = pfn
            }
        }
        #expect(index.count == reference.count)
        #expect(index.map { [$0.key, $0.value] } == reference.sorted { $0.key < $1.key }.map { [$0.key, $0.value] })
    }
}
