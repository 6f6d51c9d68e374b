// The only C in MapStore: constants and calls Swift cannot import directly
// (variadic fcntl and syscall, _GNU_SOURCE-only flags), and CRC-32C (CRC32C.h), which needs the
// SSE4.2 and PCLMULQDQ intrinsics. No other logic lives here.
#ifndef MAPSTORE_CSHIMS_H
#define MAPSTORE_CSHIMS_H

#include <stdint.h>
#include <sys/types.h>

#include "CRC32C.h"

/// Page size of this machine, from sysconf(_SC_PAGESIZE).
long cshim_page_size(void);

/// MAP_NORESERVE, MAP_FIXED and MAP_FIXED_NOREPLACE as Linux defines them.
int cshim_map_noreserve(void);
int cshim_map_fixed(void);

/// O_DIRECT (a _GNU_SOURCE flag): growth writes its zeros past the page cache.
int cshim_o_direct(void);

/// One open-file-description lock request (F_OFD_SETLK / F_OFD_SETLKW / F_OFD_GETLK).
/// `type` is F_RDLCK, F_WRLCK or F_UNLCK; returns fcntl's result (-1 and errno on failure).
int cshim_ofd_setlk(int fd, short type, int64_t start, int64_t length, int wait);

/// Probes an OFD lock: returns the lock type that would block (F_UNLCK when none), or -1.
int cshim_ofd_getlk(int fd, short type, int64_t start, int64_t length);

/// The calling thread's kernel thread id (gettid), for the reader table.
long cshim_gettid(void);

/// FUTEX_WAIT on the 32-bit word at `address`, shared between processes (no
/// FUTEX_PRIVATE_FLAG: the word may lie in a MAP_SHARED mapping): sleeps while the word
/// holds `expected`, at most `timeout_ns` nanoseconds. Returns 0 when woken, -1 with errno
/// EAGAIN (the word did not hold `expected`), ETIMEDOUT or EINTR.
int cshim_futex_wait(uint32_t *address, uint32_t expected, int64_t timeout_ns);

/// FUTEX_WAKE of up to `count` threads, of any process, waiting on the word at `address`.
/// Returns how many were woken, or -1 with errno.
int cshim_futex_wake(uint32_t *address, int count);

/// F_RDLCK, F_WRLCK, F_UNLCK.
short cshim_f_rdlck(void);
short cshim_f_wrlck(void);
short cshim_f_unlck(void);

/// Asks the CPU to start loading the cache line holding `address` for reading. Only a hint:
/// it never faults and changes no result (any address will do), so a search can start the
/// loads of several cells it may probe at once instead of waiting for each in turn.
static inline void cshim_prefetch(const void *address) { __builtin_prefetch(address, 0, 3); }

#endif
