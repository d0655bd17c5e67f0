/* test_kern: every kernel variant compiled in (mt_kern_variants) against the
 * scalar reference on random data and ragged shapes, the sparse first layer
 * also against the dense reference and as the exact chains its contract
 * names, the thread-split invariance the training step relies on, and the
 * dispatcher's refusals.  A variant this CPU cannot run is reported as
 * SKIPPED by cmocka, never counted as passed. */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mt_kern.h"
#include "../src/kern/kern_impl.h" /* the AVX-512 row listers */

static const int SHAPES[] = { 1, 3, 7, 15, 16, 17, 63, 64, 65, 128, 784 };
#define N_SHAPES ((int)(sizeof SHAPES / sizeof *SHAPES))
/* The model's layers (C, OC) and batch sizes. */
static const int MODEL_C[] = { 784, 128, 64 }, MODEL_OC[] = { 128, 64, 10 }, MODEL_B[] = { 64, 1000, 32 };
static const double ZERO_FRAC[] = { 0.0, 0.5, 0.81, 1.0 };
/* MNIST's normalisation: x = px/255 - 0.1307) / 0.3081 */
#define SCALE (1.f / (255.f * 0.3081f))
#define SHIFT (-0.1307f / 0.3081f)
#define RTOL 1e-5

/* ---- helpers ------------------------------------------------------------ */

static uint64_t rng = 88172645463325252ull;
static float frand(void) /* uniform in [-1, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) * (1.0 / 8388608.0)) - 1.f;
}

static float *randv(size_t n, double zero_frac)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++) {
        float u = frand();
        p[i] = (u + 1.f) * 0.5f < zero_frac ? 0.f : frand();
    }
    return p;
}

static uint8_t *randpx(size_t n, double zero_frac)
{
    uint8_t *p = malloc(n ? n : 1);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++) {
        float u = (frand() + 1.f) * 0.5f;
        p[i] = u < zero_frac ? 0 : (uint8_t)(1 + (rng >> 33) % 255);
    }
    return p;
}

static float *copyv(const float *s, size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    assert_non_null(p);
    memcpy(p, s, n * sizeof *p);
    return p;
}

static float maxabs(const float *p, size_t n)
{
    float m = 0.f;
    for (size_t i = 0; i < n; i++)
        m = fabsf(p[i]) > m ? fabsf(p[i]) : m;
    return m;
}

/* |x - r| <= atol + RTOL |r| elementwise; prints the first failure. */
static int close_enough(const char *what, const float *x, const float *r, size_t n, double atol,
                        int M, int N, int K, double zf)
{
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)x[i] - r[i]);
        if (!(d <= atol + RTOL * fabs(r[i]))) {
            print_error("%s M=%d N=%d K=%d zeros=%.2f: [%zu] got %.9g want %.9g (|d|=%.3g atol=%.3g)\n",
                        what, M, N, K, zf, i, x[i], r[i], d, atol);
            return 0;
        }
    }
    return 1;
}

/* Tolerance of a length-K float reduction of products bounded by amax*bmax. */
static double red_atol(int K, float amax, float bmax)
{
    return 2.0 * FLT_EPSILON * (K + 2) * (double)amax * bmax + 1e-30;
}

typedef struct {
    mt_kern_variant v;
    char name[64];
} vstate;

static const mt_kern *variant_or_skip(void **state)
{
    vstate *s = *state;
    if (!s->v.runnable) {
        print_message("skipped: this CPU cannot run the %s kernels\n", s->v.k->name);
        skip();
    }
    return s->v.k;
}

/* The (M,N,K) triples tried: the cube of SHAPES with M*N*K <= cap. */
#define CUBE_CAP 600000L
#define FOR_CUBE(M, N, K, idx)                                                   \
    for (int im_ = 0, idx = 0; im_ < N_SHAPES; im_++)                            \
        for (int in_ = 0; in_ < N_SHAPES; in_++)                                 \
            for (int ik_ = 0; ik_ < N_SHAPES; ik_++)                             \
                for (int M = SHAPES[im_], N = SHAPES[in_], K = SHAPES[ik_], once_ = 1; \
                     once_ && (long)M * N * K <= CUBE_CAP; once_ = 0, idx++)

/* ---- dense GEMM shapes -------------------------------------------------- */

static int same_bits(const char *what, const float *x, const float *r, size_t n, int M, int N, int K,
                     double zf);

static void check_fwd(const mt_kern *k, int B, int C, int OC, double zf, int relu, int bias)
{
    const mt_kern *R = mt_kern_ref();
    float *x = randv((size_t)B * C, zf), *w = randv((size_t)OC * C, 0.0), *b = randv(OC, 0.0);
    float *wt = randv((size_t)C * OC, 0.0);
    float *y = randv((size_t)B * OC, 0.0), *y2 = randv((size_t)B * OC, 0.0), *r = randv((size_t)B * OC, 0.0);
    R->linear_fwd(r, x, w, bias ? b : NULL, B, C, OC, relu);
    k->linear_fwd(y, x, w, bias ? b : NULL, B, C, OC, relu);
    k->transpose(wt, w, C, OC, 0, C);
    k->linear_fwd_t(y2, x, wt, bias ? b : NULL, B, C, OC, relu);
    double atol = red_atol(C, maxabs(x, (size_t)B * C), 1.f);
    assert_true(close_enough("linear_fwd", y, r, (size_t)B * OC, atol, B, OC, C, zf));
    assert_true(close_enough("linear_fwd_t", y2, r, (size_t)B * OC, atol, B, OC, C, zf));
    /* linear_fwd_t_acc over two parts of the inputs, as separate matrices
     * and in place (rows of C floats): the same chains, bit for bit, here
     * and in the reference */
    int cp = C / 2;
    float *x0 = randv((size_t)B * cp + 1, 0.0), *x1 = randv((size_t)B * (C - cp) + 1, 0.0);
    float *y3 = randv((size_t)B * OC, 0.0), *yr = randv((size_t)B * OC, 0.0), *yr3 = randv((size_t)B * OC, 0.0);
    for (int i = 0; i < B; i++) {
        memcpy(x0 + (size_t)i * cp, x + (size_t)i * C, (size_t)cp * sizeof *x);
        memcpy(x1 + (size_t)i * (C - cp), x + (size_t)i * C + cp, (size_t)(C - cp) * sizeof *x);
    }
    for (int v = 0; v < 2; v++) {
        const mt_kern *kk = v ? R : k;
        float *whole = v ? yr : y2, *parts = v ? yr3 : y3;
        if (v)
            R->linear_fwd_t(yr, x, wt, bias ? b : NULL, B, C, OC, relu);
        kk->linear_fwd_t_acc(parts, x0, cp, wt, bias ? b : NULL, B, cp, OC, relu, 0, 0);
        kk->linear_fwd_t_acc(parts, x1, C - cp, wt + (size_t)cp * OC, bias ? b : NULL, B, C - cp, OC, relu, 1, 1);
        assert_true(same_bits(v ? "ref linear_fwd_t_acc parts" : "linear_fwd_t_acc parts", parts, whole,
                              (size_t)B * OC, B, OC, C, zf));
        memset(parts, 0xff, (size_t)B * OC * sizeof *parts);
        kk->linear_fwd_t_acc(parts, x, C, wt, bias ? b : NULL, B, cp, OC, relu, 0, 0);
        kk->linear_fwd_t_acc(parts, x + cp, C, wt + (size_t)cp * OC, bias ? b : NULL, B, C - cp, OC, relu, 1, 1);
        assert_true(same_bits(v ? "ref linear_fwd_t_acc parts in place" : "linear_fwd_t_acc parts in place", parts,
                              whole, (size_t)B * OC, B, OC, C, zf));
        /* an empty part (C = 0, inputs not read): out + b, then ReLU */
        for (size_t i = 0; i < (size_t)B * OC; i++) {
            float t = y[i] + (bias ? b[i % OC] : 0.f);
            whole[i] = relu && !(t > 0.f) ? 0.f : t;
        }
        memcpy(parts, y, (size_t)B * OC * sizeof *parts);
        kk->linear_fwd_t_acc(parts, x, 0, wt, bias ? b : NULL, B, 0, OC, relu, 1, 1);
        assert_true(same_bits(v ? "ref linear_fwd_t_acc empty part" : "linear_fwd_t_acc empty part", parts, whole,
                              (size_t)B * OC, B, OC, 0, zf));
    }
    free(x0), free(x1), free(y3), free(yr), free(yr3);
    free(x), free(w), free(b), free(wt), free(y), free(y2), free(r);
}

