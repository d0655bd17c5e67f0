/* fuzz_util.h: shared by the libFuzzer harnesses.  Readers whose public API
 * takes a path get the input through a per-process file in /dev/shm (memory,
 * no disk wear), rewritten for every input and removed at exit. */
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char fuzz_paths[4][96];

static inline void fuzz_cleanup(void)
{
    for (int i = 0; i < 4; i++)
        if (fuzz_paths[i][0])
            unlink(fuzz_paths[i]);
}

/* Writes data (n) to /dev/shm/mt-fuzz-PID-<slot><suffix>; returns its path. */
static inline const char *fuzz_file(int slot, const char *suffix, const uint8_t *data, size_t n)
{
    char *p = fuzz_paths[slot];
    if (!p[0]) {
        const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(p, sizeof fuzz_paths[slot], "%s/mt-fuzz-%ld-%d%s", dir, (long)getpid(), slot, suffix);
        atexit(fuzz_cleanup);
    }
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        abort(); /* the harness itself is broken, not the reader */
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, data + off, n - off);
        if (w <= 0)
            abort();
        off += (size_t)w;
    }
    close(fd);
    return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
