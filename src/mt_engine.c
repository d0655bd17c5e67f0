/* mt_engine: the threaded training step and evaluation forward (issue 3).
 * Rows of the batch are split between the threads for everything that is
 * per sample (gather, non-zero lists, every layer's forward, the loss, the
 * input gradients); after the step's one barrier, the first layer's weight
 * gradient and update are split by PIXEL chunks (W1_CHUNK rows of the
 * transposed weights, a fixed range per thread, so its moments stay in that
 * core's cache), the small layers' by input columns.  The transposed first
 * layer W1^T (C0, OC1) is the master copy while training, with its moments.
 * Every float is one fixed chain of operations whatever the split (sums
 * that cross chunks are kept per chunk and added in chunk order), so results
 * do not depend on the thread count.  Does not print, does not allocate
 * after create. */
#include "mt_engine.h"
#include "mt_mem.h"
#include "mt_augment.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A thread's private buffers. */
typedef struct {
    float *beff;                     /* (OC1) b1 + shift * colsum(W1^T) */
    float *cs;                       /* (OC1) column sums of dact[1]: the bias gradient */
    float *gt;                       /* (W1_CHUNK, OC1) one chunk of the W1^T gradient (fused) */
    mt_sp_lists lists;               /* one chunk's column lists (c_base = the chunk's first
                                        column): small enough to stay in L1 */
    int sparse;                      /* this step's path (the same on every thread) */
    char pad[64];
} thr;

struct mt_engine {
    mt_mlp *m;                       /* borrowed */
    const mt_kern *k;
    mt_pool *pool;
    int T;                           /* threads */
    mt_path path;
    int max_B;
    int nch;                         /* first-layer pixel chunks: ceil(C0 / W1_CHUNK) */
    thr *th;                         /* (T) */
    float *wt1, *mt1, *vt1;          /* (C0, OC1) W1^T (master while training) and its moments */
    float *gt1;                      /* (C0, OC1) its whole gradient (clipping only) */
    float *psum;                     /* (nch, OC1) column sums of each chunk of wt1 */
    int psum_ok;
    double *gsq;                     /* (nch + 1) squared gradient sums per chunk, then b1 (clipping) */
    float *wt[MT_MAX_LAYERS];        /* (dims[l], dims[l+1]) = w[l]^T for l >= 1 (wt[0] unused) */
    uint8_t *px;                     /* (max_B, C0) raw pixels of the batch */
    const uint8_t *pxp;              /* the batch's pixels: px, or the caller's
                                        contiguous images (forward only) */
    float *a0;                       /* (max_B, C0) normalised input (dense path) */
    uint8_t *labels;                 /* (max_B) */
    mt_sp_rows rows;                 /* the batch's row lists (sparse path), filled per row */
    float *act[MT_MAX_LAYERS + 1];   /* (max_B, dims[l]) outputs of layer l, l >= 1 */
    float *dact[MT_MAX_LAYERS + 1];  /* (max_B, dims[l]) gradients w.r.t. act[l], l >= 1 */
    float *losses;                   /* (max_B) */
    long long *nzu;                  /* (max units) non-zero count of each row unit */
    atomic_uint *claim;              /* (max units) work-stealing claims, see run_units */
    unsigned gen;                    /* claim generation: 4 per pool run */
    /* adaptive thread count (run_step): steps are timed in short probes on
     * one thread and on all, and the faster runs until the next probe */
    int use_all;                     /* the current choice: all threads (1) or one (0) */
    long long n_steps, n_single;     /* steps taken, and how many on one thread */
    double probe_s[2];               /* probe time on one thread [0] and on all [1] */
    long long n_dense, n_sparse;
    float clip;                      /* max global L2 norm of the gradients; 0 = off */
    double gnorm;                    /* global norm of the last step's gradients (when clip) */
    int have_gt;                     /* gt1 holds the last step's whole (clipped) gradient */
    mt_augment aug;                  /* augmentation; active when aug_on */
    int aug_on, aug_rows, aug_cols;
    uint64_t aug_seed;
    uint64_t aug_step;               /* batches augmented so far */

