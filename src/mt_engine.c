/* mt_engine: the threaded training step and evaluation forward (issue 3).
 * The first layer (most of the parameters) is MODEL-parallel: thread t owns
 * a fixed 16-aligned block [o0,o1) of its output features, i.e. rows of W1,
 * its moments, its gradient and its own W1^T slice, so these never move
 * between cores.  The small layers' forward and input gradients are split
 * by rows; the last thread writes their weight gradients and updates them.
 * Every float is one fixed chain of operations whatever the split, so
 * results do not depend on the thread count.  Does not print, does not
 * allocate after create. */
#include "mt_engine.h"
#include "mt_mem.h"
#include "mt_augment.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int o0, o1;                      /* its block of first-layer outputs */
    float *wt1;                      /* (C0, o1-o0) = W1[o0:o1, :]^T */
    float *beff;                     /* (o1-o0) b1 + shift * rowsum(W1) of the block */
    float *h1;                       /* (max_B, o1-o0) first-layer output block */
    float *d1;                       /* (max_B, o1-o0) its gradient */
    float *a0;                       /* (max_B, C0) normalised input (dense path) */
    void *scratch;                   /* sparse_bwd_w scratch */
    char pad[64];
} thr;

struct mt_engine {
    mt_mlp *m;                       /* borrowed */
    const mt_kern *k;
    mt_pool *pool;
    int T;                           /* threads */
    mt_path path;
    int max_B;
    thr *th;                         /* (T) */
    float *wt[MT_MAX_LAYERS];        /* (dims[l], dims[l+1]) = w[l]^T for l >= 1 (wt[0] unused) */
    uint8_t *px;                     /* (max_B, dims[0]) raw pixels of the batch */
    const uint8_t *pxp;              /* the batch's pixels: px, or the caller's
                                        contiguous images (forward only) */
    uint8_t *labels;                 /* (max_B) */
    mt_sp_lists lists;               /* the batch's column lists (sparse path), each
                                        thread filling a 16-aligned column range */
    float *act[MT_MAX_LAYERS + 1];   /* act[1] (max_B, dims[1]) assembled first-layer output;
                                        act[l] l >= 2 (split by rows) */
    float *dact[MT_MAX_LAYERS + 1];  /* (max_B, dims[l]) gradients w.r.t. act[l], l >= 1 */
    float *losses;                   /* (max_B) */
    double *gsq;                     /* (dims[1] + n_layers) squared-gradient partial sums */
    long long nz[256];               /* per-thread non-zero counts of the batch */
    long long n_dense, n_sparse;
    float clip;                      /* max global L2 norm of the gradients; 0 = off */
    double gnorm;                    /* global norm of the last step's gradients (when clip) */
    mt_augment aug;                  /* augmentation; active when aug_on */
    int aug_on, aug_rows, aug_cols;
    uint64_t aug_seed;
    uint64_t aug_step;               /* batches augmented so far */

    /* the current job */
    const uint8_t *src_images, *src_labels;
    const uint32_t *idx;
    int B, sparse, backward;
    float scale, shift;
    double clip_f;                   /* gradient factor of this update (1: none) */
    mt_optim *opt;
};

/* ---- splits ------------------------------------------------------------- */

static void row_split(int B, int t, int T, int *r0, int *r1)
{
    *r0 = (int)((long)B * t / T);
    *r1 = (int)((long)B * (t + 1) / T);
}

/* 16-aligned blocks, so SIMD vectors line up the same for any T. */
static void col_split(int C, int t, int T, int *c0, int *c1)
{
    int chunk = ((C + T - 1) / T + 15) / 16 * 16;
    *c0 = t * chunk < C ? t * chunk : C;
    *c1 = (t + 1) * chunk < C ? (t + 1) * chunk : C;
}

/* splitmix64 finaliser: per-sample augmentation seeds from (seed, step, row) */
static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static double sumsq(const float *x, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)x[i] * x[i];
    return s;
}

/* ---- one step (or one evaluation batch) ---------------------------------- */

/* Gathers rows [r0,r1) of the batch (training) and counts their non-zero
 * pixels; after the barrier every thread takes the same dense/sparse decision
 * (integer sum in thread order). */
