/* kern_simd.h: the SIMD kernels written once over a small vector layer; each
 * kern_<isa>.c defines that layer (below) and includes this file exactly once.
 * Not a public header: it defines static functions and one mt_kern table.
 *
 * GEMM design: one register-tiled micro-kernel computes
 *     C (M,N) [+]= A (M,K) . B (K,N),  a(i,k) = A[i*rsa + k*csa],  B, C row-major,
 * broadcasting a(i,k) against MR x NR vectors of B's row k.  All three layer
 * shapes map onto it without packing A:
 *     forward   Y  = X . W^T   (A = X,     B = W^T (C,OC), kept transposed)
 *     weights   dW += dY^T . X (A = dY^T,  B = X, columns [c0,c1) per thread)
 *     input     dX = dY . W    (A = dY,    B = W, ReLU mask in the epilogue)
 * K is blocked by KC so B's panel stays in L1; every C element is one FMA
 * chain over k = 0..K-1 (stored and reloaded between K blocks, which is
 * exact), so tiling and the thread split never change a result bit.
 *
 * The vector layer each ISA file provides:
 *   vf, VW (lanes), MR, NR, KC, TILE_LIST(X) = X(m,n) for 1<=m<=MR, 1<=n<=NR
 *   V_ZERO() V_SET1(x) V_LOAD(p) V_STORE(p,v) V_LOADN(p,n) V_STOREN(p,v,n)
 *   (n < VW lanes; LOADN zero-fills) V_FMA(a,b,c)=a*b+c V_ADD V_SUB V_MUL V_DIV
 *   V_MAX V_SQRT V_MASKLE0(v,m) (v with lanes where m <= 0 zeroed)
 *   V_FMA_LO(a,b,c) (V_FMA on lanes [0, VW/2) at least; the others unspecified)
 *   V_LOADN_LO(p,n) (n <= VW/2 lanes into [0, n); the others unspecified)
 *   V_SELGTN(v,m,a,b) (per lane: b where v > m or v is NaN, else a)
 *   V_LOADU8(p) (VW bytes -> floats)  v_exp(vf)  vtranspose(vf r[VW])
 *   KSFX(name) (name suffix), nzmask(p, n) (bit j set when p[j] != 0,
 *   n <= 64), and optionally KERN_ROW_LIST_VEC with row_list_vec (see
 *   sparse_row_list) or KERN_BIT_TRANSPOSE64 with bit_transpose64 */

#include <assert.h>
#include <math.h>
#include <string.h>

#define KERN_INLINE static inline __attribute__((always_inline))
/* NR_WIDE (optional): tiles of at most MR_WIDE rows and NR_WIDE > NR
 * vectors, for N just above NR vectors (TILE_LIST then lists them too). */
#ifdef NR_WIDE
#define NR_MAX NR_WIDE
#else
#define NR_MAX NR
#define MR_WIDE MR
#endif
/* Keeps v in a register: a value loaded once for two FMAs is otherwise
 * folded into both as a memory operand, i.e. loaded twice (GCC 12). */
#if defined(__aarch64__)
#define KEEP_IN_REG(v) __asm__("" : "+w"(v))
#else
#define KEEP_IN_REG(v) __asm__("" : "+v"(v))
#endif

/* ======================================================================== */
/* GEMM                                                                      */
/* ======================================================================== */

typedef struct {
    const float *a;
    ptrdiff_t rsa, csa;  /* a(i,k) = a[i*rsa + k*csa] */
    const float *b;
    ptrdiff_t ldb;       /* b(k,n) = b[k*ldb + n] */
    float *c;
    ptrdiff_t ldc;
    int M, N, K;
    int load_c;          /* the chain starts from C's value instead of 0 */
    int epilogue;        /* apply bias / relu / mask (last K block only) */
    const float *bias;   /* (N) or NULL */
    int relu;
    const float *mask;   /* (M,N) with ldm, or NULL: zero C where mask <= 0 */
    ptrdiff_t ldm;
    const int *ia, *ka;  /* when ka != NULL: a(i,k) = a[ia[i] + ka[k]] (gemm_gather) */
    float *colsum;       /* gathered only, (N) or NULL: += B's rows, with row 0's tiles */
} gemm_args;

/* The k loop of a gathered tile: the last of the nv vectors is full (edge
 * 0), masked to nlast lanes (1), or at most half a vector (2), whose FMAs
 * then run at half width (V_FMA_LO): where a full-width FMA costs two
 * half-width ones, a 24-wide product on 16 lanes pays for 24, not 32. */
KERN_INLINE void gtile_k(vf acc[MR][NR_MAX], vf *cs, const float *const *ar, const int *kp, int K,
                         const float *bp, ptrdiff_t ldb, int mr, int nv, int nlast, int edge)
{
    for (int k = 0; k < K; k++) {
        vf bv[NR_MAX];
        const ptrdiff_t o = kp[k];
#pragma GCC unroll 8
        for (int v = 0; v < nv; v++) {
            bv[v] = edge == 2 && v == nv - 1 ? V_LOADN_LO(bp + v * VW, nlast)
                  : edge && v == nv - 1  ? V_LOADN(bp + v * VW, nlast) : V_LOAD(bp + v * VW);
            KEEP_IN_REG(bv[v]);
            if (cs) /* B's row k, already in a register, into the column sums */
                cs[v] = V_ADD(cs[v], bv[v]);
        }
#pragma GCC unroll 8
        for (int r = 0; r < mr; r++) {
            vf av = V_SET1(ar[r][o]);
#pragma GCC unroll 8
            for (int v = 0; v < nv; v++)
                acc[r][v] = edge == 2 && v == nv - 1 ? V_FMA_LO(av, bv[v], acc[r][v]) : V_FMA(av, bv[v], acc[r][v]);
        }
        bp += ldb;
    }
}

/* One mr x nv tile at (i0, n0); the last vector has nlast lanes (1..VW).
 * Called with compile-time mr, nv and gather so acc[][] lives in registers. */
