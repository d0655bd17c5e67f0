/* mt_idx: IDX reader.  A file is read whole; a gzip one (told by its magic)
 * is inflated whole by libdeflate, which is made for one-shot buffers and
 * several times faster than zlib's streaming inflate.  It validates but does
 * not interpret (images vs labels pairing is mt_data's job).  Reference: the
 * IDX format on yann.lecun.com/exdb/mnist; gzip is RFC 1952. */
#define _DEFAULT_SOURCE /* madvise's MADV_HUGEPAGE */
#include "mt_idx.h"
#include "mt_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libdeflate.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The longest file an accepted IDX can be: the largest header, then data. */
#define MAX_FILE (MT_IDX_MAX_BYTES + 4 + 4 * MT_IDX_MAX_DIMS)
/* Deflate's largest expansion: a 258-byte match costs at least 2 bits, so no
 * gzip file inflates to more than ~1032 times its size. */
#define GZ_MAX_RATIO 1032

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static int is_gzip(const unsigned char *p, size_t n) { return n >= 2 && p[0] == 0x1f && p[1] == 0x8b; }

/* A file-sized block.  A large one is 2 MiB aligned and asks for transparent
 * huge pages: the 47 MB training set then costs ~25 page faults instead of
 * ~11000. */
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
    return malloc(n ? n : 1);
}

/* The whole regular file open at fd (size from fstat, a hint: one spare
 * byte shows the end, a file that grows is read by doubling) into *buf
 * (*len bytes; caller frees).  Files beyond what an IDX (or its gzip form)
 * can be are refused before they are read. */
