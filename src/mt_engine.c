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
    float *wt1;                      /* (C0, ow) W1[o0:o1, :]^T, the master copy (mt_engine_sync/export) */
    float *mt1, *vt1;                /* (C0, ow) the optimizer's moments of that block, transposed */
    float *gt1;                      /* (C0, ow) its gradient, transposed: whole when clipping,
                                        else one GT_CHUNK of rows at a time */
    float *wsum;                     /* (ow) column sums of wt1 (for beff), valid when wsum_ok */
    int wsum_ok;
    float *beff;                     /* (ow) b1 + shift * wsum of the block */
    float *cs;                       /* (ow) column sums of d1: the bias gradient */
    float *h1;                       /* (max_B, ow) first-layer output block */
    float *d1;                       /* (max_B, ow) its gradient */
    float *a0;                       /* (max_B, C0) normalised input (dense path) */
    char pad[64];
} thr;

/* Rows of the first layer's gradient made and applied at a time in the fused
 * update (a multiple of the GEMM tile height; 48 x 128 floats stay in L1). */
#define GT_CHUNK 48

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
    mt_sp_rows rows;                 /* the batch's row lists (sparse path), rows split between threads */
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
    int have_gt;                     /* gt1 holds the last step's whole (clipped) gradient */
    mt_augment aug;                  /* augmentation; active when aug_on */
    int aug_on, aug_rows, aug_cols;
    uint64_t aug_seed;
    uint64_t aug_step;               /* batches augmented so far */

    /* the current job */
    const uint8_t *src_images, *src_labels;
    const uint32_t *idx;
    int B, sparse, backward, fused, finite;
    float scale, shift;
    double clip_f;                   /* gradient factor of this update (1: none) */
    mt_optim ostep;                  /* the optimizer as of this step (after begin_step) */
    mt_optim *opt;                   /* for sync and export */
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

/* Gathers rows [r0,r1) of the batch (training), makes their non-zero lists
 * (unless the path is dense) and counts their non-zero pixels; after the
 * barrier every thread takes the same dense/sparse decision (integer sum in
 * thread order). */
static int gather_and_decide(mt_engine *e, int t, int T)
{
    const int C0 = e->m->dims[0];
    int r0, r1;
    row_split(e->B, t, T, &r0, &r1);
    long long nz = 0;
    for (int i = r0; i < r1; i++) {
        if (e->idx) {
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
        if (e->path != MT_PATH_DENSE) {
            size_t off = (size_t)i * e->rows.ld;
            e->rows.cnt[i] = e->k->sparse_row_list(e->rows.idx + off, e->rows.val + off,
                                                   e->pxp + (size_t)i * C0, C0, e->scale);
            nz += e->rows.cnt[i];
        }
    }
    e->nz[t] = nz;
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
        if (!th->wsum_ok) {
            memset(th->wsum, 0, (size_t)ow * sizeof(float));
            k->colsum_acc(th->wsum, th->wt1, C0, ow);
            th->wsum_ok = 1;
        }
        /* b + shift * sum_c wt[c,:], as mt_kern.sparse_bias */
        const float *b = m->b[0] + o0;
        for (int o = 0; o < ow; o++) {
            float t = e->shift * th->wsum[o];
            th->beff[o] = b[o] + t;
        }
        k->sparse_fwd_rows(th->h1, &e->rows, th->wt1, th->beff, B, ow, L > 1);
    } else {
        k->u8_to_f32(th->a0, e->pxp, (size_t)B * C0, e->scale, e->shift);
        k->linear_fwd_t(th->h1, th->a0, th->wt1, m->b[0] + o0, B, C0, ow, L > 1);
    }
    if (th->h1 != e->act[1])
        for (int i = 0; i < B; i++)
            memcpy(e->act[1] + (size_t)i * OC1 + o0, th->h1 + (size_t)i * ow, (size_t)ow * sizeof(float));
}

/* Rows [c0,c1) of this thread's transposed first-layer gradient into g. */
static void first_layer_grad(const mt_engine *e, const thr *th, float *g, int c0, int c1)
{
    const int C0 = e->m->dims[0], ow = th->o1 - th->o0;
    if (e->sparse)
        e->k->sparse_bwd_wt(g, th->d1, th->cs, &e->lists, e->B, ow, e->shift, c0, c1);
    else
        e->k->linear_bwd_wt(g, th->d1, th->a0, e->B, C0, ow, c0, c1);
}

/* The small layers' weight gradients, columns [c0,c1) of each dW (16-aligned
 * col_split of its inputs) on thread t; thread 0 also the bias gradients.
 * Every element is one chain whatever the split. */