KERN_INLINE void gemm_tile(const gemm_args *g, int i0, int n0, int mr, int nv, int nlast, int gather, int sum)
{
    vf acc[MR][NR_MAX];
    float *cp = g->c + (ptrdiff_t)i0 * g->ldc + n0;
#pragma GCC unroll 8
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 8
        for (int v = 0; v < nv; v++) {
            if (!g->load_c)
                acc[r][v] = V_ZERO();
            else if (v == nv - 1 && nlast < VW)
                acc[r][v] = V_LOADN(cp + r * g->ldc + v * VW, nlast);
            else
                acc[r][v] = V_LOAD(cp + r * g->ldc + v * VW);
        }

    const float *ap = g->a + (ptrdiff_t)i0 * g->rsa;
    const float *bp = g->b + n0;
    const ptrdiff_t rsa = g->rsa, csa = g->csa, ldb = g->ldb;
    if (gather) { /* each row its own base; one table entry per k for all rows */
        const float *ar[MR];
#pragma GCC unroll 8
        for (int r = 0; r < mr; r++)
            ar[r] = g->a + g->ia[i0 + r];
        vf cs[NR_MAX];
        float *const csp = sum ? g->colsum + n0 : NULL;
        if (sum)
#pragma GCC unroll 8
            for (int v = 0; v < nv; v++)
                cs[v] = v == nv - 1 && nlast < VW ? V_LOADN(csp + v * VW, nlast) : V_LOAD(csp + v * VW);
        if (nlast == VW)
            gtile_k(acc, sum ? cs : NULL, ar, g->ka, g->K, bp, ldb, mr, nv, nlast, 0);
        else if (nlast <= VW / 2)
            gtile_k(acc, sum ? cs : NULL, ar, g->ka, g->K, bp, ldb, mr, nv, nlast, 2);
        else
            gtile_k(acc, sum ? cs : NULL, ar, g->ka, g->K, bp, ldb, mr, nv, nlast, 1);
        if (sum) {
#pragma GCC unroll 8
            for (int v = 0; v < nv; v++) {
                if (v == nv - 1 && nlast < VW)
                    V_STOREN(csp + v * VW, cs[v], nlast);
                else
                    V_STORE(csp + v * VW, cs[v]);
            }
        }
    } else if (nlast == VW) {
        for (int k = 0; k < g->K; k++) {
            vf bv[NR_MAX];
#pragma GCC unroll 8
            for (int v = 0; v < nv; v++) {
                bv[v] = V_LOAD(bp + v * VW);
                KEEP_IN_REG(bv[v]); /* one load for the mr rows */
            }
#pragma GCC unroll 8
            for (int r = 0; r < mr; r++) {
                vf av = V_SET1(ap[r * rsa]);
#pragma GCC unroll 8
                for (int v = 0; v < nv; v++)
                    acc[r][v] = V_FMA(av, bv[v], acc[r][v]);
            }
            ap += csa;
            bp += ldb;
        }
    } else {
        for (int k = 0; k < g->K; k++) {
            vf bv[NR_MAX];
#pragma GCC unroll 8
            for (int v = 0; v < nv; v++) {
                bv[v] = v == nv - 1 ? V_LOADN(bp + v * VW, nlast) : V_LOAD(bp + v * VW);
                KEEP_IN_REG(bv[v]);
            }
#pragma GCC unroll 8
            for (int r = 0; r < mr; r++) {
                vf av = V_SET1(ap[r * rsa]);
#pragma GCC unroll 8
                for (int v = 0; v < nv; v++)
                    acc[r][v] = V_FMA(av, bv[v], acc[r][v]);
            }
            ap += csa;
            bp += ldb;
        }
    }

    /* The epilogue's operands are read into locals once, each applied in
     * its own pass over the tile: V_STORE may alias anything, so fields of
     * *g read between the stores would be reloaded and tested per vector. */
    const float *bias = g->epilogue ? g->bias : NULL, *mask = g->epilogue ? g->mask : NULL;
    const int relu = g->epilogue && g->relu;
    const ptrdiff_t ldc = g->ldc, ldm = g->ldm;
    if (bias)
#pragma GCC unroll 8
        for (int v = 0; v < nv; v++) {
            const float *bv = bias + n0 + v * VW;
            vf t = v == nv - 1 && nlast < VW ? V_LOADN(bv, nlast) : V_LOAD(bv);
#pragma GCC unroll 8
            for (int r = 0; r < mr; r++)
                acc[r][v] = V_ADD(acc[r][v], t);
        }
    if (relu)
#pragma GCC unroll 8
        for (int r = 0; r < mr; r++)
#pragma GCC unroll 8
            for (int v = 0; v < nv; v++)
                acc[r][v] = V_MAX(acc[r][v], V_ZERO());
    if (mask)
#pragma GCC unroll 8
        for (int r = 0; r < mr; r++)
#pragma GCC unroll 8
            for (int v = 0; v < nv; v++) {
                const float *mp = mask + (ptrdiff_t)(i0 + r) * ldm + n0 + v * VW;
                acc[r][v] = V_MASKLE0(acc[r][v], v == nv - 1 && nlast < VW ? V_LOADN(mp, nlast) : V_LOAD(mp));
            }
#pragma GCC unroll 8
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 8
        for (int v = 0; v < nv; v++) {
            if (v == nv - 1 && nlast < VW)
                V_STOREN(cp + r * ldc + v * VW, acc[r][v], nlast);
            else
                V_STORE(cp + r * ldc + v * VW, acc[r][v]);
        }
}

/* Tiles at rows i0, i0+m, ... below i1 in one call: a short K (a 3x3
 * one-channel conv has K = 9) leaves the FMAs few per tile, and a call per
 * tile would cost as much again.  With colsum, the tile at row 0 also adds
 * up B's rows: a conv's bias gradient for a few more adds in the loop that
 * loads those rows anyway, not a pass of its own limited by the add latency. */
#define TILE_FN(m, n) \
    static void gemm_tile_##m##_##n(const gemm_args *g, int i0, int i1, int n0, int nlast) \
    { for (; i0 < i1; i0 += m) gemm_tile(g, i0, n0, m, n, nlast, 0, 0); } \
    static void gemm_gtile_##m##_##n(const gemm_args *g, int i0, int i1, int n0, int nlast) \
    { \
        if (g->colsum && i0 == 0 && i0 < i1) \
            gemm_tile(g, i0, n0, m, n, nlast, 1, 1), i0 += m; \
        for (; i0 < i1; i0 += m) gemm_tile(g, i0, n0, m, n, nlast, 1, 0); \
    }
TILE_LIST(TILE_FN)
#undef TILE_FN

/* One K block of the whole product. */
static void gemm_block(const gemm_args *g)
{
    /* N of NR+1 vectors is one panel of MR_WIDE-row tiles where the ISA
     * has them: AVX2's 24 columns are 4 x 3 tiles, not 6 x 2 and 6 x 1 ones
     * (whose 1-vector panel loads a broadcast per FMA). */
    const int wide = NR_MAX > NR && g->N > NR * VW && g->N <= NR_MAX * VW;
    const int P = wide ? NR_MAX * VW : NR * VW, mrx = wide ? MR_WIDE : MR;
    for (int n0 = 0; n0 < g->N; n0 += P) {
        int nw = g->N - n0 < P ? g->N - n0 : P;
        int nv = (nw + VW - 1) / VW, nlast = nw - (nv - 1) * VW;
        /* The fewest tiles of at most mrx rows, their heights differing by
         * at most one: M = 25 on MR = 6 is five 5-row tiles, not four and a
         * 1-row one whose nv chains would wait on the FMA latency. */
        const int nt = (g->M + mrx - 1) / mrx, hi = g->M / nt + 1, n_hi = g->M % nt;
        const int full = n_hi * hi; /* rows [0,full) in hi-row tiles, then (hi-1)-row ones */
        for (int part = 0; part < 2; part++) {
            const int i0 = part ? full : 0, i1 = part ? g->M : full, mr = part ? hi - 1 : hi;
            if (i0 >= i1)
                continue;
            if (g->ka) {
                switch (mr * 16 + nv) {
#define TILE_CASE(m, n) case (m) * 16 + (n): gemm_gtile_##m##_##n(g, i0, i1, n0, nlast); break;
                    TILE_LIST(TILE_CASE)
#undef TILE_CASE
                default: assert(0);
                }
                continue;
            }
            switch (mr * 16 + nv) {
#define TILE_CASE(m, n) case (m) * 16 + (n): gemm_tile_##m##_##n(g, i0, i1, n0, nlast); break;
                TILE_LIST(TILE_CASE)
#undef TILE_CASE
            default: assert(0);
            }
        }
    }
}

static void gemm(const gemm_args *g0)
{
    if (g0->N > 0 && g0->M <= 0 && g0->colsum) /* no tiles to carry the sums */
        for (int k = 0; k < g0->K; k++)
            for (int n = 0; n < g0->N; n++)
                g0->colsum[n] += g0->b[(ptrdiff_t)k * g0->ldb + n];
    if (g0->M <= 0 || g0->N <= 0)
        return;
    if (g0->K <= 0) { /* empty sum: 0 (or C) through the epilogue */
        gemm_args g = *g0;
        static const float zero = 0.f;
        g.a = g.b = &zero;
        g.K = 0;
        g.ka = NULL;
        g.epilogue = 1;
        gemm_block(&g);
        return;
    }
    for (int k0 = 0; k0 < g0->K; k0 += KC) {
        gemm_args g = *g0;
        g.K = g0->K - k0 < KC ? g0->K - k0 : KC;
        if (g0->ka)
            g.ka = g0->ka + k0;
        else
            g.a = g0->a + (ptrdiff_t)k0 * g0->csa;
        g.b = g0->b + (ptrdiff_t)k0 * g0->ldb;
        g.load_c = k0 > 0 ? 1 : g0->load_c;
        g.epilogue = k0 + KC >= g0->K;
        gemm_block(&g);
    }
}

/* ======================================================================== */
/* Transpose                                                                 */
/* ======================================================================== */

