/* Numerical checks of the scalar reference kernels and the model: every
 * gradient against a central difference of an independent double-precision
 * forward pass; softmax-CE stability at huge and tiny logits; label
 * smoothing also against torch.nn.functional.cross_entropy where
 * /usr/bin/python3 has torch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mt_kern.h"
#include "mt_layers.h"
#include "mt_mlp.h"
#include "mt_rng.h"
#include "test_util.h"

static mt_rng rng;

static void fill(float *x, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = mt_rng_uniform(&rng, lo, hi);
}

static double rel_err(double a, double n)
{
    double d = fabs(a) + fabs(n);
    return fabs(a - n) / (d > 1e-6 ? d : 1e-6);
}

/* ------------------------------------------------ linear layer (double ref) */

enum { B = 5, C = 7, OC = 4 };

/* L = sum(R * (x w^T + b)) in double */
static double linear_obj(const double *x, const double *w, const double *b, const float *R)
{
    double L = 0;
    for (int i = 0; i < B; i++)
        for (int o = 0; o < OC; o++) {
            double s = b[o];
            for (int c = 0; c < C; c++)
                s += x[i * C + c] * w[o * C + c];
            L += R[i * OC + o] * s;
        }
    return L;
}

static void test_linear_forward_matches_double(void **state)
{
    (void)state;
    const mt_kern *k = mt_kern_ref();
    float x[B * C], w[OC * C], b[OC], y[B * OC], yr[B * OC];
    fill(x, B * C, -1, 1);
    fill(w, OC * C, -1, 1);
    fill(b, OC, -1, 1);
    k->linear_fwd(y, x, w, b, B, C, OC, 0);
    k->linear_fwd(yr, x, w, b, B, C, OC, 1);
    for (int i = 0; i < B; i++)
        for (int o = 0; o < OC; o++) {
            double s = b[o];
            for (int c = 0; c < C; c++)
                s += (double)x[i * C + c] * w[o * C + c];
            assert_true(fabs(y[i * OC + o] - s) <= 1e-5);
            assert_true(fabs(yr[i * OC + o] - (s > 0 ? s : 0)) <= 1e-5);
        }
    /* b may be NULL */
    k->linear_fwd(y, x, w, NULL, B, C, OC, 0);
    double s = 0;
    for (int c = 0; c < C; c++)
        s += (double)x[c] * w[c];
    assert_true(fabs(y[0] - s) <= 1e-5);
}

static void test_linear_backward_matches_finite_differences(void **state)
{
    (void)state;
    const mt_kern *k = mt_kern_ref();
    float x[B * C], w[OC * C], b[OC], R[B * OC];
    double xd[B * C], wd[OC * C], bd[OC];
    fill(x, B * C, -1, 1);
    fill(w, OC * C, -1, 1);
    fill(b, OC, -1, 1);
    fill(R, B * OC, -1, 1);
    for (int i = 0; i < B * C; i++) xd[i] = x[i];
    for (int i = 0; i < OC * C; i++) wd[i] = w[i];
    for (int i = 0; i < OC; i++) bd[i] = b[i];
    float dw[OC * C], db[OC], dx[B * C];
    /* backward accumulates: start from a known offset and subtract it */
    for (int i = 0; i < OC * C; i++) dw[i] = 1.f;
    for (int i = 0; i < OC; i++) db[i] = 2.f;
    k->linear_bwd_w(dw, db, R, x, B, C, OC);
    k->linear_bwd_x(dx, R, w, NULL, B, C, OC);
    const double h = 1e-6;
    for (int i = 0; i < OC * C; i++) {
        double o = wd[i];
        wd[i] = o + h; double lp = linear_obj(xd, wd, bd, R);
        wd[i] = o - h; double lm = linear_obj(xd, wd, bd, R);
        wd[i] = o;
        assert_true(rel_err(dw[i] - 1.0, (lp - lm) / (2 * h)) < 1e-4);
    }
    for (int i = 0; i < OC; i++) {
        double o = bd[i];
        bd[i] = o + h; double lp = linear_obj(xd, wd, bd, R);
        bd[i] = o - h; double lm = linear_obj(xd, wd, bd, R);
        bd[i] = o;
        assert_true(rel_err(db[i] - 2.0, (lp - lm) / (2 * h)) < 1e-4);
    }
    for (int i = 0; i < B * C; i++) {
        double o = xd[i];
        xd[i] = o + h; double lp = linear_obj(xd, wd, bd, R);
        xd[i] = o - h; double lm = linear_obj(xd, wd, bd, R);
        xd[i] = o;
        assert_true(rel_err(dx[i], (lp - lm) / (2 * h)) < 1e-4);
    }
}

static void test_linear_backward_x_applies_relu_mask(void **state)
{
    (void)state;
    const mt_kern *k = mt_kern_ref();
    float w[OC * C], R[B * OC], mask[B * C], dx[B * C], dxm[B * C];
    fill(w, OC * C, -1, 1);
    fill(R, B * OC, -1, 1);
    fill(mask, B * C, -1, 1);
    mask[0] = 0.f; /* exactly zero blocks the gradient, as ReLU's (0 at the kink) */
    k->linear_bwd_x(dx, R, w, NULL, B, C, OC);
    k->linear_bwd_x(dxm, R, w, mask, B, C, OC);
    for (int i = 0; i < B * C; i++)
        assert_true(dxm[i] == (mask[i] > 0 ? dx[i] : 0.f));
}

/* ---------------------------------------------------------- softmax + CE */

enum { SB = 4, K = 6 };

static double xent_obj(const double *z, const uint8_t *y)
{
    double L = 0;
    for (int i = 0; i < SB; i++) {
        double mx = z[i * K];
        for (int c = 1; c < K; c++) mx = fmax(mx, z[i * K + c]);
        double s = 0;
        for (int c = 0; c < K; c++) s += exp(z[i * K + c] - mx);
        L += mx + log(s) - z[i * K + y[i]];
    }
    return L / SB;
}