static void small_layer_grads(mt_engine *e, int t, int T)
{
    mt_mlp *m = e->m;
    for (int l = 1; l < m->n_layers; l++) {
        int C = m->dims[l], OC = m->dims[l + 1], c0, c1;
        col_split(C, t, T, &c0, &c1);
        for (int o = 0; o < OC; o++)
            memset(m->dw[l] + (size_t)o * C + c0, 0, (size_t)(c1 - c0) * sizeof(float));
        if (t == 0)
            memset(m->db[l], 0, (size_t)OC * sizeof(float));
        if (c0 < c1 || t == 0)
            e->k->linear_bwd_w_cols(m->dw[l], t == 0 ? m->db[l] : NULL, e->dact[l + 1], e->act[l], e->B, C,
                                    OC, c0, c1);
    }
}

/* The small layers' update of the same columns (and bias on thread 0), and
 * the refresh of those rows of W^T. */
static void small_layer_update(mt_engine *e, int t, int T)
{
    mt_mlp *m = e->m;
    const double f = e->clip_f;
    for (int l = 1; l < m->n_layers; l++) {
        int C = m->dims[l], OC = m->dims[l + 1], c0, c1;
        col_split(C, t, T, &c0, &c1);
        size_t w = (size_t)(m->w[l] - m->params), b = (size_t)(m->b[l] - m->params);
        for (int o = 0; c0 < c1 && o < OC; o++) {
            size_t lo = w + (size_t)o * C + c0, hi = w + (size_t)o * C + c1;
            if (f < 1.0)
                for (size_t i = lo; i < hi; i++)
                    m->grads[i] = (float)(m->grads[i] * f);
            mt_optim_step_range(&e->ostep, m->params, m->grads, e->k, lo, hi);
        }
        if (t == 0) {
            if (f < 1.0)
                for (size_t i = b; i < b + (size_t)OC; i++)
                    m->grads[i] = (float)(m->grads[i] * f);
            mt_optim_step_range(&e->ostep, m->params, m->grads, e->k, b, b + (size_t)OC);
        }
        e->k->transpose(e->wt[l], m->w[l], C, OC, c0, c1);
    }
}

/* This thread's first-layer bias update (gradient th->cs, in m->db[0]). */
static void first_layer_bias_update(mt_engine *e, const thr *th)
{
    mt_mlp *m = e->m;
    size_t b0 = (size_t)(m->b[0] - m->params);
    if (e->clip_f < 1.0)
        for (int o = th->o0; o < th->o1; o++)
            m->db[0][o] = (float)(m->db[0][o] * e->clip_f);
    mt_optim_step_range(&e->ostep, m->params, m->grads, e->k, b0 + (size_t)th->o0, b0 + (size_t)th->o1);
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
        k->sparse_lists_rows(&e->lists, &e->rows, B, c0, c1);
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
    mt_pool_barrier(e->pool); /* dact and losses complete */

    /* A non-finite loss stops training (mt_train): no gradient, no update. */
    double lsum = 0.0;
    for (int i = 0; i < B; i++)
        lsum += e->losses[i];
    if (!isfinite(lsum)) {
        if (t == 0)
            e->finite = 0;
        return;
    }

    /* the first layer's block: bias gradient, then the weight gradient made
     * GT_CHUNK rows at a time and applied at once (fused), or whole (clipping) */
    if (ow > 0) {
        if (th->d1 != e->dact[1])
            for (int i = 0; i < B; i++)
                memcpy(th->d1 + (size_t)i * ow, e->dact[1] + (size_t)i * OC1 + o0, (size_t)ow * sizeof(float));
        memset(th->cs, 0, (size_t)ow * sizeof(float));
        k->colsum_acc(th->cs, th->d1, B, ow);
        memcpy(m->db[0] + o0, th->cs, (size_t)ow * sizeof(float));
        if (e->fused) {
            memset(th->wsum, 0, (size_t)ow * sizeof(float));
            for (int c = 0; c < C0; c += GT_CHUNK) {
                int c1 = C0 - c < GT_CHUNK ? C0 : c + GT_CHUNK;
                size_t off = (size_t)c * ow, n = (size_t)(c1 - c) * ow;
                first_layer_grad(e, th, th->gt1, c, c1);
                mt_optim_step_buf(&e->ostep, th->wt1 + off, th->gt1, th->mt1 + off,
                                  th->vt1 ? th->vt1 + off : NULL, n, k);
                k->colsum_acc(th->wsum, th->wt1 + off, c1 - c, ow);
            }
            th->wsum_ok = 1;
            first_layer_bias_update(e, th);
        } else {
            first_layer_grad(e, th, th->gt1, 0, C0);
            /* per-output sums in ascending c, as the rows of dW1 */
            for (int o = 0; o < ow; o++)
                e->gsq[o0 + o] = 0.0;
            for (int c = 0; c < C0; c++) {
                const float *g = th->gt1 + (size_t)c * ow;
                for (int o = 0; o < ow; o++)
                    e->gsq[o0 + o] += (double)g[o] * g[o];
            }
            for (int o = 0; o < ow; o++)
                e->gsq[o0 + o] += (double)th->cs[o] * th->cs[o];
        }
    }
    /* ... and every thread a share of the small layers' (their squared norms,
     * when clipping, are summed by mt_engine_step) */
    small_layer_grads(e, t, T);
    if (e->fused)
        small_layer_update(e, t, T);
}

