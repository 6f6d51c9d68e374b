/// Sorting by page number, for the commit's large page sets.
///
/// A big commit sorts its dirty pages (to write runs with one `pwritev` each) and the
/// pages it frees (to merge them into the free list). The standard library's sort is a
/// stable merge sort that calls a closure per comparison; on a thousand-put batch it was
/// about a twentieth of the whole transaction. Page numbers are small unsigned integers,
/// so a least-significant-digit radix sort orders them in a few linear passes instead:
/// one pass per byte that the largest page number needs, and a byte on which every
/// element agrees is skipped.
enum PageOrder {
    /// Below this many elements an insertion sort is cheaper than the radix sort's
    /// 256-entry count tables.
    static let insertionLimit = 16

    /// Sorts `elements` ascending by `key(element)`, in place. `scratch` must hold at
    /// least `elements.count` elements; its contents are overwritten (the elements are
    /// plain bits, so uninitialized scratch memory is fine). Equal keys keep their order.
    @inline(__always)
    static func sort<Element: BitwiseCopyable>(
        _ elements: UnsafeMutableBufferPointer<Element>,
        scratch: UnsafeMutableBufferPointer<Element>,
        key: (Element) -> UInt64
    ) {
        if elements.count <= insertionLimit {
            insertionSort(elements, key: key)
        } else {
            radixSort(elements, scratch: scratch, key: key)
        }
    }

    /// The radix sort of ``sort(_:scratch:key:)``, kept out of line: the usual small
    /// commit never calls it, and inlined it made the caller's common path slower.
    @inline(never)
    static func radixSort<Element: BitwiseCopyable>(
        _ elements: UnsafeMutableBufferPointer<Element>,
        scratch: UnsafeMutableBufferPointer<Element>,
        key: (Element) -> UInt64
    ) {
        let count = elements.count
        precondition(scratch.count >= count, "PageOrder.sort: scratch too small")
        var largest: UInt64 = 0
        for element in elements { largest |= key(element) }
        var passes = 0
        while passes < 8 && largest >> (8 * UInt64(passes)) != 0 { passes += 1 }
        // On the heap: a temporary (stack) allocation here, nested in the caller's, broke
        // the release build's stack (the caller's pointers read back as garbage).
        let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: 256 * max(passes, 1))
        defer { counts.deallocate() }
        do {
            counts.initialize(repeating: 0)
            // Every pass's histogram in one read of the input.
            for element in elements {
                let value = key(element)
                var pass = 0
                while pass < passes {
                    counts[pass &* 256 &+ Int(truncatingIfNeeded: (value >> (8 &* UInt64(pass))) & 0xFF)] &+= 1
                    pass &+= 1
                }
            }
            var source = elements
            var target = UnsafeMutableBufferPointer(rebasing: scratch[0..<count])
            var inScratch = false
            for pass in 0..<passes {
                let base = pass &* 256
                let shift = 8 &* UInt64(pass)
                // A byte on which every element agrees leaves the order as it is.
                if counts[base &+ Int(truncatingIfNeeded: (key(source[0]) >> shift) & 0xFF)] == count { continue }
                var offset = 0
                for digit in 0..<256 {
                    let digitCount = counts[base &+ digit]
                    counts[base &+ digit] = offset
                    offset &+= digitCount
                }
                for element in source {
                    let digit = base &+ Int(truncatingIfNeeded: (key(element) >> shift) & 0xFF)
                    target[counts[digit]] = element
                    counts[digit] &+= 1
                }
                swap(&source, &target)
                inScratch.toggle()
            }
            if inScratch {
                _ = elements.update(fromContentsOf: source)
            }
        }
    }

    /// Sorts `pages` ascending in place.
    static func sort(_ pages: inout [UInt64]) {
        guard pages.count > insertionLimit else {
            pages.withUnsafeMutableBufferPointer { insertionSort($0, key: { $0 }) }
            return
        }
        let scratch = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: pages.count)
        defer { scratch.deallocate() }
        pages.withUnsafeMutableBufferPointer { radixSort($0, scratch: scratch, key: { $0 }) }
    }

    @inline(__always)
    static func insertionSort<Element: BitwiseCopyable>(_ elements: UnsafeMutableBufferPointer<Element>, key: (Element) -> UInt64) {
        var next = 1
        while next < elements.count {
            let item = elements[next]
            let itemKey = key(item)
            var index = next
            while index > 0, key(elements[index &- 1]) > itemKey {
                elements[index] = elements[index &- 1]
                index &-= 1
            }
            elements[index] = item
            next &+= 1
        }
    }
}