static void test_softmax_xent_matches_finite_differences(void **state)
{
    (void)state;
    const mt_kern *k = mt_kern_ref();
    float z[SB * K], dz[SB * K], losses[SB];
    double zd[SB * K];
    uint8_t y[SB] = { 0, 5, 2, 2 };
    fill(z, SB * K, -3, 3);
    for (int i = 0; i < SB * K; i++) zd[i] = z[i];
    double sum = k->softmax_xent(dz, losses, z, y, SB, K, 1.0f / SB);
    assert_true(fabs(sum / SB - xent_obj(zd, y)) < 1e-5);
    double ls = 0;
    for (int i = 0; i < SB; i++) ls += losses[i];
    assert_true(fabs(ls - sum) < 1e-5);
    const double h = 1e-6;
    for (int i = 0; i < SB * K; i++) {
        double o = zd[i];
        zd[i] = o + h; double lp = xent_obj(zd, y);
        zd[i] = o - h; double lm = xent_obj(zd, y);
        zd[i] = o;
        assert_true(rel_err(dz[i], (lp - lm) / (2 * h)) < 1e-4);
    }
    /* in place: dlogits may alias logits */
    float z2[SB * K];
    memcpy(z2, z, sizeof z);
    k->softmax_xent(z2, NULL, z2, y, SB, K, 1.0f / SB);
    assert_memory_equal(z2, dz, sizeof dz);
}

/* CrossEntropyLoss(label_smoothing=ls), mean over the batch, in double:
 * sum_k -t_k log p_k with t = (1-ls) onehot + ls/K. */
static double xent_ls_obj(const double *z, const uint8_t *y, double ls)
{
    double L = 0;
    for (int i = 0; i < SB; i++) {
        double mx = z[i * K], s = 0;
        for (int c = 1; c < K; c++) mx = fmax(mx, z[i * K + c]);
        for (int c = 0; c < K; c++) s += exp(z[i * K + c] - mx);
        for (int c = 0; c < K; c++) {
            double t = ls / K + (c == y[i] ? 1 - ls : 0);
            L += t * (mx + log(s) - z[i * K + c]);
        }
    }
    return L / SB;
}

static void test_softmax_xent_ls_matches_finite_differences(void **state)
{
    (void)state;
    const mt_kern *k = mt_kern_ref();
    const float lss[] = { 0.1f, 0.35f, 1.f };
    for (int li = 0; li < 3; li++) {
        float z[SB * K], dz[SB * K], losses[SB];
        double zd[SB * K];
        uint8_t y[SB] = { 0, 5, 2, 2 };
        fill(z, SB * K, -3, 3);
        for (int i = 0; i < SB * K; i++) zd[i] = z[i];
        double sum = k->softmax_xent_ls(dz, losses, z, y, SB, K, 1.0f / SB, lss[li]);
        if (fabs(sum / SB - xent_ls_obj(zd, y, lss[li])) > 1e-5)
            fail_msg("smoothing %g: loss %.9g vs %.9g", lss[li], sum / SB, xent_ls_obj(zd, y, lss[li]));
        double tot = 0;
        for (int i = 0; i < SB; i++) tot += losses[i];
        assert_true(fabs(tot - sum) < 1e-5);
        const double h = 1e-6;
        for (int i = 0; i < SB * K; i++) {
            double o = zd[i];
            zd[i] = o + h; double lp = xent_ls_obj(zd, y, lss[li]);
            zd[i] = o - h; double lm = xent_ls_obj(zd, y, lss[li]);
            zd[i] = o;
            if (rel_err(dz[i], (lp - lm) / (2 * h)) > 1e-4)
                fail_msg("smoothing %g: dlogits[%d] %.9g vs %.9g", lss[li], i, dz[i], (lp - lm) / (2 * h));
        }
        /* each row's gradient sums to 0: the targets sum to 1 like p */
        for (int i = 0; i < SB; i++) {
            double r = 0;
            for (int c = 0; c < K; c++) r += dz[i * K + c];
            assert_true(fabs(r) < 1e-7);
        }
    }
}

/* Smoothing 0 is the plain loss bit for bit (the MLP's runs keep their bits),
 * and huge logits stay finite with smoothing. */
static void test_softmax_xent_ls_zero_is_plain_and_stable(void **state)
{
    (void)state;
    const mt_kern *k = mt_kern_ref();
    float z[SB * K], d0[SB * K], d1[SB * K], l0[SB], l1[SB];
    uint8_t y[SB] = { 1, 0, 4, 3 };
    fill(z, SB * K, -5, 5);
    double t0 = k->softmax_xent(d0, l0, z, y, SB, K, 0.25f);
    double t1 = k->softmax_xent_ls(d1, l1, z, y, SB, K, 0.25f, 0.f);
    assert_true(t0 == t1);
    assert_memory_equal(d0, d1, sizeof d0);
    assert_memory_equal(l0, l1, sizeof l0);
    float h[SB * K] = {
        1e4f, -1e4f, 0, 0, 0, 0,
        1e30f, 1e30f, -1e30f, 0, 0, 0,
        1e-30f, -1e-30f, 0, 1e-38f, 0, 0,
        -1e4f, 1e4f, 0, 0, 0, 0,
    };
    uint8_t hy[SB] = { 0, 1, 3, 0 };
    double sum = k->softmax_xent_ls(d1, l1, h, hy, SB, K, 1.0f, 0.1f);
    for (int i = 0; i < SB * K; i++)
        assert_true(isfinite(d1[i]));
    assert_true(isfinite(sum));
    /* row 0: nll ~ 0; -log p_k = 1e4 - z_k, mean (0 + 2e4 + 4 * 1e4) / 6 */
    double want0 = 0.1 * (0 + 2e4 + 4 * 1e4) / 6;
    assert_true(fabs(l1[0] - want0) / want0 < 1e-5);
    assert_true(fabs(l1[2] - log(6.0)) < 1e-5); /* uniform: every class costs log 6 */
}

