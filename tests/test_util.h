/* Shared helpers for the unit tests: temp folders and tiny IDX fixtures.
 * Header-only (static) so each test stays one file. */
#ifndef TEST_UTIL_H
#define TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

static char tu_dir[256];

static inline const char *tu_mkdtemp(void)
{
    snprintf(tu_dir, sizeof tu_dir, "/tmp/mt_test_XXXXXX");
    if (!mkdtemp(tu_dir)) {
        perror("mkdtemp");
        abort();
    }
    return tu_dir;
}

static inline void tu_rmrf(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", dir);
}

/* dir/name in one of 4 rotating static buffers, so a call can take a few. */
static inline const char *tu_in(const char *dir, const char *name)
{
    static char buf[4][320];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

/* One temp folder for a whole cmocka group: pass tu_group_setup and
 * tu_group_teardown to cmocka_run_group_tests; tu_tmp(name) is a path in it
 * (tu_in's rotating buffers). */
static char tu_group_dir[64];

static inline int tu_group_setup(void **state)
{
    (void)state;
    snprintf(tu_group_dir, sizeof tu_group_dir, "%.63s", tu_mkdtemp()); /* "/tmp/mt_test_XXXXXX" */
    return 0;
}

static inline int tu_group_teardown(void **state)
{
    (void)state;
    tu_rmrf(tu_group_dir);
    return 0;
}

static inline const char *tu_tmp(const char *name) { return tu_in(tu_group_dir, name); }

static inline void tu_path(char *out, size_t cap, const char *dir, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

/* Writes bytes to path, gzip-compressed when gz != 0. */
static inline void tu_write(const char *path, const void *buf, size_t n, int gz)
{
    if (gz) {
        gzFile f = gzopen(path, "wb");
        if (!f || gzwrite(f, buf, (unsigned)n) != (int)n || gzclose(f) != Z_OK)
            abort();
    } else {
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(buf, 1, n, f) != n || fclose(f) != 0)
            abort();
    }
}

static inline void tu_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* Builds an IDX buffer: magic 0x08 type, ndim dims, then data (may be NULL:
 * zeros).  Returns malloc'd buffer and its size in *len. */
static inline uint8_t *tu_idx(size_t *len, int ndim, const uint32_t *dims, const uint8_t *data)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= dims[i];
    size_t h = 4 + 4 * (size_t)ndim;
    uint8_t *b = calloc(h + n, 1);
    if (!b)
        abort();
    tu_be32(b, 0x00000800u | (uint32_t)ndim);
    for (int i = 0; i < ndim; i++)
        tu_be32(b + 4 + 4 * i, dims[i]);
    if (data)
        memcpy(b + h, data, n);
    *len = h + n;
    return b;
}

/* A learnable synthetic data set: class c lights up row/column patterns.
 * Writes <split>-images-idx3-ubyte[.gz] and labels into dir. */
static inline void tu_make_dataset(const char *dir, const char *split, uint32_t n, uint32_t rows, uint32_t cols,
                            int classes, unsigned seed, int gz)
{
    uint8_t *img = calloc((size_t)n * rows * cols, 1), *lbl = malloc(n);
    if (!img || !lbl)
        abort();
    uint32_t s = seed * 2654435761u + 1;
    for (uint32_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        int c = (int)((s >> 8) % (uint32_t)classes);
        lbl[i] = (uint8_t)c;
        uint8_t *p = img + (size_t)i * rows * cols;
        for (uint32_t r = 0; r < rows; r++)
            for (uint32_t q = 0; q < cols; q++) {
                s = s * 1664525u + 1013904223u;
                int on = ((r + q * 3) % (uint32_t)classes) == (uint32_t)c;
                int noise = (int)((s >> 16) % 60);
                p[r * cols + q] = (uint8_t)(on ? 255 - noise : noise / 3);
            }
    }
    char path[512], name[128];
    size_t len;
    uint32_t d3[3] = { n, rows, cols }, d1[1] = { n };
    uint8_t *b = tu_idx(&len, 3, d3, img);
    snprintf(name, sizeof name, "%s-images-idx3-ubyte%s", split, gz ? ".gz" : "");
    tu_path(path, sizeof path, dir, name);
    tu_write(path, b, len, gz);
    free(b);
    b = tu_idx(&len, 1, d1, lbl);
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte%s", split, gz ? ".gz" : "");
    tu_path(path, sizeof path, dir, name);
    tu_write(path, b, len, gz);
    free(b);
    free(img);
    free(lbl);
}

/* Runs tests/torch_ref.py MODE FILE with /usr/bin/python3 (the PyTorch
 * reference checks): 0 when it matches, 77 when torch (or python) is not
 * installed, anything else on a mismatch.  The script prints its verdict. */
static inline int tu_torch_ref(const char *mode, const char *file)
{
    char script[512], cmd[1400];
    const char *f = __FILE__, *slash = strrchr(f, '/');
    snprintf(script, sizeof script, "%.*storch_ref.py", slash ? (int)(slash - f + 1) : 0, f);
    if (access("/usr/bin/python3", X_OK) != 0 || access(script, R_OK) != 0) {
        printf("note: /usr/bin/python3 or %s not found\n", script);
        return 77;
    }
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' %s '%s'", script, mode, file);
    fflush(stdout);
    int rc = system(cmd);
    return rc != -1 && WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

#endif