static void test_linear_fwd_matches_ref(void **state)
{
    const mt_kern *k = variant_or_skip(state);
    FOR_CUBE(B, C, OC, idx)
        check_fwd(k, B, C, OC, ZERO_FRAC[idx % 4], idx & 1, (idx >> 1) & 1);
    for (int l = 0; l < 3; l++)
        for (int bi = 0; bi < 3; bi++)
            for (int z = 0; z < 4; z++)
                check_fwd(k, MODEL_B[bi], MODEL_C[l], MODEL_OC[l], ZERO_FRAC[z], l < 2, 1);
}

static void check_bwd_w(const mt_kern *k, int B, int C, int OC, double zf, int with_db)
{
    const mt_kern *R = mt_kern_ref();
    float *dout = randv((size_t)B * OC, 0.0), *x = randv((size_t)B * C, zf);
    float *dw0 = randv((size_t)OC * C, 0.0), *db0 = randv(OC, 0.0);
    float *dwr = copyv(dw0, (size_t)OC * C), *dbr = copyv(db0, OC);
    float *dw = copyv(dw0, (size_t)OC * C), *db = copyv(db0, OC);
    float *dw2 = copyv(dw0, (size_t)OC * C), *db2 = copyv(db0, OC);
    R->linear_bwd_w(dwr, with_db ? dbr : NULL, dout, x, B, C, OC);
    k->linear_bwd_w(dw, with_db ? db : NULL, dout, x, B, C, OC);
    /* the same through a 3-way column split, db from the first part only */
    int c1 = C / 3, c2 = 2 * C / 3;
    k->linear_bwd_w_cols(dw2, with_db ? db2 : NULL, dout, x, B, C, OC, 0, c1);
    k->linear_bwd_w_cols(dw2, NULL, dout, x, B, C, OC, c1, c2);
    k->linear_bwd_w_cols(dw2, NULL, dout, x, B, C, OC, c2, C);
    double atol = red_atol(B + 1, maxabs(x, (size_t)B * C), 1.f) + 2 * FLT_EPSILON;
    assert_true(close_enough("linear_bwd_w dw", dw, dwr, (size_t)OC * C, atol, OC, C, B, zf));
    assert_true(close_enough("linear_bwd_w db", db, dbr, OC, atol + red_atol(B, 1.f, 1.f), OC, 1, B, zf));
    /* splitting the columns must not change a bit */
    assert_memory_equal(dw, dw2, (size_t)OC * C * sizeof *dw);
    assert_memory_equal(db, db2, (size_t)OC * sizeof *db);
    free(dout), free(x), free(dw0), free(db0), free(dwr), free(dbr), free(dw), free(db), free(dw2), free(db2);
}

static void test_linear_bwd_w_matches_ref(void **state)
{
    const mt_kern *k = variant_or_skip(state);
    FOR_CUBE(B, C, OC, idx)
        check_bwd_w(k, B, C, OC, ZERO_FRAC[idx % 4], idx & 1);
    for (int l = 0; l < 3; l++)
        for (int z = 0; z < 4; z++)
            check_bwd_w(k, 64, MODEL_C[l], MODEL_OC[l], ZERO_FRAC[z], 1);
}

static void check_bwd_x(const mt_kern *k, int B, int C, int OC, double zf, int masked)
{
    const mt_kern *R = mt_kern_ref();
    float *dout = randv((size_t)B * OC, zf), *w = randv((size_t)OC * C, 0.0);
    float *mask = randv((size_t)B * C, 0.3);
    float *dx = randv((size_t)B * C, 0.0), *r = randv((size_t)B * C, 0.0);
    R->linear_bwd_x(r, dout, w, masked ? mask : NULL, B, C, OC);
    k->linear_bwd_x(dx, dout, w, masked ? mask : NULL, B, C, OC);
    double atol = red_atol(OC, 1.f, 1.f);
    assert_true(close_enough("linear_bwd_x", dx, r, (size_t)B * C, atol, B, C, OC, zf));
    free(dout), free(w), free(mask), free(dx), free(r);
}

static void test_linear_bwd_x_matches_ref(void **state)
{
    const mt_kern *k = variant_or_skip(state);
    FOR_CUBE(B, C, OC, idx)
        check_bwd_x(k, B, C, OC, ZERO_FRAC[idx % 4], idx & 1);
    for (int l = 0; l < 3; l++)
        for (int z = 0; z < 4; z++)
            check_bwd_x(k, 64, MODEL_C[l], MODEL_OC[l], ZERO_FRAC[z], 1);
}

/* Forward rows split between "threads" give the same bits as one call. */
static void test_row_split_is_bit_identical(void **state)
{
    const mt_kern *k = variant_or_skip(state);
    const int B = 64, C = 784, OC = 128;
    float *x = randv((size_t)B * C, 0.81), *w = randv((size_t)OC * C, 0.0), *b = randv(OC, 0.0);
    float *wt = randv((size_t)C * OC, 0.0), *y = randv((size_t)B * OC, 0.0), *y2 = randv((size_t)B * OC, 0.0);
    float *dx = randv((size_t)B * C, 0), *dx2 = randv((size_t)B * C, 0);
    k->transpose(wt, w, C, OC, 0, C);
    k->linear_fwd_t(y, x, wt, b, B, C, OC, 1);
    for (int r0 = 0; r0 < B; r0 += 13) {
        int n = B - r0 < 13 ? B - r0 : 13;
        k->linear_fwd_t(y2 + (size_t)r0 * OC, x + (size_t)r0 * C, wt, b, n, C, OC, 1);
    }
    assert_memory_equal(y, y2, (size_t)B * OC * sizeof *y);
    k->linear_bwd_x(dx, y, w, x, B, C, OC);
    for (int r0 = 0; r0 < B; r0 += 27) {
        int n = B - r0 < 27 ? B - r0 : 27;
        k->linear_bwd_x(dx2 + (size_t)r0 * C, y + (size_t)r0 * OC, w, x + (size_t)r0 * C, n, C, OC);
    }
    assert_memory_equal(dx, dx2, (size_t)B * C * sizeof *dx);
    free(x), free(w), free(b), free(wt), free(y), free(y2), free(dx), free(dx2);
}

/* ---- sparse first layer (the engine's transposed form) ----------------- */

static float *zerov(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof *p);
    assert_non_null(p);
    return p;
}

/* Bit-for-bit equality (memcmp per element); prints the first difference. */
static int same_bits(const char *what, const float *x, const float *r, size_t n, int M, int N, int K,
                     double zf)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&x[i], &r[i], sizeof *x)) {
            uint32_t bx, br;
            memcpy(&bx, &x[i], sizeof bx);
            memcpy(&br, &r[i], sizeof br);
            print_error("%s M=%d N=%d K=%d zeros=%.2f: [%zu] got %.9g (0x%08x) want %.9g (0x%08x)\n",
                        what, M, N, K, zf, i, x[i], (unsigned)bx, r[i], (unsigned)br);
            return 0;
        }
    return 1;
}

/* gt ((c1-c0),OC) equals dw[:, c0:c1]^T, dw (OC,C), compared with == (so +0
 * and -0 are equal: "dw += y" turns a -0 into +0). */
static int is_transpose_of(const char *what, const float *gt, const float *dw, int B, int C, int OC,
                           int c0, int c1, double zf)
{
    for (int c = c0; c < c1; c++)
        for (int o = 0; o < OC; o++) {
            float g = gt[(size_t)(c - c0) * OC + o], d = dw[(size_t)o * C + c];
            if (!(g == d)) {
                print_error("%s B=%d C=%d OC=%d cols [%d,%d) zeros=%.2f: gt[c=%d, o=%d] = %.9g, "
                            "dw[o, c] = %.9g\n", what, B, C, OC, c0, c1, zf, c, o, g, d);
                return 0;
            }
        }
    return 1;
}

/* An entry's value by its pixel, as the engine makes the table. */
static float g_lut[256];

