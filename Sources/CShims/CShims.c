#define _GNU_SOURCE
#include "CShims.h"
#include <fcntl.h>
#include <linux/futex.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

long cshim_page_size(void) { return sysconf(_SC_PAGESIZE); }

int cshim_map_noreserve(void) { return MAP_NORESERVE; }
int cshim_map_fixed(void) { return MAP_FIXED; }
int cshim_o_direct(void) { return O_DIRECT; }

int cshim_ofd_setlk(int fd, short type, int64_t start, int64_t length, int wait) {
    struct flock lock;
    memset(&lock, 0, sizeof lock);
    lock.l_type = type;
    lock.l_whence = SEEK_SET;
    lock.l_start = start;
    lock.l_len = length;
    return fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &lock);
}

int cshim_ofd_getlk(int fd, short type, int64_t start, int64_t length) {
    struct flock lock;
    memset(&lock, 0, sizeof lock);
    lock.l_type = type;
    lock.l_whence = SEEK_SET;
    lock.l_start = start;
    lock.l_len = length;
    if (fcntl(fd, F_OFD_GETLK, &lock) != 0) return -1;
    return lock.l_type;
}

long cshim_gettid(void) { return (long)gettid(); }

int cshim_futex_wait(uint32_t *address, uint32_t expected, int64_t timeout_ns) {
    struct timespec timeout = { (time_t)(timeout_ns / 1000000000), (long)(timeout_ns % 1000000000) };
    return (int)syscall(SYS_futex, address, FUTEX_WAIT, expected, &timeout, NULL, 0);
}

int cshim_futex_wake(uint32_t *address, int count) {
    return (int)syscall(SYS_futex, address, FUTEX_WAKE, count, NULL, NULL, 0);
}

short cshim_f_rdlck(void) { return F_RDLCK; }
short cshim_f_wrlck(void) { return F_WRLCK; }
short cshim_f_unlck(void) { return F_UNLCK; }
