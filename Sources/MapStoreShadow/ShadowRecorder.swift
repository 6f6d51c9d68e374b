import MapStore

#if canImport(Glibc)
import Glibc
#endif

/// One event of a shadowed run: what the store (or the experiment around it) did to its map.
public enum ShadowEvent: Sendable, Equatable {
    /// The data file was mapped: `length` bytes reserved at `base`, `fileBytes` of them backed
    /// by the file, mapped as `mode` says.
    case mapped(base: UInt, length: Int, fileBytes: Int, pageSize: Int, mode: MappingMode)
    /// `madvise` of `bytes` bytes from byte `from` of the map: at open (`from` 0) the read hint,
    /// plus MADV_WILLNEED for `.sequential`; after a growth, the read hint for the part it added.
    case advised(AccessPattern, from: Int, bytes: Int)
    /// Pages read through the map.
    case read(first: UInt64, count: Int)
    /// Pages written in place in the map.
    case write(first: UInt64, count: Int)
    /// Pages written to the file with `pwrite`.
    case store(first: UInt64, count: Int)
    /// `msync(MS_SYNC)` of a page range.
    case mapSync(first: UInt64, count: Int)
    /// `fdatasync` of the data file.
    case fileSync
    /// The file grew to `bytes` bytes.
    case grow(bytes: Int)
    /// `madvise(MADV_DONTNEED)` of a page range (issued by an experiment, not by the store).
    case dontNeed(first: UInt64, count: Int)
    /// The measured window starts: fault counts are compared from here on (an experiment's mark).
    case windowStart
}

/// The access tracer of shadow mode (the engine's package hook): records every event in a buffer that is allocated
/// and touched up front, so that recording takes no page fault of its own while the kernel's
/// fault counters are being compared with the model's.
///
/// Attach one with ``MapStore/Options/shadowRecorder``. Thread-safe. Consecutive identical
/// reads are recorded once (a second read of a present page changes nothing the comparison
/// looks at).
public final class ShadowRecorder: AccessTracer {
    /// A compact event: kind, page count and first page (16 bytes).
    struct Raw {
        var kind: UInt8
        var count: UInt32
        var first: UInt64
    }

    private struct State {
        var buffer: UnsafeMutablePointer<Raw>
        var capacity: Int
        var count = 0
        var overflow: [Raw] = []
        var last = Raw(kind: 255, count: 0, first: 0)
        var mapping: (base: UInt, length: Int, fileBytes: Int, pageSize: Int, mode: MappingMode)?
        var advice: [(AccessPattern, Int, Int)] = []
    }

    private let state: Lock<State>

    /// A recorder with room for `capacity` events before it has to allocate (and fault).
    public init(capacity: Int = 1 << 20) {
        let buffer = UnsafeMutablePointer<Raw>.allocate(capacity: max(capacity, 16))
        // Touch every page of the buffer now, outside any measured window.
        memset(buffer, 0, max(capacity, 16) * MemoryLayout<Raw>.stride)
        state = Lock(State(buffer: buffer, capacity: max(capacity, 16)))
    }

    deinit {
        state.withLock { $0.buffer.deallocate() }
    }

    private static let kindRead: UInt8 = 0, kindWrite: UInt8 = 1, kindStore: UInt8 = 2, kindMapSync: UInt8 = 3,
                        kindFileSync: UInt8 = 4, kindGrow: UInt8 = 5, kindDontNeed: UInt8 = 6, kindMapped: UInt8 = 7,
                        kindAdvised: UInt8 = 8, kindWindowStart: UInt8 = 9

    private func append(_ kind: UInt8, _ first: UInt64, _ count: Int) {
        state.withLock { state in
            let raw = Raw(kind: kind, count: UInt32(truncatingIfNeeded: count), first: first)
            if kind == Self.kindRead, state.last.kind == kind, state.last.first == first, state.last.count == raw.count { return }
            state.last = raw
            if state.count < state.capacity {
                state.buffer[state.count] = raw
                state.count += 1
            } else {
                state.overflow.append(raw)
            }
        }
    }