/* Row lists of px (B,C) from k's sparse_row_list, ld = C + MT_SP_SLACK (the minimum). */
static mt_sp_rows row_lists(const mt_kern *k, const uint8_t *px, int B, int C)
{
    int ld = C + MT_SP_SLACK, nb = (C + MT_SP_CHUNK - 1) / MT_SP_CHUNK;
    for (int p = 0; p < 256; p++)
        g_lut[p] = (float)p * SCALE;
    mt_sp_rows rows = { malloc((size_t)B * sizeof(int)), malloc((size_t)B * ld * sizeof(uint32_t)),
                        malloc((size_t)B * nb * sizeof(int)), ld, nb, g_lut };
    assert_non_null(rows.cnt);
    assert_non_null(rows.ent);
    assert_non_null(rows.blk);
    memset(rows.ent, 0xa5, (size_t)B * ld * sizeof(uint32_t));
    for (int i = 0; i < B; i++)
        rows.cnt[i] = k->sparse_row_list(rows.ent + (size_t)i * ld, rows.blk + (size_t)i * nb, px + (size_t)i * C, C);
    return rows;
}

static void free_rows(mt_sp_rows *rows)
{
    free(rows->cnt), free(rows->ent), free(rows->blk);
}

/* Column lists, the gradient's oracle: column c's entries are
 * ent[(c-c_base)*B + 0 .. cnt[c-c_base]), rows i ascending, v = px[i,c] *
 * scale. */
typedef struct { int i; float v; } sp_ent;
typedef struct {
    int *cnt;    /* (ncols) */
    sp_ent *ent; /* (ncols, B) */
    int c_base;  /* first column the arrays hold */
} sp_lists;

/* Column lists of ncols columns from c_base. */
static sp_lists alloc_lists(int B, int ncols, int c_base)
{
    sp_lists l = { calloc((size_t)ncols + 1, sizeof(int)), calloc((size_t)ncols * B + 1, sizeof(sp_ent)), c_base };
    assert_non_null(l.cnt);
    assert_non_null(l.ent);
    return l;
}

/* Column ranges tried on C columns: all of them, an interior one, and one
 * from an odd start to the end (empty when C == 1). */
static void col_ranges(int r[3][2], int C)
{
    int a = C / 3, b = 2 * C / 3 + 1, o = (C / 2) | 1;
    r[0][0] = 0, r[0][1] = C;
    r[1][0] = a, r[1][1] = b < C ? b : C;
    r[2][0] = o < C ? o : C, r[2][1] = C;
}

typedef int (*row_lister)(uint32_t *ent, int *blk, const uint8_t *px, int C);

/* list (name) against the reference and against the pixels themselves:
 * counts, chunk counts and entries, for ragged C (chunks of 48 ending on
 * both sides of 16- and 64-pixel boundaries), every zero fraction and every
 * alignment of px mod 4, with exactly C + MT_SP_SLACK entries of room. */
static void check_row_list(row_lister list, const char *name)
{
    static const int Cs[] = { 1, 3, 15, 16, 17, 47, 48, 49, 63, 64, 65, 95, 96, 127, 128, 129, 191, 192, 200, 784 };
    for (int ci = 0; ci < (int)(sizeof Cs / sizeof *Cs); ci++)
        for (int z = 0; z < 4; z++)
            for (int off = 0; off < 4; off++) { /* px at every alignment mod 4 */
                int C = Cs[ci];
                /* px ends where its allocation does, so ASan sees an overread */
                uint8_t *buf = randpx((size_t)C + off, ZERO_FRAC[z]), *px = buf + off;
                if (off == 3 && z == 3) /* only the first and the last pixel */
                    px[0] = 255, px[C - 1] = 1;
                /* exactly C + MT_SP_SLACK entries of room: ASan sees a write past it */
                const size_t room = (size_t)C + MT_SP_SLACK;
                uint32_t *en = malloc(room * sizeof *en), *er = malloc(room * sizeof *er);
                assert_true(en && er);
                memset(en, 0xa5, room * sizeof *en);
                /* exactly ceil(C / MT_SP_CHUNK) chunk counts */
                int nb = (C + MT_SP_CHUNK - 1) / MT_SP_CHUNK;
                int *blk = malloc((size_t)nb * sizeof *blk), *blr = malloc((size_t)nb * sizeof *blr);
                assert_true(blk && blr);
                int n = list(en, blk, px, C);
                int nr = mt_kern_ref()->sparse_row_list(er, blr, px, C);
                if (n != nr)
                    fail_msg("%s C=%d zeros=%.2f offset=%d: count %d, want %d", name, C, ZERO_FRAC[z], off, n, nr);
                for (int j = 0; j < nb; j++) {
                    int want = 0; /* independent of both: entries of columns below the chunk's end */
                    for (int c = 0; c < C && c < (j + 1) * MT_SP_CHUNK; c++)
                        want += px[c] != 0;
                    if (blk[j] != want || blr[j] != want)
                        fail_msg("%s C=%d zeros=%.2f offset=%d: chunk %d count %d (ref %d), want %d", name, C,
                                 ZERO_FRAC[z], off, j, blk[j], blr[j], want);
                }
                free(blk), free(blr);
                /* the entries, against the reference's and against px itself */
                for (int j = 0, c = 0; j < n; j++, c++) {
                    while (c < C && !px[c])
                        c++;
                    if (en[j] != er[j] || c >= C || MT_SP_COL(en[j]) != c || MT_SP_PX(en[j]) != px[c])
                        fail_msg("%s C=%d zeros=%.2f offset=%d: entry %d is (%d, %d), ref (%d, %d), "
                                 "want (%d, %d)", name, C, ZERO_FRAC[z], off, j, MT_SP_COL(en[j]), MT_SP_PX(en[j]),
                                 MT_SP_COL(er[j]), MT_SP_PX(er[j]), c, c < C ? px[c] : -1);
                }
                free(buf), free(en), free(er);
            }
}

static void test_sparse_row_list_matches_ref(void **state)
{
    const mt_kern *k = variant_or_skip(state);
    check_row_list(k->sparse_row_list, k->name);
}

/* The AVX-512 table lists rows with VBMI2 where the CPU has it: the other
 * lister is tested here too, so both are on a VBMI2 machine. */
static void test_avx512_row_listers_match_ref(void **state)
{
    (void)state;
#if defined(__x86_64__)
    mt_kern_variant v[8];
    int n = mt_kern_variants(v, 8), avx512 = 0;
    for (int i = 0; i < n; i++)
        avx512 |= v[i].isa == MT_ISA_AVX512 && v[i].runnable;
    if (!avx512) {
        print_message("skipped: this CPU has no AVX-512 (its row listers)\n");
        skip();
    }
    check_row_list(mt_row_list_avx512f, "avx512f row list");
    if (!mt_cpu_avx512vbmi2()) {
        print_message("skipped: this CPU has no VBMI2 (the 64-pixel row lister)\n");
        skip();
    }
    check_row_list(mt_row_list_avx512vbmi2, "avx512vbmi2 row list");
#else
    print_message("skipped: not an x86-64 build (the AVX-512 row listers)\n");
    skip();
#endif
}

/* masks (kernel) and mr (reference) of columns [c0,c1) of px (B rows of ld
 * bytes) against the pixels themselves, unused bits of the last word 0. */
static int masks_match(const uint64_t *mk, const uint64_t *mr, const uint8_t *px, int ld, int B, int c0, int c1,
                       double zf)
{
    const int nw = (B + 63) / 64;
    for (int c = c0; c < c1; c++)
        for (int i = 0; i < nw * 64; i++) {
            int want = i < B && px[(size_t)i * ld + c] != 0;
            int got = (int)(mk[(size_t)(c - c0) * nw + i / 64] >> (i % 64) & 1);
            int gotr = (int)(mr[(size_t)(c - c0) * nw + i / 64] >> (i % 64) & 1);
            if (got != want || gotr != want) {
                print_error("sparse_masks B=%d columns [%d,%d) zeros=%.2f: row %d column %d bit %d (ref %d), want %d\n",
                            B, c0, c1, zf, i, c, got, gotr, want);
                return 0;
            }
        }
    return 1;
}

/* Column lists of columns [c0,c1) made directly from px (B,C), c_base = c0. */
static sp_lists lists_from_px(const uint8_t *px, int B, int C, int c0, int c1)
{
    sp_lists l = alloc_lists(B, c1 - c0, c0);
    for (int c = c0; c < c1; c++) {
        sp_ent *e = l.ent + (size_t)(c - c0) * B;
        int n = 0;
        for (int i = 0; i < B; i++) {
            uint8_t p = px[(size_t)i * C + c];
            if (p) {
                e[n].i = i;
                e[n].v = (float)p * SCALE;
                n++;
            }
        }
        l.cnt[c - c0] = n;
    }
    return l;
}

/* s + x*y rounded once (fused) or twice.  The product is its own statement so
 * that the unfused form stays unfused under -ffp-contract=on (clang's default;
 * gcc's -std=c11 is off). */