static int gather_and_decide(mt_engine *e, int t, int T)
{
    const int C0 = e->m->dims[0];
    int r0, r1;
    row_split(e->B, t, T, &r0, &r1);
    if (e->idx) {
        for (int i = r0; i < r1; i++) {
            const uint8_t *src = e->src_images + (size_t)e->idx[i] * C0;
            uint8_t *dst = e->px + (size_t)i * C0;
            if (e->aug_on) {
                mt_rng r;
                mt_rng_seed(&r, mix64(e->aug_seed ^ mix64(e->aug_step * 0x100000001b3ull + (uint64_t)i)));
                mt_augment_random(dst, src, e->aug_rows, e->aug_cols, &e->aug, &r);
            } else {
                memcpy(dst, src, (size_t)C0);
            }
            if (e->src_labels)
                e->labels[i] = e->src_labels[e->idx[i]];
        }
    }
    e->nz[t] = (long long)mt_kern_count_nz(e->pxp + (size_t)r0 * C0, (size_t)(r1 - r0) * C0);
    mt_pool_barrier(e->pool);
    long long total = 0;
    for (int u = 0; u < T; u++)
        total += e->nz[u];
    return e->path == MT_PATH_SPARSE
        || (e->path == MT_PATH_AUTO && (double)total <= MT_SPARSE_MAX_DENSITY * (double)e->B * C0);
}

/* This thread's block of the first layer for all B rows, into th->h1 and
 * columns [o0,o1) of e->act[1]. */
static void first_layer(mt_engine *e, thr *th, int sparse)
{
    const mt_mlp *m = e->m;
    const mt_kern *k = e->k;
    const int L = m->n_layers, C0 = m->dims[0], OC1 = m->dims[1], B = e->B;
    const int o0 = th->o0, ow = th->o1 - th->o0;
    if (ow == 0 || B == 0)
        return;
    if (sparse) {
        k->sparse_bias(th->beff, th->wt1, m->b[0] + o0, C0, ow, e->shift, 0, ow);
        k->sparse_fwd(th->h1, e->pxp, th->wt1, th->beff, B, C0, ow, e->scale, L > 1);
    } else {
        k->u8_to_f32(th->a0, e->pxp, (size_t)B * C0, e->scale, e->shift);
        k->linear_fwd_t(th->h1, th->a0, th->wt1, m->b[0] + o0, B, C0, ow, L > 1);
    }
    for (int i = 0; i < B; i++)
        memcpy(e->act[1] + (size_t)i * OC1 + o0, th->h1 + (size_t)i * ow, (size_t)ow * sizeof(float));
}

static void step_thread(mt_engine *e, int t, int T)
{
    mt_mlp *m = e->m;
    const mt_kern *k = e->k;
    thr *th = &e->th[t];
    const int L = m->n_layers, C0 = m->dims[0], OC1 = m->dims[1], B = e->B, K = m->dims[L];
    const int o0 = th->o0, ow = th->o1 - th->o0;

    int sparse = gather_and_decide(e, t, T);
    if (t == 0)
        e->sparse = sparse;
    if (sparse && e->backward) {
        /* the weight gradient's column lists, shared: ready after the barrier below */
        int c0, c1;
        col_split(C0, t, T, &c0, &c1);
        k->sparse_lists(&e->lists, e->pxp, B, C0, e->scale, c0, c1);
    }
    first_layer(e, th, sparse);
    mt_pool_barrier(e->pool); /* act[1] complete */

    if (!e->backward) {
        /* evaluation: the small layers split by rows */
        int r0, r1;
        row_split(B, t, T, &r0, &r1);
        for (int l = 1; l < L && r0 < r1; l++) {
            int C = m->dims[l], OC = m->dims[l + 1];
            k->linear_fwd_t(e->act[l + 1] + (size_t)r0 * OC, e->act[l] + (size_t)r0 * C, e->wt[l],
                            m->b[l], r1 - r0, C, OC, l + 1 < L);
        }
        return;
    }
    if (B == 0)
        return;

    /* the small layers' forward and input gradients, split by rows */
    int r0, r1;
    row_split(B, t, T, &r0, &r1);
    if (r0 < r1) {
        const int nb = r1 - r0;
        for (int l = 1; l < L; l++) {
            int C = m->dims[l], OC = m->dims[l + 1];
            k->linear_fwd_t(e->act[l + 1] + (size_t)r0 * OC, e->act[l] + (size_t)r0 * C, e->wt[l],
                            m->b[l], nb, C, OC, l + 1 < L);
        }
        k->softmax_xent(e->dact[L] + (size_t)r0 * K, e->losses + r0, e->act[L] + (size_t)r0 * K,
                        e->labels + r0, nb, K, 1.f / (float)B);
        for (int l = L - 1; l >= 1; l--) {
            int C = m->dims[l], OC = m->dims[l + 1];
            k->linear_bwd_x(e->dact[l] + (size_t)r0 * C, e->dact[l + 1] + (size_t)r0 * OC, m->w[l],
                            e->act[l] + (size_t)r0 * C, nb, C, OC);
        }
    }
    mt_pool_barrier(e->pool); /* dact complete */

    /* the first layer's weight gradient: rows [o0,o1) of dW1 */
    if (ow > 0) {
        for (int i = 0; i < B; i++)
            memcpy(th->d1 + (size_t)i * ow, e->dact[1] + (size_t)i * OC1 + o0, (size_t)ow * sizeof(float));
        float *dw = m->dw[0] + (size_t)o0 * C0, *db = m->db[0] + o0;
        memset(dw, 0, (size_t)ow * C0 * sizeof *dw);
        memset(db, 0, (size_t)ow * sizeof *db);
        if (sparse)
            k->sparse_bwd_w_lists(dw, db, th->d1, &e->lists, B, C0, ow, e->shift, 0, C0, th->scratch);
        else
            k->linear_bwd_w_cols(dw, db, th->d1, th->a0, B, C0, ow, 0, C0);
        if (e->clip > 0.f)
            for (int o = 0; o < ow; o++)
                e->gsq[o0 + o] = sumsq(dw + (size_t)o * C0, (size_t)C0) + (double)db[o] * db[o];
    }
    /* ... and the small layers' on the last thread (thread 0 also builds
     * more of the shared column lists and runs the caller's code) */
    if (t == T - 1)
        for (int l = 1; l < L; l++) {
            int C = m->dims[l], OC = m->dims[l + 1];
            memset(m->dw[l], 0, (size_t)OC * C * sizeof(float));
            memset(m->db[l], 0, (size_t)OC * sizeof(float));
            k->linear_bwd_w_cols(m->dw[l], m->db[l], e->dact[l + 1], e->act[l], B, C, OC, 0, C);
            if (e->clip > 0.f)
                e->gsq[OC1 + l] = sumsq(m->dw[l], (size_t)OC * C) + sumsq(m->db[l], (size_t)OC);
        }
}