    /* the next batch's rows, prefetched by each thread at the end of a step */
    const uint8_t *pf_images;
    const uint32_t *pf_idx;
    int pf_B;

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

/* W1^T's rows are made, applied and shared out between threads in chunks
 * of W1_CHUNK (whole row-list chunks, so a chunk's entries are found at once). */
#ifndef W1_CHUNK
#define W1_CHUNK (2 * MT_SP_CHUNK)
#endif

/* Thread t's first-layer chunks [j0, j1). */
static void chunk_split(const mt_engine *e, int t, int T, int *j0, int *j1)
{
    row_split(e->nch, t, T, j0, j1);
}

static void chunk_rows(const mt_engine *e, int j, int *c0, int *c1)
{
    const int C0 = e->m->dims[0];
    *c0 = j * W1_CHUNK;
    *c1 = C0 - *c0 < W1_CHUNK ? C0 : *c0 + W1_CHUNK;
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

/* psum[j] = column sums of chunk j of wt1, rows ascending. */
static void chunk_colsum(mt_engine *e, int j)
{
    const int OC1 = e->m->dims[1];
    int c0, c1;
    chunk_rows(e, j, &c0, &c1);
    float *ps = e->psum + (size_t)j * OC1;
    memset(ps, 0, (size_t)OC1 * sizeof *ps);
    e->k->colsum_acc(ps, e->wt1 + (size_t)c0 * OC1, c1 - c0, OC1);
}

/* ---- one step (or one evaluation batch) ---------------------------------- */

/* Gathers rows [r0,r1) of the batch (training) and makes their non-zero lists
 * (unless the path is dense); returns their non-zero count. */
static long long gather_rows(mt_engine *e, int r0, int r1)
{
    const int C0 = e->m->dims[0];
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
                                                   e->rows.blk + (size_t)i * e->rows.nblk,
                                                   e->pxp + (size_t)i * C0, C0, e->scale);
            nz += e->rows.cnt[i];
        }
    }
    return nz;
}

/* ---- work units ----------------------------------------------------------
 * Each phase is a set of units (ROW_UNIT rows of the batch, or one chunk of
 * W1^T).  Thread t first does its own static share in ascending order, then
 * takes what is left of the other threads' shares from their far ends, so a
 * thread slowed down by the machine does not hold the step up.  Who computes
 * a unit never changes its result. */
#define ROW_UNIT 16

static int claim(atomic_uint *c, unsigned gen)
{
    return atomic_exchange_explicit(c, gen, memory_order_acq_rel) != gen;
}

typedef void (*unit_fn)(mt_engine *e, thr *th, int u);

static void run_units(mt_engine *e, thr *th, int n, unsigned gen, int t, int T, unit_fn fn)
{
    int a, b;
    row_split(n, t, T, &a, &b);
    for (int u = a; u < b; u++)
        if (claim(&e->claim[u], gen))
            fn(e, th, u);
    for (int d = 1; d < T; d++) {
        row_split(n, (t + d) % T, T, &a, &b);
        for (int u = b - 1; u >= a; u--)
            if (claim(&e->claim[u], gen))
                fn(e, th, u);
    }
}

/* A run on one thread (see run_step) has no partner to wait for. */
static void barrier(mt_engine *e, int T)
{
    if (T > 1)
        mt_pool_barrier(e->pool);
}

static int n_row_units(const mt_engine *e) { return (e->B + ROW_UNIT - 1) / ROW_UNIT; }

static void unit_rows(const mt_engine *e, int u, int *r0, int *r1)
{
    *r0 = u * ROW_UNIT;
    *r1 = e->B - *r0 < ROW_UNIT ? e->B : *r0 + ROW_UNIT;
}

/* th->beff = b1 + shift * sum_c W1^T[c,:], the chunks' sums added in chunk
 * order (the sparse forward's bias). */
static void make_beff(mt_engine *e, thr *th)
{
    const int OC1 = e->m->dims[1];
    float *s = th->cs; /* scratch here */
    memset(s, 0, (size_t)OC1 * sizeof *s);
    e->k->colsum_acc(s, e->psum, e->nch, OC1);
    for (int o = 0; o < OC1; o++) {
        float t = e->shift * s[o];
        th->beff[o] = e->m->b[0][o] + t;
    }
}