static float mac(float s, float x, float y, int fused)
{
    if (fused)
        return fmaf(x, y, s);
    float p = x * y;
    return s + p;
}

/* Whether v has the bits of one of the n candidates. */
static int bits_in(float v, const float *cand, int n)
{
    for (int j = 0; j < n; j++)
        if (!memcmp(&v, &cand[j], sizeof v))
            return 1;
    return 0;
}

/* y (B,OC) from sparse_fwd_rows is, element by element, the chain beff +
 * row i's entries in list order (then ReLU), rounded either fused throughout
 * (the SIMD variants) or unfused (the scalar reference). */
static int fwd_rows_is_chain(const float *y, const mt_sp_rows *rows, const float *wt, const float *beff,
                             int B, int OC, int relu, double zf)
{
    float *s = zerov(2 * (size_t)OC); /* the unfused chains, then the fused ones */
    int ok = 1;
    for (int i = 0; ok && i < B; i++) {
        const uint32_t *en = rows->ent + (size_t)i * rows->ld;
        for (int o = 0; o < OC; o++)
            s[o] = s[OC + o] = beff[o];
        for (int k = 0; k < rows->cnt[i]; k++)
            for (int o = 0; o < OC; o++) {
                float wv = wt[(size_t)MT_SP_COL(en[k]) * OC + o], v = (float)MT_SP_PX(en[k]) * SCALE;
                s[o] = mac(s[o], v, wv, 0);
                s[OC + o] = mac(s[OC + o], v, wv, 1);
            }
        for (int o = 0; ok && o < OC; o++) {
            float cand[2] = { relu && s[o] < 0.f ? 0.f : s[o], relu && s[OC + o] < 0.f ? 0.f : s[OC + o] };
            float v = y[(size_t)i * OC + o];
            if (!bits_in(v, cand, 2)) {
                print_error("sparse_fwd_rows chain B=%d OC=%d relu=%d zeros=%.2f: y[%d,%d] = %.9g, "
                            "chain gives %.9g (fused) or %.9g\n", B, OC, relu, zf, i, o, v, cand[1], cand[0]);
                ok = 0;
            }
        }
    }
    free(s);
    return ok;
}

/* gt ((c1-c0),OC) from sparse_bwd_masks is, element by element, the chain
 * over column c's entries in list order from 0, then + shift*cs[o]; each of the
 * two parts fused or not (the SIMD variants fuse the first only). */
static int bwd_wt_is_chain(const float *gt, const float *dout, const float *cs, const sp_lists *l,
                           int B, int OC, float shift, int c0, int c1, double zf)
{
    float *s = zerov(2 * (size_t)OC); /* the unfused sums, then the fused ones */
    int ok = 1;
    for (int c = c0; ok && c < c1; c++) {
        const sp_ent *e = l->ent + (size_t)(c - l->c_base) * B;
        int n = l->cnt[c - l->c_base];
        memset(s, 0, 2 * (size_t)OC * sizeof *s);
        for (int j = 0; j < n; j++)
            for (int o = 0; o < OC; o++) {
                float d = dout[(size_t)e[j].i * OC + o];
                s[o] = mac(s[o], e[j].v, d, 0);
                s[OC + o] = mac(s[OC + o], e[j].v, d, 1);
            }
        for (int o = 0; ok && o < OC; o++) {
            float cand[4] = { mac(s[o], shift, cs[o], 0), mac(s[o], shift, cs[o], 1),
                              mac(s[OC + o], shift, cs[o], 0), mac(s[OC + o], shift, cs[o], 1) };
            float v = gt[(size_t)(c - c0) * OC + o];
            if (!bits_in(v, cand, 4)) {
                print_error("sparse_bwd_masks chain B=%d OC=%d cols [%d,%d) zeros=%.2f: gt[c=%d, o=%d] = %.9g, "
                            "chain gives %.9g (fused) or %.9g\n", B, OC, c0, c1, zf, c, o, v, cand[2], cand[0]);
                ok = 0;
            }
        }
    }
    free(s);
    return ok;
}

/* The sparse first layer as the engine runs it (k's row lists; beff from
 * colsum_acc; per-chunk column masks; cs from colsum_acc), against the
 * scalar reference of the same kernels and against the dense reference on
 * normalised floats (within tolerance), as exact chains, and split between
 * "threads" by rows or by columns without a changed bit. */
static void check_sparse_rows(const mt_kern *k, int B, int C, int OC, double zf)
{
    const mt_kern *R = mt_kern_ref();
    uint8_t *px = randpx((size_t)B * C, zf);
    float *x = zerov((size_t)B * C);
    for (size_t i = 0; i < (size_t)B * C; i++)
        x[i] = (float)px[i] * SCALE + SHIFT;
    float *w = randv((size_t)OC * C, 0.0), *b = randv(OC, 0.0);
    float *wt = randv((size_t)C * OC, 0.0), *wtr = randv((size_t)C * OC, 0.0);
    float *beff = zerov(OC), *beffr = zerov(OC), *r = zerov((size_t)B * OC), *rr = zerov((size_t)B * OC);
    float *y = randv((size_t)B * OC, 0.0), *yr = randv((size_t)B * OC, 0.0), *y3 = randv((size_t)B * OC, 0.0);
    const float xmax = 1.f / 0.3081f;

    /* transpose is a copy: exact, in two row ranges */
    R->transpose(wtr, w, C, OC, 0, C);
    k->transpose(wt, w, C, OC, 0, C / 2);
    k->transpose(wt, w, C, OC, C / 2, C);
    assert_memory_equal(wt, wtr, (size_t)C * OC * sizeof *wt);

    /* beff = b + shift * colsum(wt), as the engine makes it */
    k->colsum_acc(beff, wt, C, OC);
    R->colsum_acc(beffr, wtr, C, OC);
    assert_true(same_bits("colsum_acc of wt", beff, beffr, OC, C, OC, 0, zf));
    for (int o = 0; o < OC; o++) {
        float t = SHIFT * beff[o];
        beff[o] = beffr[o] = b[o] + t;
    }
    mt_sp_rows rows = row_lists(k, px, B, C), rrows = row_lists(R, px, B, C);

    /* forward */
    R->linear_fwd(r, x, w, b, B, C, OC, 0);
    int i1 = (B / 3) | 1; /* odd: splits a pair of rows */
    i1 = i1 < B ? i1 : B;
    mt_sp_rows tail = { rows.cnt + i1, rows.ent + (size_t)i1 * rows.ld, rows.blk + (size_t)i1 * rows.nblk, rows.ld,
                        rows.nblk, rows.lut };
    double atol = red_atol(2 * C, xmax, 1.f);
    for (int relu = 0; relu < 2; relu++) {
        k->sparse_fwd_rows(y, &rows, wt, beff, B, OC, relu);
        R->sparse_fwd_rows(yr, &rrows, wtr, beffr, B, OC, relu);
        assert_true(close_enough(relu ? "sparse_fwd_rows relu vs ref" : "sparse_fwd_rows vs ref",
                                 y, yr, (size_t)B * OC, atol, B, OC, C, zf));
        for (size_t j = 0; j < (size_t)B * OC; j++)
            rr[j] = relu && r[j] < 0.f ? 0.f : r[j];
        assert_true(close_enough(relu ? "sparse_fwd_rows relu vs dense ref" : "sparse_fwd_rows vs dense ref",
                                 y, rr, (size_t)B * OC, atol, B, OC, C, zf));
        assert_true(fwd_rows_is_chain(y, &rows, wt, beff, B, OC, relu, zf));
        k->sparse_fwd_rows(y3, &rows, wt, beff, i1, OC, relu);
        k->sparse_fwd_rows(y3 + (size_t)i1 * OC, &tail, wt, beff, B - i1, OC, relu);
        assert_true(same_bits("sparse_fwd_rows row split", y3, y, (size_t)B * OC, B, OC, C, zf));
    }

    /* column masks and the transposed weight gradient made from them, per
     * column range (the first is all columns: the others must give the same
     * rows) */
    float *dout = randv((size_t)B * OC, 0.0), *cs = zerov(OC), *csr = zerov(OC);
    float *gfull = zerov((size_t)C * OC), *gd = zerov((size_t)C * OC);
    k->colsum_acc(cs, dout, B, OC);
    R->colsum_acc(csr, dout, B, OC);
    assert_true(same_bits("colsum_acc from zeros", cs, csr, OC, B, OC, 0, zf));
    R->linear_bwd_wt(gd, dout, x, B, C, OC, 0, C);
    atol = red_atol(2 * B + 2, xmax, 1.f) + 2 * FLT_EPSILON;
    const int nw = (B + 63) / 64;
    int cr[3][2];
    col_ranges(cr, C);
    for (int q = 0; q < 3; q++) {
        int c0 = cr[q][0], c1 = cr[q][1], nc = c1 - c0;
        uint64_t *mk = malloc((size_t)nc * nw * sizeof *mk + 8), *mr = malloc((size_t)nc * nw * sizeof *mr + 8);
        assert_true(mk && mr);
        memset(mk, 0x5a, (size_t)nc * nw * sizeof *mk);
        memset(mr, 0xa5, (size_t)nc * nw * sizeof *mr);
        k->sparse_masks(mk, px, C, B, c0, c1);
        R->sparse_masks(mr, px, C, B, c0, c1);
        assert_true(masks_match(mk, mr, px, C, B, c0, c1, zf));

        float *gt = randv((size_t)nc * OC + 1, 0.0), *gtr = randv((size_t)nc * OC + 1, 0.0);
        float *gt2 = randv((size_t)nc * OC + 1, 0.0);
        sp_lists lo = lists_from_px(px, B, C, c0, c1);
        k->sparse_bwd_masks(gt, dout, cs, mk, px, C, g_lut, B, OC, SHIFT, c0, c1);
        R->sparse_bwd_masks(gtr, dout, csr, mr, px, C, g_lut, B, OC, SHIFT, c0, c1);
        assert_true(bwd_wt_is_chain(gt, dout, cs, &lo, B, OC, SHIFT, c0, c1, zf));
        assert_true(bwd_wt_is_chain(gtr, dout, csr, &lo, B, OC, SHIFT, c0, c1, zf));
        if (q == 0) {
            assert_true(close_enough("sparse_bwd_masks vs ref", gt, gtr, (size_t)C * OC, atol, C, OC, B, zf));
            assert_true(close_enough("sparse_bwd_masks vs dense ref", gt, gd, (size_t)C * OC, atol, C, OC, B, zf));
            memcpy(gfull, gt, (size_t)C * OC * sizeof *gt);
        } else {
            assert_true(same_bits("sparse_bwd_masks range vs all columns", gt, gfull + (size_t)c0 * OC,
                                  (size_t)nc * OC, nc, OC, B, zf));
        }
        int cm = c0 + ((nc / 2) | 1); /* odd: splits a pair of columns */
        cm = cm < c1 ? cm : c1;
        k->sparse_bwd_masks(gt2, dout, cs, mk, px, C, g_lut, B, OC, SHIFT, c0, cm);
        k->sparse_bwd_masks(gt2 + (size_t)(cm - c0) * OC, dout, cs, mk + (size_t)(cm - c0) * nw, px, C, g_lut, B,
                            OC, SHIFT, cm, c1);
        assert_true(same_bits("sparse_bwd_masks column split", gt2, gt, (size_t)nc * OC, nc, OC, B, zf));
        if (nc > 2) { /* masks of rows read with a stride: columns [c0+1, c1-1) of the rows */
            memset(mk, 0x5a, (size_t)nc * nw * sizeof *mk);
            memset(mr, 0xa5, (size_t)nc * nw * sizeof *mr);
            k->sparse_masks(mk, px + c0 + 1, C, B, 0, nc - 2);
            R->sparse_masks(mr, px + c0 + 1, C, B, 0, nc - 2);
            assert_true(masks_match(mk, mr, px + c0 + 1, C, B, 0, nc - 2, zf));
        }
        free(mk), free(mr), free(lo.cnt), free(lo.ent), free(gt), free(gtr), free(gt2);
    }

    free_rows(&rows), free_rows(&rrows);
    free(px), free(x), free(w), free(b), free(wt), free(wtr), free(beff), free(beffr), free(r), free(rr);
    free(y), free(yr), free(y3), free(dout), free(cs), free(csr), free(gfull), free(gd);
}

