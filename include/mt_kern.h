/* mt_kern: the numeric kernels of a training step, behind a table of function
 * pointers filled once by mt_kern_init() from CPU feature detection.
 * The scalar reference (src/kern/kern_ref.c) is the specification; every SIMD
 * variant is tested against it (tests/test_kern.c).
 *
 * Dimension letters (same everywhere): B batch rows, C input features,
 * OC output features, K classes, N flat element count.  All matrices are
 * row-major and contiguous.  No kernel allocates, fails or prints. */
#ifndef MT_KERN_H
#define MT_KERN_H

#include <stddef.h>
#include <stdint.h>

#include "mt_err.h"

/* Row lists of a batch's non-zero pixels (sparse_row_list): row i's entries
 * are ent[i*ld + 0 .. cnt[i]), columns ascending, each one word: the column
 * c in the low MT_SP_COL_BITS bits and the pixel px[i,c] (1..255) above, so
 * a batch's lists are half the bytes of (int, float) pairs; the value an
 * entry stands for is lut[pixel] = pixel * scale, from the caller's table.
 * ld >= C + MT_SP_SLACK (the SIMD writers store whole vectors).  blk[i*nblk + j]
 * counts row i's entries in columns below MT_SP_CHUNK*(j+1) (nblk =
 * ceil(C / MT_SP_CHUNK)), so a chunk's entries are found at once. */
#define MT_SP_CHUNK 64 /* the AVX-512 lister's blocks: a chunk's count is the running count */
#define MT_SP_SLACK 32
#define MT_SP_COL_BITS 24
#define MT_SP_MAX_C (1 << MT_SP_COL_BITS) /* columns the lists can hold */
#define MT_SP_COL(e) ((int)((e) & (MT_SP_MAX_C - 1u)))
#define MT_SP_PX(e) ((int)((e) >> MT_SP_COL_BITS))
typedef struct {
    int *cnt;          /* (B) */
    uint32_t *ent;     /* (B, ld) */
    int *blk;          /* (B, nblk) */
    int ld, nblk;
    const float *lut;  /* (256) an entry's value by its pixel */
} mt_sp_rows;