static void step_job(void *arg, int t, int T) { step_thread(arg, t, T); }

/* ---- update: each thread the parameters whose gradients it wrote --------- */

static void update_range(mt_engine *e, size_t lo, size_t hi)
{
    mt_mlp *m = e->m;
    if (e->clip_f < 1.0)
        for (size_t i = lo; i < hi; i++)
            m->grads[i] = (float)(m->grads[i] * e->clip_f);
    mt_optim_step_range(e->opt, m->params, m->grads, e->k, lo, hi);
}

static void update_thread(mt_engine *e, int t, int T)
{
    mt_mlp *m = e->m;
    thr *th = &e->th[t];
    const int L = m->n_layers, C0 = m->dims[0];
    if (th->o1 > th->o0) {
        size_t w0 = (size_t)(m->w[0] - m->params), b0 = (size_t)(m->b[0] - m->params);
        update_range(e, w0 + (size_t)th->o0 * C0, w0 + (size_t)th->o1 * C0);
        update_range(e, b0 + (size_t)th->o0, b0 + (size_t)th->o1);
        e->k->transpose(th->wt1, m->w[0] + (size_t)th->o0 * C0, C0, th->o1 - th->o0, 0, C0);
    }
    if (t == T - 1)
        for (int l = 1; l < L; l++) {
            int C = m->dims[l], OC = m->dims[l + 1];
            size_t w = (size_t)(m->w[l] - m->params), b = (size_t)(m->b[l] - m->params);
            update_range(e, w, w + (size_t)OC * C);
            update_range(e, b, b + (size_t)OC);
            e->k->transpose(e->wt[l], m->w[l], C, OC, 0, C);
        }
}

static void update_job(void *arg, int t, int T) { update_thread(arg, t, T); }

static void sync_thread(mt_engine *e, int t, int T)
{
    mt_mlp *m = e->m;
    thr *th = &e->th[t];
    const int C0 = m->dims[0];
    if (th->o1 > th->o0)
        e->k->transpose(th->wt1, m->w[0] + (size_t)th->o0 * C0, C0, th->o1 - th->o0, 0, C0);
    if (t == T - 1)
        for (int l = 1; l < m->n_layers; l++)
            e->k->transpose(e->wt[l], m->w[l], m->dims[l], m->dims[l + 1], 0, m->dims[l]);
}

