/* mt_idx: reads IDX files (the MNIST container format), gzip-compressed or
 * plain, into memory as uint8, validating everything the header claims.
 * Reference: http://yann.lecun.com/exdb/mnist/ ("FILE FORMATS FOR THE MNIST
 * DATABASE"): big-endian magic 0x0000TTNN (TT type, NN number of dims),
 * then NN big-endian uint32 dimensions, then the data. Only type 0x08
 * (unsigned byte) is accepted. */
#ifndef MT_IDX_H
#define MT_IDX_H

#include <stddef.h>
#include <stdint.h>

#include "mt_err.h"

#define MT_IDX_MAX_DIMS 4
/* Refuse files whose header claims more than this many data bytes (2 GiB):
 * more than any IDX data set in use, and protects the allocator. */
#define MT_IDX_MAX_BYTES ((size_t)1 << 31)

typedef struct mt_idx {
    uint8_t *data;                  /* (dims[0], dims[1], ...) row-major, inside mem; caller frees with mt_idx_free */
    uint32_t dims[MT_IDX_MAX_DIMS]; /* dims[0] = number of items */
    int ndim;                       /* 1 for labels, 3 for images */
    size_t n_bytes;                 /* product of dims */
    void *mem;                      /* the owned block holding the whole file (header, then data) */
} mt_idx;

/* Loads path (".gz" or plain, told apart by the gzip magic, not the name)
 * and checks the magic is 0x00000800 | expect_ndim (0x801 labels, 0x803
 * images), the dimension product against overflow and MT_IDX_MAX_BYTES, and
 * the header's data size against the real (decompressed) length: fewer bytes
 * is "truncated", more is "trailing bytes".  Nothing is allocated from the
 * header's claim: a plain file is read whole (its size is known), a gzip one
 * is inflated whole with libdeflate into a buffer sized by its trailer's
 * ISIZE (a hint, bounded by what the compressed size can yield, grown when
 * too small).  Concatenated gzip members are read as one stream; bytes after
 * the last member that do not start another one are ignored (as zlib's
 * gzread does).  On failure returns MT_EDATA (MT_ENOMEM for allocation) with
 * a message beginning with path; *out is untouched. */
mt_status mt_idx_load(mt_idx *out, const char *path, int expect_ndim, mt_err *err);

/* mt_idx_load on a file already in memory: buf (len bytes, gzip or plain,
 * borrowed) named name in messages.  The result owns a copy of the data. */
mt_status mt_idx_parse(mt_idx *out, const void *buf, size_t len, const char *name, int expect_ndim,
                       mt_err *err);

/* Frees the data; safe on NULL and on a zeroed struct. */
void mt_idx_free(mt_idx *idx);

#endif
