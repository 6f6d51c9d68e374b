/// What tells a tree at one commit from the same tree at another without reading it: its root
/// page and the transaction that wrote that page (the page header's `txnID`).
///
/// Two commits whose tree has the same version hold the same tree. A commit that changes a
/// tree copies the path to the root into fresh pages, sealed with its own id, so the root's
/// writer is newer than every earlier commit; a page is rewritten only after it was freed and
/// no reader could see it, and is then sealed with the new writer's id too. The one way an old
/// page comes back into a tree, a snapshot restore, brings it back unchanged (a snapshot keeps
/// its pages from reuse). So a root page number that is the same at both commits with the same
/// writer is the same page content, and so, below it, is the whole tree.
struct TreeVersion: Hashable, Sendable {
    /// The root page (0: the tree is empty).
    let root: UInt64
    /// The transaction that wrote the root page (0 for an empty tree).
    let writer: UInt64
}

extension ReadTransaction {
    /// The version of `tree` at this transaction's commit: a read of its root page's header
    /// (and, for a table, a lookup of its descriptor in the main tree).
    final func version(of tree: TreeID) throws(MapStoreError) -> TreeVersion {
        try checkActive()
        return try version(of: try root(of: tree))
    }

    final func version(of root: TreeRoot) throws(MapStoreError) -> TreeVersion {
        guard !root.isEmpty else { return TreeVersion(root: 0, writer: 0) }
        return TreeVersion(root: root.root, writer: try pages.readPage(root.root).txnID)
    }

    /// The version of every table, by name: one pass over the main tree's entries (tables live
    /// among its keys, as LMDB's named databases do), so its cost grows with the keys stored
    /// outside tables, and one root-page read per table.
    final func tableVersions() throws(MapStoreError) -> [String: TreeVersion] {
        try checkActive()
        var versions: [String: TreeVersion] = [:]
        var cursor = TreeCursor(source: pages, tree: main, pageCount: pages.pageCount)
        guard try cursor.first() else { return versions }
        let reader = TreeReader(space: pages)
        _ = try cursor.walk(forward: true) { (page, entry) throws(MapStoreError) -> Bool in
            guard entry.isTable else { return true }
            let root = try TableDescriptor.decode(try reader.value(of: entry, in: page), pageCount: pages.pageCount, at: page.pageNumber)
            versions[String(decoding: entry.key, as: UTF8.self)] = try version(of: root)
            return true
        }
        return versions
    }
}
