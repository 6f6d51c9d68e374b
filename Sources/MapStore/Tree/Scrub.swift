/// Erasing the bytes of a tree page that no reader uses (docs/format.md,
/// "Erased bytes"): what compaction and backup write.
extension Node {
    /// Copies this node into `destination` (a page of the same size) keeping only its header,
    /// its slot array and the cells its slots point at, each at its own offset; every other
    /// byte (the free gap between the slots and the cells, and the space of removed cells) is
    /// zero in the copy. Every cell is validated first.
    ///
    /// Returns whether the copy's cell area (`upper..<size`, which the checksum covers)
    /// differs from this page's, that is, whether removed cells left bytes behind: the copy
    /// then needs a new checksum.
    func scrubbed(into destination: Page) throws(MapStoreError) -> Bool {
        precondition(destination.size == page.size, "page sizes differ")
        try validateAll()
        let size = page.size
        let slotsEnd = self.slotsEnd
        destination.write(page.slice(0, slotsEnd), at: 0)
        destination.zero(slotsEnd, size - slotsEnd)
        for index in 0..<count {
            let offset = try cellOffset(index)
            destination.write(page.slice(offset, try cellSize(index)), at: offset)
        }
        return !destination.sameBytes(as: page, from: upper, count: size - upper)
    }
}