static void sync_job(void *arg, int t, int T) { sync_thread(arg, t, T); }

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
    if (e->th)
        for (int t = 0; t < e->T; t++) {
            thr *th = &e->th[t];
            free(th->wt1);
            free(th->beff);
            free(th->h1);
            free(th->d1);
            free(th->a0);
            free(th->scratch);
        }
    free(e->th);
    free(e->px);
    free(e->lists.cnt);
    free(e->lists.ent);
    free(e->labels);
    free(e->losses);
    free(e->gsq);
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
    e->clip_f = 1.0;
    const int L = m->n_layers, C0 = m->dims[0], OC1 = m->dims[1];
    const size_t fs = sizeof(float);
    int ok = 1;
    for (int l = 1; l < L; l++)
        ok &= (e->wt[l] = mt_alloc_aligned((size_t)m->dims[l] * m->dims[l + 1] * fs)) != NULL;
    for (int l = 1; l <= L; l++) {
        ok &= (e->act[l] = mt_alloc_aligned((size_t)max_B * m->dims[l] * fs)) != NULL;
        ok &= (e->dact[l] = mt_alloc_aligned((size_t)max_B * m->dims[l] * fs)) != NULL;
    }
    ok &= (e->px = mt_alloc_aligned((size_t)max_B * C0)) != NULL;
    ok &= (e->lists.cnt = mt_alloc_aligned(mt_kern_sparse_lists_cnt_size(C0))) != NULL;
    ok &= (e->lists.ent = mt_alloc_aligned(mt_kern_sparse_lists_ent_size(max_B, C0))) != NULL;
    ok &= (e->labels = malloc((size_t)max_B)) != NULL;
    ok &= (e->losses = mt_alloc_aligned((size_t)max_B * fs)) != NULL;
    ok &= (e->gsq = calloc((size_t)OC1 + L, sizeof *e->gsq)) != NULL;
    ok &= (e->th = calloc((size_t)nthreads, sizeof *e->th)) != NULL;
    for (int t = 0; ok && t < nthreads; t++) {
        thr *th = &e->th[t];
        col_split(OC1, t, nthreads, &th->o0, &th->o1);
        size_t ow = (size_t)(th->o1 - th->o0) + (th->o1 == th->o0); /* >= 1 */
        ok &= (th->wt1 = mt_alloc_aligned((size_t)C0 * ow * fs)) != NULL;
        ok &= (th->beff = mt_alloc_aligned(ow * fs)) != NULL;
        ok &= (th->h1 = mt_alloc_aligned((size_t)max_B * ow * fs)) != NULL;
        ok &= (th->d1 = mt_alloc_aligned((size_t)max_B * ow * fs)) != NULL;
        ok &= (th->a0 = mt_alloc_aligned((size_t)max_B * C0 * fs)) != NULL;
        ok &= (th->scratch = mt_alloc_aligned(mt_kern_sparse_scratch(max_B, 0, (int)ow))) != NULL;
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

void mt_engine_set_clip(mt_engine *e, float max_norm)
{
    e->clip = max_norm > 0.f && isfinite(max_norm) ? max_norm : 0.f;
}

double mt_engine_grad_norm(const mt_engine *e) { return e->gnorm; }

mt_status mt_engine_set_augment(mt_engine *e, const mt_augment *a, int rows, int cols, uint64_t seed,
                                mt_err *err)
{
    if (!a || !mt_augment_active(a)) {
        e->aug_on = 0;
        return MT_OK;
    }
    if (rows < 1 || cols < 1 || (long)rows * cols != e->m->dims[0])
        return mt_errf(err, MT_EARG, "augmentation: %dx%d images do not match %d inputs", rows, cols,
                       e->m->dims[0]);
    e->aug = *a;
    e->aug_rows = rows;
    e->aug_cols = cols;
    e->aug_seed = seed;
    e->aug_on = 1;
    return MT_OK;
}

void mt_engine_set_augment_step(mt_engine *e, uint64_t step) { e->aug_step = step; }

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
    mt_pool_run(e->pool, step_job, e);
    if (e->aug_on)
        e->aug_step++;
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
    e->clip_f = 1.0;
    if (e->clip > 0.f) {
        /* the global norm, summed in a fixed block order (first-layer rows,
         * then the small layers) whatever the thread split */
        const mt_mlp *m = e->m;
        double ss = 0.0;
        for (int i = 0; i < m->dims[1] + m->n_layers; i++)
            ss += i < m->dims[1] || i > m->dims[1] ? e->gsq[i] : 0.0;
        e->gnorm = sqrt(ss);
        double f = (double)e->clip / (e->gnorm + 1e-6);
        if (isfinite(e->gnorm) && f < 1.0)
            e->clip_f = f;
    }
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
    mt_pool_run(e->pool, step_job, e);
    return e->act[e->m->n_layers];
}
