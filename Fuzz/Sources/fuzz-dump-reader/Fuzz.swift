import MapStore

#if canImport(Glibc)
import Glibc
#endif

/// Any bytes, read as mdb_load input (bytevalue, print, and -T plain text): the reader must
/// return records or throw a `MapStoreError`, never trap, hang or read out of bounds.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDumpReader(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    for plainText in [false, true] {
        var reader = DumpReader(bytes, plainText: plainText)
        _ = try? reader.readAll()
    }
    return 0
}
