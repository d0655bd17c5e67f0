/* Optimizers against hand-computed steps: Adam (torch.optim.Adam), AdamW
 * (decoupled decay), SGD with (Nesterov) momentum, Adadelta; and against
 * torch.optim itself where /usr/bin/python3 has torch (tests/torch_ref.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>

#include "mt_optim.h"
#include "test_util.h"

static void test_adam_first_step_is_lr_times_sign(void **state)
{
    (void)state;
    /* m = 0.1 g, v = 0.001 g^2; bias-corrected m/sqrt(v) = sign(g):
     * p1 = p0 - lr (up to eps) */
    mt_optim o;
    mt_err err;
    assert_int_equal(mt_optim_init(&o, MT_OPT_ADAM, 2, &err), MT_OK);
    o.lr = 0.1f;
    float p[2] = { 1.0f, -2.0f }, g[2] = { 0.5f, -3.0f };
    mt_optim_step(&o, p, g, mt_kern_ref());
    assert_true(fabsf(p[0] - 0.9f) < 1e-6f);
    assert_true(fabsf(p[1] - -1.9f) < 1e-6f);
    assert_true(fabsf(o.m[0] - 0.05f) < 1e-7f);
    /* 1 - beta2 is formed in float, 1.3e-5 relative off 0.001 */
    assert_true(fabsf(o.v[1] - 0.009f) < 0.009f * 1e-4f);
    assert_int_equal(o.step, 1);
    mt_optim_free(&o);
    mt_optim_free(&o);
}

/* Textbook Adam (Kingma & Ba, Algorithm 1) in double, for several steps with
 * changing gradients, L2 or decoupled decay. */
static void check_adam(mt_opt_kind kind, float wd)
{
    mt_optim o;
    mt_err err;
    assert_int_equal(mt_optim_init(&o, kind, 3, &err), MT_OK);
    o.lr = 0.01f;
    o.weight_decay = wd;
    float p[3] = { 0.3f, -0.7f, 1.5f };
    double pd[3] = { 0.3, -0.7, 1.5 }, m[3] = { 0 }, v[3] = { 0 };
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8, lr = 0.01;
    for (int t = 1; t <= 6; t++) {
        float g[3] = { 0.1f * t, -0.05f * t * t, t % 2 ? 1.0f : -1.0f };
        mt_optim_step(&o, p, g, mt_kern_ref());
        for (int i = 0; i < 3; i++) {
            double gi = g[i];
            if (kind == MT_OPT_ADAM)
                gi += wd * pd[i];
            else
                pd[i] *= 1 - lr * wd;
            m[i] = b1 * m[i] + (1 - b1) * gi;
            v[i] = b2 * v[i] + (1 - b2) * gi * gi;
            double mh = m[i] / (1 - pow(b1, t)), vh = v[i] / (1 - pow(b2, t));
            pd[i] -= lr * mh / (sqrt(vh) + eps);
            if (fabs(p[i] - pd[i]) > 1e-6)
                fail_msg("%s step %d param %d: %.9f vs %.9f", mt_optim_name(kind), t, i, p[i], pd[i]);
        }
    }
    mt_optim_free(&o);
}

static void test_adam_matches_textbook_over_steps(void **state)
{
    (void)state;
    check_adam(MT_OPT_ADAM, 0.f);
    check_adam(MT_OPT_ADAM, 0.1f);
}

static void test_adamw_decays_decoupled(void **state)
{
    (void)state;
    check_adam(MT_OPT_ADAMW, 0.1f);
    /* with zero gradient AdamW still shrinks weights: p (1 - lr wd) */
    mt_optim o;
    mt_err err;
    assert_int_equal(mt_optim_init(&o, MT_OPT_ADAMW, 1, &err), MT_OK);
    o.lr = 0.1f;
    o.weight_decay = 0.5f;
    float p = 2.f, g = 0.f;
    mt_optim_step(&o, &p, &g, mt_kern_ref());
    assert_true(fabsf(p - 1.9f) < 1e-6f);
    mt_optim_free(&o);
}

