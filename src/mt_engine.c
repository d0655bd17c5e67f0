/* mt_engine: the threaded training step and evaluation forward (issue 3).
 * Work is split by a fixed rule (rows for the row-local phase, 16-aligned
 * input columns for the weight phase), never by timing, and every kernel
 * computes an element the same way whatever the split: results do not depend
 * on the thread count.  Does not print, does not allocate after create. */
#include "mt_engine.h"
#include "mt_mem.h"

#include <stdlib.h>
#include <string.h>

struct mt_engine {
    mt_mlp *m;                       /* borrowed */
    const mt_kern *k;
    mt_pool *pool;
    int T;                           /* threads */
    mt_path path;
    int max_B;
    float *wt[MT_MAX_LAYERS];        /* (dims[l], dims[l+1]) = w[l]^T */
    float *beff;                     /* (dims[1]) b1 + shift * rowsum(w1) */
    uint8_t *px;                     /* (max_B, dims[0]) raw pixels of the batch */
    const uint8_t *pxp;              /* the batch's pixels: px, or the caller's
                                        contiguous images (forward only) */
    uint8_t *labels;                 /* (max_B) */
    float *act[MT_MAX_LAYERS + 1];   /* act[0] (B,dims[0]) normalised input (dense path);
                                        act[l] (B,dims[l]) ReLU outputs; act[L] logits */
    float *dact[MT_MAX_LAYERS + 1];  /* gradients w.r.t. act[l], l >= 1 */
    float *losses;                   /* (max_B) */
    void **scratch;                  /* (T) sparse_bwd_w scratch per thread */
    long long nz[256];               /* per-thread non-zero counts of the batch */
    long long n_dense, n_sparse;

    /* the current job */
    const uint8_t *src_images, *src_labels;
    const uint32_t *idx;
    int B, sparse, backward;
    float scale, shift;
    mt_optim *opt;
};

/* ---- splits ------------------------------------------------------------- */

static void row_split(int B, int t, int T, int *r0, int *r1)
{
    *r0 = (int)((long)B * t / T);
    *r1 = (int)((long)B * (t + 1) / T);
}

/* 16-aligned column ranges, so SIMD blocks line up the same for any T. */
static void col_split(int C, int t, int T, int *c0, int *c1)
{
    int chunk = ((C + T - 1) / T + 15) / 16 * 16;
    *c0 = t * chunk < C ? t * chunk : C;
    *c1 = (t + 1) * chunk < C ? (t + 1) * chunk : C;
}

/* ---- phase 1: rows -------------------------------------------------------- */

static void fwd_rows(mt_engine *e, int t, int T)
{
    const mt_mlp *m = e->m;
    const mt_kern *k = e->k;
    const int L = m->n_layers, C0 = m->dims[0], OC1 = m->dims[1];
    int r0, r1;
    row_split(e->B, t, T, &r0, &r1);
    const int nb = r1 - r0;

    /* gather this thread's rows (training: shuffled; evaluation reads the
     * contiguous images in place) and count their non-zero pixels */
    long long nz = 0;
    if (e->idx) {
        for (int i = r0; i < r1; i++) {
            const uint8_t *src = e->src_images + (size_t)e->idx[i] * C0;
            memcpy(e->px + (size_t)i * C0, src, (size_t)C0);
            if (e->src_labels)
                e->labels[i] = e->src_labels[e->idx[i]];
        }
    }
    nz = (long long)mt_kern_count_nz(e->pxp + (size_t)r0 * C0, (size_t)nb * C0);
    e->nz[t] = nz;
    int o0, o1;
    col_split(OC1, t, T, &o0, &o1);
    if (e->path != MT_PATH_DENSE)
        k->sparse_bias(e->beff, e->wt[0], m->b[0], C0, OC1, e->shift, o0, o1);
    mt_pool_barrier(e->pool);

    /* dense or sparse first layer: decided from the whole batch, identically
     * on every thread (integer sum in thread order) */
    long long total = 0;
    for (int u = 0; u < T; u++)
        total += e->nz[u];
    int sparse = e->path == MT_PATH_SPARSE
              || (e->path == MT_PATH_AUTO
                  && (double)total <= MT_SPARSE_MAX_DENSITY * (double)e->B * C0);
    if (t == 0)
        e->sparse = sparse;
    const uint8_t *px = e->pxp + (size_t)r0 * C0;
    float *a1 = e->act[1] + (size_t)r0 * OC1;
    if (nb > 0) {
        if (sparse) {
            k->sparse_fwd(a1, px, e->wt[0], e->beff, nb, C0, OC1, e->scale, L > 1);
        } else {
            float *a0 = e->act[0] + (size_t)r0 * C0;
            k->u8_to_f32(a0, px, (size_t)nb * C0, e->scale, e->shift);
            k->linear_fwd_t(a1, a0, e->wt[0], m->b[0], nb, C0, OC1, L > 1);
        }
        for (int l = 1; l < L; l++) {
            int C = m->dims[l], OC = m->dims[l + 1];
            k->linear_fwd_t(e->act[l + 1] + (size_t)r0 * OC, e->act[l] + (size_t)r0 * C,
                            e->wt[l], m->b[l], nb, C, OC, l + 1 < L);
        }
    }
    if (!e->backward || nb == 0)
        return;

    const int K = m->dims[L];
    k->softmax_xent(e->dact[L] + (size_t)r0 * K, e->losses + r0, e->act[L] + (size_t)r0 * K,
                    e->labels + r0, nb, K, 1.f / (float)e->B);
    for (int l = L - 1; l >= 1; l--) {
        int C = m->dims[l], OC = m->dims[l + 1];
        k->linear_bwd_x(e->dact[l] + (size_t)r0 * C, e->dact[l + 1] + (size_t)r0 * OC, m->w[l],
                        e->act[l] + (size_t)r0 * C, nb, C, OC);
    }
}

