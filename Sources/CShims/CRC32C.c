// CRC-32C (Castagnoli polynomial), written for MapStore from the polynomial's definition and
// the documented behaviour of the SSE4.2 `crc32` and PCLMULQDQ instructions.
//
// Notation. A 32-bit CRC register `r` is a polynomial over GF(2) of degree < 32 in reflected
// order: bit i of r is the coefficient of x^(31-i). P is the Castagnoli polynomial. The raw
// register update (no initial or final inversion) is linear:
//     raw(r, A || B) = raw(r, A) * x^(8|B|) ^ raw(0, B)      (mod P)
// and `crc32 r, q` (8 bytes) computes raw(r, q) = r * x^64 ^ q * x^32 (mod P), q read as a
// 64-bit reflected polynomial.
//
// Why three streams: one `crc32` chain is latency bound (3 cycles per 8 bytes on current
// x86, throughput one per cycle), so a long input is cut into three equal parts whose
// chains run interleaved; the parts' registers are then joined with the rule above. The
// multiplication by x^(8L) mod P uses PCLMULQDQ: for reflected 32-bit a and b, the 64-bit
// carry-less product read as a reflected 64-bit polynomial is x * a * b, and
// `crc32 0, that` multiplies by x^32 and reduces mod P, giving a * b * x^33. So with
// K(L) = x^(8L - 33) mod P, shift(a, L) = crc32(0, clmul(a, K(L))). K is tabulated for every
// L that is a multiple of 8 up to 8 * shiftTableSize: K(8) = x^31 (the value 1), and
// K(L + 8) = K(L) * x^64 mod P = crc32(K(L), 0 as 8 bytes).
//
// Patching. For two messages A and B of one length the inversions cancel: crc(A) ^ crc(B) =
// raw(0, A ^ B). When they differ only in some consecutive words that `following` bytes
// follow, raw(0, A ^ B) is the register of those words' xor, shifted over `following` zero
// bytes: a few instructions, whatever the message's length (mapstore_crc32c_patch).

#include "CRC32C.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

/// The reflected Castagnoli polynomial.
#define CRC32C_POLY 0x82F63B78u

/// Inputs shorter than this run one chain: joining three costs two multiplications.
#define THREE_STREAM_MIN 192
/// Longest stream (in 8-byte words, even) one round of three covers; longer inputs take rounds.
#define SHIFT_TABLE_SIZE 512

static uint32_t slicing[8][256];
static int hardware;
static uint32_t shift_constants[SHIFT_TABLE_SIZE + 1];  // shift_constants[w] = K(8 * w)
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int ready;

static inline uint64_t load_le64(const unsigned char *p) {
    // Assembled byte by byte so the value is the same on any byte order; compilers turn it
    // into one load on little-endian machines.
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

// MARK: Portable

static void build_slicing_tables(void) {
    for (uint32_t byte = 0; byte < 256; byte++) {
        uint32_t r = byte;
        for (int bit = 0; bit < 8; bit++) r = (r >> 1) ^ (CRC32C_POLY & (0u - (r & 1)));
        slicing[0][byte] = r;
    }
    // slicing[k][b]: the register contribution of byte b followed by k zero bytes.
    for (int k = 1; k < 8; k++) {
        for (uint32_t byte = 0; byte < 256; byte++) {
            uint32_t r = slicing[k - 1][byte];
            slicing[k][byte] = (r >> 8) ^ slicing[0][r & 0xFF];
        }
    }
}

static uint32_t portable_raw(uint32_t r, const unsigned char *p, size_t n) {
    while (n >= 8) {
        uint64_t word = load_le64(p) ^ r;
        r = slicing[7][word & 0xFF] ^ slicing[6][(word >> 8) & 0xFF] ^
            slicing[5][(word >> 16) & 0xFF] ^ slicing[4][(word >> 24) & 0xFF] ^
            slicing[3][(word >> 32) & 0xFF] ^ slicing[2][(word >> 40) & 0xFF] ^
            slicing[1][(word >> 48) & 0xFF] ^ slicing[0][word >> 56];
        p += 8;
        n -= 8;
    }
    while (n > 0) {
        r = (r >> 8) ^ slicing[0][(r ^ *p) & 0xFF];
        p++;
        n--;
    }
    return r;
}

// MARK: SSE4.2 + PCLMULQDQ

#if defined(__x86_64__)
#define HW_TARGET __attribute__((target("sse4.2,pclmul")))

HW_TARGET static void build_shift_constants(void) {
    uint64_t k = 1;  // x^31: K for one 8-byte word
    shift_constants[0] = 0;
    for (int w = 1; w <= SHIFT_TABLE_SIZE; w++) {
        shift_constants[w] = (uint32_t)k;
        k = _mm_crc32_u64(k, 0);
    }
}

/// r * x^(8 * 8 * words) mod P, with the tabulated constant.
HW_TARGET static inline uint64_t shift_words(uint64_t r, size_t words) {
    __m128i product = _mm_clmulepi64_si128(_mm_cvtsi64_si128((long long)r),
                                           _mm_cvtsi32_si128((int)shift_constants[words]), 0x00);
    return _mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(product));
}