static void step_job(void *arg, int t, int T) { step_thread(arg, t, T); }

/* ---- the update after clipping: each thread the parameters whose gradients it wrote */

static void update_thread(mt_engine *e, int t, int T)
{
    const mt_kern *k = e->k;
    thr *th = &e->th[t];
    const int C0 = e->m->dims[0], ow = th->o1 - th->o0;
    if (ow > 0) {
        size_t n = (size_t)C0 * ow;
        if (e->clip_f < 1.0)
            for (size_t i = 0; i < n; i++)
                th->gt1[i] = (float)(th->gt1[i] * e->clip_f);
        mt_optim_step_buf(&e->ostep, th->wt1, th->gt1, th->mt1, th->vt1, n, k);
        memset(th->wsum, 0, (size_t)ow * sizeof(float));
        k->colsum_acc(th->wsum, th->wt1, C0, ow);
        th->wsum_ok = 1;
        first_layer_bias_update(e, th);
    }
    small_layer_update(e, t, T);
}

static void update_job(void *arg, int t, int T) { update_thread(arg, t, T); }

/* ---- the first layer's master copy <-> m->params and the optimizer -------- */

static void sync_thread(mt_engine *e, int t, int T)
{
    mt_mlp *m = e->m;
    thr *th = &e->th[t];
    const int C0 = m->dims[0], ow = th->o1 - th->o0;
    const size_t w0 = (size_t)(m->w[0] - m->params) + (size_t)th->o0 * C0;
    if (ow > 0) {
        e->k->transpose(th->wt1, m->params + w0, C0, ow, 0, C0);
        th->wsum_ok = 0;
        if (e->opt) {
            e->k->transpose(th->mt1, e->opt->m + w0, C0, ow, 0, C0);
            if (e->opt->v)
                e->k->transpose(th->vt1, e->opt->v + w0, C0, ow, 0, C0);
        }
    }
    if (t == T - 1)
        for (int l = 1; l < m->n_layers; l++)
            e->k->transpose(e->wt[l], m->w[l], m->dims[l], m->dims[l + 1], 0, m->dims[l]);
}

static void sync_job(void *arg, int t, int T) { sync_thread(arg, t, T); }

static void export_thread(mt_engine *e, int t, int T)
{
    (void)T;
    mt_mlp *m = e->m;
    thr *th = &e->th[t];
    const int C0 = m->dims[0], ow = th->o1 - th->o0;
    const size_t w0 = (size_t)(m->w[0] - m->params) + (size_t)th->o0 * C0;
    if (ow == 0)
        return;
    /* (C0, ow) -> (ow, C0): transpose's "C" is ow, its "OC" C0 */
    e->k->transpose(m->params + w0, th->wt1, ow, C0, 0, ow);
    if (e->opt) {
        e->k->transpose(e->opt->m + w0, th->mt1, ow, C0, 0, ow);
        if (e->opt->v)
            e->k->transpose(e->opt->v + w0, th->vt1, ow, C0, 0, ow);
    }
    if (e->have_gt)
        e->k->transpose(m->grads + w0, th->gt1, ow, C0, 0, ow);
}