/* The kernel against torch.nn.functional.cross_entropy(label_smoothing=)
 * in double, loss and gradient of the batch mean. */
static void test_softmax_xent_ls_matches_torch(void **state)
{
    (void)state;
    enum { TB = 9, TK = 10 };
    const float lss[] = { 0.f, 0.1f, 0.5f };
    char dir[64];
    snprintf(dir, sizeof dir, "%.63s", tu_mkdtemp()); /* "/tmp/mt_test_XXXXXX" */
    for (int li = 0; li < 3; li++) {
        float z[TB * TK], dz[TB * TK];
        uint8_t y[TB];
        fill(z, TB * TK, -4, 4);
        for (int i = 0; i < TB; i++)
            y[i] = (uint8_t)((i * 7 + 3) % TK);
        double sum = mt_kern_ref()->softmax_xent_ls(dz, NULL, z, y, TB, TK, 1.0f / TB, lss[li]);
        const char *path = tu_in(dir, "xent.txt");
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fprintf(f, "%d %d %.9g\n", TB, TK, lss[li]);
        for (int i = 0; i < TB; i++) {
            for (int c = 0; c < TK; c++)
                fprintf(f, "%.9g ", z[i * TK + c]);
            fprintf(f, "%d\n", y[i]);
        }
        fprintf(f, "%.17g\n", sum / TB);
        for (int i = 0; i < TB; i++) {
            for (int c = 0; c < TK; c++)
                fprintf(f, "%.9g ", dz[i * TK + c]);
            fprintf(f, "\n");
        }
        fclose(f);
        int rc = tu_torch_ref("xent", path);
        if (rc == 77) {
            tu_rmrf(dir);
            print_message("skipping: /usr/bin/python3 with torch not found\n");
            skip();
        }
        assert_int_equal(rc, 0);
    }
    tu_rmrf(dir);
}

static void test_softmax_xent_is_stable_for_huge_and_tiny_logits(void **state)
{
    (void)state;
    const mt_kern *k = mt_kern_ref();
    float z[SB * K] = {
        1e4f, -1e4f, 0, 0, 0, 0,               /* huge spread, right class */
        1e30f, 1e30f, -1e30f, 0, 0, 0,          /* near float max */
        1e-30f, -1e-30f, 0, 1e-38f, 0, 0,       /* tiny: uniform */
        -1e4f, 1e4f, 0, 0, 0, 0,                /* huge, wrong class */
    };
    uint8_t y[SB] = { 0, 1, 3, 0 };
    float dz[SB * K], losses[SB];
    double sum = k->softmax_xent(dz, losses, z, y, SB, K, 1.0f);
    for (int i = 0; i < SB * K; i++)
        assert_true(isfinite(dz[i]));
    assert_true(isfinite(sum));
    assert_true(fabsf(losses[0]) < 1e-6f);
    assert_true(fabs(losses[1] - log(2.0)) < 1e-5);
    assert_true(fabs(losses[2] - log(6.0)) < 1e-5);
    assert_true(fabs(losses[3] - 2e4) / 2e4 < 1e-5);
    assert_true(fabsf(dz[3 * K + 0] + 1.f) < 1e-6f && fabsf(dz[3 * K + 1] - 1.f) < 1e-6f);
}

/* --------------------------------------------------- the whole model */

enum { MB = 3, L0 = 9, L1 = 6, L2 = 5, L3 = 4 };

/* Mean cross-entropy of the MLP in double; optionally reports the smallest
 * |pre-activation| so the test can stay away from the ReLU kink. */
static double mlp_obj(const mt_mlp *m, const double *p, const float *x, const uint8_t *y, double *min_pre)
{
    double a[MB][16], t[MB][16], L = 0;
    const double *w[3], *b[3];
    size_t off = 0;
    for (int l = 0; l < 3; l++) {
        w[l] = p + off; off += (size_t)m->dims[l + 1] * m->dims[l];
        b[l] = p + off; off += (size_t)m->dims[l + 1];
    }
    if (min_pre) *min_pre = 1e9;
    for (int i = 0; i < MB; i++) {
        for (int c = 0; c < L0; c++) a[i][c] = x[i * L0 + c];
        for (int l = 0; l < 3; l++) {
            for (int o = 0; o < m->dims[l + 1]; o++) {
                double s = b[l][o];
                for (int c = 0; c < m->dims[l]; c++)
                    s += a[i][c] * w[l][o * m->dims[l] + c];
                if (l < 2 && min_pre) *min_pre = fmin(*min_pre, fabs(s));
                t[i][o] = l < 2 ? fmax(s, 0) : s;
            }
            memcpy(a[i], t[i], sizeof t[i]);
        }
        double mx = a[i][0], s = 0;
        for (int c = 1; c < L3; c++) mx = fmax(mx, a[i][c]);
        for (int c = 0; c < L3; c++) s += exp(a[i][c] - mx);
        L += mx + log(s) - a[i][y[i]];
    }
    return L / MB;
}