/* dst (cols,rows) block = src (rows,cols)^T with leading dims; VW x VW blocks in registers. */
static void transpose_2d(float *dst, ptrdiff_t ldd, const float *src, ptrdiff_t lds, int rows, int cols)
{
    int r0 = 0;
    for (; r0 + VW <= rows; r0 += VW) {
        int c0 = 0;
        for (; c0 + VW <= cols; c0 += VW) {
            vf t[VW];
            for (int j = 0; j < VW; j++)
                t[j] = V_LOAD(src + (r0 + j) * lds + c0);
            vtranspose(t);
            for (int j = 0; j < VW; j++)
                V_STORE(dst + (c0 + j) * ldd + r0, t[j]);
        }
        for (int c = c0; c < cols; c++)
            for (int j = 0; j < VW; j++)
                dst[c * ldd + r0 + j] = src[(r0 + j) * lds + c];
    }
    for (int r = r0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            dst[c * ldd + r] = src[r * lds + c];
}

static void KSFX(transpose)(float *wt, const float *w, int C, int OC, int c0, int c1)
{
    assert(0 <= c0 && c0 <= c1 && c1 <= C);
    transpose_2d(wt + (ptrdiff_t)c0 * OC, OC, w + c0, C, OC, c1 - c0);
}

/* ======================================================================== */
/* Dense layers                                                              */
/* ======================================================================== */

static void KSFX(linear_fwd_t_acc)(float *out, const float *inp, int ldi, const float *wt, const float *b,
                                   int B, int C, int OC, int relu, int acc, int last)
{
    assert(out != inp && ldi >= C);
    gemm_args g = { .a = inp, .rsa = ldi, .csa = 1, .b = wt, .ldb = OC, .c = out, .ldc = OC,
                    .M = B, .N = OC, .K = C, .load_c = acc, .bias = last ? b : NULL,
                    .relu = last && relu };
    gemm(&g);
}

static void KSFX(linear_fwd_t)(float *out, const float *inp, const float *wt, const float *b,
                               int B, int C, int OC, int relu)
{
    KSFX(linear_fwd_t_acc)(out, inp, C, wt, b, B, C, OC, relu, 0, 1);
}

/* The untransposed entry packs W^T panel by panel into a stack buffer. */
#define FWD_PANEL 64
#define FWD_KB 256
static void KSFX(linear_fwd)(float *out, const float *inp, const float *w, const float *b,
                             int B, int C, int OC, int relu)
{
    assert(out != inp);
    float wt[FWD_KB * FWD_PANEL];
    for (int o0 = 0; o0 < OC; o0 += FWD_PANEL) {
        int ow = OC - o0 < FWD_PANEL ? OC - o0 : FWD_PANEL;
        if (C == 0) {
            gemm_args g = { .a = inp, .rsa = C, .csa = 1, .b = wt, .ldb = ow,
                            .c = out + o0, .ldc = OC, .M = B, .N = ow, .K = 0,
                            .bias = b ? b + o0 : NULL, .relu = relu };
            gemm(&g);
        }
        for (int k0 = 0; k0 < C; k0 += FWD_KB) {
            int kw = C - k0 < FWD_KB ? C - k0 : FWD_KB;
            transpose_2d(wt, ow, w + (ptrdiff_t)o0 * C + k0, C, ow, kw);
            gemm_args g = { .a = inp + k0, .rsa = C, .csa = 1, .b = wt, .ldb = ow,
                            .c = out + o0, .ldc = OC, .M = B, .N = ow, .K = kw,
                            .bias = b ? b + o0 : NULL, .relu = relu,
                            .load_c = k0 > 0 };
            /* gemm() sets the epilogue on its own last block; only our last
             * K block may apply it. */
            if (k0 + kw < C) {
                for (int kk = 0; kk < kw; kk += KC) {
                    gemm_args h = g;
                    h.K = kw - kk < KC ? kw - kk : KC;
                    h.a = g.a + kk;
                    h.b = wt + (ptrdiff_t)kk * ow;
                    h.load_c = (k0 + kk) > 0;
                    h.epilogue = 0;
                    gemm_block(&h);
                }
            } else {
                gemm(&g);
            }
        }
    }
}

/* db[o] += sum_i dout[i,o], i ascending (the reference's order). */
static void colsum_add(float *db, const float *dout, int B, int OC)
{
    int o = 0;
    for (; o + VW <= OC; o += VW) {
        vf s = V_ZERO();
        for (int i = 0; i < B; i++)
            s = V_ADD(s, V_LOAD(dout + (ptrdiff_t)i * OC + o));
        V_STORE(db + o, V_ADD(V_LOAD(db + o), s));
    }
    if (o < OC) {
        int n = OC - o;
        vf s = V_ZERO();
        for (int i = 0; i < B; i++)
            s = V_ADD(s, V_LOADN(dout + (ptrdiff_t)i * OC + o, n));
        V_STOREN(db + o, V_ADD(V_LOADN(db + o, n), s), n);
    }
}

static void KSFX(linear_bwd_w_cols)(float *dw, float *db, const float *dout, const float *inp,
                                    int B, int C, int OC, int c0, int c1)
{
    assert(0 <= c0 && c0 <= c1 && c1 <= C);
    gemm_args g = { .a = dout, .rsa = 1, .csa = OC, .b = inp + c0, .ldb = C,
                    .c = dw + c0, .ldc = C, .M = OC, .N = c1 - c0, .K = B, .load_c = 1 };
    gemm(&g);
    if (db)
        colsum_add(db, dout, B, OC);
}

static void KSFX(linear_bwd_w)(float *dw, float *db, const float *dout, const float *inp,
                               int B, int C, int OC)
{
    KSFX(linear_bwd_w_cols)(dw, db, dout, inp, B, C, OC, 0, C);
}

static void KSFX(linear_bwd_x)(float *dinp, const float *dout, const float *w,
                               const float *relu_mask, int B, int C, int OC)
{
    gemm_args g = { .a = dout, .rsa = OC, .csa = 1, .b = w, .ldb = C, .c = dinp, .ldc = C,
                    .M = B, .N = C, .K = OC, .mask = relu_mask, .ldm = C };
    gemm(&g);
}

/* ======================================================================== */
/* The engine's transposed first layer: row lists, gradient rows            */
/* ======================================================================== */

/* acc[0..nv) += x * row[0..(nv-1)*VW + nlast): the inner step of the sparse
 * kernels; the last vector is partial when nlast < VW (a masked load). */
KERN_INLINE void axpy_acc(vf *acc, vf x, const float *row, int nv, int nlast)
{
    if (nlast == VW) {
#pragma GCC unroll 8
        for (int v = 0; v < nv; v++)
            acc[v] = V_FMA(x, V_LOAD(row + v * VW), acc[v]);
    } else {
#pragma GCC unroll 8
        for (int v = 0; v < nv - 1; v++)
            acc[v] = V_FMA(x, V_LOAD(row + v * VW), acc[v]);
        acc[nv - 1] = V_FMA(x, V_LOADN(row + (nv - 1) * VW, nlast), acc[nv - 1]);
    }
}

/* A sparse row is done SP_NV vectors of outputs at a time (nv a compile-time
 * constant per instance of SP_LIST).  For narrow outputs (nv <= SP_PAIR_NV)
 * one row's FMA chains leave the FMA units idle (latency-bound), so two
 * rows' (or columns') entries are interleaved; each chain is unchanged. */
#define SP_NV 8
#define SP_PAIR_NV 4
#define SP_LIST(X) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8)
#define SP2_LIST(X) X(1) X(2) X(3) X(4)
/* The gradient's column pairs share each row's load of dout: two columns'
 * accumulators (2 nv) and the loaded row fit 32 registers up to nv 8, 16
 * registers up to nv 4. */
#if VW >= 16
#define MK_PAIR_NV 8
#define MK2_LIST SP_LIST
#else
#define MK_PAIR_NV SP_PAIR_NV
#define MK2_LIST SP2_LIST
#endif
/* ... and for narrow outputs, where a pair's 2 nv chains per row leave the
 * FMA units idle (the 64-unit segments of two threads), four columns do:
 * 4 nv accumulators, nv rows and four broadcasts fit 32 registers up to nv
 * 4, 16 up to nv 2. */
#if VW >= 16
#define MK_QUAD_NV 4
#define MK4_LIST(X) X(1) X(2) X(3) X(4)
#else
#define MK_QUAD_NV 2
#define MK4_LIST(X) X(1) X(2)
#endif

/* A row's non-zero pixels.  An ISA file may provide row_list_vec (AVX-512
 * compresses 64 pixels at a time with VBMI2, else 16); otherwise the bit
 * mask of each chunk. */
static int KSFX(sparse_row_list)(uint32_t *ent, int *blk, const uint8_t *px, int C)
{
    assert(C < MT_SP_MAX_C);
#ifdef KERN_ROW_LIST_VEC
    return row_list_vec(ent, blk, px, C);
#else
    int n = 0;
    for (int c0 = 0; c0 < C; c0 += MT_SP_CHUNK) {
        uint64_t m = nzmask(px + c0, C - c0 < MT_SP_CHUNK ? C - c0 : MT_SP_CHUNK);
        while (m) {
            int c = c0 + __builtin_ctzll(m);
            m &= m - 1;
            ent[n++] = (uint32_t)c | (uint32_t)px[c] << MT_SP_COL_BITS;
        }
        blk[c0 / MT_SP_CHUNK] = n;
    }
    return n;
#endif
}

/* One row (or two interleaved, for narrow outputs) of sparse_fwd_rows:
 * acc = beff, += val * wt[idx] in list order, ReLU, store. */
KERN_INLINE void rl_load(vf *acc, const float *src, int nv, int nlast)
{
#pragma GCC unroll 8
    for (int v = 0; v < nv; v++)
        acc[v] = v == nv - 1 && nlast < VW ? V_LOADN(src + v * VW, nlast) : V_LOAD(src + v * VW);
}

KERN_INLINE void rl_store(float *dst, vf *acc, int nv, int nlast, int relu)
{
#pragma GCC unroll 8
    for (int v = 0; v < nv; v++) {
        vf y = relu ? V_MAX(acc[v], V_ZERO()) : acc[v];
        if (v == nv - 1 && nlast < VW)
            V_STOREN(dst + v * VW, y, nlast);
        else
            V_STORE(dst + v * VW, y);
    }
}

/* acc += the value of entry en (lut by its pixel) * its row of wt. */
KERN_INLINE void entry_acc(vf *acc, uint32_t en, const float *lut, const float *wt, int OC, int nv, int nlast)
{
    axpy_acc(acc, V_SET1(lut[MT_SP_PX(en)]), wt + (ptrdiff_t)MT_SP_COL(en) * OC, nv, nlast);
}

/* Row y's accumulators (from init) += its entries [k0,k1). */
KERN_INLINE void rl_fwd1(float *y, const uint32_t *en, const float *lut, int k0, int k1, const float *wt,
                         int OC, const float *init, int nv, int nlast)
{
    vf acc[SP_NV];
    rl_load(acc, init, nv, nlast);
    for (int k = k0; k < k1; k++)
        entry_acc(acc, en[k], lut, wt, OC, nv, nlast);
    rl_store(y, acc, nv, nlast, 0);
}

KERN_INLINE void rl_fwd2(float *y0, const uint32_t *en0, int a0, int a1, float *y1, const uint32_t *en1, int b0,
                         int b1, const float *lut, const float *wt, int OC, int nv, int nlast)
{
    vf s0[SP_PAIR_NV], s1[SP_PAIR_NV];
    rl_load(s0, y0, nv, nlast);
    rl_load(s1, y1, nv, nlast);
    int n = a1 - a0 < b1 - b0 ? a1 - a0 : b1 - b0;
    for (int k = 0; k < n; k++) {
        entry_acc(s0, en0[a0 + k], lut, wt, OC, nv, nlast);
        entry_acc(s1, en1[b0 + k], lut, wt, OC, nv, nlast);
    }
    for (int k = a0 + n; k < a1; k++)
        entry_acc(s0, en0[k], lut, wt, OC, nv, nlast);
    for (int k = b0 + n; k < b1; k++)
        entry_acc(s1, en1[k], lut, wt, OC, nv, nlast);
    rl_store(y0, s0, nv, nlast, 0);
    rl_store(y1, s1, nv, nlast, 0);
}

#define RL_FN(n) \
    static void rl_fwd1_##n(float *y, const uint32_t *en, const float *lut, int k0, int k1, const float *wt, \
                            int OC, const float *init, int nlast) \
    { rl_fwd1(y, en, lut, k0, k1, wt, OC, init, n, nlast); }
