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
    uint8_t *data;                  /* (dims[0], dims[1], ...) row-major; caller frees with mt_idx_free */
    uint32_t dims[MT_IDX_MAX_DIMS]; /* dims[0] = number of items */
    int ndim;                       /* 1 for labels, 3 for images */
    size_t n_bytes;                 /* product of dims */
} mt_idx;

/* Loads path (".gz" or plain; zlib reads both) and checks the magic is
 * 0x00000800 | expect_ndim (0x801 labels, 0x803 images), the dimension
 * product against overflow, MT_IDX_MAX_BYTES and the real data length, and
 * that no bytes trail the data.  On failure returns MT_EDATA (MT_ENOMEM for
 * allocation) with a message beginning with path; *out is untouched. */
mt_status mt_idx_load(mt_idx *out, const char *path, int expect_ndim, mt_err *err);

/* Frees the data; safe on NULL and on a zeroed struct. */
void mt_idx_free(mt_idx *idx);

#endif
