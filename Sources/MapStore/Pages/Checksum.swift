import CShims

/// Which checksum a file's data pages carry. Chosen when the file is created and recorded
/// by its format version (docs/format.md): version 1 files carry XXH64, version 2 files
/// CRC-32C. A file keeps its scheme for life; this build reads and writes both.
@usableFromInline
enum PageChecksum: Sendable, Equatable {
    /// XXH64 (seed 0, chained through the seed across a tree page's two parts): format version 1.
    case xxh64
    /// CRC-32C (Castagnoli) zero-extended to 64 bits: format version 2, the default for new files.
    case crc32c

    /// What a new file uses.
    static let current = PageChecksum.crc32c
}

/// The checksums: CRC-32C for data pages of version-2 files, XXH64 for version-1 files'
/// data pages and for every meta record.
///
/// Why CRC-32C for pages now, after XXH64 first. XXH64 was picked because it runs at
/// several bytes per cycle in portable Swift, but it costs about 31 instructions per 32
/// bytes, and it was a third of a small write transaction: 6,701 of 19,850 instructions
/// per single-put transaction (bench fillrandom, callgrind), 1,811 of 5,450 per put in
/// random batches. The SSE4.2 `crc32` instruction takes 8 bytes per instruction; run as
/// three interleaved chains (CShims/CRC32C.c) it goes at its throughput rather than its
/// latency, at 9 instructions per 48 bytes. Measured the same way, the page checksums
/// fell to 1,918 per single-put transaction (whole write path 19,850 -> 15,305) and to
/// 482 per batched put (5,450 -> 4,105); docs/format.md has the commands.
///
/// The price is 32 check bits instead of 64: a random corruption goes unnoticed with
/// probability 2^-32 instead of 2^-64, while CRC-32C catches every error burst of up to
/// 32 bits and every odd number of flipped bits, which XXH64 does not promise. Neither is cryptographic; both guard against torn writes, bit rot and
/// misdirected writes. Without SSE4.2 (or on other CPUs) a portable table-driven loop
/// gives the same values.
///
/// The meta record keeps XXH64 in every version: it is checked before its version field is
/// trusted, so a damaged version reads as damage, and a build that knows only version 1
/// reports a version-2 file as a newer format rather than as a corrupt one.
@usableFromInline
enum Checksum {
    @usableFromInline static let prime1: UInt64 = 0x9E37_79B1_85EB_CA87
    @usableFromInline static let prime2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    @usableFromInline static let prime3: UInt64 = 0x1656_67B1_9E37_79F9
    @usableFromInline static let prime4: UInt64 = 0x85EB_CA77_C2B2_AE63
    @usableFromInline static let prime5: UInt64 = 0x27D4_EB2F_1656_67C5

    @inlinable @inline(__always)
    static func rotl(_ x: UInt64, _ r: UInt64) -> UInt64 { (x << r) | (x >> (64 - r)) }

    @inlinable @inline(__always)
    static func round(_ acc: UInt64, _ input: UInt64) -> UInt64 {
        rotl(acc &+ input &* prime2, 31) &* prime1
    }

    @inlinable @inline(__always)
    static func merge(_ acc: UInt64, _ value: UInt64) -> UInt64 {
        (acc ^ round(0, value)) &* prime1 &+ prime4
    }

    @inlinable @inline(__always)
    static func lane(_ p: UnsafeRawPointer, _ offset: Int) -> UInt64 {
        UInt64(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    /// CRC-32C of `count` bytes at `start`, continuing from `crc` (the CRC-32C of the bytes
    /// before them; 0 to start).
    @inlinable @inline(__always)
    static func crc32c(_ start: UnsafeRawPointer, count: Int, continuing crc: UInt32 = 0) -> UInt32 {
        mapstore_crc32c(crc, start, count)
    }

    /// The CRC-32C of a byte string after `words` consecutive 8-byte words of it changed,
    /// from its CRC before (`crc`): `changes` holds each word's old value XOR its new one, and
    /// `following` bytes of the string come after them. The string is not read.
    @inlinable @inline(__always)
    static func crc32cPatched(_ crc: UInt32, changes: UnsafePointer<UInt64>, words: Int, following: Int) -> UInt32 {
        mapstore_crc32c_patch(crc, changes, words, following)
    }

    /// `crc` shifted over `count` bytes, which joins CRCs: crc(A + B) = shift(crc(A), |B|) ^ crc(B).
    @inlinable @inline(__always)
    static func crc32cShifted(_ crc: UInt32, by count: Int) -> UInt32 {
        mapstore_crc32c_shift(crc, count)
    }

    /// Whether ``crc32cPatched(_:changes:words:following:)`` (and ``crc32cShifted(_:by:)``) costs a few instructions here
    /// (the CPU has the `crc32` and carry-less multiply instructions); elsewhere it walks the
    /// following bytes one table step each, dearer than hashing them.
    static let patchesCheaply = mapstore_crc32c_hardware() == 1

    /// XXH64 of `count` bytes at `start` with `seed`, written from its published specification.
    @inlinable
    static func xxh64(_ start: UnsafeRawPointer, count: Int, seed: UInt64 = 0) -> UInt64 {
        var offset = 0
        var hash: UInt64
        if count >= 32 {
            var v1 = seed &+ prime1 &+ prime2
            var v2 = seed &+ prime2
            var v3 = seed
            var v4 = seed &- prime1
            let limit = count - 32
            while offset <= limit {
                v1 = round(v1, lane(start, offset))
                v2 = round(v2, lane(start, offset + 8))
                v3 = round(v3, lane(start, offset + 16))
                v4 = round(v4, lane(start, offset + 24))
                offset += 32
            }
            hash = rotl(v1, 1) &+ rotl(v2, 7) &+ rotl(v3, 12) &+ rotl(v4, 18)
            hash = merge(hash, v1)
            hash = merge(hash, v2)
            hash = merge(hash, v3)
            hash = merge(hash, v4)
        } else {
            hash = seed &+ prime5
        }
        hash = hash &+ UInt64(count)
        while offset + 8 <= count {
            hash ^= round(0, lane(start, offset))
            hash = rotl(hash, 27) &* prime1 &+ prime4
            offset += 8
        }
        if offset + 4 <= count {
            let word = UInt64(UInt32(littleEndian: start.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
            hash ^= word &* prime1
            hash = rotl(hash, 23) &* prime2 &+ prime3
            offset += 4
        }
        while offset < count {
            hash ^= UInt64(start.load(fromByteOffset: offset, as: UInt8.self)) &* prime5
            hash = rotl(hash, 11) &* prime1
            offset += 1
        }
        hash ^= hash >> 33
        hash = hash &* prime2
        hash ^= hash >> 29
        hash = hash &* prime3
        hash ^= hash >> 32
        return hash
    }
}