/* Every layer's forward for rows [r0,r1) into act[] (sparse: th->beff made). */
static void forward_rows(mt_engine *e, thr *th, int sparse, int r0, int r1)
{
    const mt_mlp *m = e->m;
    const mt_kern *k = e->k;
    const int L = m->n_layers, C0 = m->dims[0], OC1 = m->dims[1], nb = r1 - r0;
    if (nb <= 0)
        return;
    if (sparse) {
        mt_sp_rows v = e->rows;
        v.cnt += r0;
        v.idx += (size_t)r0 * v.ld;
        v.val += (size_t)r0 * v.ld;
        v.blk += (size_t)r0 * v.nblk;
        k->sparse_fwd_rows(e->act[1] + (size_t)r0 * OC1, &v, e->wt1, th->beff, nb, OC1, L > 1);
    } else {
        k->u8_to_f32(e->a0 + (size_t)r0 * C0, e->pxp + (size_t)r0 * C0, (size_t)nb * C0, e->scale, e->shift);
        k->linear_fwd_t(e->act[1] + (size_t)r0 * OC1, e->a0 + (size_t)r0 * C0, e->wt1, m->b[0], nb, C0, OC1,
                        L > 1);
    }
    for (int l = 1; l < L; l++) {
        int C = m->dims[l], OC = m->dims[l + 1];
        k->linear_fwd_t(e->act[l + 1] + (size_t)r0 * OC, e->act[l] + (size_t)r0 * C, e->wt[l], m->b[l], nb, C,
                        OC, l + 1 < L);
    }
}