static void test_sgd_momentum_by_hand(void **state)
{
    (void)state;
    mt_optim o;
    mt_err err;
    assert_int_equal(mt_optim_init(&o, MT_OPT_SGD, 1, &err), MT_OK);
    o.lr = 0.1f;
    o.momentum = 0.9f;
    float p = 1.f, g = 1.f;
    mt_optim_step(&o, &p, &g, mt_kern_ref()); /* buf = 1; p = 0.9 */
    assert_true(fabsf(p - 0.9f) < 1e-6f);
    mt_optim_step(&o, &p, &g, mt_kern_ref()); /* buf = 1.9; p = 0.71 */
    assert_true(fabsf(p - 0.71f) < 1e-6f);
    g = 0.f;
    mt_optim_step(&o, &p, &g, mt_kern_ref()); /* buf = 1.71; p = 0.539 */
    assert_true(fabsf(p - 0.539f) < 1e-6f);
    mt_optim_free(&o);
}

static void test_sgd_nesterov_by_hand(void **state)
{
    (void)state;
    mt_optim o;
    mt_err err;
    assert_int_equal(mt_optim_init(&o, MT_OPT_SGD, 1, &err), MT_OK);
    o.lr = 0.1f;
    o.momentum = 0.9f;
    o.nesterov = 1;
    assert_int_equal(mt_optim_check(&o, &err), MT_OK);
    float p = 1.f, g = 1.f;
    mt_optim_step(&o, &p, &g, mt_kern_ref()); /* buf = 1; d = 1 + 0.9*1 = 1.9; p = 0.81 */
    assert_true(fabsf(p - 0.81f) < 1e-6f);
    mt_optim_step(&o, &p, &g, mt_kern_ref()); /* buf = 1.9; d = 1 + 0.9*1.9 = 2.71; p = 0.539 */
    assert_true(fabsf(p - 0.539f) < 1e-6f);
    g = 0.f;
    mt_optim_step(&o, &p, &g, mt_kern_ref()); /* buf = 1.71; d = 1.539; p = 0.3851 */
    assert_true(fabsf(p - 0.3851f) < 1e-6f);
    assert_true(fabsf(o.m[0] - 1.71f) < 1e-6f); /* the buffer is the plain momentum one */
    mt_optim_free(&o);
}

static void test_adadelta_first_step_by_hand(void **state)
{
    (void)state;
    mt_optim o;
    mt_err err;
    assert_int_equal(mt_optim_init(&o, MT_OPT_ADADELTA, 1, &err), MT_OK);
    assert_true(o.lr == 1.0f && o.rho == 0.9f && o.eps == 1e-6f && o.weight_decay == 0.f);
    float p = 1.f, g = 0.5f;
    mt_optim_step(&o, &p, &g, mt_kern_ref());
    /* square_avg = 0.1 * 0.25 = 0.025; delta = sqrt(1e-6) / sqrt(0.025001) * 0.5
     * = 3.16221e-3; acc_delta = 0.1 delta^2 = 9.99956e-7; p = 1 - delta */
    assert_true(fabsf(o.m[0] - 0.025f) < 1e-8f); /* 1 - 0.9f is 0.100000024 */
    assert_true(fabsf(p - (1.f - 3.162214e-3f)) < 1e-6f);
    assert_true(fabsf(o.v[0] - 9.99956e-7f) < 1e-11f);
    mt_optim_free(&o);
}

/* Zeiler's Algorithm 1 with PyTorch's lr and L2 weight decay, in double,
 * over steps with changing gradients. */
static void check_adadelta(float lr, float wd)
{
    mt_optim o;
    mt_err err;
    assert_int_equal(mt_optim_init(&o, MT_OPT_ADADELTA, 3, &err), MT_OK);
    o.lr = lr;
    o.weight_decay = wd;
    float p[3] = { 0.3f, -0.7f, 1.5f };
    double pd[3] = { 0.3, -0.7, 1.5 }, sq[3] = { 0 }, acc[3] = { 0 };
    const double rho = 0.9, eps = 1e-6;
    for (int t = 1; t <= 8; t++) {
        float g[3] = { 0.1f * t, -0.05f * t * t, t % 2 ? 1.0f : -1.0f };
        mt_optim_step(&o, p, g, mt_kern_ref());
        for (int i = 0; i < 3; i++) {
            double gi = g[i] + (double)wd * pd[i];
            sq[i] = rho * sq[i] + (1 - rho) * gi * gi;
            double d = sqrt(acc[i] + eps) / sqrt(sq[i] + eps) * gi;
            acc[i] = rho * acc[i] + (1 - rho) * d * d;
            pd[i] -= (double)lr * d;
            if (fabs(p[i] - pd[i]) > 1e-6)
                fail_msg("adadelta step %d param %d: %.9f vs %.9f", t, i, p[i], pd[i]);
        }
    }
    mt_optim_free(&o);
}