#define RL2_FN(n) \
    static void rl_fwd2_##n(float *y0, const uint32_t *en0, int a0, int a1, float *y1, const uint32_t *en1, \
                            int b0, int b1, const float *lut, const float *wt, int OC, int nlast) \
    { rl_fwd2(y0, en0, a0, a1, y1, en1, b0, b1, lut, wt, OC, n, nlast); }
SP_LIST(RL_FN)
SP2_LIST(RL2_FN)
#undef RL_FN
#undef RL2_FN

/* Blocked by whole row-list chunks (MT_SP_CHUNK pixels) making ~RL_BLOCK
 * bytes of wt (twice that for narrow outputs, whose rows go in pairs), so
 * the block stays close (L1 and its neighbour) while every row visits it:
 * 128 pixels at 128 outputs (the nearest whole chunks to 96), 384 at 64.
 * Smaller blocks mean more row visits of a few entries each, whole rows
 * push wt out to L2 (the measured sizes are in docs/speed.md).  A row's outputs go back to
 * memory between blocks, which does not change the chain beff + entries
 * in list order. */
#define RL_BLOCK (48 * 1024)
static void KSFX(sparse_fwd_rows)(float *out, const mt_sp_rows *rows, const float *wt, const float *beff,
                                  int B, int OC, int relu)
{
    const int ld = rows->ld, nb = rows->nblk;
    const int nvt = (OC + VW - 1) / VW, nlast_t = OC - (nvt - 1) * VW;
    const int den = MT_SP_CHUNK * (int)sizeof(float) * OC, num = (nvt <= SP_PAIR_NV ? 2 : 1) * RL_BLOCK;
    const int per = (2 * num + den) / (2 * den); /* rounded: 128 pixels at 128 outputs, 384 at 64 */
    const int bch = per > 1 ? per : 1; /* chunks per block */
    for (int i = 0; i < B; i++)
        memcpy(out + (ptrdiff_t)i * OC, beff, (size_t)OC * sizeof *out);
    for (int j = 0; j < nb; j += bch) {
        const int je = (j + bch < nb ? j + bch : nb) - 1; /* the block's last chunk */
        int i = 0;
        if (nvt <= SP_PAIR_NV) /* narrow: two rows at once (latency-bound otherwise) */
            for (; i + 1 < B; i += 2) {
                const uint32_t *en = rows->ent + (ptrdiff_t)i * ld;
                const int *bk = rows->blk + (ptrdiff_t)i * nb;
                int a0 = j ? bk[j - 1] : 0, a1 = bk[je], b0 = j ? bk[nb + j - 1] : 0, b1 = bk[nb + je];
                if (a0 == a1 && b0 == b1)
                    continue;
                float *y = out + (ptrdiff_t)i * OC;
                switch (nvt) {
#define RL2_CASE(k) case k: rl_fwd2_##k(y, en, a0, a1, y + OC, en + ld, b0, b1, rows->lut, \
                                        wt, OC, nlast_t); break;
                    SP2_LIST(RL2_CASE)
#undef RL2_CASE
                default: assert(0);
                }
            }
        for (; i < B; i++) {
            const uint32_t *en = rows->ent + (ptrdiff_t)i * ld;
            const int *bk = rows->blk + (ptrdiff_t)i * nb;
            int k0 = j ? bk[j - 1] : 0, k1 = bk[je];
            if (k0 == k1)
                continue;
            float *y = out + (ptrdiff_t)i * OC;
            for (int o0 = 0; o0 < OC; o0 += SP_NV * VW) {
                int ow = OC - o0 < SP_NV * VW ? OC - o0 : SP_NV * VW;
                int nv = (ow + VW - 1) / VW, nlast = ow - (nv - 1) * VW;
                switch (nv) {
#define RL_CASE(k) case k: rl_fwd1_##k(y + o0, en, rows->lut, k0, k1, wt + o0, OC, y + o0, nlast); break;
                    SP_LIST(RL_CASE)
#undef RL_CASE
                default: assert(0);
                }
            }
        }
    }
    if (relu) {
        size_t N = (size_t)B * OC, j = 0;
        for (; j + VW <= N; j += VW)
            V_STORE(out + j, V_MAX(V_LOAD(out + j), V_ZERO()));
        for (; j < N; j++)
            out[j] = out[j] < 0.f ? 0.f : out[j];
    }
}