static void export_job(void *arg, int t, int T) { export_thread(arg, t, T); }

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
    if (e->th)
        for (int t = 0; t < e->T; t++) {
            thr *th = &e->th[t];
            free(th->wt1);
            free(th->mt1);
            free(th->vt1);
            free(th->gt1);
            free(th->wsum);
            free(th->beff);
            free(th->cs);
            if (th->h1 != e->act[1])
                free(th->h1);
            if (th->d1 != e->dact[1])
                free(th->d1);
            free(th->a0);
        }
    for (int l = 0; l <= MT_MAX_LAYERS; l++) {
        if (l < MT_MAX_LAYERS)
            free(e->wt[l]);
        free(e->act[l]);
        free(e->dact[l]);
    }
    free(e->th);
    free(e->px);
    free(e->rows.cnt);
    free(e->rows.idx);
    free(e->rows.val);
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
    e->rows.ld = (C0 + 16 + 15) / 16 * 16;
    ok &= (e->px = mt_alloc_aligned((size_t)max_B * C0)) != NULL;
    ok &= (e->rows.cnt = mt_alloc_aligned((size_t)max_B * sizeof(int))) != NULL;
    ok &= (e->rows.idx = mt_alloc_aligned((size_t)max_B * e->rows.ld * sizeof(int))) != NULL;
    ok &= (e->rows.val = mt_alloc_aligned((size_t)max_B * e->rows.ld * fs)) != NULL;
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
        size_t blk = (size_t)C0 * ow * fs;
        ok &= (th->wt1 = mt_alloc_aligned(blk)) != NULL;
        ok &= (th->mt1 = mt_calloc_aligned(blk)) != NULL;
        ok &= (th->vt1 = mt_calloc_aligned(blk)) != NULL;
        ok &= (th->gt1 = mt_alloc_aligned(blk)) != NULL;
        ok &= (th->wsum = mt_alloc_aligned(ow * fs)) != NULL;
        ok &= (th->beff = mt_alloc_aligned(ow * fs)) != NULL;
        ok &= (th->cs = mt_alloc_aligned(ow * fs)) != NULL;
        if ((int)ow == OC1) { /* the whole layer: work in place */
            th->h1 = e->act[1];
            th->d1 = e->dact[1];
        } else {
            ok &= (th->h1 = mt_alloc_aligned((size_t)max_B * ow * fs)) != NULL;
            ok &= (th->d1 = mt_alloc_aligned((size_t)max_B * ow * fs)) != NULL;
        }
        ok &= (th->a0 = mt_alloc_aligned((size_t)max_B * C0 * fs)) != NULL;
    }
    if (!ok) {
        st = mt_errf(err, MT_ENOMEM, "engine: out of memory for batches of %d", max_B);
        goto fail;
    }
    e->lists.c_base = 0;
    if ((st = mt_pool_create(&e->pool, nthreads, err)))
        goto fail;
    mt_engine_sync(e, NULL);
    *out = e;
    return MT_OK;
fail:
    mt_engine_free(e);
    return st;
}

void mt_engine_sync(mt_engine *e, mt_optim *o)
{
    e->opt = o;
    mt_pool_run(e->pool, sync_job, e);
    e->opt = NULL;
    e->have_gt = 0;
}

void mt_engine_export(mt_engine *e, mt_optim *o)
{
    e->opt = o;
    mt_pool_run(e->pool, export_job, e);
    e->opt = NULL;
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

double mt_engine_step(mt_engine *e, mt_optim *o, const uint8_t *images, const uint8_t *labels,
                      const uint32_t *idx, int B, float scale, float shift, uint8_t *labels_out)
{
    e->src_images = images;
    e->src_labels = labels;
    e->idx = idx;
    e->B = B;
    e->scale = scale;
    e->shift = shift;
    e->backward = 1;
    e->pxp = e->px;
    e->finite = 1;
    e->clip_f = 1.0;
    e->fused = !(e->clip > 0.f);
    e->have_gt = !e->fused;
    e->ostep = *o;
    mt_optim_begin_step(&e->ostep); /* o itself advances only if the step is taken */
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
    if (!e->finite || B == 0)
        return sum;
    if (!e->fused) {
        /* the global norm, summed in a fixed block order (first-layer rows,
         * then the small layers) whatever the thread split */
        const mt_mlp *m = e->m;
        for (int l = 1; l < m->n_layers; l++)
            e->gsq[m->dims[1] + l] = sumsq(m->dw[l], (size_t)m->dims[l] * m->dims[l + 1])
                                   + sumsq(m->db[l], (size_t)m->dims[l + 1]);
        double ss = 0.0;
        for (int i = 0; i < m->dims[1] + m->n_layers; i++)
            ss += i < m->dims[1] || i > m->dims[1] ? e->gsq[i] : 0.0;
        e->gnorm = sqrt(ss);
        double f = (double)e->clip / (e->gnorm + 1e-6);
        if (isfinite(e->gnorm) && f < 1.0)
            e->clip_f = f;
        mt_pool_run(e->pool, update_job, e);
    }
    o->step = e->ostep.step;
    o->bc1 = e->ostep.bc1;
    o->bc2 = e->ostep.bc2;
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

void mt_engine_forward(mt_engine *e, const uint8_t *images, int B, float scale, float shift,
                       float *logits)
{
    const int C0 = e->m->dims[0], K = e->m->dims[e->m->n_layers];
    for (int r = 0; r < B; r += e->max_B) {
        int n = B - r < e->max_B ? B - r : e->max_B;
        e->src_images = images;
        e->src_labels = NULL;
        e->idx = NULL;
        e->B = n;
        e->scale = scale;
        e->shift = shift;
        e->backward = 0;
        e->pxp = images + (size_t)r * C0;
        mt_pool_run(e->pool, step_job, e);
        memcpy(logits + (size_t)r * K, e->act[e->m->n_layers], (size_t)n * K * sizeof *logits);
    }
}
