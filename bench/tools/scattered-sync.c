// What the placement of a commit's pages costs its fdatasync: k 4 KiB pwrites, either
// k consecutive pages or k pages at random places in a 16 MiB file, then one fdatasync,
// 300 rounds of each; prints the mean time of a round. Plain C, no package:
//
//     cc -O2 -o /tmp/scattered-sync bench/tools/scattered-sync.c && /tmp/scattered-sync [DIR]
//
// The file (DIR/scattered-sync.dat, DIR defaults to the current directory) is removed at
// the end.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { pageSize = 4096, filePages = 4096, rounds = 300 };

static double microseconds(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec * 1e6 + now.tv_nsec / 1e3;
}

int main(int argc, char **argv) {
    char path[4096];
    snprintf(path, sizeof path, "%s/scattered-sync.dat", argc > 1 ? argv[1] : ".");
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0644);
    if (fd < 0) { perror(path); return 1; }
    char *page = aligned_alloc(pageSize, pageSize);
    memset(page, 7, pageSize);
    for (int p = 0; p < filePages; p++) {
        if (pwrite(fd, page, pageSize, (off_t)p * pageSize) != pageSize) { perror("pwrite"); return 1; }
    }
    fdatasync(fd);
    const int counts[] = {1, 2, 3, 4, 6};
    srand(1);
    for (int scattered = 0; scattered < 2; scattered++) {
        for (int c = 0; c < 5; c++) {
            double total = 0;
            for (int round = 0; round < rounds; round++) {
                int first = rand() % (filePages - 16);
                double start = microseconds();
                for (int i = 0; i < counts[c]; i++) {
                    int number = scattered ? rand() % filePages : first + i;
                    page[0] = (char)round;
                    if (pwrite(fd, page, pageSize, (off_t)number * pageSize) != pageSize) { perror("pwrite"); return 1; }
                }
                if (fdatasync(fd) != 0) { perror("fdatasync"); return 1; }
                total += microseconds() - start;
            }
            printf("%s %d pages: %.1f us per write and fdatasync\n", scattered ? "scattered" : "consecutive", counts[c], total / rounds);
        }
    }
    close(fd);
    unlink(path);
    return 0;
}
