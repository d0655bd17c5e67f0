/* mt_engine: the threaded training step and evaluation forward .
 * The first layer's outputs are split into SEGMENTS, one per working thread
 * (min(threads, ceil(OC1 / 64)) of them; a single layer, whose outputs are
 * the logits, is one segment).  A segment owns, for the whole run, its
 * columns of the first layer: its block of W1^T (C0, sw), its b1 and its
 * rows of W2^T (sw, OC2), with their optimizer moments and gradients, its
 * activations and its part of layer 2's sums — each in its own
 * page-aligned, page-padded allocation, so no core reads a line another
 * core wrote (hardware prefetchers included) but in one exchange per step:
 * layer 2's partial sums (64 rows x 64 floats per segment; besides them
 * only the labels and the small layers' weights cross).  Each working
 * thread reads the whole batch itself (its own copy, row lists and column
 * masks; with augmentation, the threads first warp a share of the rows
 * each, behind a barrier of its own).  A training step is one pool run
 * with one barrier: segments' forward and layer 2's partial sums | every working thread adds them up
 * and runs the small layers above, the loss and the gradients down to
 * dact2 for all rows itself (cheaper than exchanging them), then its
 * segments' backward, W1^T's gradient and update by chunks, b1 and W2's
 * update, and the small layers' gradients and update on its own copy of
 * them (thread 0's are m's; the copies get the same floats, so those
 * weights never cross cores either).
 * Segments change where floats live and who computes them, never a chain of
 * operations (layer 2's sum is one chain per 64-column group of the first
 * layer, the groups added in order), so results are bit-identical for any
 * thread count.  Does not print, does not allocate after create. */
#include "mt_engine.h"
#include "mt_mem.h"
#include "mt_augment.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

#define SEG_ALIGN 64 /* segment widths are multiples of this (the clipping norm's groups) */

/* One segment's state (see the top): all (C0, sw), (sw), (sw, OC2) or
 * (max_B, sw) blocks, each in its own page-padded allocation. */
typedef struct {
    float *w1t, *m1, *v1, *g1;       /* (C0, sw) W1^T's columns, moments, whole gradient (clipping) */
    float *psum;                     /* (nch, sw) column sums of each chunk of w1t */
    float *b1, *mb1, *vb1, *gb1;     /* (sw) b1, moments, gradient */
    float *w2t, *mw2, *vw2, *gw2;    /* (sw, OC2) W2^T's rows, moments, gradient */
    float *w2c;                      /* (OC2, sw) W2's columns (a copy of w2t^T for dact1) */
    float *a1, *d1;                  /* (max_B, sw) outputs of layer 1 and their gradients */
    float *beff;                     /* (sw) b1 + shift * colsum(w1t): the sparse forward's bias */
    float *q;                        /* (ceil(sw / 64), max_B, OC2) layer 2's partial sums, one
                                        per 64-column group of the segment (see layer2_sum) */
    float *gt;                       /* (W1_CHUNK, sw) one chunk's gradient (fused update) */
} seg;

/* The layers above the first: outputs act[l] and gradients dact[l] (max_B,
 * dims[l]) for l >= 2 (dact[1], the logits' gradient of a single layer, is
 * its segment's d1), and the rows' losses (max_B). */
typedef struct {
    float *act[MT_MAX_LAYERS + 1], *dact[MT_MAX_LAYERS + 1], *losses;
} upper;

/* The parameters above the first layer's (b2 and every one after it: the
 * tail [lo, n_params) of m's params, see tail_lo) with their gradients,
 * moments and W^T copies.  Thread 0's blocks are m's own (params, grads,
 * the optimizer's moments); every other working thread keeps a copy of it
 * all and makes the same update on it each step. */
typedef struct {
    float *p, *g, *m, *v;            /* (n_params - lo) */
    float *wt[MT_MAX_LAYERS];        /* (dims[l], dims[l+1]) = w[l]^T for l >= 2 */
} tail;

/* A working thread's own copy of the batch, and of the layers above. */
typedef struct {
    uint8_t *px;                     /* (max_B, C0) raw pixels of the batch (training) */
    const uint8_t *pxp;              /* the batch's pixels: px, or the caller's
                                        contiguous images (forward only) */
    float *a0;                       /* (max_B, C0) normalised input (dense path) */
    mt_sp_rows rows;                 /* the batch's row lists (sparse path) */
    uint64_t *masks;                 /* (C0, ceil(max_B / 64)) the batch's column masks (sparse training) */
    int sparse;                      /* this step's path (the same on every thread) */
    upper up;                        /* training: every working thread runs the layers above for
                                        all rows (cheaper than exchanging them); thread 0's is e->up */
    tail tl;                         /* the layers above's parameters (thread 0's: m's, see tail) */
} thr;

struct mt_engine {
    mt_mlp *m;                       /* borrowed */
    const mt_kern *k;
    mt_pool *pool;
    int T;                           /* threads */
    int S, SW;                       /* segments and their width (the last may be narrower) */
    int NG;                          /* 64-column groups of the first layer (clipping norm) */
    mt_path path;
    int max_B;
    int nch;                         /* first-layer pixel chunks: ceil(C0 / W1_CHUNK) */
    seg *sg;                         /* (S) */
    thr **th;                        /* (S) each in its own page */
    double *gsq;                     /* (nch, NG) squared W1 gradient sums (clipping) */
    int tails_stale;                 /* the other threads' tails must be copied from thread 0's */
    uint8_t *labels;                 /* (max_B) */
    upper up;                        /* thread 0's layers above (evaluation: rows split between threads) */
    mt_probe probe;                  /* adaptive thread count (run_step) */
    long long n_steps, n_single;     /* steps taken, and how many on one thread */
    mt_probe fprobe;                 /* the same for evaluation's forward runs (run_forward) */
    long long n_fwd;                 /* forward runs so far */
    long long n_dense, n_sparse;
    float clip;                      /* max global L2 norm of the gradients; 0 = off */
    float label_smoothing;           /* the loss's CrossEntropyLoss label_smoothing; 0 = off */
    double gnorm;                    /* global norm of the last step's gradients (when clip) */
    int have_gt;                     /* g1 holds the last step's whole (clipped) gradient */
    mt_augment aug;                  /* augmentation; active when aug_on */
    int aug_on, aug_rows, aug_cols;
    uint64_t aug_seed;
    uint64_t aug_step;               /* batches augmented so far */
    mt_warp_fn warp;                 /* the kernels' warp (the reference's bytes) */
    uint8_t *aug_px;                 /* (max_B, C0) the batch's warped rows: the threads of a
                                        step warp a share of the rows each, all read them all */

