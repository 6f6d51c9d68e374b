/// The pages the named snapshots reach, so the writer can release every other freed page.
///
/// A snapshot of commit T needs only the pages of its own trees. The writer releases a freed
/// page once every live reader is at or after the commit that freed it, unless the page is
/// in this set; free-list chain pages, catalog pages and pages of commits no snapshot pinned
/// go back into use as if there were no snapshots. The set is computed once per version of
/// the catalog (its root page and the transaction that wrote it) and kept by the write side (``Writer/snapshotPins``).
struct SnapshotPins {
    /// The catalog version the set was computed for.
    let catalogRoot: UInt64
    let catalogStamp: UInt64
    /// Pages reachable from any snapshot.
    let pages: Set<UInt64>

    /// Releases the free pages of `list` that no reader and no snapshot of `meta` can reach,
    /// noting them in `released` unless it is nil (``Options/secureDelete``). Falls back to treating the oldest snapshot as a reader (coarser, still safe) when a
    /// snapshot's tree cannot be walked.
    static func release(_ list: inout FreeList, upTo oldestReader: UInt64, meta: Meta, source: TransactionPages, cache: inout SnapshotPins?,
                        noting released: inout [UInt64]?) {
        guard meta.catalog.entries > 0 else {
            list.release(upTo: oldestReader, noting: &released)
            return
        }
        guard let pins = pins(meta: meta, source: source, cache: &cache) else {
            list.release(upTo: min(oldestReader, meta.snapshotHorizon), noting: &released)
            return
        }
        // Records up to the horizon only hold pages freed before every snapshot: none is pinned.
        list.release(upTo: min(oldestReader, meta.snapshotHorizon), noting: &released)
        guard oldestReader > meta.snapshotHorizon else { return }
        var kept: [(txn: UInt64, pages: [UInt64])] = []
        var freed: [UInt64] = []
        for record in list.pending {
            guard record.txn <= oldestReader else { kept.append(record); continue }
            var pinned: [UInt64] = []
            for page in record.pages {
                if pins.pages.contains(page) { pinned.append(page) } else { freed.append(page) }
            }
            if !pinned.isEmpty { kept.append((record.txn, pinned)) }
        }
        guard !freed.isEmpty else { return }
        // A record tagged 0 in front, released alone: FreeList merges many pages in one pass.
        list.pending = [(0, freed)] + kept
        list.release(upTo: 0, noting: &released)
    }

    /// The cached set for the catalog of `meta` (`cache`), computing it when the catalog changed.
    private static func pins(meta: Meta, source: TransactionPages, cache: inout SnapshotPins?) -> SnapshotPins? {
        do throws(MapStoreError) {
            let stamp = try source.readPage(meta.catalog.root).txnID
            if let cached = cache, cached.catalogRoot == meta.catalog.root, cached.catalogStamp == stamp {
                return cached
            }
            var pages = Set<UInt64>()
            for (_, record) in try SnapshotCatalog.all(in: meta.catalog, source: source, pageCount: meta.pageCount) {
                pages.formUnion(try ReachablePages.collect(record.main, source: source, withTables: true).pages)
            }
            let pins = SnapshotPins(catalogRoot: meta.catalog.root, catalogStamp: stamp, pages: pages)
            cache = pins
            return pins
        } catch {
            return nil
        }
    }
}
