import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import MapStoreVM

/// One replayed access, flattened for assertions.
struct Replayed: Equatable, CustomStringConvertible {
    var line: Int
    var fault: FaultKind
    var pa: UInt64?
    var value: UInt8?
    var tlbHit: Bool

    var description: String {
        "line \(line): \(fault) pa=\(pa.map { "0x" + String($0, radix: 16) } ?? "-") value=\(value.map(String.init) ?? "-")"
    }
}

/// Parses and replays `text`, checking the model's invariants after the run.
func replay(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> (kernel: Kernel, accesses: [Replayed]) {
    let trace = try TraceParser.parse(text)
    let replayer = TraceReplayer(trace: trace)
    var accesses: [Replayed] = []
    try replayer.run { access, result in
        accesses.append(Replayed(line: Int(access.line), fault: result.fault, pa: result.pa, value: result.value, tlbHit: result.tlbHit))
    }
    #expect(replayer.kernel.checkInvariants() == [], sourceLocation: sourceLocation)
    return (replayer.kernel, accesses)
}

/// The text of a fixture in Tests/Fixtures/traces, found from this file's path.
func fixture(_ name: String) throws -> String {
    let here = #filePath
    let tests = here.split(separator: "/", omittingEmptySubsequences: false).dropLast(2).joined(separator: "/")
    let path = tests + "/Fixtures/traces/" + name
    guard let handle = fopen(path, "r") else { throw FixtureMissing(path: path) }
    defer { fclose(handle) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = fread(&buffer, 1, buffer.count, handle)
        if count == 0 { break }
        bytes.append(contentsOf: buffer[0..<count])
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// The byte at file offset `offset` of a trace file before any write: offset mod 251.
func fileByte(_ offset: UInt64) -> UInt8 { UInt8(offset % 251) }

struct FixtureMissing: Error { var path: String }