    /// Records an event that did not come from the store (an experiment's own madvise or touch).
    public func record(_ event: ShadowEvent) {
        switch event {
        case let .mapped(base, length, fileBytes, pageSize, mode):
            mapped(base: base, length: length, fileBytes: fileBytes, pageSize: pageSize, mode: mode)
        case let .advised(pattern, from, bytes): advised(pattern, from: from, bytes: bytes)
        case let .read(first, count): append(Self.kindRead, first, count)
        case let .write(first, count): append(Self.kindWrite, first, count)
        case let .store(first, count): append(Self.kindStore, first, count)
        case let .mapSync(first, count): append(Self.kindMapSync, first, count)
        case .fileSync: append(Self.kindFileSync, 0, 0)
        case let .grow(bytes): append(Self.kindGrow, UInt64(bytes), 0)
        case let .dontNeed(first, count): append(Self.kindDontNeed, first, count)
        case .windowStart: append(Self.kindWindowStart, 0, 0)
        }
    }

    /// The events so far, oldest first.
    public var events: [ShadowEvent] {
        state.withLock { state in
            var result: [ShadowEvent] = []
            result.reserveCapacity(state.count + state.overflow.count)
            for index in 0..<(state.count + state.overflow.count) {
                let raw = index < state.count ? state.buffer[index] : state.overflow[index - state.count]
                let first = raw.first, count = Int(raw.count)
                switch raw.kind {
                case Self.kindRead: result.append(.read(first: first, count: count))
                case Self.kindWrite: result.append(.write(first: first, count: count))
                case Self.kindStore: result.append(.store(first: first, count: count))
                case Self.kindMapSync: result.append(.mapSync(first: first, count: count))
                case Self.kindFileSync: result.append(.fileSync)
                case Self.kindGrow: result.append(.grow(bytes: Int(first)))
                case Self.kindDontNeed: result.append(.dontNeed(first: first, count: count))
                case Self.kindWindowStart: result.append(.windowStart)
                case Self.kindMapped:
                    if let m = state.mapping {
                        result.append(.mapped(base: m.base, length: m.length, fileBytes: m.fileBytes, pageSize: m.pageSize, mode: m.mode))
                    }
                case Self.kindAdvised:
                    if Int(first) < state.advice.count {
                        let a = state.advice[Int(first)]
                        result.append(.advised(a.0, from: a.1, bytes: a.2))
                    }
                default: break
                }
            }
            return result
        }
    }

    /// The mapping reported by the store, or nil before it opened the file.
    public var mapping: (base: UInt, length: Int, fileBytes: Int, pageSize: Int, mode: MappingMode)? {
        state.withLock { $0.mapping }
    }

    /// Events recorded after the preallocated buffer filled up (each may have cost a fault).
    public var overflowCount: Int { state.withLock { $0.overflow.count } }

    // MARK: AccessTracer (package: only the engine calls these)

    /// Records the mapping (one per recorder: a second open of another file is ignored).
    @usableFromInline package func mapped(base: UInt, length: Int, fileBytes: Int, pageSize: Int, mode: MappingMode) {
        let first = state.withLock { state -> Bool in
            guard state.mapping == nil else { return false }
            state.mapping = (base, length, fileBytes, pageSize, mode)
            return true
        }
        if first { append(Self.kindMapped, 0, 0) }
    }

    /// Records an madvise of the store (at open, and after each growth).
    @usableFromInline package func advised(_ pattern: AccessPattern, from: Int, bytes: Int) {
        let index = state.withLock { state -> Int in
            state.advice.append((pattern, from, bytes))
            return state.advice.count - 1
        }
        append(Self.kindAdvised, UInt64(index), 0)
    }

    /// Records pages read through the map.
    @usableFromInline package func pagesRead(_ first: UInt64, count: Int) { append(Self.kindRead, first, count) }
    /// Records pages written in place.
    @usableFromInline package func pagesWritten(_ first: UInt64, count: Int) { append(Self.kindWrite, first, count) }
    /// Records pages written with pwrite.
    @usableFromInline package func pagesStored(_ first: UInt64, count: Int) { append(Self.kindStore, first, count) }
    /// Records an msync(MS_SYNC).
    @usableFromInline package func mapSynced(_ first: UInt64, count: Int) { append(Self.kindMapSync, first, count) }
    /// Records an fdatasync.
    @usableFromInline package func fileSynced() { append(Self.kindFileSync, 0, 0) }
    /// Records growth of the file.
    @usableFromInline package func fileGrew(toBytes bytes: Int) { append(Self.kindGrow, UInt64(bytes), 0) }
}

extension Options {
    /// Shadow mode: every page a handle opened with these options touches in its map, and
    /// every msync, madvise and growth, is recorded by this recorder (``ShadowRecorder``).
    /// Nil (the default) costs the engine one branch per page touch.
    public var shadowRecorder: ShadowRecorder? {
        get { shadow as? ShadowRecorder }
        set { shadow = newValue }
    }
}
