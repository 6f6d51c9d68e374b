// Measures what a commit's fdatasync costs in a file grown by posix_fallocate (unwritten
// extents, converted by the first write into each) against one grown with zeros written:
// each "commit" pwrites 3 pages at fresh offsets inside a 64 MiB grown region, then fdatasync.
//
//   cc -O2 -o /tmp/growth-sync bench/tools/growth-sync.c
//   /tmp/growth-sync FILE MODE COMMITS
//
// MODE: 0 fallocate, 1 zeros written (buffered), 2 fallocate then buffered zeros,
// 3 fallocate then zeros through an O_DIRECT descriptor (what MapStore's growth does,
// Sources/MapStore/Transactions/Writer.swift). FILE is created and removed.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(int argc, char **argv) {
    const char *path = argv[1]; int zero = atoi(argv[2]); int commits = atoi(argv[3]);
    const long grow = 64L << 20; const int page = 4096;
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    char *buf = aligned_alloc(page, grow < (8 << 20) ? grow : (8 << 20));
    memset(buf, 0, 8 << 20);
    if (zero != 1) posix_fallocate(fd, 0, grow);
    if (zero == 3) {
        int direct = open(path, O_WRONLY | O_DIRECT);
        for (long off = 0; off < grow; off += 8 << 20) pwrite(direct, buf, 8 << 20, off);
        close(direct);
    } else if (zero) { for (long off = 0; off < grow; off += 8 << 20) pwrite(fd, buf, 8 << 20, off); }
    fsync(fd);
    memset(buf, 0x5a, 3 * page);
    double total = 0, worst = 0;
    for (int i = 0; i < commits; i++) {
        long off = (long)(i * 3) * page;  // fresh pages, as a growing database takes them
        double start = now();
        pwrite(fd, buf, 3 * page, off);
        fdatasync(fd);
        double took = now() - start;
        total += took; if (took > worst) worst = took;
    }
    printf("%s: %d commits, mean %.1f us, worst %.1f us\n", zero == 3 ? "fallocate+O_DIRECT zeros" : zero == 2 ? "fallocate+zeros" : zero ? "zero-filled" : "fallocate", commits, total / commits * 1e6, worst * 1e6);
    close(fd); unlink(path);
    return 0;
}
