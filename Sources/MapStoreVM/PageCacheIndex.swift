/// One file's page cache: page index to PFN, in a flat array indexed by page.
///
/// A fault-around looks up to 16 neighbours of the faulting page here, so a lookup is on the
/// fault path many times per fault; as a `Dictionary` its hashing was about a quarter of a
/// fault's instructions (callgrind, docs/simulator.md). Here it is one bounds check and one
/// load. The array holds PFN + 1 (0 for a page not cached) and grows to the highest page
/// cached, 8 bytes per page of the file: 2 MiB for a 1 GiB file.
public struct PageCacheIndex: Sequence, Sendable {
    /// PFN + 1 by page index; 0 where the page is not cached.
    private var slots: ContiguousArray<UInt64> = []
    /// Pages cached.
    public private(set) var count = 0

    /// An empty page cache.
    public init() {}

    /// Whether no page is cached.
    public var isEmpty: Bool { count == 0 }

    /// The PFN caching `page`, or nil; setting nil drops the page.
    public subscript(page: UInt64) -> UInt64? {
        get {
            guard page < UInt64(slots.count) else { return nil }
            let slot = slots[Int(page)]
            return slot == 0 ? nil : slot &- 1
        }
        set {
            if page >= UInt64(slots.count) {
                guard newValue != nil else { return }
                slots.append(contentsOf: repeatElement(0, count: Int(page) + 1 - slots.count))
            }
            let old = slots[Int(page)]
            slots[Int(page)] = newValue.map { $0 &+ 1 } ?? 0
            count += (newValue == nil ? 0 : 1) - (old == 0 ? 0 : 1)
        }
    }

    /// The cached pages in ascending page order, as (page index, PFN).
    public func makeIterator() -> Iterator {
        Iterator(slots: slots)
    }

    /// Walks the cached pages in ascending page order.
    public struct Iterator: IteratorProtocol {
        let slots: ContiguousArray<UInt64>
        var page = 0

        /// The next cached page and its PFN.
        public mutating func next() -> (key: UInt64, value: UInt64)? {
            while page < slots.count {
                defer { page += 1 }
                if slots[page] != 0 { return (UInt64(page), slots[page] - 1) }
            }
            return nil
        }
    }
}