static void test_sparse_layer_matches_ref_and_dense_ref(void **state)
{
    const mt_kern *k = variant_or_skip(state);
    FOR_CUBE(B, C, OC, idx)
        check_sparse_rows(k, B, C, OC, ZERO_FRAC[idx % 4]);
    for (int bi = 0; bi < 3; bi++)
        for (int z = 0; z < 4; z++)
            check_sparse_rows(k, MODEL_B[bi], 784, 128, ZERO_FRAC[z]);
}

/* linear_bwd_wt = the transpose of linear_bwd_w_cols from zero, bit for bit. */
static void check_bwd_wt(const mt_kern *k, int B, int C, int OC, double zf)
{
    const mt_kern *R = mt_kern_ref();
    float *dout = randv((size_t)B * OC, 0.0), *x = randv((size_t)B * C, zf);
    float *gfull = randv((size_t)C * OC, 0.0), *gtr = randv((size_t)C * OC, 0.0);
    /* all columns against the reference, then each range against them */
    k->linear_bwd_wt(gfull, dout, x, B, C, OC, 0, C);
    R->linear_bwd_wt(gtr, dout, x, B, C, OC, 0, C);
    double atol = red_atol(B + 1, maxabs(x, (size_t)B * C), 1.f) + 2 * FLT_EPSILON;
    assert_true(close_enough("linear_bwd_wt vs ref", gfull, gtr, (size_t)C * OC, atol, C, OC, B, zf));
    int cr[3][2];
    col_ranges(cr, C);
    for (int q = 0; q < 3; q++) {
        int c0 = cr[q][0], c1 = cr[q][1], nc = c1 - c0;
        float *gt = randv((size_t)nc * OC, 0.0), *dw = zerov((size_t)OC * C);
        k->linear_bwd_wt(gt, dout, x, B, C, OC, c0, c1);
        k->linear_bwd_w_cols(dw, NULL, dout, x, B, C, OC, c0, c1);
        assert_true(is_transpose_of("linear_bwd_wt vs linear_bwd_w_cols", gt, dw, B, C, OC, c0, c1, zf));
        assert_true(same_bits("linear_bwd_wt range vs all columns", gt, gfull + (size_t)c0 * OC,
                              (size_t)nc * OC, nc, OC, B, zf));
        free(gt), free(dw);
    }
    free(dout), free(x), free(gfull), free(gtr);
}

static void test_linear_bwd_wt_is_bwd_w_cols_transposed(void **state)
{
    const mt_kern *k = variant_or_skip(state);
    FOR_CUBE(B, C, OC, idx)
        check_bwd_wt(k, B, C, OC, ZERO_FRAC[idx % 4]);
    for (int l = 0; l < 3; l++)
        for (int z = 0; z < 4; z++)
            check_bwd_wt(k, 64, MODEL_C[l], MODEL_OC[l], ZERO_FRAC[z]);
}

/* colsum_acc adds to s, each s[j] one chain over the rows in order: equal to
 * the scalar chain, and to two calls over a split of the rows, bit for bit. */
static void test_colsum_acc_matches_ref(void **state)
{
    const mt_kern *k = variant_or_skip(state);
    static const int Rows[] = { 0, 1, 2, 3, 17, 64, 65, 1000 };
    for (int ni = 0; ni < N_SHAPES; ni++)
        for (int ri = 0; ri < (int)(sizeof Rows / sizeof *Rows); ri++) {
            int n = SHAPES[ni], rows = Rows[ri];
            double zf = ZERO_FRAC[(ni + ri) % 4];
            float *x = randv((size_t)rows * n, zf), *s0 = randv((size_t)n + 1, 0.0);
            for (int j = 0; j < n; j++)
                s0[j] = s0[j] == 0.f ? 0.5f : s0[j] * 4.f; /* non-zero start */
            s0[n] = 42.f; /* no write past the end */
            float *s = copyv(s0, (size_t)n + 1), *sr = copyv(s0, (size_t)n + 1);
            float *s2 = copyv(s0, (size_t)n + 1), *want = copyv(s0, (size_t)n + 1);
            k->colsum_acc(s, x, rows, n);
            mt_kern_ref()->colsum_acc(sr, x, rows, n);
            assert_true(close_enough("colsum_acc vs ref", s, sr, (size_t)n + 1, red_atol(rows + 4, 4.f, 1.f),
                                     rows, n, 0, zf));
            for (int j = 0; j < n; j++)
                for (int r = 0; r < rows; r++)
                    want[j] += x[(size_t)r * n + j];
            assert_true(same_bits("colsum_acc chain", s, want, (size_t)n + 1, rows, n, 0, zf));
            int r1 = rows / 3;
            k->colsum_acc(s2, x, r1, n);
            k->colsum_acc(s2, x + (size_t)r1 * n, rows - r1, n);
            assert_true(same_bits("colsum_acc row split", s2, s, (size_t)n + 1, rows, n, 0, zf));
            free(x), free(s0), free(s), free(sr), free(s2), free(want);
        }
}