/* Column masks: each row's non-zero bits 64 columns at a time (nzmask),
 * then the 64 x 64 bit block transposed (bit_transpose64: 6 stages of
 * masked swaps, a[k] bit j <-> a[j] bit k). */
#ifndef KERN_BIT_TRANSPOSE64
static void bit_transpose64(uint64_t a[64])
{
    static const uint64_t lo[6] = { 0x00000000ffffffffull, 0x0000ffff0000ffffull, 0x00ff00ff00ff00ffull,
                                    0x0f0f0f0f0f0f0f0full, 0x3333333333333333ull, 0x5555555555555555ull };
    for (int st = 0, s = 32; s; st++, s >>= 1)
        for (int k0 = 0; k0 < 64; k0 += 2 * s)
            for (int k = k0; k < k0 + s; k++) {
                uint64_t t = ((a[k] >> s) ^ a[k + s]) & lo[st];
                a[k + s] ^= t;
                a[k] ^= t << s;
            }
}
#endif

static void KSFX(sparse_masks)(uint64_t *masks, const uint8_t *px, int ldpx, int B, int c0, int c1)
{
    const int nw = (B + 63) / 64;
    uint64_t a[64];
    for (int w = 0; w < nw; w++) {
        const int rows = B - 64 * w < 64 ? B - 64 * w : 64;
        for (int b0 = c0; b0 < c1; b0 += 64) {
            const int n = c1 - b0 < 64 ? c1 - b0 : 64;
            for (int r = 0; r < rows; r++)
                a[r] = nzmask(px + (ptrdiff_t)(64 * w + r) * ldpx + b0, n);
            for (int r = rows; r < 64; r++)
                a[r] = 0;
            bit_transpose64(a);
            for (int q = 0; q < n; q++)
                masks[(ptrdiff_t)(b0 - c0 + q) * nw + w] = a[q];
        }
    }
}

/* One gradient row from column masks, or two sharing each dout row (up to MK_PAIR_NV vectors). */
KERN_INLINE void mk_row1(float *g, const uint64_t *mk, int nw, const uint8_t *pc, int ldpx, const float *lut,
                         const float *dout, int OC, const float *cs, vf sh, int nv, int nlast)
{
    vf acc[SP_NV];
#pragma GCC unroll 8
    for (int v = 0; v < nv; v++)
        acc[v] = V_ZERO();
    for (int w = 0; w < nw; w++)
        for (uint64_t m = mk[w]; m; m &= m - 1) {
            int i = w * 64 + __builtin_ctzll(m);
            axpy_acc(acc, V_SET1(lut[pc[(ptrdiff_t)i * ldpx]]), dout + (ptrdiff_t)i * OC, nv, nlast);
        }
    vf c[SP_NV];
    rl_load(c, cs, nv, nlast);
#pragma GCC unroll 8
    for (int v = 0; v < nv; v++)
        acc[v] = V_ADD(acc[v], V_MUL(sh, c[v]));
    rl_store(g, acc, nv, nlast, 0);
}

KERN_INLINE void mk_row2(float *g0, const uint64_t *mk0, float *g1, const uint64_t *mk1, int nw, const uint8_t *pc,
                         int ldpx, const float *lut, const float *dout, int OC, const float *cs, vf sh, int nv,
                         int nlast)
{
    vf a0[MK_PAIR_NV], a1[MK_PAIR_NV], c[MK_PAIR_NV];
#pragma GCC unroll 8
    for (int v = 0; v < nv; v++)
        a0[v] = a1[v] = V_ZERO();
    /* rows with either pixel (71 % of them have both, for neighbouring MNIST
     * pixels): dout's row is loaded once for the two columns.  Where one
     * pixel is 0 its value lut[0] is 0 and the FMA adds +-0 to an
     * accumulator that started at +0 and so is never -0: its bits do not
     * change, and each column keeps the chain of its own rows. */
    for (int w = 0; w < nw; w++)
        for (uint64_t m = mk0[w] | mk1[w]; m; m &= m - 1) {
            const int i = w * 64 + __builtin_ctzll(m);
            const uint8_t *p = pc + (ptrdiff_t)i * ldpx;
            const float *row = dout + (ptrdiff_t)i * OC;
            vf x0 = V_SET1(lut[p[0]]), x1 = V_SET1(lut[p[1]]);
#pragma GCC unroll 8
            for (int v = 0; v < nv; v++) {
                vf d = v == nv - 1 && nlast < VW ? V_LOADN(row + v * VW, nlast) : V_LOAD(row + v * VW);
                KEEP_IN_REG(d);
                a0[v] = V_FMA(x0, d, a0[v]);
                a1[v] = V_FMA(x1, d, a1[v]);
            }
        }
    rl_load(c, cs, nv, nlast);
#pragma GCC unroll 8
    for (int v = 0; v < nv; v++) {
        a0[v] = V_ADD(a0[v], V_MUL(sh, c[v]));
        a1[v] = V_ADD(a1[v], V_MUL(sh, c[v]));
    }
    rl_store(g0, a0, nv, nlast, 0);
    rl_store(g1, a1, nv, nlast, 0);
}

/* Four columns' gradient rows sharing each dout row: the rows with any of
 * the four pixels (MNIST, 64-row batches: 3.6k per batch against 5.7k for
 * pairs, so the FMAs go from latency- to throughput-bound at nv 4).  A zero
 * pixel adds +-0 as in mk_row2: each column keeps its own chain. */
KERN_INLINE void mk_row4(float *g, const uint64_t *mk, int nw, const uint8_t *pc, int ldpx, const float *lut,
                         const float *dout, int OC, const float *cs, vf sh, int nv, int nlast)
{
    vf a[4][MK_QUAD_NV], c[MK_QUAD_NV];
#pragma GCC unroll 4
    for (int q = 0; q < 4; q++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            a[q][v] = V_ZERO();
    for (int w = 0; w < nw; w++)
        for (uint64_t m = mk[w] | mk[nw + w] | mk[2 * nw + w] | mk[3 * nw + w]; m; m &= m - 1) {
            const int i = w * 64 + __builtin_ctzll(m);
            const uint8_t *p = pc + (ptrdiff_t)i * ldpx;
            const float *row = dout + (ptrdiff_t)i * OC;
            vf x[4];
#pragma GCC unroll 4
            for (int q = 0; q < 4; q++)
                x[q] = V_SET1(lut[p[q]]);
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++) {
                vf d = v == nv - 1 && nlast < VW ? V_LOADN(row + v * VW, nlast) : V_LOAD(row + v * VW);
                KEEP_IN_REG(d);
#pragma GCC unroll 4
                for (int q = 0; q < 4; q++)
                    a[q][v] = V_FMA(x[q], d, a[q][v]);
            }
        }
    rl_load(c, cs, nv, nlast);
#pragma GCC unroll 4
    for (int q = 0; q < 4; q++) {
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            a[q][v] = V_ADD(a[q][v], V_MUL(sh, c[v]));
        rl_store(g + (ptrdiff_t)q * OC, a[q], nv, nlast, 0);
    }
}

#define MK_FN(n) \
    static void mk_row1_##n(float *g, const uint64_t *mk, int nw, const uint8_t *pc, int ldpx, const float *lut, \
                            const float *dout, int OC, const float *cs, vf sh, int nlast) \
    { mk_row1(g, mk, nw, pc, ldpx, lut, dout, OC, cs, sh, n, nlast); }
