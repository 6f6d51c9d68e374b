/// One catalog entry's value (64 bytes, little-endian; the key is the snapshot's UTF-8 name):
///
/// ```
/// 0..<8    txnID        the commit the snapshot pins
/// 8..<16   main root    its main tree's root page (0 = empty)
/// 16..<20  main depth
/// 20..<24  flags        0
/// 24..<32  main entries
/// 32..<40  commitTime   that commit's time (ns since 1970)
/// 40..<48  createdTime  when the snapshot was taken (ns since 1970)
/// 48..<56  pageCount    the commit's page count
/// 56..<64  reserved     0
/// ```
struct SnapshotRecord: Equatable {
    static let size = 64

    var txnID: UInt64
    var main: TreeRoot
    var commitTime: UInt64
    var createdTime: UInt64
    var pageCount: UInt64

    func encode() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Self.size)
        bytes.withUnsafeMutableBytes { buffer in
            let view = Page(buffer.baseAddress!, size: Self.size)
            view.setU64(0, txnID)
            view.setU64(8, main.root)
            view.setU32(16, UInt32(main.depth))
            view.setU64(24, main.entries)
            view.setU64(32, commitTime)
            view.setU64(40, createdTime)
            view.setU64(48, pageCount)
        }
        return bytes
    }

    /// Decodes and checks a record read from catalog page `page`.
    static func decode(_ bytes: UnsafeRawBufferPointer, pageCount: UInt64, at page: UInt64) throws(MapStoreError) -> SnapshotRecord {
        guard bytes.count == size else {
            throw MapStoreError.corrupted(page: page, reason: "snapshot record of \(bytes.count) bytes, expected \(size)")
        }
        let view = Page(UnsafeMutableRawPointer(mutating: bytes.baseAddress!), size: size)
        let record = SnapshotRecord(
            txnID: view.u64(0), main: TreeRoot(root: view.u64(8), depth: Int(view.u32(16)), entries: view.u64(24)),
            commitTime: view.u64(32), createdTime: view.u64(40), pageCount: view.u64(48))
        if record.main.root != 0, record.main.root < PageLayout.firstDataPage || record.main.root >= pageCount {
            throw MapStoreError.corrupted(page: page, reason: "snapshot root \(record.main.root) outside pages 2..<\(pageCount)")
        }
        if (record.main.root == 0) != (record.main.depth == 0) || record.main.depth > TreeLimits.maxDepth {
            throw MapStoreError.corrupted(page: page, reason: "snapshot depth \(record.main.depth) does not fit its root \(record.main.root)")
        }
        if record.pageCount > pageCount {
            throw MapStoreError.corrupted(page: page, reason: "snapshot of \(record.pageCount) pages in a commit of \(pageCount)")
        }
        return record
    }
}

/// Reading the catalog tree.
enum SnapshotCatalog {
    /// The record named `name`, or nil.
    static func find<Source: PageReading>(_ name: String, in catalog: TreeRoot, source: Source, pageCount: UInt64) throws(MapStoreError) -> SnapshotRecord? {
        let reader = TreeReader(space: source)
        return try withBytes(of: Array(name.utf8)) { (key) throws(MapStoreError) -> SnapshotRecord? in
            guard let (page, entry) = try reader.find(catalog, key: key) else { return nil }
            return try SnapshotRecord.decode(try reader.value(of: entry, in: page), pageCount: pageCount, at: page.pageNumber)
        }
    }

    /// Every record, in name order.
    static func all<Source: PageReading>(in catalog: TreeRoot, source: Source, pageCount: UInt64) throws(MapStoreError) -> [(name: String, record: SnapshotRecord)] {
        var result: [(name: String, record: SnapshotRecord)] = []
        let reader = TreeReader(space: source)
        var cursor = TreeCursor(source: source, tree: catalog, pageCount: pageCount)
        var more = try cursor.first()
        while more {
            let (page, entry) = try cursor.current()
            let record = try SnapshotRecord.decode(try reader.value(of: entry, in: page), pageCount: pageCount, at: page.pageNumber)
            result.append((String(decoding: entry.key, as: UTF8.self), record))
            more = try cursor.next()
        }
        return result
    }
}
