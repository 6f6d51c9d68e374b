/// The file system calls that change the page cache without going through a mapping:
/// pwrite, fdatasync and growing a file. The shadow needs them because the store's commits
/// write pages with `pwrite` and sync them with `fdatasync`.
extension Kernel {
    /// `pwrite` of whole page `page` of file `file`: the page-cache page (created if absent,
    /// with no read and no fault) takes the bytes and becomes dirty. PTEs that map it stay.
    public func pwrite(file: Int, page: UInt64) {
        if page >= filePages(file) { files[file].size = (page + 1) << pageShift }
        let (pfn, _) = pageCacheFrame(file: file, page: page)
        markDirty(pfn)
    }

    /// `fdatasync`: writes back every dirty page-cache page of `file` and cleans it (shared
    /// mappings of it are write-protected again, so the next write is write-notified).
    public func fdatasync(file: Int) {
        for (_, pfn) in files[file].cache where memory[pfn].kind == .file && isDirty(pfn) {
            writeBack(pfn)
        }
    }

    /// `ftruncate`/`fallocate` up to `bytes`: the file grows (no page is cached by it).
    public func growFile(_ file: Int, toBytes bytes: UInt64) {
        if bytes > files[file].size { files[file].size = bytes }
    }

    /// Puts page `page` of `file` in the page cache, as if read earlier (a warm cache).
    public func cachePage(file: Int, page: UInt64) {
        _ = pageCacheFrame(file: file, page: page)
    }

    /// Marks cached page `page` of `file` dirty (written earlier and not yet written back).
    public func markPageDirty(file: Int, page: UInt64) {
        if let pfn = files[file].cache[page] { markDirty(pfn) }
    }

    /// Declares that pages `pages` of `file` form one large folio (see ``SimulatedFile/largeFolios``).
    public func setLargeFolio(file: Int, pages: Range<UInt64>) {
        guard pages.count > 1 else { return }
        for page in pages { files[file].largeFolios[page] = pages }
    }
}