#define MK2_FN(n) \
    static void mk_row2_##n(float *g0, const uint64_t *mk0, float *g1, const uint64_t *mk1, int nw, \
                            const uint8_t *pc, int ldpx, const float *lut, const float *dout, int OC, \
                            const float *cs, vf sh, int nlast) \
    { mk_row2(g0, mk0, g1, mk1, nw, pc, ldpx, lut, dout, OC, cs, sh, n, nlast); }
#define MK4_FN(n) \
    static void mk_row4_##n(float *g, const uint64_t *mk, int nw, const uint8_t *pc, int ldpx, const float *lut, \
                            const float *dout, int OC, const float *cs, vf sh, int nlast) \
    { mk_row4(g, mk, nw, pc, ldpx, lut, dout, OC, cs, sh, n, nlast); }
SP_LIST(MK_FN)
MK2_LIST(MK2_FN)
MK4_LIST(MK4_FN)
#undef MK_FN
#undef MK2_FN
#undef MK4_FN

static void KSFX(sparse_bwd_masks)(float *gt, const float *dout, const float *cs, const uint64_t *masks,
                                   const uint8_t *px, int ldpx, const float *lut, int B, int OC, float shift,
                                   int c0, int c1)
{
    const int nw = (B + 63) / 64, nvt = (OC + VW - 1) / VW, nlast = OC - (nvt - 1) * VW;
    vf sh = V_SET1(shift);
    int c = c0;
    if (nvt <= MK_QUAD_NV) /* four columns at once */
        for (; c + 3 < c1; c += 4) {
            float *g = gt + (ptrdiff_t)(c - c0) * OC;
            const uint64_t *mk = masks + (ptrdiff_t)(c - c0) * nw;
            switch (nvt) {
#define MK4_CASE(k) case k: mk_row4_##k(g, mk, nw, px + c, ldpx, lut, dout, OC, cs, sh, nlast); break;
                MK4_LIST(MK4_CASE)
#undef MK4_CASE
            default: assert(0);
            }
        }
    if (nvt <= MK_PAIR_NV) /* two columns at once */
        for (; c + 1 < c1; c += 2) {
            float *g = gt + (ptrdiff_t)(c - c0) * OC;
            const uint64_t *mk = masks + (ptrdiff_t)(c - c0) * nw;
            switch (nvt) {
#define MK2_CASE(k) case k: mk_row2_##k(g, mk, g + OC, mk + nw, nw, px + c, ldpx, lut, dout, OC, cs, sh, nlast); break;
                MK2_LIST(MK2_CASE)
#undef MK2_CASE
            default: assert(0);
            }
        }
    for (; c < c1; c++) {
        float *g = gt + (ptrdiff_t)(c - c0) * OC;
        const uint64_t *mk = masks + (ptrdiff_t)(c - c0) * nw;
        for (int o0 = 0; o0 < OC; o0 += SP_NV * VW) {
            int ow = OC - o0 < SP_NV * VW ? OC - o0 : SP_NV * VW;
            int nv = (ow + VW - 1) / VW, nl = ow - (nv - 1) * VW;
            switch (nv) {
#define MK_CASE(k) case k: mk_row1_##k(g + o0, mk, nw, px + c, ldpx, lut, dout + o0, OC, cs + o0, sh, nl); break;
                SP_LIST(MK_CASE)
#undef MK_CASE
            default: assert(0);
            }
        }
    }
}

static void KSFX(linear_bwd_wt)(float *gt, const float *dout, const float *inp, int B, int C, int OC,
                                int c0, int c1)
{
    assert(0 <= c0 && c0 <= c1 && c1 <= C);
    gemm_args g = { .a = inp + c0, .rsa = 1, .csa = C, .b = dout, .ldb = OC,
                    .c = gt, .ldc = OC, .M = c1 - c0, .N = OC, .K = B };
    gemm(&g);
}

/* s[j] += x[r][j] over rows r ascending: one add chain per column, so the
 * time is rows times the add latency unless the chains overlap.  Up to four
 * vectors of columns (the last one ragged) share a pass over the rows: a
 * conv's bias gradient has N = 24 or 32 columns and B*P = 147456 rows. */
KERN_INLINE void colsum_pass(float *s, const float *x, int rows, int n, int nv, int nlast)
{
    vf a[4];
#pragma GCC unroll 4
    for (int v = 0; v < nv; v++)
        a[v] = v == nv - 1 && nlast < VW ? V_LOADN(s + v * VW, nlast) : V_LOAD(s + v * VW);
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (ptrdiff_t)r * n;
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            a[v] = V_ADD(a[v], v == nv - 1 && nlast < VW ? V_LOADN(xr + v * VW, nlast) : V_LOAD(xr + v * VW));
    }
#pragma GCC unroll 4
    for (int v = 0; v < nv; v++)
        if (v == nv - 1 && nlast < VW)
            V_STOREN(s + v * VW, a[v], nlast);
        else
            V_STORE(s + v * VW, a[v]);
}

static void KSFX(colsum_acc)(float *s, const float *x, int rows, int n)
{
    for (int j = 0; j < n; j += 4 * VW) {
        const int w = n - j < 4 * VW ? n - j : 4 * VW, nv = (w + VW - 1) / VW, nlast = w - (nv - 1) * VW;
        switch (nv * 2 + (nlast < VW)) { /* compile-time nv and edge for each pass */
        case 2: colsum_pass(s + j, x + j, rows, n, 1, VW); break;
        case 3: colsum_pass(s + j, x + j, rows, n, 1, nlast); break;
        case 4: colsum_pass(s + j, x + j, rows, n, 2, VW); break;
        case 5: colsum_pass(s + j, x + j, rows, n, 2, nlast); break;
        case 6: colsum_pass(s + j, x + j, rows, n, 3, VW); break;
        case 7: colsum_pass(s + j, x + j, rows, n, 3, nlast); break;
        case 8: colsum_pass(s + j, x + j, rows, n, 4, VW); break;
        default: colsum_pass(s + j, x + j, rows, n, 4, nlast); break;
        }
    }
}

/* ======================================================================== */
/* Softmax + cross-entropy, conversion, Adam                                 */
/* ======================================================================== */

/* VW rows from i0 with K <= VW classes, transposed in registers so that one
 * vector holds one class of every row: the same operations, in the same
 * order per row, as the row-at-a-time loop below (so the same bits), but
 * the max, exp and sum run across rows instead of along one short row.
 * Losses are made before any dlogits is stored (they may alias logits).
 * ls is the label smoothing (see softmax_xent_ls); at ls = 0 the targets
 * off = 0 and on = 1 are exact, so the bits are those without smoothing. */
KERN_INLINE void sm_block(double *total, float *dlogits, float *losses, const float *logits, const uint8_t *labels,
                          int i0, int K, float dscale, float ls)
{
    vf z[VW], e[VW];
    for (int r = 0; r < VW; r++)
        z[r] = K == VW ? V_LOAD(logits + (ptrdiff_t)(i0 + r) * K) : V_LOADN(logits + (ptrdiff_t)(i0 + r) * K, K);
    vtranspose(z);
    vf vmx = z[0], vsum = V_ZERO();
    for (int k = 1; k < K; k++)
        vmx = V_MAX(z[k], vmx);
    for (int k = 0; k < VW; k++) {
        e[k] = k < K ? v_exp(V_SUB(z[k], vmx)) : V_ZERO();
        vsum = V_ADD(vsum, e[k]);
    }
    float mx[VW], sum[VW], sz[VW];
    V_STORE(mx, vmx);
    V_STORE(sum, vsum);
    if (ls != 0.f) { /* each row's sum of logits, in k order like the reference */
        vf vsz = V_ZERO();
        for (int k = 0; k < K; k++)
            vsz = V_ADD(vsz, z[k]);
        V_STORE(sz, vsz);
    }
    for (int r = 0; r < VW; r++) {
        int y = labels[i0 + r];
        assert(y < K);
        float lse_off = logf(sum[r]), loss = (mx[r] - logits[(ptrdiff_t)(i0 + r) * K + y]) + lse_off;
        if (ls != 0.f)
            loss = (1.f - ls) * loss + ls * ((mx[r] - sz[r] / (float)K) + lse_off);
        if (losses)
            losses[i0 + r] = loss;
        *total += loss;
    }
    const float off = ls / (float)K, on = (1.f - ls) + off;
    vf vinv = V_DIV(V_SET1(1.f), vsum), ds = V_SET1(dscale), voff = V_SET1(off);
    for (int k = 0; k < K; k++)
        e[k] = V_MUL(e[k], vinv);
    vtranspose(e);
    float tmp[VW];
    for (int r = 0; r < VW; r++) {
        float *dz = dlogits + (ptrdiff_t)(i0 + r) * K;
        int y = labels[i0 + r];
        V_STORE(tmp, e[r]);
        vf d = ls != 0.f ? V_SUB(e[r], voff) : e[r];
        if (K == VW)
            V_STORE(dz, V_MUL(d, ds));
        else
            V_STOREN(dz, V_MUL(d, ds), K);
        dz[y] = (tmp[y] - on) * dscale;
    }
}

