import MapStore

#if canImport(Glibc)
import Glibc
#endif

/// Any bytes, as a database file: open, scan forwards and backwards, get, stat and check
/// must return data or a `MapStoreError`, never trap, hang or read out of bounds.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDatabaseFile(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let path = "/tmp/mapstore-fuzz-\(getpid()).mapstore"
    let fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0o644)
    guard fd >= 0 else { return 0 }
    var written = 0
    while written < size {
        let n = write(fd, data + written, size - written)
        if n <= 0 { break }
        written += n
    }
    close(fd)
    var options = Options()
    options.readOnly = true
    options.create = false
    options.maxSize = 1 << 28
    options.verifyChecksums = size % 2 == 0
    if let db = try? Database(path: path, options: options) {
        _ = try? db.read { txn in
            // Each scan on its own: one that meets damage must not skip the others.
            _ = try? txn.entries()
            _ = try? txn.entries(reverse: true)
            _ = try txn.get([0x6b])
            for name in try txn.tableNames() { _ = try? txn.table(name).entries() }
        }
        _ = try? db.stat()
        _ = try? db.check()
    }
    return 0
}
