/* mt_idx: IDX reader.  zlib's gz* functions read gzip and plain files alike,
 * so one path serves both.  It validates but does not interpret (images vs
 * labels pairing is mt_data's job). */
#define _DEFAULT_SOURCE /* madvise's MADV_HUGEPAGE */
#include "mt_idx.h"

#include <errno.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Reads up to n bytes; returns bytes read or -1 on a zlib error. */
static long long read_full(gzFile f, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        unsigned chunk = n - got > (1u << 30) ? (1u << 30) : (unsigned)(n - got);
        int r = gzread(f, (char *)buf + got, chunk);
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (long long)got;
}

/* The data block.  A large one is 2 MiB aligned and asks for transparent
 * huge pages: the 47 MB training set then costs ~25 page faults instead of
 * ~11000 (a third of the load time). */
static void *alloc_data(size_t n)
{
#ifdef MADV_HUGEPAGE
    const size_t huge = (size_t)2 << 20;
    if (n >= huge) {
        size_t len = (n + huge - 1) / huge * huge;
        void *p = aligned_alloc(huge, len);
        if (p)
            madvise(p, len, MADV_HUGEPAGE); /* a hint: failure changes nothing */
        return p;
    }
#endif
    return malloc(n);
}

static const char *gz_msg(gzFile f)
{
    int code;
    const char *m = gzerror(f, &code);
    return code == Z_ERRNO ? strerror(errno) : m;
}

mt_status mt_idx_load(mt_idx *out, const char *path, int expect_ndim, mt_err *err)
{
    mt_status st = MT_EDATA;
    mt_idx r = { 0 };
    unsigned char hdr[4 + 4 * MT_IDX_MAX_DIMS];
    gzFile f = gzopen(path, "rb");
    if (!f) {
        st = mt_errf(err, MT_EDATA, "%s: cannot open: %s", path, errno ? strerror(errno) : "out of memory");
        goto fail;
    }
    gzbuffer(f, 1u << 18); /* fewer, larger reads (the default is 8 KiB) */
    long long n = read_full(f, hdr, 4);
    if (n < 0) {
        st = mt_errf(err, MT_EDATA, "%s: corrupt gzip data: %s", path, gz_msg(f));
        goto fail;
    }
    if (n < 4) {
        st = mt_errf(err, MT_EDATA, "%s: truncated: file has %lld bytes, too short for an IDX header", path, n);
        goto fail;
    }
    uint32_t magic = be32(hdr), want = 0x00000800u | (uint32_t)expect_ndim;
    if (magic != want) {
        st = mt_errf(err, MT_EDATA, "%s: bad magic 0x%08x (expected 0x%08x, an IDX %s file)", path,
                (unsigned)magic, (unsigned)want, expect_ndim == 1 ? "label" : "image");
        goto fail;
    }
    r.ndim = expect_ndim;
    size_t hlen = 4 + 4 * (size_t)r.ndim;
    n = read_full(f, hdr + 4, hlen - 4);
    if (n < 0) {
        st = mt_errf(err, MT_EDATA, "%s: corrupt gzip data: %s", path, gz_msg(f));
        goto fail;
    }
    if ((size_t)n < hlen - 4) {
        st = mt_errf(err, MT_EDATA, "%s: truncated: header needs %zu bytes, file has %lld", path, hlen, 4 + n);
        goto fail;
    }
    size_t total = 1;
    for (int i = 0; i < r.ndim; i++) {
        r.dims[i] = be32(hdr + 4 + 4 * i);
        /* the product is checked against the limit at every step, so it cannot overflow */
        if (r.dims[i] == 0 || r.dims[i] > MT_IDX_MAX_BYTES / total) {
            st = mt_errf(err, MT_EDATA, "%s: implausible dimension %u in header (dimension %d; limit %zu bytes in all)",
                    path, (unsigned)r.dims[i], i, MT_IDX_MAX_BYTES);
            goto fail;
        }
        total *= r.dims[i];
    }
    r.n_bytes = total;
    /* One allocation of the size the header claims (bounded above by
     * MT_IDX_MAX_BYTES): the kernel commits pages only as data arrives, so a
     * lying header on a short file costs address space, not memory, and the
     * 47 MB training set is not copied by a growing buffer. */
    r.data = alloc_data(total);
    if (!r.data) {
        st = mt_errf(err, MT_ENOMEM, "%s: out of memory for %zu bytes", path, total);
        goto fail;
    }
    n = read_full(f, r.data, total);
    if (n < 0) {
        st = mt_errf(err, MT_EDATA, "%s: corrupt gzip data: %s", path, gz_msg(f));
        goto fail;
    }
    size_t got = (size_t)n;
    if (got < total) {
        st = mt_errf(err, MT_EDATA, "%s: truncated: header says %zu bytes, file has %zu", path,
                hlen + total, hlen + got);
        goto fail;
    }
    unsigned char extra;
    n = read_full(f, &extra, 1);
    if (n != 0) {
        if (n < 0)
            st = mt_errf(err, MT_EDATA, "%s: corrupt gzip data: %s", path, gz_msg(f));
        else
            st = mt_errf(err, MT_EDATA, "%s: trailing bytes after the %zu bytes the header describes", path, hlen + total);
        goto fail;
    }
    gzclose(f);
    *out = r;
    return MT_OK;
fail:
    if (f)
        gzclose(f);
    free(r.data);
    return st;
}

void mt_idx_free(mt_idx *idx)
{
    if (!idx)
        return;
    free(idx->data);
    memset(idx, 0, sizeof *idx);
}