KERN_INLINE double sm_all(float *dlogits, float *losses, const float *logits, const uint8_t *labels, int B, int K,
                          float dscale, float ls)
{
    double total = 0.0;
    float tmp[VW];
    const float off = ls / (float)K, on = (1.f - ls) + off;
    int i = 0;
    for (; K <= VW && i + VW <= B; i += VW)
        sm_block(&total, dlogits, losses, logits, labels, i, K, dscale, ls);
    for (; i < B; i++) {
        const float *z = logits + (ptrdiff_t)i * K;
        float *dz = dlogits + (ptrdiff_t)i * K;
        int y = labels[i];
        assert(y < K);
        float mx = z[0], sz = 0.f;
        for (int k = 1; k < K; k++)
            mx = z[k] > mx ? z[k] : mx;
        if (ls != 0.f)
            for (int k = 0; k < K; k++)
                sz += z[k];
        /* Subtract the row max before exp so huge logits cannot overflow; the
         * lane sums are added in k order like the reference. */
        vf vmx = V_SET1(mx);
        float sum = 0.f;
        for (int k0 = 0; k0 < K; k0 += VW) {
            int n = K - k0 < VW ? K - k0 : VW;
            V_STORE(tmp, v_exp(V_SUB(n == VW ? V_LOAD(z + k0) : V_LOADN(z + k0, n), vmx)));
            for (int k = 0; k < n; k++)
                sum += tmp[k];
        }
        /* (mx - z[y]) + log(sum), not lse - z[y]: with huge logits mx + log(sum)
         * would round to mx and lose log(sum) (same formula as the reference). */
        float lse_off = logf(sum), loss = (mx - z[y]) + lse_off;
        if (ls != 0.f)
            loss = (1.f - ls) * loss + ls * ((mx - sz / (float)K) + lse_off);
        if (losses)
            losses[i] = loss;
        total += loss;
        vf vinv = V_SET1(1.f / sum), ds = V_SET1(dscale), voff = V_SET1(off);
        for (int k0 = 0; k0 < K; k0 += VW) {
            int n = K - k0 < VW ? K - k0 : VW;
            vf p = V_MUL(v_exp(V_SUB(n == VW ? V_LOAD(z + k0) : V_LOADN(z + k0, n), vmx)), vinv);
            V_STORE(tmp, p);
            float py = y >= k0 && y < k0 + n ? tmp[y - k0] : 0.f;
            if (ls != 0.f)
                V_STORE(tmp, V_SUB(p, voff));
            if (y >= k0 && y < k0 + n)
                tmp[y - k0] = py - on;
            p = V_MUL(V_LOAD(tmp), ds);
            if (n == VW)
                V_STORE(dz + k0, p);
            else
                V_STOREN(dz + k0, p, n);
        }
    }
    return total;
}

static double KSFX(softmax_xent)(float *dlogits, float *losses, const float *logits,
                                 const uint8_t *labels, int B, int K, float dscale)
{
    return sm_all(dlogits, losses, logits, labels, B, K, dscale, 0.f);
}

static double KSFX(softmax_xent_ls)(float *dlogits, float *losses, const float *logits,
                                    const uint8_t *labels, int B, int K, float dscale, float ls)
{
    assert(ls >= 0.f && ls <= 1.f);
    return sm_all(dlogits, losses, logits, labels, B, K, dscale, ls);
}

static void KSFX(u8_to_f32)(float *out, const uint8_t *in, size_t N, float scale, float shift)
{
    vf s = V_SET1(scale), t = V_SET1(shift);
    size_t i = 0;
    for (; i + VW <= N; i += VW)
        V_STORE(out + i, V_ADD(V_MUL(V_LOADU8(in + i), s), t));
    for (; i < N; i++)
        out[i] = (float)in[i] * scale + shift;
}

/* mt_adam_ref's operations without FMA, except sqrt(v)/sqrt(bc2) is a multiply
 * by 1/sqrt(bc2) (one vector divide less per element; <= 1 ulp in the
 * denominator).  Elementwise, so any split of N gives the same bits. */
static void KSFX(adam)(float *p, const float *g, float *m, float *v, size_t N,
                       float lr, float b1, float b2, float eps, float bc1, float bc2,
                       float wd_l2, float wd_decoupled)
{
    float step = lr / bc1, sbc2 = sqrtf(bc2), keep = 1.f - lr * wd_decoupled;
    vf vb1 = V_SET1(b1), vb2 = V_SET1(b2), vc1 = V_SET1(1.f - b1), vc2 = V_SET1(1.f - b2);
    vf vstep = V_SET1(step), visbc2 = V_SET1(1.f / sbc2), veps = V_SET1(eps);
    vf vwd = V_SET1(wd_l2), vkeep = V_SET1(keep);
    size_t i = 0;
    for (; i + VW <= N; i += VW) {
        vf pi = V_LOAD(p + i);
        vf gi = V_ADD(V_LOAD(g + i), V_MUL(vwd, pi));
        if (wd_decoupled != 0.f)
            pi = V_MUL(pi, vkeep);
        vf mi = V_ADD(V_MUL(vb1, V_LOAD(m + i)), V_MUL(vc1, gi));
        vf vi = V_ADD(V_MUL(vb2, V_LOAD(v + i)), V_MUL(V_MUL(vc2, gi), gi));
        V_STORE(m + i, mi);
        V_STORE(v + i, vi);
        vf den = V_ADD(V_MUL(V_SQRT(vi), visbc2), veps);
        pi = V_SUB(pi, V_DIV(V_MUL(vstep, mi), den));
        V_STORE(p + i, pi);
    }
    if (i < N)
        mt_adam_ref(p + i, g + i, m + i, v + i, N - i, lr, b1, b2, eps, bc1, bc2,
                    wd_l2, wd_decoupled);
}

/* mt_adadelta_ref's operations in its order, no FMA: the same bits.
 * Elementwise, so any split of N gives the same bits. */
static void KSFX(adadelta)(float *p, const float *g, float *sq, float *acc, size_t N,
                           float lr, float rho, float eps, float wd)
{
    vf vrho = V_SET1(rho), vc = V_SET1(1.f - rho), veps = V_SET1(eps), vlr = V_SET1(lr), vwd = V_SET1(wd);
    size_t i = 0;
    for (; i + VW <= N; i += VW) {
        vf pi = V_LOAD(p + i);
        vf gi = V_ADD(V_LOAD(g + i), V_MUL(vwd, pi));
        vf si = V_ADD(V_MUL(vrho, V_LOAD(sq + i)), V_MUL(V_MUL(vc, gi), gi));
        vf ai = V_LOAD(acc + i);
        vf d = V_MUL(V_DIV(V_SQRT(V_ADD(ai, veps)), V_SQRT(V_ADD(si, veps))), gi);
        V_STORE(sq + i, si);
        V_STORE(acc + i, V_ADD(V_MUL(vrho, ai), V_MUL(V_MUL(vc, d), d)));
        V_STORE(p + i, V_SUB(pi, V_MUL(vlr, d)));
    }
    if (i < N)
        mt_adadelta_ref(p + i, g + i, sq + i, acc + i, N - i, lr, rho, eps, wd);
}

/* ======================================================================== */
/* General product (convolutions)                                            */
/* ======================================================================== */