static void test_mlp_gradients_match_finite_differences(void **state)
{
    (void)state;
    const mt_kern *k = mt_kern_ref();
    const int dims[4] = { L0, L1, L2, L3 };
    mt_mlp m = { 0 };
    mt_mlp_work w = { 0 };
    mt_err err = { 0 };
    mt_rng r;
    mt_rng_seed(&r, 7);
    assert_int_equal(mt_mlp_init(&m, dims, 3, &r, &err), MT_OK);
    assert_int_equal(mt_mlp_work_init(&w, &m, MB, &err), MT_OK);
    assert_int_equal(m.n_params, (size_t)(9 * 6 + 6 + 6 * 5 + 5 + 5 * 4 + 4));
    /* PyTorch's init: |w| <= 1/sqrt(fan_in) */
    for (int l = 0; l < 3; l++)
        for (int i = 0; i < dims[l + 1] * dims[l]; i++)
            assert_true(fabsf(m.w[l][i]) <= 1.f / sqrtf((float)dims[l]));
    uint8_t y[MB] = { 1, 3, 0 };
    double *p = malloc(m.n_params * sizeof *p), min_pre;
    fill(w.act[0], MB * L0, -2, 2);
    for (size_t i = 0; i < m.n_params; i++) p[i] = m.params[i];
    mlp_obj(&m, p, w.act[0], y, &min_pre);
    assert_true(min_pre > 1e-3); /* away from the kink for this seed */
    float x[MB * L0];
    memcpy(x, w.act[0], sizeof x);
    mt_mlp_forward(&m, &w, MB, k);
    double loss = mt_mlp_loss(&m, &w, y, MB, 1.0f / MB, k) / MB;
    assert_true(fabs(loss - mlp_obj(&m, p, x, y, NULL)) < 1e-5);
    mt_mlp_zero_grad(&m);
    mt_mlp_backward(&m, &w, MB, k);
    const double h = 1e-6;
    double worst = 0;
    for (size_t i = 0; i < m.n_params; i++) {
        double o = p[i];
        p[i] = o + h; double lp = mlp_obj(&m, p, x, y, NULL);
        p[i] = o - h; double lm = mlp_obj(&m, p, x, y, NULL);
        p[i] = o;
        double e = rel_err(m.grads[i], (lp - lm) / (2 * h));
        worst = e > worst ? e : worst;
    }
    if (worst > 1e-3)
        fail_msg("worst relative gradient error %g", worst);
    /* names and shapes in state_dict order */
    int shape[2], nd;
    float *data;
    assert_string_equal(mt_mlp_tensor(&m, 0, shape, &nd, &data), "fc1.weight");
    assert_true(nd == 2 && shape[0] == L1 && shape[1] == L0 && data == m.params);
    assert_string_equal(mt_mlp_tensor(&m, 5, shape, &nd, &data), "fc3.bias");
    assert_true(nd == 1 && shape[0] == L3 && data == m.params + m.n_params - L3);
    free(p);
    mt_mlp_work_free(&w);
    mt_mlp_free(&m);
}

static void test_mlp_parse_hidden(void **state)
{
    (void)state;
    int h[8];
    assert_int_equal(mt_mlp_parse_hidden("128,64", h, 7), 2);
    assert_true(h[0] == 128 && h[1] == 64);
    assert_int_equal(mt_mlp_parse_hidden("", h, 7), 0);
    assert_int_equal(mt_mlp_parse_hidden("12,", h, 7), -1);
    assert_int_equal(mt_mlp_parse_hidden("0", h, 7), -1);
    assert_int_equal(mt_mlp_parse_hidden("a", h, 7), -1);
    assert_int_equal(mt_mlp_parse_hidden("1,2,3,4,5,6,7,8", h, 7), -1);
}

/* ================================================= mt_layers (conv nets) */

/* Direct convolution in double, NHWC input, PyTorch weight (OC,C,k,k):
 * the independent reference the im2col layer is checked against. */
static void conv_ref_d(double *y, const double *x, const double *w, const double *b, int Bn,
                       int H, int W, int Cn, int OCn, int k, int pad)
{
    int OH = H + 2 * pad - k + 1, OW = W + 2 * pad - k + 1;
    for (int n = 0; n < Bn; n++)
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++)
                for (int o = 0; o < OCn; o++) {
                    double s = b ? b[o] : 0.0;
                    for (int c = 0; c < Cn; c++)
                        for (int kh = 0; kh < k; kh++)
                            for (int kw = 0; kw < k; kw++) {
                                int yy = oy - pad + kh, xx = ox - pad + kw;
                                if (yy < 0 || yy >= H || xx < 0 || xx >= W)
                                    continue;
                                s += x[((size_t)(n * H + yy) * W + xx) * Cn + c] *
                                     w[((size_t)(o * Cn + c) * k + kh) * k + kw];
                            }
                    y[((size_t)(n * OH + oy) * OW + ox) * OCn + o] = s;
                }
}

static double *to_d(const float *x, size_t n)
{
    double *d = malloc((n ? n : 1) * sizeof *d);
    assert_non_null(d);
    for (size_t i = 0; i < n; i++)
        d[i] = x[i];
    return d;
}

static float *falloc(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof *p);
    assert_non_null(p);
    return p;
}

typedef struct { int B, H, W, C, OC, k, pad; } conv_shape;
static const conv_shape CONV_SHAPES[] = {
    { 2, 5, 6, 1, 3, 3, 0 }, { 1, 7, 5, 3, 5, 3, 1 }, { 3, 6, 6, 2, 4, 5, 2 },
    { 2, 4, 4, 5, 1, 1, 0 }, { 1, 9, 8, 4, 17, 5, 0 }, { 2, 6, 7, 7, 33, 3, 1 },
};
#define N_CONV_SHAPES ((int)(sizeof CONV_SHAPES / sizeof *CONV_SHAPES))

static double conv_obj(double *yd, const double *xd, const double *wd, const double *bd,
                       const double *Rd, const conv_shape *s, size_t ny)
{
    conv_ref_d(yd, xd, wd, bd, s->B, s->H, s->W, s->C, s->OC, s->k, s->pad);
    double L = 0;
    for (size_t q = 0; q < ny; q++)
        L += Rd[q] * yd[q];
    return L;
}

/* L = sum(R * conv(x)) in double; its gradients in w, b, x by central
 * differences against the layer's backward (ref kernels) through the packed
 * weight gradient. */