/* ---- softmax, conversion, Adam ------------------------------------------ */

static void test_softmax_xent_matches_ref(void **state)
{
    const mt_kern *k = variant_or_skip(state);
    const int Ks[] = { 1, 2, 7, 10, 16, 17, 33 };
    for (int ki = 0; ki < 7; ki++) {
        int K = Ks[ki];
        for (int B = 1; B <= 70; B += 23) {
            float *z = randv((size_t)B * K, 0.0), *d = randv((size_t)B * K, 0.0), *dr = randv((size_t)B * K, 0.0);
            float *l = randv(B, 0.0), *lr = randv(B, 0.0);
            uint8_t *lab = malloc(B);
            assert_non_null(lab);
            for (int i = 0; i < B; i++) {
                lab[i] = (uint8_t)((rng >> 20) % K);
                frand();
                for (int j = 0; j < K; j++) /* wide logits incl. one huge row */
                    z[i * K + j] *= i == 0 ? 200.f : 8.f;
            }
            double tr = mt_kern_ref()->softmax_xent(dr, lr, z, lab, B, K, 1.f / B);
            double t = k->softmax_xent(d, l, z, lab, B, K, 1.f / B);
            assert_true(fabs(t - tr) <= 1e-5 * fabs(tr) + 1e-5 * B);
            assert_true(close_enough("softmax losses", l, lr, B, 2e-6, B, K, 0, 0));
            assert_true(close_enough("softmax dlogits", d, dr, (size_t)B * K, 1e-7, B, K, 0, 0));
            /* row by row: the same bits (blocks of rows and single rows
             * take different code paths) */
            float *d1 = randv((size_t)B * K, 0.0), *l1 = randv(B, 0.0);
            double t1 = 0.0;
            for (int i = 0; i < B; i++)
                t1 += k->softmax_xent(d1 + (size_t)i * K, l1 + i, z + (size_t)i * K, lab + i, 1, K, 1.f / B);
            assert_true(same_bits("softmax_xent rows one by one: losses", l1, l, B, B, K, 0, 0));
            assert_true(same_bits("softmax_xent rows one by one: dlogits", d1, d, (size_t)B * K, B, K, 0, 0));
            assert_true(t1 == t);
            free(d1), free(l1);
            /* in place (dlogits aliasing logits) and without losses */
            k->softmax_xent(z, NULL, z, lab, B, K, 1.f / B);
            assert_true(close_enough("softmax in place", z, dr, (size_t)B * K, 1e-7, B, K, 0, 0));
            free(z), free(d), free(dr), free(l), free(lr), free(lab);
        }
    }
}

/* Label smoothing: against the reference for smoothing 0.1 and 1, and at
 * smoothing 0 the bits of the variant's own softmax_xent (the MLP's runs
 * must not change); rows one by one and in place as for softmax_xent. */
static void test_softmax_xent_ls_matches_ref(void **state)
{
    const mt_kern *k = variant_or_skip(state);
    const int Ks[] = { 1, 2, 7, 10, 16, 17, 33 };
    const float lss[] = { 0.f, 0.1f, 1.f };
    for (int ki = 0; ki < 7; ki++) {
        int K = Ks[ki];
        for (int B = 1; B <= 70; B += 23) {
            for (int li = 0; li < 3; li++) {
                const float ls = lss[li];
                const size_t n = (size_t)B * K;
                float *z = randv(n, 0.0), *d = randv(n, 0.0), *dr = randv(n, 0.0), *d0 = randv(n, 0.0);
                float *l = randv(B, 0.0), *lr = randv(B, 0.0), *l0 = randv(B, 0.0);
                uint8_t *lab = malloc(B);
                assert_non_null(lab);
                for (int i = 0; i < B; i++) {
                    lab[i] = (uint8_t)((rng >> 20) % K);
                    frand();
                    for (int j = 0; j < K; j++)
                        z[i * K + j] *= i == 0 ? 200.f : 8.f;
                }
                double tr = mt_kern_ref()->softmax_xent_ls(dr, lr, z, lab, B, K, 1.f / B, ls);
                double t = k->softmax_xent_ls(d, l, z, lab, B, K, 1.f / B, ls);
                assert_true(fabs(t - tr) <= 1e-5 * fabs(tr) + 1e-5 * B);
                assert_true(close_enough("softmax_ls losses", l, lr, B, 2e-6, B, K, 0, ls));
                assert_true(close_enough("softmax_ls dlogits", d, dr, n, 1e-7, B, K, 0, ls));
                if (ls == 0.f) {
                    double t0 = k->softmax_xent(d0, l0, z, lab, B, K, 1.f / B);
                    assert_true(same_bits("softmax_ls at 0 vs softmax_xent: losses", l, l0, B, B, K, 0, 0));
                    assert_true(same_bits("softmax_ls at 0 vs softmax_xent: dlogits", d, d0, n, B, K, 0, 0));
                    assert_true(t0 == t);
                }
                float *d1 = randv(n, 0.0), *l1 = randv(B, 0.0);
                double t1 = 0.0;
                for (int i = 0; i < B; i++)
                    t1 += k->softmax_xent_ls(d1 + (size_t)i * K, l1 + i, z + (size_t)i * K, lab + i, 1, K, 1.f / B, ls);
                assert_true(same_bits("softmax_ls rows one by one: losses", l1, l, B, B, K, 0, ls));
                assert_true(same_bits("softmax_ls rows one by one: dlogits", d1, d, n, B, K, 0, ls));
                assert_true(t1 == t);
                k->softmax_xent_ls(z, NULL, z, lab, B, K, 1.f / B, ls);
                assert_true(same_bits("softmax_ls in place", z, d, n, B, K, 0, ls));
                free(d1), free(l1), free(d0), free(l0);
                free(z), free(d), free(dr), free(l), free(lr), free(lab);
            }
        }
    }
}

static void test_u8_to_f32_matches_ref(void **state)
{
    const mt_kern *k = variant_or_skip(state);
    for (size_t n = 0; n < 300; n += 7) {
        uint8_t *px = randpx(n, 0.5);
        float *y = randv(n + 1, 0), *r = randv(n + 1, 0);
        y[n] = r[n] = 42.f;
        mt_kern_ref()->u8_to_f32(r, px, n, SCALE, SHIFT);
        k->u8_to_f32(y, px, n, SCALE, SHIFT);
        assert_true(close_enough("u8_to_f32", y, r, n + 1, 1e-6, (int)n, 0, 0, 0));
        assert_true(y[n] == 42.f); /* no write past the end */
        free(px), free(y), free(r);
    }
}

static void test_adam_matches_ref(void **state)
{
    const mt_kern *k = variant_or_skip(state);
    for (size_t n = 1; n < 200; n += 37) {
        for (int wd = 0; wd < 3; wd++) {
            float *p = randv(n, 0), *g = randv(n, 0.1), *m = randv(n, 0), *v = randv(n, 0);
            for (size_t i = 0; i < n; i++)
                v[i] = fabsf(v[i]);
            float *pr = copyv(p, n), *mr = copyv(m, n), *vr = copyv(v, n);
            float l2 = wd == 1 ? 1e-2f : 0.f, dec = wd == 2 ? 1e-2f : 0.f;
            for (int t = 1; t <= 3; t++) {
                float bc1 = 1.f - powf(0.9f, (float)t), bc2 = 1.f - powf(0.999f, (float)t);
                mt_kern_ref()->adam(pr, g, mr, vr, n, 1e-3f, 0.9f, 0.999f, 1e-8f, bc1, bc2, l2, dec);
                k->adam(p, g, m, v, n, 1e-3f, 0.9f, 0.999f, 1e-8f, bc1, bc2, l2, dec);
            }
            assert_true(close_enough("adam p", p, pr, n, 1e-7, (int)n, 0, 0, 0));
            assert_true(close_enough("adam m", m, mr, n, 1e-7, (int)n, 0, 0, 0));
            assert_true(close_enough("adam v", v, vr, n, 1e-7, (int)n, 0, 0, 0));
            free(p), free(g), free(m), free(v), free(pr), free(mr), free(vr);
        }
    }
}