HW_TARGET static inline uint64_t hw_tail(uint64_t r, const unsigned char *p, size_t n) {
    while (n >= 8) {
        r = _mm_crc32_u64(r, load_le64(p));
        p += 8;
        n -= 8;
    }
    if (n >= 4) {
        uint32_t word;
        memcpy(&word, p, 4);
        r = _mm_crc32_u32((uint32_t)r, word);
        p += 4;
        n -= 4;
    }
    while (n > 0) {
        r = _mm_crc32_u8((uint32_t)r, *p);
        p++;
        n--;
    }
    return r;
}

HW_TARGET static uint32_t hw_three_raw(uint32_t crc, const unsigned char *p, size_t n) {
    uint64_t a = crc;
    while (n >= THREE_STREAM_MIN) {
        // An even number of words per stream, so the loop takes two per step (a third
        // fewer loop instructions); the remainder (under 48 bytes) goes to the tail.
        size_t words = (n / 24) & ~(size_t)1;
        if (words > SHIFT_TABLE_SIZE) words = SHIFT_TABLE_SIZE;
        size_t length = words * 8;
        const unsigned char *second = p + length, *third = p + 2 * length;
        uint64_t b = 0, c = 0;
        for (size_t offset = 0; offset < length; offset += 16) {
            a = _mm_crc32_u64(a, load_le64(p + offset));
            b = _mm_crc32_u64(b, load_le64(second + offset));
            c = _mm_crc32_u64(c, load_le64(third + offset));
            a = _mm_crc32_u64(a, load_le64(p + offset + 8));
            b = _mm_crc32_u64(b, load_le64(second + offset + 8));
            c = _mm_crc32_u64(c, load_le64(third + offset + 8));
        }
        a = shift_words(a, words) ^ b;
        a = shift_words(a, words) ^ c;
        p += 3 * length;
        n -= 3 * length;
    }
    return (uint32_t)hw_tail(a, p, n);
}

HW_TARGET static uint32_t hw_one_raw(uint32_t crc, const unsigned char *p, size_t n) {
    return (uint32_t)hw_tail(crc, p, n);
}

/// raw register `r` carried over `count` zero bytes: r * x^(8 * count) mod P.
HW_TARGET static uint32_t hw_shift(uint32_t crc, size_t count) {
    uint64_t r = crc;
    for (size_t zeros = count % 8; zeros > 0; zeros--) r = _mm_crc32_u8((uint32_t)r, 0);
    for (size_t rest = count / 8; rest > 0;) {
        size_t step = rest < SHIFT_TABLE_SIZE ? rest : SHIFT_TABLE_SIZE;
        r = shift_words(r, step);
        rest -= step;
    }
    return (uint32_t)r;
}