static void KSFX(gemm)(float *c, ptrdiff_t ldc, const float *a, ptrdiff_t rsa, ptrdiff_t csa,
                       const float *b, ptrdiff_t ldb, const float *bias, int M, int N, int K,
                       int load_c)
{
    gemm_args g = { .a = a, .rsa = rsa, .csa = csa, .b = b, .ldb = ldb, .c = c, .ldc = ldc,
                    .M = M, .N = N, .K = K, .load_c = load_c, .bias = bias };
    gemm(&g);
}

static void KSFX(gemm_gather)(float *c, ptrdiff_t ldc, const float *a, const int *ia, const int *ka,
                              const float *b, ptrdiff_t ldb, const float *bias, int M, int N, int K,
                              int load_c, float *colsum)
{
    gemm_args g = { .a = a, .ia = ia, .ka = ka, .b = b, .ldb = ldb, .c = c, .ldc = ldc,
                    .M = M, .N = N, .K = K, .load_c = load_c, .bias = bias, .colsum = colsum };
    gemm(&g);
}

/* ======================================================================== */
/* 2x2 max-pool                                                              */
/* ======================================================================== */

/* One window, n <= VW channels: the reference's comparisons lane by lane (a
 * select copies the winner's bits); arg goes out through a float vector. */
KERN_INLINE void pool_vec(float *y, uint8_t *ag, const float *x, ptrdiff_t dx, ptrdiff_t dy, int n)
{
    const float *xs[3] = { x + dx, x + dy, x + dy + dx };
    vf m = n == VW ? V_LOAD(x) : V_LOADN(x, n), a = V_ZERO();
#pragma GCC unroll 3
    for (int q = 0; q < 3; q++) {
        vf v = n == VW ? V_LOAD(xs[q]) : V_LOADN(xs[q], n);
        a = V_SELGTN(v, m, a, V_SET1((float)(q + 1)));
        m = V_SELGTN(v, m, m, v);
    }
    float t[VW];
    V_STORE(t, a);
    if (n == VW)
        V_STORE(y, m);
    else
        V_STOREN(y, m, n);
    for (int j = 0; j < n; j++)
        ag[j] = (uint8_t)t[j];
}

static void KSFX(maxpool2_fwd)(float *out, uint8_t *arg, const float *inp, int B, int H, int W, int C)
{
    const int OH = H / 2, OW = W / 2;
    for (int b = 0; b < B; b++)
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                const float *x = inp + (((size_t)b * H + 2 * oy) * W + 2 * ox) * C;
                size_t o = (((size_t)b * OH + oy) * OW + ox) * C;
                int c = 0;
                for (; c + VW <= C; c += VW)
                    pool_vec(out + o + c, arg + o + c, x + c, C, (ptrdiff_t)W * C, VW);
                if (c < C)
                    pool_vec(out + o + c, arg + o + c, x + c, C, (ptrdiff_t)W * C, C - c);
            }
}

/* Each window's four positions are written once (dout where arg is that
 * position, else 0: 0.5 - (arg-q)^2 > 0 only at arg = q), so dinp needs no
 * clearing unless an odd last row/column lies outside every window. */
static void KSFX(maxpool2_bwd)(float *dinp, const float *dout, const uint8_t *arg, int B, int H, int W, int C)
{
    const int OH = H / 2, OW = W / 2;
    if ((H | W) & 1)
        memset(dinp, 0, (size_t)B * H * W * C * sizeof *dinp);
    const vf half = V_SET1(0.5f);
    const size_t nout = (size_t)B * OH * OW * C;
    for (int b = 0; b < B; b++)
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                float *dx = dinp + (((size_t)b * H + 2 * oy) * W + 2 * ox) * C;
                float *const dq[4] = { dx, dx + C, dx + (size_t)W * C, dx + (size_t)W * C + C };
                size_t o = (((size_t)b * OH + oy) * OW + ox) * C;
                for (int c = 0; c < C; c += VW) {
                    const int n = C - c < VW ? C - c : VW;
                    /* V_LOADU8 reads VW bytes: a ragged end reads on into the
                     * next window's (lanes not stored), the array's last one
                     * from a copy */
                    uint8_t tb[VW] = { 0 };
                    const uint8_t *ap = arg + o + c;
                    if (o + (size_t)c + VW > nout)
                        memcpy(tb, ap, (size_t)n), ap = tb;
                    vf d = n == VW ? V_LOAD(dout + o + c) : V_LOADN(dout + o + c, n);
                    vf a = V_LOADU8(ap);
#pragma GCC unroll 4
                    for (int q = 0; q < 4; q++) {
                        vf t = V_SUB(a, V_SET1((float)q)), y = V_MASKLE0(d, V_SUB(half, V_MUL(t, t)));
                        if (n == VW)
                            V_STORE(dq[q] + c, y);
                        else
                            V_STOREN(dq[q] + c, y, n);
                    }
                }
            }
}

/* ======================================================================== */
/* col2im                                                                    */
/* ======================================================================== */

/* d[0,n) += s[0,n), a vector at a time (each element one add). */
KERN_INLINE void add_run(float *d, const float *s, int n)
{
    int c = 0;
    for (; c + VW <= n; c += VW)
        V_STORE(d + c, V_ADD(V_LOAD(d + c), V_LOAD(s + c)));
    if (c < n)
        V_STOREN(d + c, V_ADD(V_LOADN(d + c, n - c), V_LOADN(s + c, n - c)), n - c);
}

/* The reference's loops: every element gets its terms in the same order.
 * A patch row's taps kw = 0..k-1 that lie inside the image are adjacent
 * pixels, C channels each, both in dinp and in dcol's row: one run of up to
 * k*C floats (72 for a 3x3 conv on 24 channels, not three of 24, whose
 * ragged ends on 16 lanes would be half the vectors). */
static void KSFX(col2im)(float *dinp, const float *dcol, int H, int W, int C, int k, int pad)
{
    const int OH = H + 2 * pad - k + 1, OW = W + 2 * pad - k + 1, CKK = k * k * C;
    memset(dinp, 0, (size_t)H * W * C * sizeof *dinp);
    for (int oy = 0; oy < OH; oy++)
        for (int ox = 0; ox < OW; ox++) {
            const float *row = dcol + ((size_t)oy * OW + ox) * CKK;
            const int x0 = ox - pad, kw0 = x0 < 0 ? -x0 : 0, kw1 = x0 + k > W ? W - x0 : k;
            for (int kh = 0; kh < k; kh++) {
                int y = oy - pad + kh;
                if (y < 0 || y >= H || kw0 >= kw1)
                    continue;
                add_run(dinp + ((size_t)y * W + x0 + kw0) * C, row + (kh * k + kw0) * C, (kw1 - kw0) * C);
            }
        }
}

/* ======================================================================== */

const mt_kern KSFX(mt_kern) = {
    .name = KERN_NAME,
    .linear_fwd = KSFX(linear_fwd),
    .linear_bwd_w = KSFX(linear_bwd_w),
    .linear_bwd_x = KSFX(linear_bwd_x),
    .softmax_xent = KSFX(softmax_xent),
    .softmax_xent_ls = KSFX(softmax_xent_ls),
    .u8_to_f32 = KSFX(u8_to_f32),
    .adam = KSFX(adam),
    .adadelta = KSFX(adadelta),
    .linear_fwd_t = KSFX(linear_fwd_t),
    .linear_fwd_t_acc = KSFX(linear_fwd_t_acc),
    .linear_bwd_w_cols = KSFX(linear_bwd_w_cols),
    .transpose = KSFX(transpose),
    .sparse_row_list = KSFX(sparse_row_list),
    .sparse_fwd_rows = KSFX(sparse_fwd_rows),
    .sparse_masks = KSFX(sparse_masks),
    .sparse_bwd_masks = KSFX(sparse_bwd_masks),
    .linear_bwd_wt = KSFX(linear_bwd_wt),
    .colsum_acc = KSFX(colsum_acc),
    .gemm = KSFX(gemm),
    .gemm_gather = KSFX(gemm_gather),
    .maxpool2_fwd = KSFX(maxpool2_fwd),
    .maxpool2_bwd = KSFX(maxpool2_bwd),
    .col2im = KSFX(col2im),
};