static void test_adadelta_matches_textbook_over_steps(void **state)
{
    (void)state;
    check_adadelta(1.0f, 0.f);
    check_adadelta(0.5f, 0.1f);
}

/* begin_step + step_range over pieces, and step_buf on copies of the state,
 * give the whole step's bits (the threaded engine relies on it). */
static void test_split_steps_equal_whole_step(void **state)
{
    (void)state;
    const mt_opt_kind kinds[] = { MT_OPT_ADADELTA, MT_OPT_SGD, MT_OPT_ADAM };
    enum { N = 37 };
    for (int ki = 0; ki < 3; ki++) {
        mt_optim a, b;
        mt_err err;
        assert_int_equal(mt_optim_init(&a, kinds[ki], N, &err), MT_OK);
        assert_int_equal(mt_optim_init(&b, kinds[ki], N, &err), MT_OK);
        a.momentum = b.momentum = 0.9f;
        a.nesterov = b.nesterov = kinds[ki] == MT_OPT_SGD;
        a.weight_decay = b.weight_decay = 0.01f;
        float pa[N], pb[N], g[N], m2[N], v2[N];
        for (int i = 0; i < N; i++)
            pa[i] = pb[i] = 0.1f * (float)(i % 7) - 0.3f;
        for (int t = 1; t <= 4; t++) {
            for (int i = 0; i < N; i++)
                g[i] = 0.01f * (float)((i * 13 + t * 5) % 11) - 0.05f;
            mt_optim_step(&a, pa, g, mt_kern_ref());
            mt_optim_begin_step(&b);
            mt_optim_step_range(&b, pb, g, mt_kern_ref(), 20, N);
            /* [0,20) through separate buffers, copied back */
            memcpy(m2, b.m, sizeof m2);
            if (b.v)
                memcpy(v2, b.v, sizeof v2);
            mt_optim_step_buf(&b, pb, g, m2, b.v ? v2 : NULL, 20, mt_kern_ref());
            memcpy(b.m, m2, 20 * sizeof(float));
            if (b.v)
                memcpy(b.v, v2, 20 * sizeof(float));
        }
        assert_memory_equal(pa, pb, sizeof pa);
        assert_memory_equal(a.m, b.m, sizeof pa);
        if (a.v)
            assert_memory_equal(a.v, b.v, sizeof pa);
        mt_optim_free(&a);
        mt_optim_free(&b);
    }
}

static void test_optim_check_rejects_what_torch_rejects(void **state)
{
    (void)state;
    mt_optim o;
    mt_err err = { 0 };
    assert_int_equal(mt_optim_init(&o, MT_OPT_SGD, 1, &err), MT_OK);
    o.nesterov = 1; /* momentum 0 */
    assert_int_equal(mt_optim_check(&o, &err), MT_EARG);
    assert_non_null(strstr(err.msg, "Nesterov"));
    o.momentum = 0.9f;
    assert_int_equal(mt_optim_check(&o, &err), MT_OK);
    o.lr = -1.f;
    assert_int_equal(mt_optim_check(&o, &err), MT_EARG);
    mt_optim_free(&o);
    assert_int_equal(mt_optim_init(&o, MT_OPT_ADADELTA, 1, &err), MT_OK);
    assert_int_equal(mt_optim_check(&o, &err), MT_OK);
    o.nesterov = 1; /* Nesterov is SGD's */
    assert_int_equal(mt_optim_check(&o, &err), MT_EARG);
    o.nesterov = 0;
    o.rho = 1.5f;
    assert_int_equal(mt_optim_check(&o, &err), MT_EARG);
    assert_non_null(strstr(err.msg, "rho"));
    o.rho = 0.9f;
    o.eps = NAN;
    assert_int_equal(mt_optim_check(&o, &err), MT_EARG);
    mt_optim_free(&o);
}

