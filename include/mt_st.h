/* mt_st: read and write the safetensors format
 * (https://github.com/huggingface/safetensors):
 *
 *   u64 N (little-endian) | N bytes of JSON header | data area
 *
 * The header is one JSON object mapping each tensor name to
 *   {"dtype": "F32", "shape": [128, 784], "data_offsets": [begin, end]}
 * (offsets in bytes, relative to the start of the data area) plus an optional
 * "__metadata__" object whose values are all strings.  Tensor data is raw,
 * row-major, little-endian.
 *
 * This module knows nothing about the model: it stores named tensors and string
 * metadata.  The checkpoint code decides which tensors go in.
 *
 * Training state (step counter, PRNG state, ...): store integers that must
 * round-trip exactly as U64/I64 tensors (e.g. "train.step" shape [1] U64,
 * "train.rng" shape [4] U64) and read them back with mt_st_get().  Metadata
 * strings are for human-readable provenance (program version, config JSON);
 * they are never parsed here.
 *
 * Conventions: every function that can fail returns an mt_status and fills
 * err (may be NULL) with one line that names the file and the problem.
 * Nothing here prints or exits. */
#ifndef MT_ST_H
#define MT_ST_H

#include <stddef.h>
#include <stdint.h>

#include "mt_err.h"

#define MT_ST_MAX_DIMS 8                 /* more dimensions -> MT_EDATA / MT_EARG */
#define MT_ST_MAX_HEADER 100000000u      /* header length limit, as the reference */

/* Element types of the safetensors spec (sub-byte types F4/F6 are not supported). */
typedef enum {
    MT_ST_BOOL, MT_ST_U8, MT_ST_I8, MT_ST_F8_E5M2, MT_ST_F8_E4M3,
    MT_ST_I16, MT_ST_U16, MT_ST_F16, MT_ST_BF16,
    MT_ST_I32, MT_ST_U32, MT_ST_F32,
    MT_ST_I64, MT_ST_U64, MT_ST_F64,
    MT_ST_N_DTYPES
} mt_st_dtype;

/* "F32", "U64", ...; "?" for a value out of range. */
const char *mt_st_dtype_name(mt_st_dtype dtype);
/* Bytes per element (1, 2, 4 or 8); 0 for a value out of range. */
size_t mt_st_dtype_size(mt_st_dtype dtype);

/* One tensor.  The writer reads name, dtype, ndim, shape and data (nbytes is
 * ignored: it is computed from shape).  The reader fills every field. */
typedef struct mt_st_tensor {
    const char *name;             /* NUL-terminated; the reader's copy is owned by the mt_st */
    mt_st_dtype dtype;
    int ndim;                     /* 0 (a scalar: one element) .. MT_ST_MAX_DIMS */
    size_t shape[MT_ST_MAX_DIMS]; /* (ndim), row-major; entries past ndim unused */
    const void *data;             /* (nbytes) in host byte order.  Writer: the caller's
                                     buffer, may be NULL only when nbytes == 0.  Reader:
                                     points into the mt_st; the data area starts 8-byte
                                     aligned, so data is aligned to 8 when begin is a
                                     multiple of 8 (else copy it out with mt_st_get) */
    size_t nbytes;                /* product(shape) * mt_st_dtype_size(dtype) */
} mt_st_tensor;

/* One metadata entry: key -> string value (both NUL-terminated). */
typedef struct mt_st_meta {
    const char *key;
    const char *value;
} mt_st_meta;

/* A loaded file.  Zero-initialise (mt_st st = {0};) before mt_st_load; release
 * with mt_st_free.  All pointers point into memory owned by the struct. */
typedef struct mt_st {
    char *path;             /* copy of the name given to mt_st_load (used in messages) */
    mt_st_tensor *tensors;  /* (n_tensors) in header order */
    size_t n_tensors;
    mt_st_meta *meta;       /* (n_meta) in header order */
    size_t n_meta;
    unsigned char *buf;     /* the file contents (data area 8-byte aligned) */
    char *strings;          /* names, keys and values */
} mt_st;

/* ---- writing -------------------------------------------------------------- */