static void test_conv2d_matches_direct_and_finite_differences(void **state)
{
    (void)state;
    const mt_kern *kn = mt_kern_ref();
    for (int si = 0; si < N_CONV_SHAPES; si++) {
        conv_shape s = CONV_SHAPES[si];
        int OH = s.H + 2 * s.pad - s.k + 1, OW = s.W + 2 * s.pad - s.k + 1, P = OH * OW;
        int CKK = s.k * s.k * s.C;
        size_t nx = (size_t)s.B * s.H * s.W * s.C, nw = (size_t)s.OC * CKK, ny = (size_t)s.B * P * s.OC;
        float *x = falloc(nx), *w = falloc(nw), *b = falloc(s.OC), *R = falloc(ny), *y = falloc(ny);
        float *wt = falloc(nw), *w2 = falloc(nw), *col = falloc((size_t)s.B * P * CKK);
        float *dwt = falloc(nw), *dw = falloc(nw), *db = falloc(s.OC), *dx = falloc(nx);
        float *dcol = falloc((size_t)P * CKK);
        fill(x, nx, -1, 1), fill(w, nw, -1, 1), fill(b, s.OC, -1, 1), fill(R, ny, -1, 1);
        mt_conv2d_pack(wt, w2, w, s.C, s.OC, s.k);
        mt_conv2d_forward(y, col, x, wt, b, s.B, s.H, s.W, s.C, s.OC, s.k, s.pad, kn);
        double *xd = to_d(x, nx), *wd = to_d(w, nw), *bd = to_d(b, s.OC), *yd = malloc(ny * sizeof *yd);
        assert_non_null(yd);
        conv_ref_d(yd, xd, wd, bd, s.B, s.H, s.W, s.C, s.OC, s.k, s.pad);
        for (size_t i = 0; i < ny; i++)
            assert_true(fabs(y[i] - yd[i]) <= 1e-5 * (1 + CKK / 16.0));
        /* gradients: two row ranges of dwt, as two threads would */
        mt_im2col(col, x, s.B, s.H, s.W, s.C, s.k, s.pad);
        mt_conv2d_backward_w(dwt, db, R, col, s.B * P, CKK, s.OC, 0, CKK / 2, kn);
        mt_conv2d_backward_w(dwt, NULL, R, col, s.B * P, CKK, s.OC, CKK / 2, CKK, kn);
        mt_conv2d_unpack_grad(dw, dwt, s.C, s.OC, s.k);
        { /* without a stored col: rows by sample, split in two, vs the product above */
            float *dwt2 = falloc(nw), *dwt3 = falloc(nw), *colp = falloc((size_t)2 * P * CKK);
            float *db2 = falloc(s.OC), *db3 = falloc(s.OC), *dbr = falloc(s.OC);
            fill(db2, s.OC, -1, 1);
            memcpy(db3, db2, s.OC * sizeof *db2), memcpy(dbr, db2, s.OC * sizeof *db2);
            mt_conv2d_backward_w_rows(dwt2, db2, colp, R, x, s.B, 1, s.H, s.W, s.C, s.OC, s.k, s.pad, 0, CKK, kn);
            mt_conv2d_backward_w_rows(dwt3, NULL, colp, R, x, s.B, 2, s.H, s.W, s.C, s.OC, s.k, s.pad, 0, CKK / 3,
                                      kn);
            mt_conv2d_backward_w_rows(dwt3, db3, colp, R, x, s.B, 2, s.H, s.W, s.C, s.OC, s.k, s.pad, CKK / 3, CKK,
                                      kn);
            assert_memory_equal(dwt2, dwt3, nw * sizeof *dwt2);
            /* the fused bias gradient: colsum_acc's chains, whichever rows ride along */
            kn->colsum_acc(dbr, R, s.B * P, s.OC);
            assert_memory_equal(db2, dbr, s.OC * sizeof *db2);
            assert_memory_equal(db3, dbr, s.OC * sizeof *db3);
            mt_conv2d_backward_w_rows(dwt3, db3, colp, R, x, s.B, 2, s.H, s.W, s.C, s.OC, s.k, s.pad, 0, 0, kn);
            kn->colsum_acc(dbr, R, s.B * P, s.OC);
            assert_memory_equal(db3, dbr, s.OC * sizeof *db3);
            free(db2), free(db3), free(dbr);
            for (size_t i = 0; i < nw; i++)
                assert_true(fabs(dwt2[i] - dwt[i]) <= 1e-5 * (1 + s.B * P / 16.0));
            free(dwt2), free(dwt3), free(colp);
        }
        mt_conv2d_backward_x(dx, dcol, R, w2, s.B, s.H, s.W, s.C, s.OC, s.k, s.pad, kn);
        const double h = 1e-3;
        double *Rd = to_d(R, ny);
        struct { double *p; const float *g; size_t n; } sets[3] = { { wd, dw, nw }, { bd, db, (size_t)s.OC }, { xd, dx, nx } };
        for (int t = 0; t < 3; t++)
            for (size_t i = 0; i < sets[t].n; i++) {
                double keep = sets[t].p[i], lp, lm;
                sets[t].p[i] = keep + h;
                lp = conv_obj(yd, xd, wd, bd, Rd, &s, ny);
                sets[t].p[i] = keep - h;
                lm = conv_obj(yd, xd, wd, bd, Rd, &s, ny);
                sets[t].p[i] = keep;
                double num = (lp - lm) / (2 * h);
                if (rel_err(sets[t].g[i], num) > 1e-4 && fabs(sets[t].g[i] - num) > 1e-5) {
                    print_error("conv shape %d set %d [%zu]: analytic %g numeric %g\n", si, t, i, sets[t].g[i], num);
                    fail();
                }
            }
        free(x), free(w), free(b), free(R), free(y), free(wt), free(w2), free(col), free(dwt), free(dw);
        free(db), free(dx), free(dcol), free(xd), free(wd), free(bd), free(yd), free(Rd);
    }
}

/* Every kernel variant this CPU runs gives the reference's conv forward and
 * both backward products within tolerance, on ragged shapes. */