/* Chunk j's gradient (rows [c0,c1) of W1^T's) into g. */
static void chunk_grad(mt_engine *e, thr *th, float *g, int c0, int c1)
{
    const int C0 = e->m->dims[0], OC1 = e->m->dims[1];
    if (e->sparse) {
        th->lists.c_base = c0;
        e->k->sparse_lists_rows(&th->lists, &e->rows, e->B, c0, c1);
        e->k->sparse_bwd_wt(g, e->dact[1], th->cs, &th->lists, e->B, OC1, e->shift, c0, c1);
    } else {
        e->k->linear_bwd_wt(g, e->dact[1], e->a0, e->B, C0, OC1, c0, c1);
    }
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

static void scale_grads(float *g, size_t n, double f)
{
    if (f < 1.0)
        for (size_t i = 0; i < n; i++)
            g[i] = (float)(g[i] * f);
}

/* The small layers' update of the same columns (and biases on thread 0, with
 * b1's), and the refresh of those rows of W^T. */
static void small_layer_update(mt_engine *e, int t, int T)
{
    mt_mlp *m = e->m;
    if (t == 0) {
        size_t b0 = (size_t)(m->b[0] - m->params);
        scale_grads(m->db[0], (size_t)m->dims[1], e->clip_f);
        mt_optim_step_range(&e->ostep, m->params, m->grads, e->k, b0, b0 + (size_t)m->dims[1]);
    }
    for (int l = 1; l < m->n_layers; l++) {
        int C = m->dims[l], OC = m->dims[l + 1], c0, c1;
        col_split(C, t, T, &c0, &c1);
        size_t w = (size_t)(m->w[l] - m->params), b = (size_t)(m->b[l] - m->params);
        for (int o = 0; c0 < c1 && o < OC; o++) {
            size_t lo = w + (size_t)o * C + c0;
            scale_grads(m->grads + lo, (size_t)(c1 - c0), e->clip_f);
            mt_optim_step_range(&e->ostep, m->params, m->grads, e->k, lo, lo + (size_t)(c1 - c0));
        }
        if (t == 0) {
            scale_grads(m->db[l], (size_t)OC, e->clip_f);
            mt_optim_step_range(&e->ostep, m->params, m->grads, e->k, b, b + (size_t)OC);
        }
        e->k->transpose(e->wt[l], m->w[l], C, OC, c0, c1);
    }
}

/* This thread's rows of the next batch (mt_engine_prefetch) towards its
 * cache, early in this step: they are random rows of a large array, gathered
 * by the same thread next step. */
static void prefetch_next(mt_engine *e, int t, int T)
{
    const size_t C0 = (size_t)e->m->dims[0];
    int r0, r1;
    if (!e->pf_idx)
        return;
    row_split(e->pf_B, t, T, &r0, &r1);
    for (int i = r0; i < r1; i++) {
        const uint8_t *p = e->pf_images + (size_t)e->pf_idx[i] * C0;
        for (size_t off = 0; off < C0; off += 64)
            __builtin_prefetch(p + off, 0, 1);
    }
}

static void unit_gather(mt_engine *e, thr *th, int u)
{
    (void)th;
    int r0, r1;
    unit_rows(e, u, &r0, &r1);
    e->nzu[u] = gather_rows(e, r0, r1);
}

/* Forward, loss and input gradients of one row unit. */
static void unit_forward(mt_engine *e, thr *th, int u)
{
    mt_mlp *m = e->m;
    const mt_kern *k = e->k;
    const int L = m->n_layers, K = m->dims[L];
    int r0, r1;
    unit_rows(e, u, &r0, &r1);
    forward_rows(e, th, th->sparse, r0, r1);
    if (!e->backward || r0 >= r1)
        return;
    const int nb = r1 - r0;
    k->softmax_xent(e->dact[L] + (size_t)r0 * K, e->losses + r0, e->act[L] + (size_t)r0 * K, e->labels + r0,
                    nb, K, 1.f / (float)e->B);
    for (int l = L - 1; l >= 1; l--) {
        int C = m->dims[l], OC = m->dims[l + 1];
        k->linear_bwd_x(e->dact[l] + (size_t)r0 * C, e->dact[l + 1] + (size_t)r0 * OC, m->w[l],
                        e->act[l] + (size_t)r0 * C, nb, C, OC);
    }
}

static void unit_gather_forward(mt_engine *e, thr *th, int u)
{
    unit_gather(e, th, u);
    unit_forward(e, th, u);
}

/* Chunk j of W1^T: its gradient, then (fused) the update at once. */
static void unit_chunk(mt_engine *e, thr *th, int j)
{
    const int OC1 = e->m->dims[1];
    int c0, c1;
    chunk_rows(e, j, &c0, &c1);
    size_t off = (size_t)c0 * OC1, n = (size_t)(c1 - c0) * OC1;
    if (e->fused) {
        chunk_grad(e, th, th->gt, c0, c1);
        mt_optim_step_buf(&e->ostep, e->wt1 + off, th->gt, e->mt1 + off, e->vt1 ? e->vt1 + off : NULL, n, e->k);
        chunk_colsum(e, j);
    } else {
        chunk_grad(e, th, e->gt1 + off, c0, c1);
        e->gsq[j] = sumsq(e->gt1 + off, n);
    }
}

static void step_thread(mt_engine *e, int t, int T)
{
    mt_mlp *m = e->m;
    const mt_kern *k = e->k;
    thr *th = &e->th[t];
    const int OC1 = m->dims[1], B = e->B, nu = n_row_units(e);

    /* before the barrier: every row unit's gather, lists, forward, loss and
     * input gradients (under auto, a barrier first decides the path from the
     * batch's density, summed in unit order) */
    if (e->path == MT_PATH_AUTO) {
        run_units(e, th, nu, e->gen, t, T, unit_gather);
        prefetch_next(e, t, T);
        barrier(e, T);
        long long total = 0;
        for (int u = 0; u < nu; u++)
            total += e->nzu[u];
        th->sparse = (double)total <= MT_SPARSE_MAX_DENSITY * (double)B * m->dims[0];
        if (th->sparse)
            make_beff(e, th);
        run_units(e, th, nu, e->gen + 1, t, T, unit_forward);
    } else {
        th->sparse = e->path == MT_PATH_SPARSE;
        if (th->sparse)
            make_beff(e, th);
        prefetch_next(e, t, T);
        run_units(e, th, nu, e->gen, t, T, unit_gather_forward);
    }
    if (t == 0)
        e->sparse = th->sparse; /* read by others only after the barrier below */
    if (!e->backward || B == 0)
        return; /* evaluation: no further barrier */
    barrier(e, T); /* every row's lists, activations, gradients and loss */

    /* A non-finite loss stops training (mt_train): no gradient, no update. */
    double lsum = 0.0;
    for (int i = 0; i < B; i++)
        lsum += e->losses[i];
    if (!isfinite(lsum)) {
        if (t == 0)
            e->finite = 0;
        return;
    }

    /* b1's gradient (every thread needs it for the sparse rank-1 term) */
    memset(th->cs, 0, (size_t)OC1 * sizeof(float));
    k->colsum_acc(th->cs, e->dact[1], B, OC1);
    if (t == 0)
        memcpy(m->db[0], th->cs, (size_t)OC1 * sizeof(float));

    /* W1^T's chunks (each thread its own range first, so their weights and
     * moments mostly stay in its cache), then the small layers' columns */
    run_units(e, th, e->nch, e->gen + 2, t, T, unit_chunk);
    if (!e->fused && t == 0)
        e->gsq[e->nch] = sumsq(th->cs, (size_t)OC1);
    small_layer_grads(e, t, T);
    if (e->fused)
        small_layer_update(e, t, T);
}

static void step_job(void *arg, int t, int T) { step_thread(arg, t, T); }

/* ---- the update after clipping: each thread what it made ----------------- */

static void update_thread(mt_engine *e, int t, int T)
{
    const int OC1 = e->m->dims[1];
    int j0, j1;
    chunk_split(e, t, T, &j0, &j1);
    for (int j = j0; j < j1; j++) {
        int c0, c1;
        chunk_rows(e, j, &c0, &c1);
        size_t off = (size_t)c0 * OC1, n = (size_t)(c1 - c0) * OC1;
        scale_grads(e->gt1 + off, n, e->clip_f);
        mt_optim_step_buf(&e->ostep, e->wt1 + off, e->gt1 + off, e->mt1 + off, e->vt1 ? e->vt1 + off : NULL,
                          n, e->k);
        chunk_colsum(e, j);
    }
    small_layer_update(e, t, T);
}

static void update_job(void *arg, int t, int T) { update_thread(arg, t, T); }

/* ---- the first layer's master copy <-> m->params and the optimizer -------- */

/* Rows [a,b) of dst (C, OC) = src (OC, C)^T for the weights, and for the
 * optimizer's moments when the engine has an optimizer at hand. */
static void move_w1(const mt_engine *e, float *dw, float *dm, float *dv, const float *sw, const float *sm,
                    const float *sv, int C, int OC, int a, int b)
{
    e->k->transpose(dw, sw, C, OC, a, b);
    if (e->opt) {
        e->k->transpose(dm, sm, C, OC, a, b);
        if (e->opt->v)
            e->k->transpose(dv, sv, C, OC, a, b);
    }
}

static void sync_thread(mt_engine *e, int t, int T)
{
    mt_mlp *m = e->m;
    const int C0 = m->dims[0], OC1 = m->dims[1];
    const size_t w0 = (size_t)(m->w[0] - m->params);
    const mt_optim *o = e->opt;
    int j0, j1;
    chunk_split(e, t, T, &j0, &j1);
    for (int j = j0; j < j1; j++) {
        int c0, c1;
        chunk_rows(e, j, &c0, &c1);
        move_w1(e, e->wt1, e->mt1, e->vt1, m->params + w0, o ? o->m + w0 : NULL, o && o->v ? o->v + w0 : NULL,
                C0, OC1, c0, c1);
        chunk_colsum(e, j);
    }
    for (int l = 1; l < m->n_layers; l++) {
        int c0, c1;
        col_split(m->dims[l], t, T, &c0, &c1);
        e->k->transpose(e->wt[l], m->w[l], m->dims[l], m->dims[l + 1], c0, c1);
    }
}

static void sync_job(void *arg, int t, int T) { sync_thread(arg, t, T); }

/* W1 (OC1, C0) rows [o0,o1) from W1^T: transpose's "C" is OC1, its "OC" C0. */
static void export_thread(mt_engine *e, int t, int T)
{
    mt_mlp *m = e->m;
    const int C0 = m->dims[0], OC1 = m->dims[1];
    const size_t w0 = (size_t)(m->w[0] - m->params);
    mt_optim *o = e->opt;
    int o0, o1;
    col_split(OC1, t, T, &o0, &o1);
    move_w1(e, m->params + w0, o ? o->m + w0 : NULL, o && o->v ? o->v + w0 : NULL, e->wt1, e->mt1, e->vt1, OC1,
            C0, o0, o1);
    if (e->have_gt)
        e->k->transpose(m->grads + w0, e->gt1, OC1, C0, o0, o1);
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

long long mt_engine_single_steps(const mt_engine *e) { return e->n_single; }

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
            free(e->th[t].beff);
            free(e->th[t].cs);
            free(e->th[t].gt);
            free(e->th[t].lists.cnt);
            free(e->th[t].lists.ent);
        }
    for (int l = 0; l <= MT_MAX_LAYERS; l++) {
        if (l < MT_MAX_LAYERS)
            free(e->wt[l]);
        free(e->act[l]);
        free(e->dact[l]);
    }
    free(e->th);
    free(e->nzu);
    free((void *)e->claim);
    free(e->wt1);
    free(e->mt1);
    free(e->vt1);
    free(e->gt1);
    free(e->psum);
    free(e->gsq);
    free(e->px);
    free(e->a0);
    free(e->rows.cnt);
    free(e->rows.idx);
    free(e->rows.val);
    free(e->rows.blk);
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
    e->clip_f = 1.0;
    e->use_all = 1;
    const int L = m->n_layers, C0 = m->dims[0], OC1 = m->dims[1];
    const size_t fs = sizeof(float), w1 = (size_t)C0 * OC1 * fs;
    e->nch = (C0 + W1_CHUNK - 1) / W1_CHUNK;
    int ok = 1;
    for (int l = 1; l < L; l++)
        ok &= (e->wt[l] = mt_alloc_aligned((size_t)m->dims[l] * m->dims[l + 1] * fs)) != NULL;
    for (int l = 1; l <= L; l++) {
        ok &= (e->act[l] = mt_alloc_aligned((size_t)max_B * m->dims[l] * fs)) != NULL;
        ok &= (e->dact[l] = mt_alloc_aligned((size_t)max_B * m->dims[l] * fs)) != NULL;
    }
    ok &= (e->wt1 = mt_alloc_aligned(w1)) != NULL;
    ok &= (e->mt1 = mt_calloc_aligned(w1)) != NULL;
    ok &= (e->vt1 = mt_calloc_aligned(w1)) != NULL;
    ok &= (e->gt1 = mt_alloc_aligned(w1)) != NULL;
    ok &= (e->psum = mt_alloc_aligned((size_t)e->nch * OC1 * fs)) != NULL;
    ok &= (e->gsq = calloc((size_t)e->nch + 1, sizeof *e->gsq)) != NULL;
    e->rows.ld = (C0 + 16 + 15) / 16 * 16;
    e->rows.nblk = (C0 + MT_SP_CHUNK - 1) / MT_SP_CHUNK;
    ok &= (e->px = mt_alloc_aligned((size_t)max_B * C0)) != NULL;
    ok &= (e->a0 = mt_alloc_aligned((size_t)max_B * C0 * fs)) != NULL;
    ok &= (e->rows.cnt = mt_alloc_aligned((size_t)max_B * sizeof(int))) != NULL;
    ok &= (e->rows.idx = mt_alloc_aligned((size_t)max_B * e->rows.ld * sizeof(int))) != NULL;
    ok &= (e->rows.val = mt_alloc_aligned((size_t)max_B * e->rows.ld * fs)) != NULL;
    ok &= (e->rows.blk = mt_alloc_aligned((size_t)max_B * e->rows.nblk * sizeof(int))) != NULL;
    ok &= (e->labels = malloc((size_t)max_B)) != NULL;
    ok &= (e->losses = mt_alloc_aligned((size_t)max_B * fs)) != NULL;
    ok &= (e->th = calloc((size_t)nthreads, sizeof *e->th)) != NULL;
    size_t units = (size_t)(max_B + ROW_UNIT - 1) / ROW_UNIT > (size_t)e->nch
                 ? (size_t)(max_B + ROW_UNIT - 1) / ROW_UNIT : (size_t)e->nch;
    ok &= (e->nzu = calloc(units, sizeof *e->nzu)) != NULL;
    ok &= (e->claim = calloc(units, sizeof *e->claim)) != NULL;
    for (int t = 0; ok && t < nthreads; t++) {
        ok &= (e->th[t].beff = mt_alloc_aligned((size_t)OC1 * fs)) != NULL;
        ok &= (e->th[t].cs = mt_alloc_aligned((size_t)OC1 * fs)) != NULL;
        ok &= (e->th[t].gt = mt_alloc_aligned((size_t)W1_CHUNK * OC1 * fs)) != NULL;
        ok &= (e->th[t].lists.cnt = mt_alloc_aligned(mt_kern_sparse_lists_cnt_size(W1_CHUNK))) != NULL;
        ok &= (e->th[t].lists.ent = mt_alloc_aligned(mt_kern_sparse_lists_ent_size(max_B, W1_CHUNK))) != NULL;
    }
    if (!ok) {
        st = mt_errf(err, MT_ENOMEM, "engine: out of memory for batches of %d", max_B);
        goto fail;
    }
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

/* The batch of the next pool run: B rows idx of images (and labels), or,
 * without idx, the B consecutive images at px. */
static void set_job(mt_engine *e, const uint8_t *images, const uint8_t *labels, const uint32_t *idx, int B,
                    float scale, float shift, const uint8_t *px)
{
    e->src_images = images;
    e->src_labels = labels;
    e->idx = idx;
    e->B = B;
    e->scale = scale;
    e->shift = shift;
    e->pxp = px;
}

/* Results do not depend on the thread count, so each step may run on all
 * threads or on the caller's alone, whichever is faster now: on a shared
 * machine a second vCPU can be slower than none (the host runs something
 * else on it).  Every PROBE_EVERY steps, PROBE_LEN steps are timed on one
 * thread, then PROBE_LEN on all; the faster choice runs until the next probe. */
#define PROBE_EVERY 512
#define PROBE_LEN 16

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void run_step(mt_engine *e, mt_pool_fn job)
{
    if (e->T == 1) {
        mt_pool_run(e->pool, job, e);
        return;
    }
    long long ph = e->n_steps % PROBE_EVERY;
    int all = ph < PROBE_LEN ? 0 : ph < 2 * PROBE_LEN ? 1 : e->use_all;
    double t0 = ph < 2 * PROBE_LEN ? wall_s() : 0.0;
    if (all)
        mt_pool_run(e->pool, job, e);
    else
        job(e, 0, 1);
    if (ph < 2 * PROBE_LEN) {
        if (ph == 0)
            e->probe_s[0] = e->probe_s[1] = 0.0;
        e->probe_s[all] += wall_s() - t0;
        if (ph == 2 * PROBE_LEN - 1)
            e->use_all = e->probe_s[1] < e->probe_s[0];
    }
    e->n_single += !all;
    e->n_steps++;
}

double mt_engine_step(mt_engine *e, mt_optim *o, const uint8_t *images, const uint8_t *labels,
                      const uint32_t *idx, int B, float scale, float shift, uint8_t *labels_out)
{
    set_job(e, images, labels, idx, B, scale, shift, e->px);
    e->backward = 1;
    e->finite = 1;
    e->clip_f = 1.0;
    e->fused = !(e->clip > 0.f);
    e->have_gt = !e->fused;
    e->ostep = *o;
    mt_optim_begin_step(&e->ostep); /* o itself advances only if the step is taken */
    e->gen += 4;
    run_step(e, step_job);
    e->pf_idx = NULL;
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
        /* the global norm, summed in a fixed order (W1's chunks, b1, then
         * the small layers) whatever the thread split */
        const mt_mlp *m = e->m;
        double ss = 0.0;
        for (int j = 0; j <= e->nch; j++)
            ss += e->gsq[j];
        for (int l = 1; l < m->n_layers; l++)
            ss += sumsq(m->dw[l], (size_t)m->dims[l] * m->dims[l + 1]) + sumsq(m->db[l], (size_t)m->dims[l + 1]);
        e->gnorm = sqrt(ss);
        double f = (double)e->clip / (e->gnorm + 1e-6);
        if (isfinite(e->gnorm) && f < 1.0)
            e->clip_f = f;
        mt_pool_run(e->pool, update_job, e); /* rare (clipping): always on all threads */
    }
    o->step = e->ostep.step;
    o->bc1 = e->ostep.bc1;
    o->bc2 = e->ostep.bc2;
    return sum;
}

void mt_engine_prefetch(mt_engine *e, const uint8_t *images, const uint32_t *idx, int B)
{
    e->pf_images = images;
    e->pf_idx = idx;
    e->pf_B = B;
}

void mt_engine_forward(mt_engine *e, const uint8_t *images, int B, float scale, float shift,
                       float *logits)
{
    const int C0 = e->m->dims[0], K = e->m->dims[e->m->n_layers];
    for (int r = 0; r < B; r += e->max_B) {
        int n = B - r < e->max_B ? B - r : e->max_B;
        set_job(e, images, NULL, NULL, n, scale, shift, images + (size_t)r * C0);
        e->backward = 0;
        e->gen += 4;
        mt_pool_run(e->pool, step_job, e);
        memcpy(logits + (size_t)r * K, e->act[e->m->n_layers], (size_t)n * K * sizeof *logits);
    }
}