/* Writes tensors[0..n_tensors) and meta[0..n_meta) to path, atomically: a
 * temporary file in the same directory (path + ".tmpXXXXXX", mode 0644 or the
 * mode of the file it replaces) is fully written, flushed, fsync'ed and renamed
 * over path; the directory is then fsync'ed (best effort).  Tensors are laid
 * out contiguously in the order given; the header lists "__metadata__" first
 * (omitted when n_meta == 0) and then the tensors in the same order, and is
 * padded with spaces to a multiple of 8 bytes so each tensor's data starts
 * 8-byte aligned when the tensors before it are multiples of 8 bytes.
 * tensors/meta may be NULL when their count is 0.
 * Returns MT_OK;
 *   MT_EARG   invalid list (a caller bug): NULL/duplicate/"__metadata__"/non-UTF-8 name,
 *             bad dtype or ndim, size overflow, NULL data with nbytes > 0,
 *             NULL, duplicate or non-UTF-8 metadata key or value -- nothing is written;
 *   MT_ENOMEM out of memory -- nothing is written;
 *   MT_EIO    the file could not be written; the temporary file is removed and
 *             whatever was at path before is untouched.  Something other than a
 *             regular file at path (a device, FIFO, directory) is never replaced. */
mt_status mt_st_write(const char *path, const mt_st_tensor *tensors, size_t n_tensors,
                      const mt_st_meta *meta, size_t n_meta, mt_err *err);

/* ---- reading -------------------------------------------------------------- */

/* Reads the whole file at path into *out and validates it as untrusted input:
 * header length sane (<= MT_ST_MAX_HEADER) and inside the file, header UTF-8
 * JSON text holding one object (followed only by whitespace), every tensor with
 * a known dtype, a shape of at most MT_ST_MAX_DIMS non-negative integers whose
 * byte size does not overflow, data_offsets [begin, end] with
 * begin <= end <= data size and end - begin == byte size; no duplicate names;
 * tensors sorted by offset cover the data area exactly (no overlap, no hole, no
 * trailing bytes -- as the reference implementation requires); "__metadata__"
 * an object of strings without duplicate keys.  Unknown keys inside a tensor
 * entry are ignored.  Numbers must be integers below 2^53.
 * *out must be zeroed; it is written only on success (caller frees with
 * mt_st_free).  On a big-endian host the data is byte-swapped to host order.
 * Returns MT_OK;
 *   MT_EDATA  file missing/unreadable or malformed: "PATH: what is wrong";
 *   MT_ENOMEM out of memory. */
mt_status mt_st_load(const char *path, mt_st *out, mt_err *err);

/* Same as mt_st_load, from the n bytes at bytes (copied; name is used in
 * messages and stored as out->path). */
mt_status mt_st_parse(const void *bytes, size_t n, const char *name, mt_st *out,
                      mt_err *err);

/* Releases everything *st owns and zeroes it.  Safe on NULL and on a zeroed
 * struct. */
void mt_st_free(mt_st *st);

/* The tensor called name, or NULL.  Valid until mt_st_free(st). */
const mt_st_tensor *mt_st_find(const mt_st *st, const char *name);

/* The metadata value for key, or NULL.  Valid until mt_st_free(st). */
const char *mt_st_meta_get(const mt_st *st, const char *key);

/* Copies tensor name into dst (nbytes of the expected shape) after checking
 * that it exists, has the given dtype and exactly the given shape (ndim
 * entries; shape may be NULL when ndim == 0).  Returns MT_OK, or MT_EDATA
 * "PATH: tensor 'NAME': ..." naming what was expected and what was found (dst
 * untouched); MT_EARG for a NULL name, bad dtype/ndim or NULL dst. */
mt_status mt_st_get(const mt_st *st, const char *name, mt_st_dtype dtype,
                    const size_t *shape, int ndim, void *dst, mt_err *err);

/* mt_st_get for dtype F32. */
mt_status mt_st_get_f32(const mt_st *st, const char *name, const size_t *shape,
                        int ndim, float *dst, mt_err *err);

#endif