static mt_status read_fd(unsigned char **buf, size_t *len, int fd, size_t size, const char *path, mt_err *err)
{
    const size_t max_in = 2 * (size_t)MAX_FILE;
    mt_status st;
    unsigned char *b = NULL;
    size_t n = 0, cap = size + 1;
    if (size > max_in)
        return mt_errf(err, MT_EDATA, "%s: %zu bytes is more than an IDX file can hold (%zu bytes of data)",
                       path, size, MT_IDX_MAX_BYTES);
    if (!(b = alloc_data(cap)))
        return mt_errf(err, MT_ENOMEM, "%s: out of memory for %zu bytes", path, cap);
    for (;;) {
        if (n == cap) {
            if (cap > max_in) {
                st = mt_errf(err, MT_EDATA, "%s: more than %zu bytes: too large for an IDX file", path, max_in);
                goto fail;
            }
            unsigned char *nb = realloc(b, 2 * cap);
            if (!nb) {
                st = mt_errf(err, MT_ENOMEM, "%s: out of memory for %zu bytes", path, 2 * cap);
                goto fail;
            }
            b = nb;
            cap *= 2;
        }
        ssize_t r = mt_file_read(fd, b + n, cap - n);
        if (r < 0) {
            st = mt_errf(err, MT_EDATA, "%s: cannot read: %s", path, strerror(errno));
            goto fail;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    *buf = b;
    *len = n;
    return MT_OK;
fail:
    free(b);
    return st;
}

/* ---- prefaulting --------------------------------------------------------
 * A fresh output buffer's pages are zeroed by the kernel as inflating first
 * writes them, a large share of the cost of inflating the 47 MB training
 * set (docs/speed.md).  For a large buffer a helper thread faults them in
 * (MADV_POPULATE_WRITE, which never changes contents) from the end
 * backwards while libdeflate fills it from the start, so that work moves
 * to another core; it stops when inflating ends.  A kernel without the
 * advice (before Linux 5.14) makes the helper stop at once. */
#ifdef MADV_POPULATE_WRITE
#define PREFAULT_MIN ((size_t)8 << 20)
#define PREFAULT_STEP ((size_t)2 << 20)

typedef struct {
    unsigned char *buf;
    size_t len;
    atomic_int stop;
    pthread_t tid;
    int started;
} prefault;

static void *prefault_run(void *arg)
{
    prefault *pf = arg;
    size_t end = pf->len / PREFAULT_STEP * PREFAULT_STEP; /* whole steps, page aligned */
    while (end >= PREFAULT_STEP && !atomic_load_explicit(&pf->stop, memory_order_relaxed)) {
        end -= PREFAULT_STEP;
        if (madvise(pf->buf + end, PREFAULT_STEP, MADV_POPULATE_WRITE) != 0)
            break;
    }
    return NULL;
}

/* b must be alloc_data's (2 MiB aligned when this large). */
static void prefault_start(prefault *pf, unsigned char *b, size_t len)
{
    pf->buf = b;
    pf->len = len;
    atomic_init(&pf->stop, 0);
    pf->started = len >= PREFAULT_MIN && pthread_create(&pf->tid, NULL, prefault_run, pf) == 0;
}

static void prefault_stop(prefault *pf)
{
    if (!pf->started)
        return;
    atomic_store(&pf->stop, 1);
    pthread_join(pf->tid, NULL);
    pf->started = 0;
}
#else
typedef struct { int unused; } prefault;
static void prefault_start(prefault *pf, unsigned char *b, size_t len) { (void)pf, (void)b, (void)len; }
static void prefault_stop(prefault *pf) { (void)pf; }
#endif

/* Inflates the gzip members in in (n bytes) one after another into *out
 * (*out_len bytes; caller frees), as zlib's gzread would: after the last
 * member, bytes that do not begin another one are ignored.  The first
 * buffer is the last member's ISIZE (the whole size for the usual single
 * member; modulo 2^32, and it may lie), never more than n can inflate to;
 * it doubles while too small, up to MAX_FILE. */
static mt_status inflate_all(unsigned char **out, size_t *out_len, const unsigned char *in, size_t n,
                             const char *name, mt_err *err)
{
    mt_status st;
    unsigned char *b = NULL;
    size_t pos = 0, ip = 0;
    struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
    size_t cap = n >= 4 ? le32(in + n - 4) : 0;
    size_t bound = n > MAX_FILE / GZ_MAX_RATIO ? MAX_FILE : n * GZ_MAX_RATIO;
    cap = cap > bound ? bound : cap < 64 ? 64 : cap;
    prefault pf = { 0 };
    if (!d || !(b = alloc_data(cap))) {
        st = mt_errf(err, MT_ENOMEM, "%s: out of memory for %zu bytes", name, cap);
        goto fail;
    }
    prefault_start(&pf, b, cap);
    for (;;) {
        size_t used = 0, got = 0;
        enum libdeflate_result r = libdeflate_gzip_decompress_ex(d, in + ip, n - ip, b + pos, cap - pos,
                                                                 &used, &got);
        prefault_stop(&pf); /* before b can move or be freed */
        if (r == LIBDEFLATE_INSUFFICIENT_SPACE) {
            if (cap >= MAX_FILE) {
                st = mt_errf(err, MT_EDATA, "%s: inflates to more than %zu bytes: too large for an IDX file",
                             name, (size_t)MAX_FILE);
                goto fail;
            }
            size_t ncap = cap > MAX_FILE / 2 ? MAX_FILE : 2 * cap;
            unsigned char *nb = alloc_data(ncap);
            if (!nb) {
                st = mt_errf(err, MT_ENOMEM, "%s: out of memory for %zu bytes", name, ncap);
                goto fail;
            }
            memcpy(nb, b, pos); /* the members before this one; this one starts over */
            free(b);
            b = nb;
            cap = ncap;
            continue;
        }
        if (r != LIBDEFLATE_SUCCESS) {
            st = mt_errf(err, MT_EDATA, "%s: corrupt gzip data, or cut short (the member at byte %zu)", name, ip);
            goto fail;
        }
        pos += got;
        ip += used;
        if (!is_gzip(in + ip, n - ip))
            break;
    }
    libdeflate_free_decompressor(d);
    *out = b;
    *out_len = pos;
    return MT_OK;
fail:
    libdeflate_free_decompressor(d);
    free(b);
    return st;
}

/* Validates the IDX file in mem (len bytes, owned: on success it becomes
 * r->mem, on failure it is freed). */
static mt_status adopt(mt_idx *out, unsigned char *mem, size_t len, const char *name, int expect_ndim,
                       mt_err *err)
{
    mt_status st = MT_EDATA;
    mt_idx r = { 0 };
    if (len < 4) {
        st = mt_errf(err, MT_EDATA, "%s: truncated: file has %zu bytes, too short for an IDX header", name, len);
        goto fail;
    }
    uint32_t magic = be32(mem), want = 0x00000800u | (uint32_t)expect_ndim;
    if (magic != want) {
        st = mt_errf(err, MT_EDATA, "%s: bad magic 0x%08x (expected 0x%08x, an IDX %s file)", name,
                     (unsigned)magic, (unsigned)want, expect_ndim == 1 ? "label" : "image");
        goto fail;
    }
    r.ndim = expect_ndim;
    size_t hlen = 4 + 4 * (size_t)r.ndim;
    if (len < hlen) {
        st = mt_errf(err, MT_EDATA, "%s: truncated: header needs %zu bytes, file has %zu", name, hlen, len);
        goto fail;
    }
    size_t total = 1;
    for (int i = 0; i < r.ndim; i++) {
        r.dims[i] = be32(mem + 4 + 4 * i);
        /* the product is checked against the limit at every step, so it cannot overflow */
        if (r.dims[i] == 0 || r.dims[i] > MT_IDX_MAX_BYTES / total) {
            st = mt_errf(err, MT_EDATA, "%s: implausible dimension %u in header (dimension %d; limit %zu bytes in all)",
                         name, (unsigned)r.dims[i], i, MT_IDX_MAX_BYTES);
            goto fail;
        }
        total *= r.dims[i];
    }
    if (len - hlen < total) {
        st = mt_errf(err, MT_EDATA, "%s: truncated: header says %zu bytes, file has %zu", name, hlen + total, len);
        goto fail;
    }
    if (len - hlen > total) {
        st = mt_errf(err, MT_EDATA, "%s: trailing bytes after the %zu bytes the header describes", name,
                     hlen + total);
        goto fail;
    }
    r.n_bytes = total;
    r.mem = mem;
    r.data = mem + hlen;
    *out = r;
    return MT_OK;
fail:
    free(mem);
    return st;
}

mt_status mt_idx_parse(mt_idx *out, const void *buf, size_t len, const char *name, int expect_ndim,
                       mt_err *err)
{
    mt_status st;
    unsigned char *mem = NULL;
    size_t n = len;
    if (is_gzip(buf, len)) {
        if ((st = inflate_all(&mem, &n, buf, len, name, err)))
            return st;
    } else {
        if (!(mem = alloc_data(len)))
            return mt_errf(err, MT_ENOMEM, "%s: out of memory for %zu bytes", name, len);
        memcpy(mem, buf, len);
    }
    return adopt(out, mem, n, name, expect_ndim, err);
}

mt_status mt_idx_load(mt_idx *out, const char *path, int expect_ndim, mt_err *err)
{
    mt_status st;
    unsigned char *file = NULL, *mem = NULL, head[2] = { 0, 0 };
    size_t len = 0, n = 0;
    struct stat sb;
    int fd;
    if ((st = mt_file_open(path, NULL, MT_EDATA, &fd, err)))
        return st;
    if (fstat(fd, &sb) != 0) {
        st = mt_errf(err, MT_EDATA, "%s: cannot read: %s", path, strerror(errno));
        close(fd);
        return st;
    }
    len = (size_t)sb.st_size;
    /* A gzip file is mapped rather than read: its pages come from the page
     * cache as they are, where a read buffer would be fresh memory the
     * kernel must zero first (docs/speed.md).  A plain one is read: it is
     * its own result. */
    if (len >= 18 && len <= 2 * (size_t)MAX_FILE && pread(fd, head, 2, 0) == 2 && is_gzip(head, 2)) {
        unsigned char *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
        if (map != MAP_FAILED) {
            close(fd);
            st = inflate_all(&mem, &n, map, len, path, err);
            munmap(map, len);
            return st ? st : adopt(out, mem, n, path, expect_ndim, err);
        }
    }
    st = read_fd(&file, &len, fd, len, path, err);
    close(fd);
    if (st)
        return st;
    if (!is_gzip(file, len))
        return adopt(out, file, len, path, expect_ndim, err);
    st = inflate_all(&mem, &n, file, len, path, err);
    free(file);
    return st ? st : adopt(out, mem, n, path, expect_ndim, err);
}

void mt_idx_free(mt_idx *idx)
{
    if (!idx)
        return;
    free(idx->mem);
    memset(idx, 0, sizeof *idx);
}
