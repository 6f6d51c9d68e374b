import Atomics
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// What a sync record in the lock file must match to be believed: this boot of the machine
/// and this data file.
///
/// A meta page found in the map is not necessarily on the disk: a writer killed between its
/// meta write and its sync, or a `.noMetaSync` writer, leaves its newest meta in the page
/// cache only. The page cache is shared by every process, so a later opener sees that meta
/// and cannot tell, from the data file alone, whether a power cut would keep it. The lock file
/// tells it: every writer that syncs the data file records there the newest commit the sync
/// covered. The record speaks only of one boot (after a reboot the page cache is new, and so
/// is whatever the record said) and of one data file (a restore renames a new file into
/// place; a copy gets a new lock file).
struct SyncWitness: Equatable, Sendable {
    /// /proc/sys/kernel/random/boot_id as two words; zero when it cannot be read (then no
    /// record is ever believed and a writer syncs once per open instead).
    var bootHigh: UInt64
    var bootLow: UInt64
    /// The data file's device and inode numbers, mixed into one word.
    var file: UInt64

    /// Whether a record made with this witness can ever be believed.
    var isKnown: Bool { bootHigh != 0 || bootLow != 0 }

    /// The witness for the open data file `fd` in this boot.
    static func current(file fd: FileDescriptor, path: String) throws(MapStoreError) -> SyncWitness {
        let (device, inode) = try Syscalls.deviceAndInode(fd, path)
        let boot = SyncWitness.bootID
        // The inode alone names the file within its file system; the device keeps two file
        // systems apart. A multiply-and-xor mix keeps both in one word of the record.
        return SyncWitness(bootHigh: boot.high, bootLow: boot.low, file: inode &* 0x9E37_79B9_7F4A_7C15 ^ device)
    }

    /// This boot's id, read once per process: 32 hex digits (the dashes skipped).
    static let bootID: (high: UInt64, low: UInt64) = {
        guard let text = try? readSmallFile("/proc/sys/kernel/random/boot_id") else { return (0, 0) }
        var words: (UInt64, UInt64) = (0, 0)
        var digits = 0
        for byte in text {
            let value: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "-"), UInt8(ascii: "\n"): continue
            default: return (0, 0)
            }
            if digits < 16 { words.0 = words.0 << 4 | UInt64(value) } else { words.1 = words.1 << 4 | UInt64(value) }
            digits += 1
        }
        return digits == 32 ? (words.0, words.1) : (0, 0)
    }()

    private static func readSmallFile(_ path: String) throws(MapStoreError) -> [UInt8] {
        let fd = try Syscalls.open(path, create: false, writable: false)
        defer { try? fd.close() }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 8)
        defer { buffer.deallocate() }
        let count = try Syscalls.pread(fd, path, into: buffer, at: 0)
        return Array(buffer.prefix(count))
    }
}

/// The sync record: bytes 32..<64 of the lock file's header.
///
/// ```
/// 32  newest commit whose meta a sync of the data file covered, + 1 u64 (atomic; 0 = none)
/// 40  boot id u64 x 2      56  data file identity u64
/// ```
///
/// Written only under the writer lock, after a sync of the data file completes; read by
/// writers under the same lock. A writer killed while rewriting it for a new boot or file
/// the transaction word zeroed or a witness that does not match, either of which makes the
/// next writer sync once rather than believe the record.
extension ReaderTable {
    private static let syncedOffset = 32
    private static let bootOffset = 40
    private static let fileOffset = 56

    private var syncedWord: UnsafeAtomic<UInt64> {
        UnsafeAtomic(at: (base + ReaderTable.syncedOffset).assumingMemoryBound(to: UInt64.AtomicRepresentation.self))
    }

    private var recordedWitness: SyncWitness {
        let header = Page(base, size: ReaderTable.headerSize)
        return SyncWitness(bootHigh: header.u64(ReaderTable.bootOffset), bootLow: header.u64(ReaderTable.bootOffset + 8),
                           file: header.u64(ReaderTable.fileOffset))
    }

    /// The newest commit a sync is recorded to have covered, when the record was made in this
    /// boot for this data file; nil when it was not (or there is none: a new lock file).
    func syncedTransaction(witness: SyncWitness) -> UInt64? {
        guard witness.isKnown, recordedWitness == witness else { return nil }
        let word = syncedWord.load(ordering: .sequentiallyConsistent)
        return word == 0 ? nil : word - 1
    }

    /// Records that a completed sync of the data file covered every meta up to `txnID`.
    func recordSynced(_ txnID: UInt64, witness: SyncWitness) {
        if recordedWitness != witness {
            // Zero first: a writer killed half-way leaves a record nobody believes past zero.
            syncedWord.store(0, ordering: .sequentiallyConsistent)
            let header = Page(base, size: ReaderTable.headerSize)
            header.setU64(ReaderTable.bootOffset, witness.bootHigh)
            header.setU64(ReaderTable.bootOffset + 8, witness.bootLow)
            header.setU64(ReaderTable.fileOffset, witness.file)
        }
        syncedWord.store(txnID + 1, ordering: .sequentiallyConsistent)
    }
}
