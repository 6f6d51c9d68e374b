/// The snapshot catalog as a write transaction leaves it: the catalog tree's root and the
/// oldest snapshot's transaction id, copied into the meta at commit.
struct CatalogState {
    var tree: TreeRoot
    var oldest: UInt64

    init(_ meta: Meta) {
        tree = meta.catalog
        oldest = meta.oldestSnapshot
    }

    func apply(to meta: inout Meta) {
        meta.catalog = tree
        meta.oldestSnapshot = tree.isEmpty ? 0 : oldest
    }
}

extension Meta {
    /// The newest transaction whose freed pages may be reused as far as snapshots are
    /// concerned: a snapshot at T keeps every page freed after T, like a reader at T.
    var snapshotHorizon: UInt64 { catalog.entries > 0 ? oldestSnapshot : UInt64.max }
}