typedef struct mt_kern {
    const char *name; /* "scalar", "avx2", "avx512", "neon" */

    /* out (B,OC) = inp (B,C) @ w^T + b, then ReLU when relu != 0.
     * w (OC,C); b (OC) or NULL.  out must not alias inp. */
    void (*linear_fwd)(float *out, const float *inp, const float *w, const float *b,
                       int B, int C, int OC, int relu);
    /* dw (OC,C) += dout^T (OC,B) @ inp (B,C);  db (OC) += column sums of dout
     * (db may be NULL). */
    void (*linear_bwd_w)(float *dw, float *db, const float *dout, const float *inp,
                         int B, int C, int OC);
    /* dinp (B,C) = dout (B,OC) @ w (OC,C)   (overwrites, does not accumulate);
     * when relu_mask is not NULL, dinp[i] = 0 where relu_mask[i] <= 0
     * (relu_mask (B,C) is the ReLU output of the layer below). */
    void (*linear_bwd_x)(float *dinp, const float *dout, const float *w,
                         const float *relu_mask, int B, int C, int OC);
    /* Fused softmax + cross-entropy, mean over the batch.
     * losses (B) = logsumexp(logits[b]) - logits[b, labels[b]];
     * dlogits (B,K) = (softmax(logits) - onehot(labels)) * dscale
     * (dscale is usually 1/B_total).  Returns the sum of losses (double).
     * dlogits may alias logits.  losses may be NULL. */
    double (*softmax_xent)(float *dlogits, float *losses, const float *logits,
                           const uint8_t *labels, int B, int K, float dscale);
    /* softmax_xent with torch.nn.CrossEntropyLoss(label_smoothing=ls)'s
     * targets t = (1-ls) onehot(labels) + ls/K, 0 <= ls <= 1:
     *   losses (B) = (1-ls) (lse - z[y]) + ls * mean_k (lse - z[k])
     *   dlogits (B,K) = (softmax(logits) - t) * dscale
     * With ls = 0 it gives softmax_xent's bits.  Same aliasing rules. */
    double (*softmax_xent_ls)(float *dlogits, float *losses, const float *logits,
                              const uint8_t *labels, int B, int K, float dscale, float ls);
    /* out (N) = in (N) * scale + shift   (uint8 pixels -> normalized floats) */
    void (*u8_to_f32)(float *out, const uint8_t *in, size_t N, float scale, float shift);
    /* One Adam/AdamW step over N parameters (torch.optim.Adam / AdamW):
     *   g' = g + wd_l2 * p                          (Adam's L2 weight_decay)
     *   p  = p * (1 - lr * wd_decoupled)            (AdamW)
     *   m  = b1 m + (1-b1) g';  v = b2 v + (1-b2) g'^2
     *   p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps)
     * with bc1 = 1 - b1^t, bc2 = 1 - b2^t. */
    void (*adam)(float *p, const float *g, float *m, float *v, size_t N,
                 float lr, float b1, float b2, float eps, float bc1, float bc2,
                 float wd_l2, float wd_decoupled);
    /* One Adadelta step over N parameters (torch.optim.Adadelta):
     *   g'    = g + wd * p
     *   sq    = rho sq + (1-rho) g'^2
     *   delta = sqrt(acc + eps) / sqrt(sq + eps) * g'
     *   acc   = rho acc + (1-rho) delta^2
     *   p    -= lr * delta
     * sq (N) is PyTorch's square_avg, acc (N) its acc_delta.  Every variant
     * does these IEEE operations in this order (no FMA): bit-identical to
     * the reference. */
    void (*adadelta)(float *p, const float *g, float *sq, float *acc, size_t N,
                     float lr, float rho, float eps, float wd);

    /* ---- Issue 3: forms that pay on SIMD and split across threads. ----
     * Every output element is computed by one fixed chain of operations
     * whatever the tiling, so splitting rows (B) or columns [c0,c1) between
     * threads never changes a result bit. */

    /* Same as linear_fwd with the weights given transposed: wt (C,OC) = w^T
     * (see transpose).  out (B,OC); b (OC) or NULL; out must not alias inp. */
    void (*linear_fwd_t)(float *out, const float *inp, const float *wt, const float *b,
                         int B, int C, int OC, int relu);
    /* linear_fwd_t in parts of the input, inp (B rows of ldi >= C floats):
     * out = (acc ? out : 0) + inp[:, :C] @ wt, then, when last, + b (b may be
     * NULL) and ReLU when relu.  The parts' calls continue one chain per
     * output (stored and reloaded exactly), so linear_fwd_t over C columns
     * equals its calls over consecutive parts. */
    void (*linear_fwd_t_acc)(float *out, const float *inp, int ldi, const float *wt, const float *b,
                             int B, int C, int OC, int relu, int acc, int last);
    /* Columns [c0,c1) of linear_bwd_w: dw[:, c0:c1] += dout^T @ inp[:, c0:c1];
     * db (OC) += column sums of dout when db != NULL (pass it to one caller). */
    void (*linear_bwd_w_cols)(float *dw, float *db, const float *dout, const float *inp,
                              int B, int C, int OC, int c0, int c1);
    /* Rows [c0,c1) of wt (C,OC) = w^T, w (OC,C).  Exact (a copy). */
    void (*transpose)(float *wt, const float *w, int C, int OC, int c0, int c1);

    /* ---- The engine's transposed first layer (mt_engine keeps W1^T, its
     * moments and its gradient as (C, OC) blocks). ----
     * Sparse form on raw pixels px (B,C) with inp = px*scale + shift.
     * Because the normalisation is affine,
     *   inp @ w^T + b = (px*scale) @ w^T + (b + shift * colsum(w^T)),
     * and the first term only needs the non-zero pixels (81 % of MNIST is 0);
     * the caller makes beff = b + shift * colsum(wt) with colsum_acc. */

    /* Row i's non-zero pixels of px (C < MT_SP_MAX_C): writes ent (see
     * mt_sp_rows; room for C + MT_SP_SLACK entries) and the chunk counts blk
     * (ceil(C/MT_SP_CHUNK)), and returns the count. */
    int (*sparse_row_list)(uint32_t *ent, int *blk, const uint8_t *px, int C);
    /* out (B,OC) = beff + sum over row i's entries of val * wt[idx,:], then
     * ReLU when relu; each output is the chain beff + entries in list order,
     * so splitting the rows never changes a bit.  Equals linear_fwd on inp up
     * to rounding.  wt (C,OC), beff (OC). */
    void (*sparse_fwd_rows)(float *out, const mt_sp_rows *rows, const float *wt, const float *beff,
                            int B, int OC, int relu);
    /* Column masks of columns [c0,c1) of px (B rows of ldpx bytes): bit
     * i%64 of masks[(c-c0)*nw + i/64] (nw = ceil(B/64)) is set when
     * px[i*ldpx + c] != 0; bits of rows >= B are 0.  Exact. */
    void (*sparse_masks)(uint64_t *masks, const uint8_t *px, int ldpx, int B, int c0, int c1);
    /* Rows [c0,c1) of the transposed weight gradient, gt ((c1-c0), OC):
     *   gt[c-c0, o] = sum over the rows i set in column c's mask, ascending,
     *                 of lut[px[i*ldpx + c]] * dout[i,o]   + shift * cs[o]
     * with px the rows' raw pixels and cs (OC) the column sums of dout
     * (colsum_acc); the second term is the rank-1 correction for the zero
     * pixels.  Equals linear_bwd_wt on inp up to rounding; each element is
     * one chain whatever [c0,c1) (masks hold columns from c0 on). */
    void (*sparse_bwd_masks)(float *gt, const float *dout, const float *cs, const uint64_t *masks,
                             const uint8_t *px, int ldpx, const float *lut, int B, int OC, float shift,
                             int c0, int c1);
    /* Dense: gt ((c1-c0), OC) = inp[:, c0:c1]^T @ dout; the values of
     * linear_bwd_w_cols, transposed. */
    void (*linear_bwd_wt)(float *gt, const float *dout, const float *inp, int B, int C, int OC,
                          int c0, int c1);
    /* s[j] += x[r*n + j] for r = 0..rows-1 in order (each s[j] one chain). */
    void (*colsum_acc)(float *s, const float *x, int rows, int n);

    /* ---- Convolutions (mt_layers): one general product for the three
     * im2col GEMMs of a conv layer. ----
     * c (M,N) = (load_c ? c : 0) + a (M,K) . b (K,N), then + bias (N) when
     * bias != NULL;  a(i,k) = a[i*rsa + k*csa], b(k,n) = b[k*ldb + n],
     * c(i,n) = c[i*ldc + n].  Each c element is one chain over k = 0..K-1
     * whatever the blocking, so splitting M or N between threads never
     * changes a bit.  c must not alias a or b. */
    void (*gemm)(float *c, ptrdiff_t ldc, const float *a, ptrdiff_t rsa, ptrdiff_t csa,
                 const float *b, ptrdiff_t ldb, const float *bias, int M, int N, int K, int load_c);
    /* gemm with a gathered: a(i,k) = a[ia[i] + ka[k]], ia (M), ka (K).  An
     * implicit im2col: for a stride-1, unpadded conv on NHWC input, output
     * pixel i's patch starts at ia[i] = (oy*W + ox)*C and tap k = (kh, kw, c)
     * sits ka[k] = (kh*W + kw)*C + c past it, so the patches are read where
     * they lie; swapping the two tables gives the weight gradient's
     * col^T.  Same chains, splits and aliasing rules as gemm.  colsum (N)
     * or NULL: ADDS the sums of b's K rows, each column one chain in k
     * order (colsum_acc's bits; a conv's bias gradient). */
    void (*gemm_gather)(float *c, ptrdiff_t ldc, const float *a, const int *ia, const int *ka,
                        const float *b, ptrdiff_t ldb, const float *bias, int M, int N, int K,
                        int load_c, float *colsum);

    /* ---- 2x2 max-pool, stride 2 (mt_layers) ----
     * out (B,H/2,W/2,C) = each window's maximum, arg (same) = its position
     * 0..3 in row-major order: v > m or v NaN replaces (PyTorch's rule: the
     * first maximum wins, a NaN wins); an odd last row/column is dropped.
     * Selections only: every variant gives the reference's bits. */
    void (*maxpool2_fwd)(float *out, uint8_t *arg, const float *inp, int B, int H, int W, int C);
    /* dinp (B,H,W,C) = dout at each window's arg, 0 elsewhere (OVERWRITES). */
    void (*maxpool2_bwd)(float *dinp, const float *dout, const uint8_t *arg, int B, int H, int W, int C);
    /* One image: dinp (H,W,C) = the sum of the patch gradients dcol (P,
     * k*k*C) of a stride-1 conv over the pixels each patch covers
     * (OVERWRITES); each element's terms in pixel order, then tap order:
     * every variant gives the reference's bits. */
    void (*col2im)(float *dinp, const float *dcol, int H, int W, int C, int k, int pad);
} mt_kern;

typedef enum { MT_ISA_AUTO = 0, MT_ISA_SCALAR, MT_ISA_AVX2, MT_ISA_AVX512, MT_ISA_NEON } mt_isa;

/* The scalar reference table (always available). */
const mt_kern *mt_kern_ref(void);

/* Picks the kernel table: MT_ISA_AUTO chooses the best this CPU runs; an
 * explicit ISA the CPU (or this build) lacks fails with MT_EARG.
 * The result stays valid for the life of the program. */
mt_status mt_kern_select(const mt_kern **out, mt_isa isa, mt_err *err);

/* Parses "auto", "scalar", "avx2", "avx512", "neon"; returns -1 if unknown. */
int mt_isa_parse(const char *s);
const char *mt_isa_name(mt_isa isa);

/* Every variant compiled into this binary, and whether this CPU can run it
 * (for tests and benchmarks).  Returns the count; fills up to max entries. */
typedef struct { mt_isa isa; const mt_kern *k; int runnable; } mt_kern_variant;
int mt_kern_variants(mt_kern_variant *out, int max);

#endif
