/// Lends the bytes of `array` to `body`, keeping `body`'s typed error.
/// (`Array.withUnsafeBytes` rethrows untyped errors.)
@inlinable @inline(__always)
func withBytes<R>(of array: [UInt8], _ body: (UnsafeRawBufferPointer) throws(MapStoreError) -> R) throws(MapStoreError) -> R {
    let result: Result<R, MapStoreError> = array.withUnsafeBytes { buffer in
        do throws(MapStoreError) { return .success(try body(buffer)) } catch { return .failure(error) }
    }
    return try result.get()
}