static void test_conv2d_variants_match_ref(void **state)
{
    (void)state;
    mt_kern_variant v[8];
    int nv = mt_kern_variants(v, 8), ran = 0;
    const mt_kern *kr = mt_kern_ref();
    static const conv_shape S[] = { { 3, 11, 13, 1, 24, 5, 0 }, { 2, 12, 12, 24, 32, 3, 0 },
                                    { 2, 9, 9, 32, 64, 3, 1 }, { 1, 8, 7, 5, 17, 3, 0 } };
    for (int vi = 0; vi < nv; vi++) {
        if (!v[vi].runnable) {
            print_message("skipped: this CPU cannot run the %s kernels\n", v[vi].k->name);
            continue;
        }
        const mt_kern *kn = v[vi].k;
        ran++;
        for (int si = 0; si < (int)(sizeof S / sizeof *S); si++) {
            conv_shape s = S[si];
            int OH = s.H + 2 * s.pad - s.k + 1, OW = s.W + 2 * s.pad - s.k + 1, P = OH * OW;
            int CKK = s.k * s.k * s.C;
            size_t nx = (size_t)s.B * s.H * s.W * s.C, nw = (size_t)s.OC * CKK, ny = (size_t)s.B * P * s.OC;
            float *x = falloc(nx), *w = falloc(nw), *b = falloc(s.OC), *R = falloc(ny);
            float *wt = falloc(nw), *w2 = falloc(nw), *col = falloc((size_t)s.B * P * CKK);
            float *dcol = falloc((size_t)P * CKK);
            float *y[2], *dwt[2], *db[2], *dx[2];
            fill(x, nx, -1, 1), fill(w, nw, -1, 1), fill(b, s.OC, -1, 1), fill(R, ny, -1, 1);
            mt_conv2d_pack(wt, w2, w, s.C, s.OC, s.k);
            for (int j = 0; j < 2; j++) {
                const mt_kern *kk = j ? kr : kn;
                y[j] = falloc(ny), dwt[j] = falloc(nw), db[j] = falloc(s.OC), dx[j] = falloc(nx);
                mt_conv2d_forward(y[j], col, x, wt, b, s.B, s.H, s.W, s.C, s.OC, s.k, s.pad, kk);
                mt_im2col(col, x, s.B, s.H, s.W, s.C, s.k, s.pad);
                mt_conv2d_backward_w(dwt[j], db[j], R, col, s.B * P, CKK, s.OC, 0, CKK, kk);
                { /* the in-place patches (pad 0) or their columns (pad > 0), rows split in two */
                    float *dr = falloc(nw), *colp = falloc((size_t)2 * P * CKK);
                    mt_conv2d_backward_w_rows(dr, NULL, colp, R, x, s.B, 2, s.H, s.W, s.C, s.OC, s.k, s.pad, 0,
                                              CKK / 2, kk);
                    mt_conv2d_backward_w_rows(dr, NULL, colp, R, x, s.B, 2, s.H, s.W, s.C, s.OC, s.k, s.pad, CKK / 2,
                                              CKK, kk);
                    for (size_t i = 0; i < nw; i++)
                        assert_true(fabs(dr[i] - dwt[j][i]) <= 4e-6 * (s.B * P + 2));
                    free(dr), free(colp);
                }
                mt_conv2d_backward_x(dx[j], dcol, R, w2, s.B, s.H, s.W, s.C, s.OC, s.k, s.pad, kk);
            }
            double tf = 4e-6 * (CKK + 2), tw = 4e-6 * (s.B * P + 2), tx = 4e-6 * (s.OC * s.k * s.k + 2);
            for (size_t i = 0; i < ny; i++)
                assert_true(fabs(y[0][i] - y[1][i]) <= tf);
            for (size_t i = 0; i < nw; i++)
                assert_true(fabs(dwt[0][i] - dwt[1][i]) <= tw);
            for (int i = 0; i < s.OC; i++)
                assert_true(fabs(db[0][i] - db[1][i]) <= tw);
            for (size_t i = 0; i < nx; i++)
                assert_true(fabs(dx[0][i] - dx[1][i]) <= tx);
            for (int j = 0; j < 2; j++)
                free(y[j]), free(dwt[j]), free(db[j]), free(dx[j]);
            free(x), free(w), free(b), free(R), free(wt), free(w2), free(col), free(dcol);
        }
    }
    assert_true(ran >= 1);
}

/* Generic check of an elementwise-or-routing layer: L = sum(R * f(x)). */
static void test_maxpool_flatten_relu_backward_match_finite_differences(void **state)
{
    (void)state;
    enum { PB = 2, PH = 5, PW = 6, PC = 3 };
    const size_t nx = PB * PH * PW * PC, ny = PB * (PH / 2) * (PW / 2) * PC;
    float x[PB * PH * PW * PC], y[PB * 2 * 3 * PC], R[PB * PH * PW * PC], dx[PB * PH * PW * PC];
    uint8_t arg[PB * 2 * 3 * PC];
    /* distinct values: no ties, no kinks under the step */
    for (size_t i = 0; i < nx; i++)
        x[i] = (float)((i * 37) % nx) / nx * 4.f - 2.f + 0.01f;
    fill(R, nx, -1, 1);
    mt_kern_variant kv[8];
    const int nkv = mt_kern_variants(kv, 8);
    for (int vi = 0; vi < nkv; vi++) { /* every runnable kernel table's max-pool */
        if (!kv[vi].runnable)
            continue;
        const mt_kern *kn = kv[vi].k;
        mt_maxpool2d_forward(y, arg, x, PB, PH, PW, PC, kn);
        for (size_t i = 0; i < nx; i++)
            dx[i] = NAN; /* backward overwrites, odd last row included */
        mt_maxpool2d_backward(dx, R, arg, PB, PH, PW, PC, kn);
        for (size_t i = 0; i < nx; i++) {
            const double h = 1e-3;
            float keep = x[i];
            double L[2];
            for (int sgn = 0; sgn < 2; sgn++) {
                x[i] = keep + (sgn ? -h : h);
                mt_maxpool2d_forward(y, arg, x, PB, PH, PW, PC, kn);
                L[sgn] = 0;
                for (size_t q = 0; q < ny; q++)
                    L[sgn] += (double)R[q] * y[q];
            }
            x[i] = keep;
            assert_true(rel_err(dx[i], (L[0] - L[1]) / (2 * h)) <= 1e-3);
        }
        /* PyTorch's tie rule: the first maximum wins, a NaN wins */
        float t[8] = { 1, 3, 3, 0, 2, 3, NAN, 2 }; /* 2x2 pixels of 2 channels */
        float to[2];
        uint8_t ta[2];
        mt_maxpool2d_forward(to, ta, t, 1, 2, 2, 2, kn);
        assert_true(isnan(to[0]) && ta[0] == 3); /* channel 0: 1, 3, 2, NaN */
        assert_true(to[1] == 3 && ta[1] == 0);   /* channel 1: 3, 0, 3, 2 */
    }
    /* flatten: NHWC -> (c,h,w) and back */
    float f[PB * PH * PW * PC], g[PB * PH * PW * PC];
    mt_flatten_forward(f, x, PB, PH, PW, PC);
    assert_true(f[1 * PH * PW + 2 * PW + 4] == x[(2 * PW + 4) * PC + 1]);
    mt_flatten_backward(g, f, PB, PH, PW, PC);
    assert_memory_equal(g, x, sizeof g);
    /* relu */
    mt_relu_forward(f, x, nx);
    mt_relu_backward(g, R, f, nx);
    for (size_t i = 0; i < nx; i++)
        assert_true(g[i] == (x[i] > 0 ? R[i] : 0.f) && f[i] == (x[i] > 0 ? x[i] : 0.f));
}