static void fwd_job(void *arg, int t, int T) { fwd_rows(arg, t, T); }

/* ---- phase 2: columns ----------------------------------------------------- */

static void update_cols(mt_engine *e, int t, int T)
{
    mt_mlp *m = e->m;
    const mt_kern *k = e->k;
    const int L = m->n_layers, B = e->B;
    for (int l = 0; l < L; l++) {
        const int C = m->dims[l], OC = m->dims[l + 1];
        int c0, c1;
        col_split(C, t, T, &c0, &c1);
        float *dw = m->dw[l], *db = t == 0 ? m->db[l] : NULL;
        if (c0 < c1)
            for (int o = 0; o < OC; o++)
                memset(dw + (size_t)o * C + c0, 0, (size_t)(c1 - c0) * sizeof *dw);
        if (db)
            memset(db, 0, (size_t)OC * sizeof *db);
        if (c0 == c1 && !db)
            continue;
        if (l == 0 && e->sparse)
            k->sparse_bwd_w(dw, db, e->dact[1], e->px, B, C, OC, e->scale, e->shift, c0, c1,
                            e->scratch[t]);
        else
            k->linear_bwd_w_cols(dw, db, e->dact[l + 1], e->act[l], B, C, OC, c0, c1);
        /* the optimizer touches exactly the elements this thread just wrote */
        if (c0 < c1)
            for (int o = 0; o < OC; o++) {
                size_t lo = (size_t)(m->w[l] + (size_t)o * C + c0 - m->params);
                mt_optim_step_range(e->opt, m->params, m->grads, k, lo, lo + (size_t)(c1 - c0));
            }
        if (db) {
            size_t lo = (size_t)(m->b[l] - m->params);
            mt_optim_step_range(e->opt, m->params, m->grads, k, lo, lo + (size_t)OC);
        }
        /* ... and W^T rows [c0,c1) read only those columns of W */
        k->transpose(e->wt[l], m->w[l], C, OC, c0, c1);
    }
}

static void update_job(void *arg, int t, int T) { update_cols(arg, t, T); }

static void sync_cols(mt_engine *e, int t, int T)
{
    for (int l = 0; l < e->m->n_layers; l++) {
        int C = e->m->dims[l], c0, c1;
        col_split(C, t, T, &c0, &c1);
        e->k->transpose(e->wt[l], e->m->w[l], C, e->m->dims[l + 1], c0, c1);
    }
}

static void sync_job(void *arg, int t, int T) { sync_cols(arg, t, T); }

/* ---- public --------------------------------------------------------------- */

static const char *const path_names[] = { "auto", "dense", "sparse" };

const char *mt_path_name(mt_path p) { return (unsigned)p < 3 ? path_names[p] : "?"; }

int mt_path_parse(const char *s)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(s, path_names[i]) == 0)
            return i;
    return -1;
}

mt_path mt_engine_path(const mt_engine *e) { return e->path; }
int mt_engine_threads(const mt_engine *e) { return e->T; }

void mt_engine_path_counts(const mt_engine *e, long long *dense, long long *sparse)
{
    *dense = e->n_dense;
    *sparse = e->n_sparse;
}

void mt_engine_free(mt_engine *e)
{
    if (!e)
        return;
    mt_pool_free(e->pool);
    for (int l = 0; l <= MT_MAX_LAYERS; l++) {
        if (l < MT_MAX_LAYERS)
            free(e->wt[l]);
        free(e->act[l]);
        free(e->dact[l]);
    }
    if (e->scratch)
        for (int t = 0; t < e->T; t++)
            free(e->scratch[t]);
    free(e->scratch);
    free(e->beff);
    free(e->px);
    free(e->labels);
    free(e->losses);
    free(e);
}