    /* the next batch's rows (mt_engine_prefetch), fetched by every working
     * thread a few at a time during a step's W1 chunks */
    const uint8_t *pf_images;
    const uint32_t *pf_idx;
    int pf_B;

    /* the current job */
    const uint8_t *src_images, *src_labels;
    const uint32_t *idx;
    const uint8_t *pxp;              /* forward only: the caller's contiguous images */
    int B, sparse, backward, fused;
    float scale, shift;
    float lut[256];                  /* an entry's value by its pixel: pixel * scale */
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

/* The segments [s0,s1) thread t of T owns: segment t on all threads, or all
 * of them on one (run_step's single-thread steps). */
static void owned(const mt_engine *e, int t, int T, int *s0, int *s1)
{
    if (T >= e->S) {
        *s0 = t < e->S ? t : e->S;
        *s1 = t < e->S ? t + 1 : e->S;
    } else {
        row_split(e->S, t, T, s0, s1);
    }
}

/* W1^T's gradient rows are made and applied in chunks of W1_CHUNK pixels
 * (a chunk's gradient stays in L1 between the two).  The chunks also fix
 * the order of b1's effective bias sums (psum), so a change of W1_CHUNK
 * changes results in the last bits. */
#ifndef W1_CHUNK
#define W1_CHUNK 96
#endif

static void chunk_rows(const mt_engine *e, int j, int *c0, int *c1)
{
    const int C0 = e->m->dims[0];
    *c0 = j * W1_CHUNK;
    *c1 = C0 - *c0 < W1_CHUNK ? C0 : *c0 + W1_CHUNK;
}

/* Segment s: its first output column and its width. */
static int scol(const mt_engine *e, int s) { return s * e->SW; }

static int swidth(const mt_engine *e, int s)
{
    int rest = e->m->dims[1] - scol(e, s);
    return rest < e->SW ? rest : e->SW;
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

static void scale_grads(float *g, size_t n, double f)
{
    if (f < 1.0)
        for (size_t i = 0; i < n; i++)
            g[i] = (float)(g[i] * f);
}

/* psum of segment s, chunk j = column sums of that chunk of w1t, rows ascending. */
static void chunk_colsum(mt_engine *e, int s, int j)
{
    const seg *g = &e->sg[s];
    const int sw = swidth(e, s);
    int c0, c1;
    chunk_rows(e, j, &c0, &c1);
    float *ps = g->psum + (size_t)j * sw;
    memset(ps, 0, (size_t)sw * sizeof *ps);
    e->k->colsum_acc(ps, g->w1t + (size_t)c0 * sw, c1 - c0, sw);
}

/* The engine's threads flush denormal floats to zero while they work (x86:
 * MXCSR's FTZ and DAZ; AArch64: FPCR.FZ), as TensorFlow does by default and
 * torch.set_flush_denormal(True) does.  Adam's first moment of a parameter
 * whose gradient stays 0 (a hidden unit that never fires) decays by 0.9 a
 * step into the denormal range within ~850 steps, and on many x86 cores
 * every operation with a denormal result then takes a slow path (whole
 * epochs measurably slower: docs/speed.md).  Only values below 1.2e-38
 * change (to 0); every thread flushes, so results stay independent of the
 * thread count. */
#if defined(__x86_64__) || defined(__i386__)
typedef unsigned fp_mode;
static fp_mode fp_flush(void)
{
    fp_mode m = _mm_getcsr();
    _mm_setcsr(m | 0x8040u); /* FTZ (bit 15) | DAZ (bit 6) */
    return m;
}
static void fp_restore(fp_mode m) { _mm_setcsr(m); }
#elif defined(__aarch64__)
typedef uint64_t fp_mode;
static fp_mode fp_flush(void)
{
    fp_mode m;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(m));
    __asm__ __volatile__("msr fpcr, %0" : : "r"(m | (1ull << 24))); /* FZ */
    return m;
}
static void fp_restore(fp_mode m) { __asm__ __volatile__("msr fpcr, %0" : : "r"(m)); }
#else
typedef int fp_mode;
static fp_mode fp_flush(void) { return 0; }
static void fp_restore(fp_mode m) { (void)m; }
#endif

/* A run on one thread (see run_step) has no partner to wait for. */
static void barrier(mt_engine *e, int T)
{
    if (T > 1)
        mt_pool_barrier(e->pool);
}

/* ---- one step (or one evaluation batch) ---------------------------------- */

/* Thread t of T's share of the batch's rows, warped into aug_px.  Each
 * row's transform comes from an rng seeded by (seed, augmentation step,
 * row), so who warps it does not matter.  Warping is the dearest part of an
 * augmented step, so unlike the rest of the batch it is split, at the cost
 * of a barrier and of reading the other threads' rows. */
static void augment_rows(mt_engine *e, int t, int T)
{
    const int C0 = e->m->dims[0];
    int r0, r1;
    row_split(e->B, t, T, &r0, &r1);
    for (int i = r0; i < r1; i++) {
        mt_rng r;
        mt_rng_seed(&r, mix64(e->aug_seed ^ mix64(e->aug_step * 0x100000001b3ull + (uint64_t)i)));
        mt_augment_random_with(e->aug_px + (size_t)i * C0, e->src_images + (size_t)e->idx[i] * C0,
                               e->aug_rows, e->aug_cols, &e->aug, &r, e->warp);
    }
}

/* The whole batch into th: gathered (or aug_px's warped) rows, their non-zero
 * lists (unless the path is dense), the path, and the normalised rows for
 * the dense path.  Thread 0 also gathers the labels. */
static void prepare_batch(mt_engine *e, thr *th, int t)
{
    const int C0 = e->m->dims[0], B = e->B, aug = e->idx && e->aug_on;
    long long nz = 0;
    th->pxp = aug ? e->aug_px : e->idx ? th->px : e->pxp;
    for (int i = 0; e->idx && i < B; i++) {
        if (!aug) /* listing a cold row in place is slower */
            memcpy(th->px + (size_t)i * C0, e->src_images + (size_t)e->idx[i] * C0, (size_t)C0);
        if (t == 0 && e->src_labels)
            e->labels[i] = e->src_labels[e->idx[i]];
    }
    /* the lists in a second pass: the listing's masked loads cannot take
     * bytes from the copy's stores still in flight (a stall per load) */
    for (int i = 0; e->path != MT_PATH_DENSE && i < B; i++) {
        size_t off = (size_t)i * th->rows.ld;
        th->rows.cnt[i] = e->k->sparse_row_list(th->rows.ent + off, th->rows.blk + (size_t)i * th->rows.nblk,
                                                th->pxp + (size_t)i * C0, C0);
        nz += th->rows.cnt[i];
    }
    th->sparse = e->path == MT_PATH_SPARSE
              || (e->path == MT_PATH_AUTO && (double)nz <= MT_SPARSE_MAX_DENSITY * (double)B * C0);
    if (th->sparse && e->backward)
        e->k->sparse_masks(th->masks, th->pxp, C0, B, 0, C0);
    if (!th->sparse)
        e->k->u8_to_f32(th->a0, th->pxp, (size_t)B * C0, e->scale, e->shift);
}

/* Segment s's first-layer outputs for every row, then its groups' partial
 * sums of layer 2 (see layer2_sum). */
static void forward_segment(mt_engine *e, thr *th, int s)
{
    const mt_kern *k = e->k;
    seg *g = &e->sg[s];
    const int L = e->m->n_layers, C0 = e->m->dims[0], sw = swidth(e, s), B = e->B;
    if (th->sparse) {
        /* beff = b1 + shift * (the chunks' column sums, in chunk order) */
        memset(g->beff, 0, (size_t)sw * sizeof *g->beff);
        k->colsum_acc(g->beff, g->psum, e->nch, sw);
        for (int o = 0; o < sw; o++)
            g->beff[o] = g->b1[o] + e->shift * g->beff[o];
        k->sparse_fwd_rows(g->a1, &th->rows, g->w1t, g->beff, B, sw, L > 1);
    } else {
        k->linear_fwd_t(g->a1, th->a0, g->w1t, g->b1, B, C0, sw, L > 1);
    }
    if (L < 2)
        return;
    const int OC2 = e->m->dims[2];
    for (int c = 0; c < sw; c += SEG_ALIGN)
        k->linear_fwd_t_acc(g->q + (size_t)(c / SEG_ALIGN) * e->max_B * OC2, g->a1 + c, sw,
                            g->w2t + (size_t)c * OC2, NULL, B, sw - c < SEG_ALIGN ? sw - c : SEG_ALIGN, OC2, 0, 0,
                            0);
}

/* Layer 2's outputs, rows [r0,r1) of act2: the partial sums of the first
 * layer's 64-column groups added in group order, then b2 and ReLU (relu).
 * Each group's sum is made by the thread that owns its columns, so only
 * these sums cross between cores; the groups are the same for any thread
 * count.  (Kernels: the rows as one vector for colsum_acc; bias and ReLU
 * from linear_fwd_t_acc's epilogue over an empty input.) */
static void layer2_sum(const mt_engine *e, float *act2, const float *b2, int r0, int r1, int relu)
{
    const int OC2 = e->m->dims[2], n = (r1 - r0) * OC2;
    float *y = act2 + (size_t)r0 * OC2;
    for (int gg = 0; gg < e->NG; gg++) {
        const int sgi = gg * SEG_ALIGN / e->SW, local = gg - scol(e, sgi) / SEG_ALIGN;
        const float *q = e->sg[sgi].q + ((size_t)local * e->max_B + r0) * OC2;
        if (gg == 0)
            memcpy(y, q, (size_t)n * sizeof *y);
        else
            e->k->colsum_acc(y, q, 1, n);
    }
    e->k->linear_fwd_t_acc(y, e->sg[0].q, 0, e->sg[0].q, b2, r1 - r0, 0, OC2, relu, 1, 1); /* nothing read */
}

/* Where the tail starts in m's params (b2), and x (a tensor of m's params or
 * grads, base) in a tail's block tb (its p or its g). */
static size_t tail_lo(const mt_mlp *m) { return m->n_layers > 1 ? (size_t)(m->b[1] - m->params) : m->n_params; }

static float *in_tail(const mt_mlp *m, float *tb, const float *x, const float *base)
{
    return tb + (x - base) - tail_lo(m);
}

/* The logits of a single layer (one segment) are its a1; of more, u's act[L]. */
static const float *logits_of(const mt_engine *e, const upper *u)
{
    return e->m->n_layers > 1 ? u->act[e->m->n_layers] : e->sg[0].a1;
}

/* The layers above the first for rows [r0,r1) of the batch, into u: layer
 * 2 (layer2_sum) and the ones above, and for training the loss and the
 * gradients down to dact[2] (dact[1], the logits', for a single layer).
 * Everything here is per row. */
static void middle(mt_engine *e, const upper *u, const tail *tl, int r0, int r1)
{
    mt_mlp *m = e->m;
    const mt_kern *k = e->k;
    const int L = m->n_layers, K = m->dims[L], nb = r1 - r0;
    if (nb <= 0)
        return;
    if (L > 1)
        layer2_sum(e, u->act[2], in_tail(m, tl->p, m->b[1], m->params), r0, r1, L > 2);
    for (int l = 2; l < L; l++) {
        const int C = m->dims[l], OC = m->dims[l + 1];
        k->linear_fwd_t(u->act[l + 1] + (size_t)r0 * OC, u->act[l] + (size_t)r0 * C, tl->wt[l],
                        in_tail(m, tl->p, m->b[l], m->params), nb, C, OC, l + 1 < L);
    }
    if (!e->backward)
        return;
    float *dlogits = L > 1 ? u->dact[L] : e->sg[0].d1;
    k->softmax_xent_ls(dlogits + (size_t)r0 * K, u->losses + r0, logits_of(e, u) + (size_t)r0 * K, e->labels + r0,
                       nb, K, 1.f / (float)e->B, e->label_smoothing);
    for (int l = L - 1; l >= 2; l--) {
        const int C = m->dims[l], OC = m->dims[l + 1];
        k->linear_bwd_x(u->dact[l] + (size_t)r0 * C, u->dact[l + 1] + (size_t)r0 * OC,
                        in_tail(m, tl->p, m->w[l], m->params), u->act[l] + (size_t)r0 * C, nb, C, OC);
    }
}

/* Segment s's input gradient d1, b1's gradient (also the sparse gradient's
 * rank-1 term) and its rows of W2^T's gradient, from dact2. */
static void backward_segment(mt_engine *e, int s, const float *dact2)
{
    const mt_kern *k = e->k;
    seg *g = &e->sg[s];
    const int sw = swidth(e, s), B = e->B;
    if (e->m->n_layers > 1) {
        const int OC2 = e->m->dims[2];
        k->linear_bwd_x(g->d1, dact2, g->w2c, g->a1, B, sw, OC2);
        k->linear_bwd_wt(g->gw2, dact2, g->a1, B, sw, OC2, 0, sw);
    }
    memset(g->gb1, 0, (size_t)sw * sizeof *g->gb1);
    k->colsum_acc(g->gb1, g->d1, B, sw);
}

/* Squared sums of chunk j's gradient rows (rows, sw) of segment s per
 * 64-column group: the same groups and order for any segmentation. */
static void chunk_sumsq(mt_engine *e, const float *gt, int rows, int s, int j)
{
    const int sw = swidth(e, s);
    for (int q0 = 0; q0 < sw; q0 += SEG_ALIGN) {
        int qw = sw - q0 < SEG_ALIGN ? sw - q0 : SEG_ALIGN;
        double ss = 0.0;
        for (int r = 0; r < rows; r++)
            ss += sumsq(gt + (size_t)r * sw + q0, (size_t)qw);
        e->gsq[(size_t)j * e->NG + (scol(e, s) + q0) / SEG_ALIGN] = ss;
    }
}

/* W1^T's chunks for segments [s0,s1): each segment's gradient rows (sparse:
 * from the batch's column masks, a bit per row with a non-zero pixel
 * there), applied at once (fused) or kept whole. */
static void w1_chunks(mt_engine *e, thr *th, int s0, int s1)
{
    const mt_kern *k = e->k;
    const int C0 = e->m->dims[0], B = e->B, nw = (B + 63) / 64;
    for (int j = 0; j < e->nch; j++) {
        int c0, c1;
        chunk_rows(e, j, &c0, &c1);
        /* the next batch's rows, a share per chunk: issued all at once they
         * stall on full miss buffers; here they arrive while the chunks
         * compute (the next step's copy then takes ~4k cycles, not ~16k).
         * Written inline: GCC 12 drops calls to a function whose only
         * effect is __builtin_prefetch. */
        for (int i = e->pf_B * j / e->nch; e->pf_idx && i < e->pf_B * (j + 1) / e->nch; i++)
            for (int off = 0; off < C0; off += 64)
                __builtin_prefetch(e->pf_images + (size_t)e->pf_idx[i] * C0 + off, 0, 1);
        for (int s = s0; s < s1; s++) {
            seg *g = &e->sg[s];
            const int sw = swidth(e, s);
            const size_t off = (size_t)c0 * sw, n = (size_t)(c1 - c0) * sw;
            float *gt = e->fused ? g->gt : g->g1 + off;
            if (!th->sparse)
                k->linear_bwd_wt(gt, g->d1, th->a0, B, C0, sw, c0, c1);
            else
                k->sparse_bwd_masks(gt, g->d1, g->gb1, th->masks + (size_t)c0 * nw, th->pxp, C0, e->lut, B, sw,
                                    e->shift, c0, c1);
            if (e->fused) {
                mt_optim_step_buf(&e->ostep, g->w1t + off, gt, g->m1 + off, g->v1 + off, n, k);
                chunk_colsum(e, s, j);
            } else {
                chunk_sumsq(e, gt, c1 - c0, s, j);
            }
        }
    }
}

/* Segment s's b1 and W2^T rows: the update (gradients scaled by clip_f),
 * then W2's columns copy. */
static void update_segment(mt_engine *e, int s)
{
    seg *g = &e->sg[s];
    const int sw = swidth(e, s);
    scale_grads(g->gb1, (size_t)sw, e->clip_f);
    mt_optim_step_buf(&e->ostep, g->b1, g->gb1, g->mb1, g->vb1, (size_t)sw, e->k);
    if (e->m->n_layers < 2)
        return;
    const int OC2 = e->m->dims[2];
    scale_grads(g->gw2, (size_t)sw * OC2, e->clip_f);
    mt_optim_step_buf(&e->ostep, g->w2t, g->gw2, g->mw2, g->vw2, (size_t)sw * OC2, e->k);
    e->k->transpose(g->w2c, g->w2t, OC2, sw, 0, OC2);
}

/* The gradients of b2 and of the layers above (whole: small) into tl, from
 * u (the same thread's copy of the layers above). */
static void middle_grads(mt_engine *e, const upper *u, const tail *tl)
{
    mt_mlp *m = e->m;
    const int L = m->n_layers, B = e->B;
    if (L < 2)
        return;
    float *db2 = in_tail(m, tl->g, m->db[1], m->grads);
    memset(db2, 0, (size_t)m->dims[2] * sizeof(float));
    e->k->colsum_acc(db2, u->dact[2], B, m->dims[2]);
    for (int l = 2; l < L; l++) {
        int C = m->dims[l], OC = m->dims[l + 1];
        float *dw = in_tail(m, tl->g, m->dw[l], m->grads), *db = in_tail(m, tl->g, m->db[l], m->grads);
        memset(dw, 0, (size_t)OC * C * sizeof(float));
        memset(db, 0, (size_t)OC * sizeof(float));
        e->k->linear_bwd_w(dw, db, u->dact[l + 1], u->act[l], B, C, OC);
    }
}

/* ... their update (gradients scaled by clip_f), and their W^T copies. */
static void middle_update(mt_engine *e, const tail *tl)
{
    mt_mlp *m = e->m;
    const int L = m->n_layers;
    if (L < 2)
        return;
    const size_t n = m->n_params - tail_lo(m);
    scale_grads(tl->g, n, e->clip_f);
    mt_optim_step_buf(&e->ostep, tl->p, tl->g, tl->m, e->ostep.v ? tl->v : NULL, n, e->k);
    for (int l = 2; l < L; l++)
        e->k->transpose(tl->wt[l], in_tail(m, tl->p, m->w[l], m->params), m->dims[l], m->dims[l + 1], 0,
                        m->dims[l]);
}

/* dst := src (thread 0's tail), for a thread that did not take part in the
 * steps since its copy was made (or after a sync). */
static void tail_copy(const mt_engine *e, const tail *dst, const tail *src)
{
    const mt_mlp *m = e->m;
    const size_t n = (m->n_params - tail_lo(m)) * sizeof(float);
    memcpy(dst->p, src->p, n);
    if (src->m)
        memcpy(dst->m, src->m, n);
    if (src->v)
        memcpy(dst->v, src->v, n);
    for (int l = 2; l < m->n_layers; l++)
        memcpy(dst->wt[l], src->wt[l], (size_t)m->dims[l] * m->dims[l + 1] * sizeof(float));
}

static void step_thread(mt_engine *e, int t, int T)
{
    int s0, s1;
    owned(e, t, T, &s0, &s1);
    thr *th = s0 < s1 ? e->th[t] : NULL;

    if (e->idx && e->aug_on) {
        augment_rows(e, t, T);
        barrier(e, T); /* the warped rows */
    }
    /* before the segments' barrier: each working thread reads the whole batch
     * and makes its segments' outputs (and a thread whose tail is stale
     * copies thread 0's, which changes only after the barrier) */
    if (th) {
        if (t > 0 && e->tails_stale)
            tail_copy(e, &th->tl, &e->th[0]->tl);
        prepare_batch(e, th, t);
        for (int s = s0; s < s1; s++)
            forward_segment(e, th, s);
        if (t == 0)
            e->sparse = th->sparse;
    }
    barrier(e, T); /* the segments' a1 and layer 2's partial sums */
    if (!th)
        return;
    const int nw = T < e->S ? T : e->S; /* working threads */
    if (!e->backward) { /* evaluation: the working threads split the rows */
        int r0, r1;
        row_split(e->B, t, nw, &r0, &r1);
        middle(e, &e->up, &e->th[0]->tl, r0, r1);
        return;
    }
    middle(e, &th->up, &th->tl, 0, e->B);
    double lsum = 0.0;
    for (int i = 0; i < e->B; i++)
        lsum += th->up.losses[i];
    if (!isfinite(lsum) || e->B == 0)
        return; /* a non-finite loss stops training (mt_train): no update */

    for (int s = s0; s < s1; s++)
        backward_segment(e, s, th->up.dact[2]);
    w1_chunks(e, th, s0, s1);
    if (e->fused)
        for (int s = s0; s < s1; s++)
            update_segment(e, s);
    middle_grads(e, &th->up, &th->tl);
    if (e->fused)
        middle_update(e, &th->tl);
}

static void step_job(void *arg, int t, int T)
{
    fp_mode m = fp_flush();
    step_thread(arg, t, T);
    fp_restore(m);
}

/* ---- the update after clipping: each thread what it made ----------------- */

static void update_thread(mt_engine *e, int t, int T)
{
    int s0, s1;
    owned(e, t, T, &s0, &s1);
    for (int s = s0; s < s1; s++) {
        seg *g = &e->sg[s];
        const int sw = swidth(e, s);
        for (int j = 0; j < e->nch; j++) {
            int c0, c1;
            chunk_rows(e, j, &c0, &c1);
            size_t off = (size_t)c0 * sw, n = (size_t)(c1 - c0) * sw;
            scale_grads(g->g1 + off, n, e->clip_f);
            mt_optim_step_buf(&e->ostep, g->w1t + off, g->g1 + off, g->m1 + off, g->v1 + off, n, e->k);
            chunk_colsum(e, s, j);
        }
        update_segment(e, s);
    }
    if (t == 0) /* the other threads' tails are stale after this (mt_engine_step) */
        middle_update(e, &e->th[0]->tl);
}

static void update_job(void *arg, int t, int T)
{
    fp_mode m = fp_flush();
    update_thread(arg, t, T);
    fp_restore(m);
}

/* ---- the segments' state <-> m->params, m->grads and the optimizer -------- */

/* Moves segment s's b1 and W2 columns between the flat vector v (params,
 * grads or a moment, torch layout) and its (sw) and (sw, OC2) blocks. */
static void move_b1w2(const mt_engine *e, int s, float *v, float *b1, float *w2t, int to_flat)
{
    const mt_mlp *m = e->m;
    const int sw = swidth(e, s), c = scol(e, s);
    float *fb = v + (m->b[0] - m->params) + c;
    if (to_flat)
        memcpy(fb, b1, (size_t)sw * sizeof *fb);
    else
        memcpy(b1, fb, (size_t)sw * sizeof *fb);
    if (m->n_layers < 2)
        return;
    const int OC1 = m->dims[1], OC2 = m->dims[2];
    float *fw = v + (m->w[1] - m->params) + c;
    for (int r = 0; r < sw; r++)
        for (int o = 0; o < OC2; o++) {
            if (to_flat)
                fw[(size_t)o * OC1 + r] = w2t[(size_t)r * OC2 + o];
            else
                w2t[(size_t)r * OC2 + o] = fw[(size_t)o * OC1 + r];
        }
}

/* Segment s's W1^T block, b1 and W2^T rows from the flat vector v (params,
 * grads or a moment, torch layout), or to it when to_flat. */
static void move_segment(const mt_engine *e, int s, float *v, float *w1t, float *b1, float *w2t, int to_flat)
{
    const mt_mlp *m = e->m;
    const int C0 = m->dims[0], sw = swidth(e, s);
    float *w1 = v + (m->w[0] - m->params) + (size_t)scol(e, s) * C0; /* the segment's rows of W1 (sw, C0) */
    if (to_flat)
        e->k->transpose(w1, w1t, sw, C0, 0, sw);
    else
        e->k->transpose(w1t, w1, C0, sw, 0, C0);
    move_b1w2(e, s, v, b1, w2t, to_flat);
}

/* Segment s's blocks from m->params (and o's moments when o is set), by its
 * own thread (so its pages and lines start in that core's cache). */
static void sync_thread(mt_engine *e, int t, int T)
{
    mt_mlp *m = e->m;
    const int L = m->n_layers;
    const mt_optim *o = e->opt;
    int s0, s1;
    owned(e, t, T, &s0, &s1);
    for (int s = s0; s < s1; s++) {
        seg *g = &e->sg[s];
        const int sw = swidth(e, s);
        move_segment(e, s, m->params, g->w1t, g->b1, g->w2t, 0);
        if (o)
            move_segment(e, s, o->m, g->m1, g->mb1, g->mw2, 0);
        if (o && o->v)
            move_segment(e, s, o->v, g->v1, g->vb1, g->vw2, 0);
        for (int j = 0; j < e->nch; j++)
            chunk_colsum(e, s, j);
        if (L > 1)
            e->k->transpose(g->w2c, g->w2t, m->dims[2], sw, 0, m->dims[2]);
    }
    if (t == 0)
        for (int l = 2; l < L; l++)
            e->k->transpose(e->th[0]->tl.wt[l], m->w[l], m->dims[l], m->dims[l + 1], 0, m->dims[l]);
}

static void sync_job(void *arg, int t, int T) { sync_thread(arg, t, T); }

/* The segments' blocks back to m->params, their gradients to m->grads (W1's
 * after a clipped step only: fused steps never make it whole) and, when o is
 * set, their moments to o. */
static void export_thread(mt_engine *e, int t, int T)
{
    mt_mlp *m = e->m;
    mt_optim *o = e->opt;
    int s0, s1;
    owned(e, t, T, &s0, &s1);
    for (int s = s0; s < s1; s++) {
        seg *g = &e->sg[s];
        move_segment(e, s, m->params, g->w1t, g->b1, g->w2t, 1);
        if (e->have_gt)
            move_segment(e, s, m->grads, g->g1, g->gb1, g->gw2, 1);
        else
            move_b1w2(e, s, m->grads, g->gb1, g->gw2, 1);
        if (o)
            move_segment(e, s, o->m, g->m1, g->mb1, g->mw2, 1);
        if (o && o->v)
            move_segment(e, s, o->v, g->v1, g->vb1, g->vw2, 1);
    }
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

static void upper_free(upper *u)
{
    for (int l = 0; l <= MT_MAX_LAYERS; l++) {
        free(u->act[l]);
        free(u->dact[l]);
    }
    free(u->losses);
}

/* A tail's W^T copies, and its blocks when own (thread 0's are m's). */
static void tail_free(tail *tl, int own)
{
    if (own) {
        free(tl->p);
        free(tl->g);
        free(tl->m);
        free(tl->v);
    }
    for (int l = 0; l < MT_MAX_LAYERS; l++)
        free(tl->wt[l]);
}

/* A thread's tail (see tail): its W^T copies, and its own blocks when own;
 * 0 when out of memory. */
static int tail_alloc(tail *tl, const mt_mlp *m, int own)
{
    const size_t n = (m->n_params - tail_lo(m) + 1) * sizeof(float); /* + 1: never 0 bytes */
    int ok = !own || ((tl->p = mt_calloc_pages(n)) && (tl->g = mt_calloc_pages(n))
                      && (tl->m = mt_calloc_pages(n)) && (tl->v = mt_calloc_pages(n)));
    for (int l = 2; l < m->n_layers; l++)
        ok &= (tl->wt[l] = mt_calloc_pages((size_t)m->dims[l] * m->dims[l + 1] * sizeof(float))) != NULL;
    return ok;
}

/* act, dact for l >= 2 and the losses for batches of max_B; 0 when out of memory. */
static int upper_alloc(upper *u, const mt_mlp *m, int max_B)
{
    int ok = (u->losses = mt_calloc_pages((size_t)max_B * sizeof(float))) != NULL;
    for (int l = 2; l <= m->n_layers; l++) {
        ok &= (u->act[l] = mt_calloc_pages((size_t)max_B * m->dims[l] * sizeof(float))) != NULL;
        ok &= (u->dact[l] = mt_calloc_pages((size_t)max_B * m->dims[l] * sizeof(float))) != NULL;
    }
    return ok;
}

void mt_engine_free(mt_engine *e)
{
    if (!e)
        return;
    mt_pool_free(e->pool);
    free(e->aug_px);
    for (int s = 0; e->sg && s < e->S; s++) {
        seg *g = &e->sg[s];
        float *all[] = { g->w1t, g->m1,  g->v1,  g->g1,  g->psum, g->b1,   g->mb1, g->vb1, g->gb1, g->w2t,
                         g->mw2, g->vw2, g->gw2, g->w2c, g->a1,   g->d1,   g->beff, g->gt, g->q };
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
            free(all[i]);
    }
    for (int t = 0; e->th && t < e->S; t++) {
        thr *th = e->th[t];
        if (!th)
            continue;
        free(th->px);
        free(th->a0);
        free(th->rows.cnt);
        free(th->rows.ent);
        free(th->rows.blk);
        free(th->masks);
        if (t > 0)
            upper_free(&th->up);
        tail_free(&th->tl, t > 0);
        free(th);
    }
    upper_free(&e->up);
    free(e->sg);
    free(e->th);
    free(e->gsq);
    free(e->labels);
    free(e);
}

mt_status mt_engine_create(mt_engine **out, mt_mlp *m, const mt_kern *k, int nthreads,
                           mt_path path, int max_B, mt_err *err)
{
    mt_status st;
    if (nthreads < 1 || nthreads > 256)
        return mt_errf(err, MT_EARG, "%d threads: must be between 1 and 256", nthreads);
    if (max_B < 1 || m->n_layers < 1)
        return mt_errf(err, MT_EARG, "engine: bad batch size %d or empty model", max_B);
    if (m->dims[0] >= MT_SP_MAX_C && path != MT_PATH_DENSE)
        return mt_errf(err, MT_EARG, "%d inputs are too many for the sparse first layer: use the dense one",
                       m->dims[0]);
    mt_engine *e = calloc(1, sizeof *e);
    if (!e)
        return mt_errf(err, MT_ENOMEM, "engine: out of memory");
    e->m = m;
    e->k = k;
    e->path = path;
    e->max_B = max_B;
    e->T = nthreads;
    e->clip_f = 1.0;
    mt_probe_init(&e->probe);
    mt_probe_init(&e->fprobe);
    e->scale = NAN; /* no lut yet (set_job) */
    const int L = m->n_layers, C0 = m->dims[0], OC1 = m->dims[1], OC2 = L > 1 ? m->dims[2] : 0;
    const size_t fs = sizeof(float);
    e->nch = (C0 + W1_CHUNK - 1) / W1_CHUNK;
    e->NG = (OC1 + SEG_ALIGN - 1) / SEG_ALIGN;
    /* a single layer's outputs are the logits: one segment */
    int S = L == 1 ? 1 : nthreads < e->NG ? nthreads : e->NG;
    e->SW = ((OC1 + S - 1) / S + SEG_ALIGN - 1) / SEG_ALIGN * SEG_ALIGN;
    e->S = (OC1 + e->SW - 1) / e->SW;
    int ok = 1;
    ok &= upper_alloc(&e->up, m, max_B);
    ok &= (e->gsq = calloc((size_t)e->nch * e->NG, sizeof *e->gsq)) != NULL;
    ok &= (e->labels = mt_calloc_pages((size_t)max_B)) != NULL;
    ok &= (e->sg = calloc((size_t)e->S, sizeof *e->sg)) != NULL;
    ok &= (e->th = calloc((size_t)e->S, sizeof *e->th)) != NULL;
    for (int s = 0; ok && s < e->S; s++) {
        seg *g = &e->sg[s];
        const size_t sw = (size_t)swidth(e, s), w1 = (size_t)C0 * sw * fs, w2 = sw * (size_t)OC2 * fs;
        ok &= (g->w1t = mt_calloc_pages(w1)) && (g->m1 = mt_calloc_pages(w1)) && (g->v1 = mt_calloc_pages(w1))
           && (g->g1 = mt_calloc_pages(w1)) && (g->psum = mt_calloc_pages((size_t)e->nch * sw * fs))
           && (g->b1 = mt_calloc_pages(sw * fs)) && (g->mb1 = mt_calloc_pages(sw * fs))
           && (g->vb1 = mt_calloc_pages(sw * fs)) && (g->gb1 = mt_calloc_pages(sw * fs))
           && (g->w2t = mt_calloc_pages(w2)) && (g->mw2 = mt_calloc_pages(w2))
           && (g->vw2 = mt_calloc_pages(w2)) && (g->gw2 = mt_calloc_pages(w2)) && (g->w2c = mt_calloc_pages(w2))
           && (g->a1 = mt_calloc_pages((size_t)max_B * sw * fs)) && (g->d1 = mt_calloc_pages((size_t)max_B * sw * fs))
           && (g->beff = mt_calloc_pages(sw * fs)) && (g->gt = mt_calloc_pages((size_t)W1_CHUNK * sw * fs))
           && (g->q = mt_calloc_pages((sw + SEG_ALIGN - 1) / SEG_ALIGN * max_B * (size_t)OC2 * fs));
        thr *th = e->th[s] = mt_calloc_pages(sizeof *th);
        if (!(ok &= th != NULL))
            break;
        if (s == 0) {
            th->up = e->up;
            th->tl.p = m->params + tail_lo(m);
            th->tl.g = m->grads + tail_lo(m);
            ok &= tail_alloc(&th->tl, m, 0);
        } else {
            ok &= upper_alloc(&th->up, m, max_B) & tail_alloc(&th->tl, m, 1);
        }
        th->rows.ld = (C0 + MT_SP_SLACK + 15) / 16 * 16;
        th->rows.nblk = (C0 + MT_SP_CHUNK - 1) / MT_SP_CHUNK;
        th->rows.lut = e->lut;
        ok &= (th->px = mt_calloc_pages((size_t)max_B * C0)) && (th->a0 = mt_calloc_pages((size_t)max_B * C0 * fs))
           && (th->rows.cnt = mt_calloc_pages((size_t)max_B * sizeof(int)))
           && (th->rows.ent = mt_calloc_pages((size_t)max_B * th->rows.ld * sizeof(uint32_t)))
           && (th->rows.blk = mt_calloc_pages((size_t)max_B * th->rows.nblk * sizeof(int)))
           && (th->masks = mt_calloc_pages((size_t)C0 * ((max_B + 63) / 64) * sizeof(uint64_t)));
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
    e->tails_stale = 1;
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

void mt_engine_set_label_smoothing(mt_engine *e, float ls)
{
    e->label_smoothing = ls > 0.f && ls <= 1.f ? ls : 0.f;
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
    if (!e->aug_px && !(e->aug_px = mt_calloc_pages((size_t)e->max_B * e->m->dims[0])))
        return mt_errf(err, MT_ENOMEM, "augmentation: out of memory");
    e->warp = mt_augment_warp_kernel(e->k);
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
    if (scale != e->scale) /* NaN at create: the first job always makes it */
        for (int p = 0; p < 256; p++)
            e->lut[p] = (float)p * scale;
    e->scale = scale;
    e->shift = shift;
    e->pxp = px;
}

static double median_sorted(double *x, int n)
{
    for (int i = 1; i < n; i++) /* insertion sort: n is small */
        for (int j = i; j > 0 && x[j] < x[j - 1]; j--) {
            double t = x[j];
            x[j] = x[j - 1];
            x[j - 1] = t;
        }
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

void mt_probe_init(mt_probe *p)
{
    memset(p, 0, sizeof *p);
    p->soon = MT_PROBE_SOON;
    p->use_all = 1;
}

int mt_probe_mode(const mt_probe *p, long long step, int *timed)
{
    const long long ph = step - p->at;
    *timed = ph >= 0 && ph < 2 * MT_PROBE_LEN;
    return *timed ? ph >= MT_PROBE_LEN : p->use_all;
}

void mt_probe_record(mt_probe *p, long long step, double seconds)
{
    const long long ph = step - p->at;
    if (ph < 0 || ph >= 2 * MT_PROBE_LEN)
        return;
    p->s[ph >= MT_PROBE_LEN][ph % MT_PROBE_LEN] = seconds;
    if (ph < 2 * MT_PROBE_LEN - 1)
        return;
    p->use_all = median_sorted(p->s[1], MT_PROBE_LEN) < median_sorted(p->s[0], MT_PROBE_LEN);
    if (p->use_all) {
        p->at += MT_PROBE_EVERY;
        p->soon = MT_PROBE_SOON;
    } else {
        p->at += p->soon;
        p->soon = p->soon < MT_PROBE_EVERY / 2 ? 2 * p->soon : MT_PROBE_EVERY;
    }
}

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Results do not depend on the thread count, so each step may run on all
 * threads or on the caller's alone, whichever is faster now (mt_probe): on
 * a shared machine a second vCPU can be slower than none (the host runs
 * something else on it). */
static void run_step(mt_engine *e, mt_pool_fn job)
{
    if (e->T == 1) {
        mt_pool_run(e->pool, job, e);
        return;
    }
    int timed, all = mt_probe_mode(&e->probe, e->n_steps, &timed);
    double t0 = timed ? wall_s() : 0.0;
    if (all)
        mt_pool_run(e->pool, job, e);
    else
        job(e, 0, 1);
    e->tails_stale = !all; /* only thread 0's tail took this step */
    if (timed)
        mt_probe_record(&e->probe, e->n_steps, wall_s() - t0);
    e->n_single += !all;
    e->n_steps++;
}

double mt_engine_step(mt_engine *e, mt_optim *o, const uint8_t *images, const uint8_t *labels,
                      const uint32_t *idx, int B, float scale, float shift, uint8_t *labels_out)
{
    set_job(e, images, labels, idx, B, scale, shift, NULL);
    e->backward = 1;
    e->clip_f = 1.0;
    e->fused = !(e->clip > 0.f);
    e->have_gt = !e->fused;
    e->ostep = *o;
    mt_optim_begin_step(&e->ostep); /* o itself advances only if the step is taken */
    tail *t0 = &e->th[0]->tl; /* thread 0's moments are the optimizer's */
    const size_t lo = tail_lo(e->m);
    t0->m = o->m ? o->m + lo : NULL;
    t0->v = o->v ? o->v + lo : NULL;
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
        sum += e->up.losses[i];
    if (!isfinite(sum) || B == 0)
        return sum;
    if (!e->fused) {
        /* the global norm, summed in a fixed order whatever the segments:
         * W1's chunks by 64-column groups, b1, W2 (torch layout), b2, the
         * other layers */
        const mt_mlp *m = e->m;
        double ss = 0.0;
        for (int j = 0; j < e->nch * e->NG; j++)
            ss += e->gsq[j];
        for (int s = 0; s < e->S; s++)
            ss += sumsq(e->sg[s].gb1, (size_t)swidth(e, s));
        if (m->n_layers > 1) {
            const int OC2 = m->dims[2];
            for (int r = 0; r < OC2; r++)
                for (int s = 0; s < e->S; s++)
                    for (int c = 0; c < swidth(e, s); c++) {
                        double v = e->sg[s].gw2[(size_t)c * OC2 + r];
                        ss += v * v;
                    }
            ss += sumsq(m->db[1], (size_t)OC2);
        }
        for (int l = 2; l < m->n_layers; l++)
            ss += sumsq(m->dw[l], (size_t)m->dims[l] * m->dims[l + 1]) + sumsq(m->db[l], (size_t)m->dims[l + 1]);
        e->gnorm = sqrt(ss);
        double f = (double)e->clip / (e->gnorm + 1e-6);
        if (isfinite(e->gnorm) && f < 1.0)
            e->clip_f = f;
        mt_pool_run(e->pool, update_job, e); /* rare (clipping): always on all threads */
        e->tails_stale = 1;
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

/* An evaluation batch on all threads or on the caller's alone, whichever
 * its own probe found faster (as run_step; results are the same either
 * way): a forward pass has little work per exchange, and on a busy shared
 * machine one thread often wins. */
static void run_forward(mt_engine *e)
{
    if (e->T == 1) {
        mt_pool_run(e->pool, step_job, e);
        return;
    }
    int timed, all = mt_probe_mode(&e->fprobe, e->n_fwd, &timed);
    double t0 = timed ? wall_s() : 0.0;
    if (all)
        mt_pool_run(e->pool, step_job, e);
    else
        step_job(e, 0, 1);
    if (timed)
        mt_probe_record(&e->fprobe, e->n_fwd, wall_s() - t0);
    e->n_fwd++;
}

void mt_engine_forward(mt_engine *e, const uint8_t *images, int B, float scale, float shift,
                       float *logits)
{
    const int C0 = e->m->dims[0], K = e->m->dims[e->m->n_layers];
    for (int r = 0; r < B; r += e->max_B) {
        int n = B - r < e->max_B ? B - r : e->max_B;
        set_job(e, images, NULL, NULL, n, scale, shift, images + (size_t)r * C0);
        e->backward = 0;
        run_forward(e);
        memcpy(logits + (size_t)r * K, logits_of(e, &e->up), (size_t)n * K * sizeof *logits);
    }
}
