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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