/* Keep rate, scaling, the backward's routing, and determinism by seed. */
static void test_dropout_statistics_and_determinism(void **state)
{
    (void)state;
    enum { DN = 100000 };
    float *x = falloc(DN), *y = falloc(DN), *y2 = falloc(DN), *d = falloc(DN);
    uint8_t *keep = malloc(DN), *keep2 = malloc(DN);
    assert_non_null(keep), assert_non_null(keep2);
    for (size_t i = 0; i < DN; i++)
        x[i] = 1.f;
    const float ps[] = { 0.f, 0.25f, 0.5f, 0.9f };
    for (int pi = 0; pi < 4; pi++) {
        float p = ps[pi];
        uint64_t sd = mt_dropout_seed(1, 2, 3, 4);
        mt_dropout_forward(y, keep, x, DN, p, sd);
        double kept = 0, mean = 0;
        for (size_t i = 0; i < DN; i++) {
            kept += keep[i];
            mean += y[i];
            assert_true(y[i] == (keep[i] ? 1.f / (1.f - p) : 0.f));
        }
        /* binomial: 5 standard deviations */
        double sdv = sqrt(DN * p * (1 - p));
        assert_true(fabs(kept - DN * (1 - p)) <= 5 * sdv + 1e-9);
        assert_true(fabs(mean / DN - 1.0) <= 5 * sdv / DN / (1 - p) + 1e-6);
        mt_dropout_forward(y2, keep2, x, DN, p, sd);
        assert_memory_equal(keep, keep2, DN);
        mt_dropout_backward(d, x, keep, DN, p);
        assert_memory_equal(d, y, DN * sizeof *d);
        if (p > 0) { /* another sample, step or layer: another mask */
            mt_dropout_forward(y2, keep2, x, DN, p, mt_dropout_seed(1, 2, 3, 5));
            assert_true(memcmp(keep, keep2, DN) != 0);
            mt_dropout_forward(y2, keep2, x, DN, p, mt_dropout_seed(1, 2, 4, 4));
            assert_true(memcmp(keep, keep2, DN) != 0);
            mt_dropout_forward(y2, keep2, x, DN, p, mt_dropout_seed(1, 3, 3, 4));
            assert_true(memcmp(keep, keep2, DN) != 0);
            /* neighbouring elements are independent: P(both kept) ~ (1-p)^2 */
            double both = 0;
            for (size_t i = 0; i + 1 < DN; i += 2)
                both += keep[i] && keep[i + 1];
            double q = (1 - p) * (1 - p), n2 = DN / 2;
            assert_true(fabs(both - n2 * q) <= 5 * sqrt(n2 * q * (1 - q)) + 1e-9);
        }
    }
    free(x), free(y), free(y2), free(d), free(keep), free(keep2);
}

/* Training mode: output statistics, running stats with momentum 0.1 and the
 * unbiased variance, and the gradient (through the batch statistics)
 * against double central differences; evaluation mode by formula. */