/* Adadelta does the reference's IEEE operations in its order (no FMA), so
 * every variant gives the reference's bits, also on the ragged tails. */
static void test_adadelta_matches_ref(void **state)
{
    const mt_kern *k = variant_or_skip(state);
    for (size_t n = 1; n < 200; n += 37) {
        for (int wd = 0; wd < 2; wd++) {
            float *p = randv(n, 0), *g = randv(n, 0.1), *sq = randv(n, 0), *acc = randv(n, 0);
            for (size_t i = 0; i < n; i++) {
                sq[i] = fabsf(sq[i]) * 1e-2f;
                acc[i] = fabsf(acc[i]) * 1e-4f;
            }
            float *pr = copyv(p, n), *sr = copyv(sq, n), *ar = copyv(acc, n);
            for (int t = 1; t <= 3; t++) {
                mt_kern_ref()->adadelta(pr, g, sr, ar, n, 1.0f, 0.9f, 1e-6f, wd ? 1e-2f : 0.f);
                k->adadelta(p, g, sq, acc, n, 1.0f, 0.9f, 1e-6f, wd ? 1e-2f : 0.f);
            }
            assert_true(same_bits("adadelta p", p, pr, n, (int)n, 0, 0, 0));
            assert_true(same_bits("adadelta square_avg", sq, sr, n, (int)n, 0, 0, 0));
            assert_true(same_bits("adadelta acc_delta", acc, ar, n, (int)n, 0, 0, 0));
            free(p), free(g), free(sq), free(acc), free(pr), free(sr), free(ar);
        }
    }
}

/* ---- dispatcher --------------------------------------------------------- */

static void test_select_refuses_what_the_cpu_lacks(void **state)
{
    (void)state;
    mt_kern_variant v[8];
    int n = mt_kern_variants(v, 8);
    assert_true(n >= 1 && v[0].isa == MT_ISA_SCALAR && v[0].runnable);
    const mt_kern *k = NULL;
    mt_err err = { 0 };
    assert_int_equal(mt_kern_select(&k, MT_ISA_AUTO, &err), MT_OK);
    assert_non_null(k);
    int best = 0;
    for (int i = 0; i < n; i++) {
        const mt_kern *ki = NULL;
        mt_status s = mt_kern_select(&ki, v[i].isa, &err);
        if (v[i].runnable) {
            assert_int_equal(s, MT_OK);
            assert_ptr_equal(ki, v[i].k);
            best = i;
        } else {
            assert_int_equal(s, MT_EARG);
            assert_non_null(strstr(err.msg, "does not support"));
            assert_null(ki);
        }
    }
    assert_ptr_equal(k, v[best].k); /* auto = the fastest runnable */
    /* an ISA of the other architecture is not compiled in: MT_EARG too */
#if defined(__x86_64__)
    assert_int_equal(mt_kern_select(&k, MT_ISA_NEON, &err), MT_EARG);
#elif defined(__aarch64__)
    assert_int_equal(mt_kern_select(&k, MT_ISA_AVX2, &err), MT_EARG);
#endif
    assert_int_equal(mt_isa_parse("avx512"), MT_ISA_AVX512);
    assert_int_equal(mt_isa_parse("sse9"), -1);
    assert_string_equal(mt_isa_name(MT_ISA_NEON), "neon");
}

/* ---- runner: one group of tests per compiled-in variant ----------------- */

/* ---- general product (convolutions) -------------------------------------- */

/* gemm on ragged shapes in the three stride patterns the conv layer uses
 * (a row-major, a transposed, padded leading dimensions), with and without
 * load_c and bias; and the M and N splits of a thread give the same bits. */
static void test_gemm_matches_ref(void **state)
{
    const mt_kern *k = variant_or_skip(state);
    static const int S[] = { 1, 3, 7, 17, 33, 64, 65, 100, 288 };
    int ns = (int)(sizeof S / sizeof *S), t = 0;
    for (int im = 0; im < ns; im++)
        for (int in = 0; in < ns; in++)
            for (int ik = 0; ik < ns; ik++, t++) {
                int M = S[im], N = S[in], K = S[ik];
                int trans = t % 2, load_c = t / 2 % 2, bias = t / 4 % 2;
                ptrdiff_t ldb = N + t % 3, ldc = N + t % 5;
                ptrdiff_t rsa = trans ? 1 : K + 1, csa = trans ? M : 1;
                size_t na = trans ? (size_t)K * M : (size_t)M * (K + 1);
                double zf = ZERO_FRAC[t % 4];
                float *a = randv(na, zf), *b = randv((size_t)K * ldb, 0.0), *bi = randv(N, 0.0);
                float *c0 = randv((size_t)M * ldc, 0.0);
                float *c = copyv(c0, (size_t)M * ldc), *cr = copyv(c0, (size_t)M * ldc);
                float *c2 = copyv(c0, (size_t)M * ldc);
                const float *bp = bias ? bi : NULL;
                k->gemm(c, ldc, a, rsa, csa, b, ldb, bp, M, N, K, load_c);
                mt_kern_ref()->gemm(cr, ldc, a, rsa, csa, b, ldb, bp, M, N, K, load_c);
                double atol = red_atol(K + 2, 1.f, 1.f);
                assert_true(close_enough("gemm vs ref", c, cr, (size_t)M * ldc, atol, M, N, K, zf));
                /* rows [0,m1) and [m1,M), then columns [0,n1) and [n1,N) */
                int m1 = M / 3, n1 = N / 2;
                memcpy(c2, c0, (size_t)M * ldc * sizeof *c2);
                k->gemm(c2, ldc, a, rsa, csa, b, ldb, bp, m1, N, K, load_c);
                k->gemm(c2 + m1 * ldc, ldc, a + m1 * rsa, rsa, csa, b, ldb, bp, M - m1, N, K, load_c);
                assert_true(same_bits("gemm row split", c2, c, (size_t)M * ldc, M, N, K, zf));
                memcpy(c2, c0, (size_t)M * ldc * sizeof *c2);
                k->gemm(c2, ldc, a, rsa, csa, b, ldb, bp, M, n1, K, load_c);
                k->gemm(c2 + n1, ldc, a, rsa, csa, b + n1, ldb, bp ? bp + n1 : NULL, M, N - n1, K, load_c);
                assert_true(same_bits("gemm column split", c2, c, (size_t)M * ldc, M, N, K, zf));
                free(a), free(b), free(bi), free(c0), free(c), free(cr), free(c2);
            }
}

/* gemm_gather on ragged shapes with offset tables like a conv's (rows of
 * patches that overlap) and arbitrary ones, with and without load_c and
 * bias; the M and N splits give the same bits. */
