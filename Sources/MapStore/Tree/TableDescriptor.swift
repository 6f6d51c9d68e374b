/// A table's root as stored in its main-tree cell: root u64, depth u32, flags u32 (0), entries u64.
///
/// Tree-level: the tree checker reads table roots out of the main tree with it, and so do
/// transactions, compaction and the reachability walk above.
enum TableDescriptor {
    static let size = 24

    static func encode(_ root: TreeRoot) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: size)
        bytes.withUnsafeMutableBytes { buffer in
            let page = Page(buffer.baseAddress!, size: size)
            page.setU64(0, root.root)
            page.setU32(8, UInt32(root.depth))
            page.setU64(16, root.entries)
        }
        return bytes
    }

    static func decode(_ bytes: UnsafeRawBufferPointer, pageCount: UInt64, at page: UInt64) throws(MapStoreError) -> TreeRoot {
        guard bytes.count == size else {
            throw MapStoreError.corrupted(page: page, reason: "table descriptor of \(bytes.count) bytes, expected \(size)")
        }
        let view = Page(UnsafeMutableRawPointer(mutating: bytes.baseAddress!), size: size)
        let root = TreeRoot(root: view.u64(0), depth: Int(view.u32(8)), entries: view.u64(16))
        if root.root != 0, root.root < PageLayout.firstDataPage || root.root >= pageCount {
            throw MapStoreError.corrupted(page: page, reason: "table root \(root.root) outside pages 2..<\(pageCount)")
        }
        if (root.root == 0) != (root.depth == 0) || root.depth > TreeLimits.maxDepth {
            throw MapStoreError.corrupted(page: page, reason: "table depth \(root.depth) does not fit its root \(root.root)")
        }
        return root
    }
}