static void test_batchnorm_both_modes(void **state)
{
    (void)state;
    enum { BR = 12, BC = 5 };
    float x[BR * BC], y[BR * BC], xh[BR * BC], is[BC], rm[BC], rv[BC], g[BC], be[BC], R[BR * BC];
    float dx[BR * BC], dg[BC] = { 0 }, dbe[BC] = { 0 };
    fill(x, BR * BC, -2, 3), fill(g, BC, 0.5f, 1.5f), fill(be, BC, -1, 1), fill(R, BR * BC, -1, 1);
    for (int c = 0; c < BC; c++)
        rm[c] = 0.f, rv[c] = 1.f;
    mt_batchnorm_forward_train(y, xh, is, rm, rv, x, g, be, BR, BC, 1e-5f, 0.1f, 0, 2);
    mt_batchnorm_forward_train(y, xh, is, rm, rv, x, g, be, BR, BC, 1e-5f, 0.1f, 2, BC);
    for (int c = 0; c < BC; c++) {
        double m = 0, v = 0, ym = 0, yv = 0;
        for (int r = 0; r < BR; r++)
            m += x[r * BC + c], ym += y[r * BC + c];
        m /= BR, ym /= BR;
        for (int r = 0; r < BR; r++)
            v += (x[r * BC + c] - m) * (x[r * BC + c] - m), yv += (y[r * BC + c] - ym) * (y[r * BC + c] - ym);
        assert_true(fabs(ym - be[c]) <= 1e-5);
        assert_true(fabs(sqrt(yv / BR) - g[c] * sqrt(v / BR / (v / BR + 1e-5))) <= 1e-5);
        assert_true(fabs(rm[c] - 0.1 * m) <= 1e-6);
        assert_true(fabs(rv[c] - (0.9 + 0.1 * v / (BR - 1))) <= 1e-5);
    }
    mt_batchnorm_backward(dx, dg, dbe, R, xh, is, g, BR, BC, 0, BC);
    /* L = sum R * bn(x) in double */
    double xd[BR * BC];
    for (int i = 0; i < BR * BC; i++)
        xd[i] = x[i];
    const double h = 1e-4;
    for (int t = 0; t < BR * BC + 2 * BC; t++) {
        double L[2];
        for (int sgn = 0; sgn < 2; sgn++) {
            double dlt = sgn ? -h : h, gg[BC], bb[BC];
            for (int c = 0; c < BC; c++)
                gg[c] = g[c], bb[c] = be[c];
            if (t < BR * BC) xd[t] += dlt;
            else if (t < BR * BC + BC) gg[t - BR * BC] += dlt;
            else bb[t - BR * BC - BC] += dlt;
            L[sgn] = 0;
            for (int c = 0; c < BC; c++) {
                double m = 0, v = 0;
                for (int r = 0; r < BR; r++) m += xd[r * BC + c];
                m /= BR;
                for (int r = 0; r < BR; r++) v += (xd[r * BC + c] - m) * (xd[r * BC + c] - m);
                v /= BR;
                for (int r = 0; r < BR; r++)
                    L[sgn] += R[r * BC + c] * ((xd[r * BC + c] - m) / sqrt(v + 1e-5) * gg[c] + bb[c]);
            }
            if (t < BR * BC) xd[t] -= dlt;
        }
        double num = (L[0] - L[1]) / (2 * h);
        double an = t < BR * BC ? dx[t] : t < BR * BC + BC ? dg[t - BR * BC] : dbe[t - BR * BC - BC];
        assert_true(rel_err(an, num) <= 1e-3 || fabs(an - num) <= 1e-5);
    }
    /* evaluation mode */
    mt_batchnorm_forward_eval(y, x, g, be, rm, rv, BR, BC, 1e-5f);
    for (int i = 0; i < BR * BC; i++) {
        int c = i % BC;
        double want = (x[i] - rm[c]) / sqrt(rv[c] + 1e-5) * g[c] + be[c];
        assert_true(fabs(y[i] - want) <= 1e-5);
    }
}

/* mt_linear_* (the layer the nets use) against central differences. */
static void test_linear_layer_matches_finite_differences(void **state)
{
    (void)state;
    enum { LB = 4, LC = 6, LO = 3 };
    const mt_kern *kn = mt_kern_ref();
    float x[LB * LC], w[LO * LC], wt[LC * LO], b[LO], y[LB * LO], R[LB * LO];
    float dw[LO * LC] = { 0 }, db[LO] = { 0 }, dx[LB * LC];
    fill(x, LB * LC, -1, 1), fill(w, LO * LC, -1, 1), fill(b, LO, -1, 1), fill(R, LB * LO, -1, 1);
    for (int o = 0; o < LO; o++)
        for (int c = 0; c < LC; c++)
            wt[c * LO + o] = w[o * LC + c];
    mt_linear_forward(y, x, wt, b, LB, LC, LO, kn);
    mt_linear_backward_w(dw, db, R, x, LB, LC, LO, 0, 2, kn);
    mt_linear_backward_w(dw, NULL, R, x, LB, LC, LO, 2, LC, kn);
    mt_linear_backward_x(dx, R, w, LB, LC, LO, kn);
    for (int i = 0; i < LB; i++)
        for (int o = 0; o < LO; o++) {
            double s = b[o];
            for (int c = 0; c < LC; c++)
                s += (double)x[i * LC + c] * w[o * LC + c];
            assert_true(fabs(y[i * LO + o] - s) <= 1e-5);
        }
    /* L = sum R*(x w^T + b) is bilinear: the exact gradients */
    for (int o = 0; o < LO; o++) {
        double sb = 0;
        for (int i = 0; i < LB; i++)
            sb += R[i * LO + o];
        assert_true(fabs(db[o] - sb) <= 1e-5);
        for (int c = 0; c < LC; c++) {
            double s = 0;
            for (int i = 0; i < LB; i++)
                s += (double)R[i * LO + o] * x[i * LC + c];
            assert_true(fabs(dw[o * LC + c] - s) <= 1e-5);
        }
    }
    for (int i = 0; i < LB; i++)
        for (int c = 0; c < LC; c++) {
            double s = 0;
            for (int o = 0; o < LO; o++)
                s += (double)R[i * LO + o] * w[o * LC + c];
            assert_true(fabs(dx[i * LC + c] - s) <= 1e-5);
        }
}

int main(void)
{
    mt_rng_seed(&rng, 12345);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_forward_matches_double),
        cmocka_unit_test(test_linear_backward_matches_finite_differences),
        cmocka_unit_test(test_linear_backward_x_applies_relu_mask),
        cmocka_unit_test(test_softmax_xent_matches_finite_differences),
        cmocka_unit_test(test_softmax_xent_is_stable_for_huge_and_tiny_logits),
        cmocka_unit_test(test_softmax_xent_ls_matches_finite_differences),
        cmocka_unit_test(test_softmax_xent_ls_zero_is_plain_and_stable),
        cmocka_unit_test(test_softmax_xent_ls_matches_torch),
        cmocka_unit_test(test_mlp_gradients_match_finite_differences),
        cmocka_unit_test(test_mlp_parse_hidden),
        cmocka_unit_test(test_conv2d_matches_direct_and_finite_differences),
        cmocka_unit_test(test_conv2d_variants_match_ref),
        cmocka_unit_test(test_maxpool_flatten_relu_backward_match_finite_differences),
        cmocka_unit_test(test_dropout_statistics_and_determinism),
        cmocka_unit_test(test_batchnorm_both_modes),
        cmocka_unit_test(test_linear_layer_matches_finite_differences),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