mt_status mt_engine_create(mt_engine **out, mt_mlp *m, const mt_kern *k, int nthreads,
                           mt_path path, int max_B, mt_err *err)
{
    mt_status st;
    if (nthreads < 1 || nthreads > 256)
        return mt_errf(err, MT_EARG, "--threads %d: must be between 1 and 256", nthreads);
    if (max_B < 1 || m->n_layers < 1)
        return mt_errf(err, MT_EARG, "engine: bad batch size %d or empty model", max_B);
    mt_engine *e = calloc(1, sizeof *e);
    if (!e)
        return mt_errf(err, MT_ENOMEM, "engine: out of memory");
    e->m = m;
    e->k = k;
    e->path = path;
    e->max_B = max_B;
    e->T = nthreads;
    const int L = m->n_layers, C0 = m->dims[0];
    int ok = 1;
    for (int l = 0; l < L; l++)
        ok &= (e->wt[l] = mt_alloc_aligned((size_t)m->dims[l] * m->dims[l + 1] * sizeof(float))) != NULL;
    for (int l = 0; l <= L; l++) {
        ok &= (e->act[l] = mt_alloc_aligned((size_t)max_B * m->dims[l] * sizeof(float))) != NULL;
        if (l >= 1)
            ok &= (e->dact[l] = mt_alloc_aligned((size_t)max_B * m->dims[l] * sizeof(float))) != NULL;
    }
    ok &= (e->beff = mt_alloc_aligned((size_t)m->dims[1] * sizeof(float))) != NULL;
    ok &= (e->px = mt_alloc_aligned((size_t)max_B * C0)) != NULL;
    ok &= (e->labels = malloc((size_t)max_B)) != NULL;
    ok &= (e->losses = mt_alloc_aligned((size_t)max_B * sizeof(float))) != NULL;
    ok &= (e->scratch = calloc((size_t)nthreads, sizeof *e->scratch)) != NULL;
    if (ok) {
        int c0, c1;
        col_split(C0, 0, nthreads, &c0, &c1);
        size_t sz = mt_kern_sparse_scratch(max_B, c1 - c0, m->dims[1]);
        for (int t = 0; t < nthreads; t++)
            ok &= (e->scratch[t] = mt_alloc_aligned(sz)) != NULL;
    }
    if (!ok) {
        st = mt_errf(err, MT_ENOMEM, "engine: out of memory for batches of %d", max_B);
        goto fail;
    }
    if ((st = mt_pool_create(&e->pool, nthreads, err)))
        goto fail;
    mt_engine_sync(e);
    *out = e;
    return MT_OK;
fail:
    mt_engine_free(e);
    return st;
}

void mt_engine_sync(mt_engine *e)
{
    mt_pool_run(e->pool, sync_job, e);
}

double mt_engine_forward_backward(mt_engine *e, const uint8_t *images, const uint8_t *labels,
                                  const uint32_t *idx, int B, float scale, float shift,
                                  uint8_t *labels_out)
{
    e->src_images = images;
    e->src_labels = labels;
    e->idx = idx;
    e->B = B;
    e->scale = scale;
    e->shift = shift;
    e->backward = 1;
    e->pxp = e->px;
    mt_pool_run(e->pool, fwd_job, e);
    if (e->sparse)
        e->n_sparse++;
    else
        e->n_dense++;
    if (labels_out)
        memcpy(labels_out, e->labels, (size_t)B);
    double sum = 0.0;
    for (int i = 0; i < B; i++)
        sum += e->losses[i];
    return sum;
}

void mt_engine_prefetch(const mt_engine *e, const uint8_t *images, const uint32_t *idx, int B)
{
    const size_t C0 = (size_t)e->m->dims[0];
    for (int i = 0; i < B; i++) {
        const uint8_t *p = images + (size_t)idx[i] * C0;
        for (size_t off = 0; off < C0; off += 64)
            __builtin_prefetch(p + off, 0, 1);
    }
}

void mt_engine_update(mt_engine *e, mt_optim *o)
{
    mt_optim_begin_step(o);
    e->opt = o;
    mt_pool_run(e->pool, update_job, e);
    e->opt = NULL;
}

const float *mt_engine_forward(mt_engine *e, const uint8_t *images, int B, float scale, float shift)
{
    e->src_images = images;
    e->src_labels = NULL;
    e->idx = NULL;
    e->B = B;
    e->scale = scale;
    e->shift = shift;
    e->backward = 0;
    e->pxp = images;
    mt_pool_run(e->pool, fwd_job, e);
    return e->act[e->m->n_layers];
}