/* Runs an optimizer over several steps and has torch.optim redo them. */
static int torch_run(mt_opt_kind kind, float lr, float wd, float momentum, int nesterov)
{
    enum { N = 6, STEPS = 7 };
    mt_optim o;
    mt_err err;
    assert_int_equal(mt_optim_init(&o, kind, N, &err), MT_OK);
    o.lr = lr;
    o.weight_decay = wd;
    o.momentum = momentum;
    o.nesterov = nesterov;
    assert_int_equal(mt_optim_check(&o, &err), MT_OK);
    const char *path = tu_tmp("optim.txt");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "%s lr=%.9g rho=%.9g eps=%.9g wd=%.9g momentum=%.9g nesterov=%d\n", mt_optim_name(kind), o.lr, o.rho,
            o.eps, o.weight_decay, o.momentum, o.nesterov);
    float p[N] = { 0.5f, -0.25f, 1.5f, -2.f, 0.01f, 0.f };
    for (int i = 0; i < N; i++)
        fprintf(f, "%.9g ", p[i]);
    fprintf(f, "\n");
    for (int t = 1; t <= STEPS; t++) {
        float g[N];
        for (int i = 0; i < N; i++)
            g[i] = (float)sin(0.7 * t + 1.3 * i) * (i == 4 ? 1e-4f : 0.5f);
        /* the shipped kernels: the table the binary picks */
        const mt_kern *k = NULL;
        assert_int_equal(mt_kern_select(&k, MT_ISA_AUTO, &err), MT_OK);
        mt_optim_step(&o, p, g, k);
        for (int i = 0; i < N; i++)
            fprintf(f, "%.9g ", g[i]);
        fprintf(f, "\n");
        for (int i = 0; i < N; i++)
            fprintf(f, "%.9g ", p[i]);
        fprintf(f, "\n");
    }
    fclose(f);
    mt_optim_free(&o);
    return tu_torch_ref("optim", path);
}

static void test_optimizers_match_torch(void **state)
{
    (void)state;
    int rc = torch_run(MT_OPT_ADADELTA, 1.0f, 0.f, 0.f, 0);
    if (rc == 77) {
        print_message("skipping: /usr/bin/python3 with torch not found\n");
        skip();
    }
    assert_int_equal(rc, 0);
    assert_int_equal(torch_run(MT_OPT_ADADELTA, 0.5f, 0.01f, 0.f, 0), 0);
    assert_int_equal(torch_run(MT_OPT_SGD, 0.1f, 1e-3f, 0.9f, 1), 0);
    assert_int_equal(torch_run(MT_OPT_SGD, 0.1f, 0.f, 0.5f, 0), 0);
    assert_int_equal(torch_run(MT_OPT_ADAM, 1e-2f, 0.f, 0.f, 0), 0);
}

static void test_clip_grad_norm_by_hand(void **state)
{
    (void)state;
    float g[2] = { 3.f, 4.f }; /* norm 5 */
    assert_true(fabs(mt_clip_grad_norm(g, 2, 10.0) - 5.0) < 1e-12);
    assert_true(g[0] == 3.f && g[1] == 4.f); /* under the limit: untouched */
    assert_true(fabs(mt_clip_grad_norm(g, 2, 1.0) - 5.0) < 1e-12);
    assert_true(fabsf(g[0] - 0.6f) < 1e-6f && fabsf(g[1] - 0.8f) < 1e-6f);
}

static void test_optim_names_round_trip(void **state)
{
    (void)state;
    for (int i = 0; i < 4; i++)
        assert_int_equal(mt_optim_parse(mt_optim_name((mt_opt_kind)i)), i);
    assert_string_equal(mt_optim_name(MT_OPT_ADADELTA), "adadelta");
    assert_int_equal(mt_optim_parse("rmsprop"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adam_first_step_is_lr_times_sign),
        cmocka_unit_test(test_adam_matches_textbook_over_steps),
        cmocka_unit_test(test_adamw_decays_decoupled),
        cmocka_unit_test(test_sgd_momentum_by_hand),
        cmocka_unit_test(test_sgd_nesterov_by_hand),
        cmocka_unit_test(test_adadelta_first_step_by_hand),
        cmocka_unit_test(test_adadelta_matches_textbook_over_steps),
        cmocka_unit_test(test_split_steps_equal_whole_step),
        cmocka_unit_test(test_optim_check_rejects_what_torch_rejects),
        cmocka_unit_test(test_optimizers_match_torch),
        cmocka_unit_test(test_clip_grad_norm_by_hand),
        cmocka_unit_test(test_optim_names_round_trip),
    };
    return cmocka_run_group_tests(tests, tu_group_setup, tu_group_teardown);
}
