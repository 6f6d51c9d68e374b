import MapStoreVM

#if canImport(Glibc)
import Glibc
#endif

/// Any bytes, parsed as a trace and (when they parse) replayed on the VM model: a parse
/// error, a refused command or a segv is fine, a trap is not.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTrace(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let trace = try? TraceParser.parse(bytes: bytes) else { return 0 }
    let replayer = TraceReplayer(trace: trace)
    try? replayer.run()
    return 0
}