static void test_gemm_gather_matches_ref(void **state)
{
    const mt_kern *k = variant_or_skip(state);
    static const int S[] = { 1, 3, 7, 9, 17, 24, 25, 33, 64, 100, 288 };
    int ns = (int)(sizeof S / sizeof *S), t = 0;
    for (int im = 0; im < ns; im++)
        for (int in = 0; in < ns; in++)
            for (int ik = 0; ik < ns; ik++, t++) {
                int M = S[im], N = S[in], K = S[ik];
                int conv = t % 2, load_c = t / 2 % 2, bias = t / 4 % 2;
                ptrdiff_t ldb = N + t % 3, ldc = N + t % 5;
                int *ia = malloc((size_t)M * sizeof *ia), *ka = malloc((size_t)K * sizeof *ka);
                assert_non_null(ia);
                assert_non_null(ka);
                size_t na = 1;
                for (int i = 0; i < M; i++) /* conv: pixels 3 apart, taps on a 7-wide image */
                    ia[i] = conv ? 3 * i : (int)((unsigned)(i * 2654435761u) % 1000u);
                for (int q = 0; q < K; q++)
                    ka[q] = conv ? (q / 5) * 7 * 3 + q % 5 : (int)((unsigned)(q * 40503u + 7u) % 777u);
                for (int i = 0; i < M; i++)
                    for (int q = 0; q < K; q++)
                        na = (size_t)(ia[i] + ka[q]) + 1 > na ? (size_t)(ia[i] + ka[q]) + 1 : na;
                double zf = ZERO_FRAC[t % 4];
                float *a = randv(na, zf), *b = randv((size_t)K * ldb, 0.0), *bi = randv(N, 0.0);
                float *c0 = randv((size_t)M * ldc, 0.0);
                float *c = copyv(c0, (size_t)M * ldc), *cr = copyv(c0, (size_t)M * ldc);
                float *c2 = copyv(c0, (size_t)M * ldc);
                const float *bp = bias ? bi : NULL;
                /* column sums of b (a conv's bias gradient): the reference's
                 * chains bit for bit, and past N nothing is written */
                float *s0 = randv((size_t)N + 1, 0.0);
                float *cs = copyv(s0, (size_t)N + 1), *csr = copyv(s0, (size_t)N + 1), *cs2 = copyv(s0, (size_t)N + 1);
                k->gemm_gather(c, ldc, a, ia, ka, b, ldb, bp, M, N, K, load_c, cs);
                mt_kern_ref()->gemm_gather(cr, ldc, a, ia, ka, b, ldb, bp, M, N, K, load_c, csr);
                double atol = red_atol(K + 2, 1.f, 1.f);
                assert_true(close_enough("gemm_gather vs ref", c, cr, (size_t)M * ldc, atol, M, N, K, zf));
                assert_true(same_bits("gemm_gather colsum vs ref", cs, csr, (size_t)N + 1, M, N, K, zf));
                int m1 = M / 3, n1 = N / 2;
                memcpy(c2, c0, (size_t)M * ldc * sizeof *c2);
                k->gemm_gather(c2, ldc, a, ia, ka, b, ldb, bp, m1, N, K, load_c, cs2); /* m1 = 0: sums without tiles */
                k->gemm_gather(c2 + m1 * ldc, ldc, a, ia + m1, ka, b, ldb, bp, M - m1, N, K, load_c, NULL);
                assert_true(same_bits("gemm_gather row split", c2, c, (size_t)M * ldc, M, N, K, zf));
                assert_true(same_bits("gemm_gather row split colsum", cs2, cs, (size_t)N + 1, M, N, K, zf));
                memcpy(c2, c0, (size_t)M * ldc * sizeof *c2);
                k->gemm_gather(c2, ldc, a, ia, ka, b, ldb, bp, M, n1, K, load_c, NULL);
                k->gemm_gather(c2 + n1, ldc, a, ia, ka, b + n1, ldb, bp ? bp + n1 : NULL, M, N - n1, K, load_c, NULL);
                assert_true(same_bits("gemm_gather column split", c2, c, (size_t)M * ldc, M, N, K, zf));
                free(ia), free(ka), free(a), free(b), free(bi), free(c0), free(c), free(cr), free(c2);
                free(s0), free(cs), free(csr), free(cs2);
            }
}

/* max-pool: selections, so the reference's bits, on ragged shapes with
 * ties, NaNs and signed zeros; backward overwrites all of dinp. */
static void test_maxpool2_matches_ref(void **state)
{
    const mt_kern *k = variant_or_skip(state), *R = mt_kern_ref();
    static const int HW[][2] = { { 2, 2 }, { 3, 5 }, { 4, 7 }, { 24, 24 }, { 10, 10 } };
    static const int Cs[] = { 1, 3, 7, 8, 16, 17, 24, 32, 33 };
    for (size_t hi = 0; hi < sizeof HW / sizeof *HW; hi++)
        for (size_t ci = 0; ci < sizeof Cs / sizeof *Cs; ci++) {
            const int B = 2, H = HW[hi][0], W = HW[hi][1], C = Cs[ci], OH = H / 2, OW = W / 2;
            const size_t nx = (size_t)B * H * W * C, ny = (size_t)B * OH * OW * C;
            float *x = randv(nx, 0.0), *y = randv(ny, 0.0), *yr = randv(ny, 0.0), *dy = randv(ny, 0.0);
            float *dx = randv(nx, 0.0), *dxr = randv(nx, 0.0);
            uint8_t *a = malloc(ny), *ar = malloc(ny);
            assert_non_null(a);
            assert_non_null(ar);
            for (size_t i = 0; i < nx; i++) { /* few distinct values: ties; some NaNs and zeros */
                int r = (int)((i * 2654435761u) >> 7) % 11;
                x[i] = r == 0 ? NAN : r == 1 ? -0.f : r == 2 ? 0.f : (float)(r % 4) - 1.5f;
            }
            k->maxpool2_fwd(y, a, x, B, H, W, C);
            R->maxpool2_fwd(yr, ar, x, B, H, W, C);
            assert_memory_equal(y, yr, ny * sizeof *y);
            assert_memory_equal(a, ar, ny);
            k->maxpool2_bwd(dx, dy, a, B, H, W, C);
            R->maxpool2_bwd(dxr, dy, ar, B, H, W, C);
            assert_memory_equal(dx, dxr, nx * sizeof *dx);
            free(x), free(y), free(yr), free(dy), free(dx), free(dxr), free(a), free(ar);
        }
}

/* col2im: the reference's order of terms, so its bits, on ragged shapes
 * with and without padding; dinp pre-filled (it is overwritten). */
static void test_col2im_matches_ref(void **state)
{
    const mt_kern *k = variant_or_skip(state), *R = mt_kern_ref();
    static const int Cs[] = { 1, 3, 8, 17, 24, 33 };
    for (int kk = 1; kk <= 5; kk += 2)
        for (int pad = 0; pad <= kk / 2; pad++)
            for (size_t ci = 0; ci < sizeof Cs / sizeof *Cs; ci++) {
                const int H = 7 + kk, W = 5 + kk, C = Cs[ci];
                const size_t P = (size_t)(H + 2 * pad - kk + 1) * (W + 2 * pad - kk + 1);
                const size_t nx = (size_t)H * W * C, nc = P * kk * kk * C;
                float *dc = randv(nc, 0.1), *dx = randv(nx, 0.0), *dxr = randv(nx, 0.0);
                k->col2im(dx, dc, H, W, C, kk, pad);
                R->col2im(dxr, dc, H, W, C, kk, pad);
                assert_memory_equal(dx, dxr, nx * sizeof *dx);
                free(dc), free(dx), free(dxr);
            }
}

int main(void)
{
    static vstate vs[8];
    static struct CMUnitTest tests[8 * 20 + 4];
    static char names[8 * 20][96];
    mt_kern_variant v[8];
    int nv = mt_kern_variants(v, 8), nt = 0, nn = 0;
    struct { void (*f)(void **); const char *name; } per[] = {
        { test_linear_fwd_matches_ref, "linear_fwd_matches_ref" },
        { test_linear_bwd_w_matches_ref, "linear_bwd_w_matches_ref" },
        { test_linear_bwd_x_matches_ref, "linear_bwd_x_matches_ref" },
        { test_row_split_is_bit_identical, "row_split_is_bit_identical" },
        { test_sparse_row_list_matches_ref, "sparse_row_list_matches_ref" },
        { test_sparse_layer_matches_ref_and_dense_ref, "sparse_layer_matches_ref_and_dense_ref" },
        { test_linear_bwd_wt_is_bwd_w_cols_transposed, "linear_bwd_wt_is_bwd_w_cols_transposed" },
        { test_colsum_acc_matches_ref, "colsum_acc_matches_ref" },
        { test_softmax_xent_matches_ref, "softmax_xent_matches_ref" },
        { test_softmax_xent_ls_matches_ref, "softmax_xent_ls_matches_ref" },
        { test_u8_to_f32_matches_ref, "u8_to_f32_matches_ref" },
        { test_adam_matches_ref, "adam_matches_ref" },
        { test_gemm_matches_ref, "gemm_matches_ref" },
        { test_gemm_gather_matches_ref, "gemm_gather_matches_ref" },
        { test_adadelta_matches_ref, "adadelta_matches_ref" },
        { test_maxpool2_matches_ref, "maxpool2_matches_ref" },
        { test_col2im_matches_ref, "col2im_matches_ref" },
    };
    for (int i = 0; i < nv && i < 8; i++) {
        vs[i].v = v[i];
        printf("variant %-7s %s\n", v[i].k->name, v[i].runnable ? "runnable" : "NOT runnable on this CPU (its tests are skipped)");
        for (size_t j = 0; j < sizeof per / sizeof *per; j++) {
            snprintf(names[nn], sizeof names[nn], "%s/%s", v[i].k->name, per[j].name);
            tests[nt++] = (struct CMUnitTest){ names[nn++], per[j].f, NULL, NULL, &vs[i] };
        }
    }
    tests[nt++] = (struct CMUnitTest)cmocka_unit_test(test_select_refuses_what_the_cpu_lacks);
    tests[nt++] = (struct CMUnitTest)cmocka_unit_test(test_avx512_row_listers_match_ref);
    return _cmocka_run_group_tests("kern", tests, (size_t)nt, NULL, NULL);
}
