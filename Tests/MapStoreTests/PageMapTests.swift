import MapStoreTestSupport
import Testing
@testable import MapStore

@Suite struct PageMapTests {
    /// Random inserts, lookups and removals agree with a Dictionary (collisions and growth included).
    @Test func agreesWithADictionary() {
        var rng = SeededGenerator(seed: 42)
        var map = PageMap(capacity: 4)
        var model: [UInt64: UnsafeMutableRawPointer] = [:]
        for step in 0..<50_000 {
            // A small key range clusters probe runs, which is where removal can go wrong.
            let key = UInt64.random(in: 1...600, using: &rng)
            if Bool.random(using: &rng) {
                let value = UnsafeMutableRawPointer(bitPattern: UInt(step + 1) * 8)!
                map.insert(key, value)
                model[key] = value
            } else {
                #expect(map.remove(key) == model.removeValue(forKey: key))
            }
            if step % 997 == 0 {
                for probe in 1...600 { #expect(map[UInt64(probe)] == model[UInt64(probe)]) }
                #expect(map.count == model.count)
                // The dense list a walk reads holds the same pairs, replaced buffers included.
                let walked = map.entries
                #expect(walked.count == model.count)
                #expect(Dictionary(walked.map { ($0.page, $0.buffer) }, uniquingKeysWith: { first, _ in first }) == model)
            }
        }
        #expect(Set(map.entries.map(\.page)) == Set(model.keys))
    }

    /// A walk visits the pages in the order they were added; a removal moves the last page
    /// into the removed one's place; a table handed out and taken back starts empty.
    @Test func aWalkFollowsTheOrderOfAdding() {
        var map = PageMap()
        let keys: [UInt64] = [40, 7, 1_000_003, 12, 5, 99]
        for key in keys { map.insert(key, UnsafeMutableRawPointer(bitPattern: UInt(key) * 8)!) }
        #expect(map.entries.map(\.page) == keys)
        #expect(map.remove(7) == UnsafeMutableRawPointer(bitPattern: 56)!)
        #expect(map.entries.map(\.page) == [40, 99, 1_000_003, 12, 5])
        map.insert(12, UnsafeMutableRawPointer(bitPattern: 8)!)  // a replaced buffer keeps its place
        #expect(map.entries.map(\.page) == [40, 99, 1_000_003, 12, 5])
        #expect(map.entries[3].buffer == UnsafeMutableRawPointer(bitPattern: 8)!)
        var recycled = PageMap(recycling: map.detachTable())
        #expect(recycled.isEmpty && recycled.entries.isEmpty && recycled[40] == nil)
        recycled.insert(3, UnsafeMutableRawPointer(bitPattern: 24)!)
        #expect(recycled.entries.map(\.page) == [3])
        // Growth keeps the order.
        let many = (1...100).map { UInt64($0 * 37) }
        for key in many { recycled.insert(key, UnsafeMutableRawPointer(bitPattern: UInt(key) * 8)!) }
        #expect(recycled.entries.map(\.page) == [3] + many)
    }

    /// `drain` hands out every buffer once and leaves an empty map that works as before.
    @Test func drainHandsOutEveryBufferAndEmptiesTheMap() {
        var map = PageMap(capacity: 4)
        var model: [UInt64: UnsafeMutableRawPointer] = [:]
        for key in stride(from: UInt64(3), to: 300, by: 7) {
            let value = UnsafeMutableRawPointer(bitPattern: UInt(key) * 16)!
            map.insert(key, value)
            model[key] = value
        }
        var drained: [UnsafeMutableRawPointer] = []
        map.drain { drained.append($0) }
        #expect(Set(drained) == Set(model.values))
        #expect(drained.count == model.count)
        #expect(map.isEmpty)
        #expect(map[3] == nil)
        map.insert(10, UnsafeMutableRawPointer(bitPattern: 160)!)
        #expect(map[10] == UnsafeMutableRawPointer(bitPattern: 160)!)
        #expect(map.entries.map(\.page) == [10])
    }

    /// The buffer pool hands back what it was given (last in, first out), grows past its
    /// first capacity, keeps at most `limit` buffers and frees the rest.
    @Test func bufferPoolKeepsUpToItsLimit() {
        let pool = PageBufferPool(pageSize: 64)
        let buffers = (0..<300).map { _ in pool.take() }  // the pool is empty: allocated
        #expect(pool.count == 0)
        for buffer in buffers { pool.put(buffer) }
        #expect(pool.count == 300)  // grown past its first capacity
        let last = pool.take()
        #expect(last == buffers.last)
        var map = PageMap()
        map.insert(2, last)
        pool.put(draining: &map)
        #expect(map.isEmpty)
        #expect(pool.count == 300)
        // Past the limit, buffers put back are freed (the last ten here).
        for _ in 0..<(pool.limit + 10 - 300) { pool.put(UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64)) }
        #expect(pool.count == pool.limit)
    }

    @Test func xxh64MatchesThePublishedValues() {
        // Reference values computed with the xxhash reference implementation (python-xxhash).
        let empty: [UInt8] = []
        #expect(empty.withUnsafeBytes { Checksum.xxh64($0.baseAddress ?? UnsafeRawPointer(bitPattern: 8)!, count: 0) } == 0xEF46_DB37_51D8_E999)
        let abc = Array("abc".utf8)
        #expect(abc.withUnsafeBytes { Checksum.xxh64($0.baseAddress!, count: 3) } == 0x44BC_2CF5_AD77_0999)
        let hundred = (0..<100).map { UInt8($0) }
        #expect(hundred.withUnsafeBytes { Checksum.xxh64($0.baseAddress!, count: 100) } == 0x6AC1_E580_3216_6597)
        let pages = (0..<4096).map { UInt8($0 & 0xFF) }
        #expect(pages.withUnsafeBytes { Checksum.xxh64($0.baseAddress!, count: 4096, seed: 7) } == 0xC501_4805_163E_B163)
    }
}
