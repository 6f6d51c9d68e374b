/// Lends the bytes of `array` to `body`, keeping `body`'s typed error.
/// (`Array.withUnsafeBytes` rethrows untyped errors.)
@inlinable @inline(__always)
func withBytes<R>(of array: [UInt8], _ body: (UnsafeRawBufferPointer) throws(MapStoreError) -> R) throws(MapStoreError) -> R {
    let result: Result<R, MapStoreError> = array.withUnsafeBytes { buffer in
        do throws(MapStoreError) { return .success(try body(buffer)) } catch { return .failure(error) }
    }
    return try result.get()
}

extension Array {
    /// Empties the array and keeps its buffer, popping a short array in place:
    /// `removeAll(keepingCapacity:)` goes through a generic `replaceSubrange` call, which
    /// costs more than a few pops (the tree path, a commit's chain and freed pages).
    @inline(__always)
    mutating func empty() {
        if count <= 16 {
            while !isEmpty { removeLast() }
        } else {
            removeAll(keepingCapacity: true)
        }
    }
}
