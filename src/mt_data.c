/* mt_data: pairs an IDX image file with its label file and checks they agree.
 * Images stay uint8 (47 MB for MNIST) and are normalized a batch at a time.
 * The files of a data set are read on parallel threads: inflating the
 * training images is most of a short run's start-up. */
#include "mt_data.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

mt_status mt_dataset_find(char *path, size_t cap, const char *dir, const char *split,
                          const char *kind, mt_err *err)
{
    const int nd = strcmp(kind, "images") == 0 ? 3 : 1;
    char cand[4][256];
    snprintf(cand[0], sizeof cand[0], "%s-%s-idx%d-ubyte.gz", split, kind, nd);
    snprintf(cand[1], sizeof cand[1], "%s-%s-idx%d-ubyte", split, kind, nd);
    snprintf(cand[2], sizeof cand[2], "%s-%s.idx%d-ubyte.gz", split, kind, nd);
    snprintf(cand[3], sizeof cand[3], "%s-%s.idx%d-ubyte", split, kind, nd);
    for (int i = 0; i < 4; i++) {
        struct stat sb;
        int len = snprintf(path, cap, "%s/%s", dir, cand[i]);
        if (len < 0 || (size_t)len >= cap)
            return mt_errf(err, MT_EARG, "%s: data folder path too long", dir);
        if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
            return MT_OK;
    }
    return mt_errf(err, MT_EDATA, "%s: %s not found (nor %s, %s, %s)", dir, cand[1], cand[0], cand[2],
                   cand[3]);
}

/* One IDX file to read, on its own thread. */
typedef struct {
    mt_idx *out;
    const char *path;
    int ndim;
    mt_status st;
    mt_err err;
} load_job;

static void *load_one(void *arg)
{
    load_job *j = arg;
    j->st = mt_idx_load(j->out, j->path, j->ndim, &j->err);
    return NULL;
}

/* The labels' checks and the fields of d once both files are in. */
static mt_status finish(mt_dataset *d, int n_classes, uint32_t limit, mt_err *err)
{
    if (d->img.dims[0] != d->lbl.dims[0])
        return mt_errf(err, MT_EDATA, "%s: %u labels but %s has %u images", d->lbl_path,
                       (unsigned)d->lbl.dims[0], d->img_path, (unsigned)d->img.dims[0]);
    int max_label = 0;
    for (uint32_t i = 0; i < d->lbl.dims[0]; i++) {
        int y = d->lbl.data[i];
        if (n_classes > 0 && y >= n_classes)
            return mt_errf(err, MT_EDATA, "%s: label %d at index %u is not below the number of classes (%d)",
                           d->lbl_path, y, (unsigned)i, n_classes);
        max_label = y > max_label ? y : max_label;
    }
    d->n_classes = n_classes > 0 ? n_classes : max_label + 1;
    if (d->n_classes < 2)
        return mt_errf(err, MT_EDATA, "%s: every label is 0: need at least 2 classes", d->lbl_path);
    d->rows = d->img.dims[1];
    d->cols = d->img.dims[2];
    d->n = d->img.dims[0];
    if (limit > 0 && limit < d->n)
        d->n = limit;
    d->images = d->img.data;
    d->labels = d->lbl.data;
    return MT_OK;
}

mt_status mt_dataset_load_splits(mt_dataset *out, const char *dir, const char *const *splits,
                                 const uint32_t *limits, int n, int n_classes, mt_err *err)
{
    mt_status st = MT_OK;
    mt_dataset *d = NULL;
    load_job job[2 * MT_DATASET_MAX_SPLITS] = { 0 };
    pthread_t tid[2 * MT_DATASET_MAX_SPLITS];
    int started[2 * MT_DATASET_MAX_SPLITS] = { 0 };
    if (n < 1 || n > MT_DATASET_MAX_SPLITS)
        return mt_errf(err, MT_EARG, "data set: %d splits requested (1 to %d)", n, MT_DATASET_MAX_SPLITS);
    if (!(d = calloc((size_t)n, sizeof *d)))
        return mt_errf(err, MT_ENOMEM, "data set: out of memory");
    for (int s = 0; s < n; s++)
        if ((st = mt_dataset_find(d[s].img_path, sizeof d[s].img_path, dir, splits[s], "images", err)) ||
            (st = mt_dataset_find(d[s].lbl_path, sizeof d[s].lbl_path, dir, splits[s], "labels", err)))
            goto fail;
    for (int s = 0; s < n; s++) {
        job[2 * s] = (load_job){ &d[s].img, d[s].img_path, 3, MT_OK, { 0 } };
        job[2 * s + 1] = (load_job){ &d[s].lbl, d[s].lbl_path, 1, MT_OK, { 0 } };
    }
    /* every file but the first (the largest: a split's images) on a thread
     * of its own, the first on this one; a thread that cannot start runs
     * its file here afterwards */
    for (int j = 1; j < 2 * n; j++)
        started[j] = pthread_create(&tid[j], NULL, load_one, &job[j]) == 0;
    load_one(&job[0]);
    for (int j = 1; j < 2 * n; j++) {
        if (started[j])
            pthread_join(tid[j], NULL);
        else
            load_one(&job[j]);
    }
    for (int s = 0; s < n; s++) {
        for (int j = 2 * s; j < 2 * s + 2; j++)
            if (job[j].st) {
                st = job[j].st;
                if (err)
                    *err = job[j].err;
                goto fail;
            }
        if ((st = finish(&d[s], s == 0 ? n_classes : d[0].n_classes, limits ? limits[s] : 0, err)))
            goto fail;
    }
    for (int s = 0; s < n; s++)
        out[s] = d[s];
    free(d);
    return MT_OK;
fail:
    for (int s = 0; s < n; s++)
        mt_dataset_free(&d[s]);
    free(d);
    return st;
}

mt_status mt_dataset_load(mt_dataset *out, const char *dir, const char *split,
                          int n_classes, uint32_t limit, mt_err *err)
{
    return mt_dataset_load_splits(out, dir, &split, &limit, 1, n_classes, err);
}

void mt_dataset_free(mt_dataset *ds)
{
    if (!ds)
        return;
    mt_idx_free(&ds->img);
    mt_idx_free(&ds->lbl);
    memset(ds, 0, sizeof *ds);
}

mt_dataset mt_dataset_slice(const mt_dataset *src, uint32_t start, uint32_t n)
{
    mt_dataset v = *src;
    size_t C = (size_t)src->rows * src->cols;
    memset(&v.img, 0, sizeof v.img); /* a view owns nothing */
    memset(&v.lbl, 0, sizeof v.lbl);
    if (start > src->n)
        start = src->n;
    if (n > src->n - start)
        n = src->n - start;
    v.images = src->images + (size_t)start * C;
    v.labels = src->labels + start;
    v.n = n;
    return v;
}

void mt_norm_affine(float *scale, float *shift, double mean, double std)
{
    *scale = (float)(1.0 / (255.0 * std));
    *shift = (float)(-mean / std);
}

void mt_dataset_gather(float *x, uint8_t *y, const mt_dataset *ds, const uint32_t *idx,
                       int B, float scale, float shift, const mt_kern *k)
{
    size_t C = (size_t)ds->rows * ds->cols;
    for (int i = 0; i < B; i++) {
        k->u8_to_f32(x + (size_t)i * C, ds->images + (size_t)idx[i] * C, C, scale, shift);
        y[i] = ds->labels[idx[i]];
    }
}