/// raw(0, the words, then `following` zero bytes): what those words changing by `changes`
/// does to the register of a message they sit in, `following` bytes before its end.
HW_TARGET static uint32_t hw_patch(const uint64_t *changes, size_t words, size_t following) {
    uint64_t r = 0;
    for (size_t index = 0; index < words; index++) r = _mm_crc32_u64(r, changes[index]);
    return hw_shift((uint32_t)r, following);
}

static int detect_hardware(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("pclmul");
}
#else
static int detect_hardware(void) { return 0; }
static uint32_t hw_three_raw(uint32_t crc, const unsigned char *p, size_t n) { return portable_raw(crc, p, n); }
static uint32_t hw_one_raw(uint32_t crc, const unsigned char *p, size_t n) { return portable_raw(crc, p, n); }
static void build_shift_constants(void) {}
static uint32_t hw_patch(const uint64_t *changes, size_t words, size_t following) { return 0; }
static uint32_t hw_shift(uint32_t crc, size_t count) { return 0; }
#endif

/// The portable hw_shift: one table step per zero byte.
static uint32_t portable_shift(uint32_t r, size_t count) {
    for (size_t zeros = 0; zeros < count; zeros++) r = (r >> 8) ^ slicing[0][r & 0xFF];
    return r;
}

/// The portable hw_patch: the words' register, then the zero bytes one table step each.
static uint32_t portable_patch(const uint64_t *changes, size_t words, size_t following) {
    uint32_t r = 0;
    for (size_t index = 0; index < words; index++) {
        unsigned char bytes[8];
        for (int byte = 0; byte < 8; byte++) bytes[byte] = (unsigned char)(changes[index] >> (8 * byte));
        r = portable_raw(r, bytes, 8);
    }
    return portable_shift(r, following);
}

// MARK: Entry points

static void initialize(void) {
    build_slicing_tables();
    hardware = detect_hardware();
    if (hardware) build_shift_constants();
    __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
}

static inline void ensure_initialized(void) {
    if (__builtin_expect(!__atomic_load_n(&ready, __ATOMIC_ACQUIRE), 0)) pthread_once(&once, initialize);
}

uint32_t mapstore_crc32c(uint32_t crc, const void *data, size_t count) {
    ensure_initialized();
    if (hardware) return ~hw_three_raw(~crc, data, count);
    return ~portable_raw(~crc, data, count);
}

uint32_t mapstore_crc32c_portable(uint32_t crc, const void *data, size_t count) {
    ensure_initialized();
    return ~portable_raw(~crc, data, count);
}

int mapstore_crc32c_hardware(void) {
    ensure_initialized();
    return hardware;
}

uint32_t mapstore_crc32c_hardware_one_stream(uint32_t crc, const void *data, size_t count) {
    ensure_initialized();
    return ~hw_one_raw(~crc, data, count);
}

uint32_t mapstore_crc32c_hardware_three_streams(uint32_t crc, const void *data, size_t count) {
    ensure_initialized();
    return ~hw_three_raw(~crc, data, count);
}

uint32_t mapstore_crc32c_patch(uint32_t crc, const uint64_t *changes, size_t words, size_t following) {
    ensure_initialized();
    // Two messages of one length: crc(A) ^ crc(B) = raw(0, A ^ B), the inversions cancel.
    return crc ^ (hardware ? hw_patch(changes, words, following) : portable_patch(changes, words, following));
}

uint32_t mapstore_crc32c_patch_portable(uint32_t crc, const uint64_t *changes, size_t words, size_t following) {
    ensure_initialized();
    return crc ^ portable_patch(changes, words, following);
}

uint32_t mapstore_crc32c_shift(uint32_t crc, size_t count) {
    ensure_initialized();
    return hardware ? hw_shift(crc, count) : portable_shift(crc, count);
}

uint32_t mapstore_crc32c_shift_portable(uint32_t crc, size_t count) {
    ensure_initialized();
    return portable_shift(crc, count);
}
