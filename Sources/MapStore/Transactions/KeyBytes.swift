/// Lends the bytes of a key or value to `body` without copying when the collection is
/// contiguous (arrays, native strings' UTF-8 views), copying once otherwise.
@inlinable @inline(__always)
func withContiguousBytes<C: Collection<UInt8>, R>(_ bytes: C, _ body: (UnsafeRawBufferPointer) throws(MapStoreError) -> R) throws(MapStoreError) -> R {
    let fast: Result<R, MapStoreError>? = bytes.withContiguousStorageIfAvailable { buffer in
        do throws(MapStoreError) { return .success(try body(UnsafeRawBufferPointer(buffer))) } catch { return .failure(error) }
    }
    if let fast { return try fast.get() }
    return try withBytes(of: Array(bytes), body)
}
