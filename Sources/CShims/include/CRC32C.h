// CRC-32C (Castagnoli), the page checksum of format version 2 (docs/format.md).
#ifndef MAPSTORE_CRC32C_H
#define MAPSTORE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/// CRC-32C of `count` bytes at `data`, continuing from `crc` (0 to start): reflected
/// polynomial 0x82F63B78 (0x1EDC6F41 unreflected), initial value and final xor 0xFFFFFFFF.
/// `crc32c(crc32c(0, a), b) == crc32c(0, a followed by b)`. Uses the SSE4.2 `crc32`
/// instruction (three interleaved streams joined with PCLMULQDQ) when the CPU has both,
/// else a portable table-driven loop; both give the same value.
uint32_t mapstore_crc32c(uint32_t crc, const void *data, size_t count);

/// The portable table-driven CRC-32C (slicing by 8), whatever the CPU.
uint32_t mapstore_crc32c_portable(uint32_t crc, const void *data, size_t count);

/// 1 when this CPU has SSE4.2 and PCLMULQDQ, so `mapstore_crc32c` runs the hardware path.
int mapstore_crc32c_hardware(void);

/// The hardware path with one `crc32` chain only (no interleaving), for tests.
/// Only call when `mapstore_crc32c_hardware()` is 1.
uint32_t mapstore_crc32c_hardware_one_stream(uint32_t crc, const void *data, size_t count);

/// The hardware path as `mapstore_crc32c` runs it (three streams for long inputs), for tests.
/// Only call when `mapstore_crc32c_hardware()` is 1.
uint32_t mapstore_crc32c_hardware_three_streams(uint32_t crc, const void *data, size_t count);

/// The CRC-32C of a message after `words` consecutive 8-byte words of it changed, given
/// its CRC before (`crc`): `changes[i]` is word i's old value XOR its new one (its 8 bytes
/// read little-endian), and `following` is how many bytes of the message come after the
/// words. The message itself is not read: the hardware path costs a few instructions plus
/// one multiplication per 4096 following bytes. Same value on every path.
uint32_t mapstore_crc32c_patch(uint32_t crc, const uint64_t *changes, size_t words, size_t following);

/// `crc` multiplied by x^(8 * count) modulo the polynomial: the shift that joins CRCs,
/// crc(A followed by B) = shift(crc(A), |B|) ^ crc(B), and so also takes a known prefix
/// out of a CRC: crc(B) = crc(A followed by B) ^ shift(crc(A), |B|). Same value on every path.
uint32_t mapstore_crc32c_shift(uint32_t crc, size_t count);

/// `mapstore_crc32c_shift` on the portable path whatever the CPU (for tests).
uint32_t mapstore_crc32c_shift_portable(uint32_t crc, size_t count);

/// `mapstore_crc32c_patch` on the portable path whatever the CPU (for tests).
uint32_t mapstore_crc32c_patch_portable(uint32_t crc, const uint64_t *changes, size_t words, size_t following);

#endif
