/* mt_data: a labelled image data set (an IDX image file plus its label file),
 * found by name in a folder, kept as uint8; and the gathering of a batch into
 * normalized floats.  Nothing here downloads (see mt_fetch). */
#ifndef MT_DATA_H
#define MT_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "mt_err.h"
#include "mt_idx.h"
#include "mt_kern.h"

typedef struct mt_dataset {
    const uint8_t *images; /* (n, rows*cols) raw pixels 0..255, points into img */
    const uint8_t *labels; /* (n) class indices < n_classes, points into lbl */
    uint32_t n;            /* samples used (after any limit) */
    uint32_t rows, cols;   /* image size; rows*cols input features */
    int n_classes;         /* labels are < n_classes */
    mt_idx img, lbl;       /* owned storage */
    char img_path[4096], lbl_path[4096];
} mt_dataset;

/* Finds "<split>-images-idx3-ubyte" and "<split>-labels-idx1-ubyte" in dir,
 * trying the ".gz" and plain forms and the "<split>-images.idx3-ubyte"
 * spelling; split is "train" or "t10k".  Missing files -> MT_EDATA naming the
 * file and the folder searched.
 * n_classes > 0: every label must be below it; n_classes == 0: inferred as
 * max label + 1.  limit > 0 keeps only the first limit samples.
 * Caller frees with mt_dataset_free. */
mt_status mt_dataset_load(mt_dataset *out, const char *dir, const char *split,
                          int n_classes, uint32_t limit, mt_err *err);

/* mt_dataset_load for n (1 .. MT_DATASET_MAX_SPLITS) splits at once, e.g.
 * {"train", "t10k"}: their 2n files are read and inflated on parallel
 * threads.  out[i] gets splits[i] with limit limits[i] (limits may be NULL:
 * no limit).  n_classes applies to the first split as in mt_dataset_load;
 * the others' labels must be below the first's number of classes.  All or
 * nothing: on failure nothing is written to out and the error is the one a
 * sequential load would meet first (splits in order, images before labels).
 * Caller frees each with mt_dataset_free. */
#define MT_DATASET_MAX_SPLITS 4
mt_status mt_dataset_load_splits(mt_dataset *out, const char *dir, const char *const *splits,
                                 const uint32_t *limits, int n, int n_classes, mt_err *err);

/* The path of the first existing candidate for one file, or MT_EDATA. */
mt_status mt_dataset_find(char *path, size_t cap, const char *dir, const char *split,
                          const char *kind, mt_err *err);

/* Safe on NULL and on a zeroed struct. */
void mt_dataset_free(mt_dataset *ds);

/* A view of samples [start, start+n) of src, sharing its memory (freeing the
 * view is a no-op; src must outlive it).  Used to hold out a validation set. */
mt_dataset mt_dataset_slice(const mt_dataset *src, uint32_t start, uint32_t n);

/* Normalization as an affine map of raw pixels: x = p * scale + shift with
 * scale = 1/(255 std), shift = -mean/std  (torchvision's ToTensor + Normalize). */
void mt_norm_affine(float *scale, float *shift, double mean, double std);

/* x (B, rows*cols) = normalized images idx[0..B); y (B) = their labels. */
void mt_dataset_gather(float *x, uint8_t *y, const mt_dataset *ds, const uint32_t *idx,
                       int B, float scale, float shift, const mt_kern *k);

#endif
