/* Optimizers against hand-computed steps: Adam (torch.optim.Adam), AdamW
 * (decoupled decay), SGD with momentum. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>

#include "mt_optim.h"

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
    for (int i = 0; i < 3; i++)
        assert_int_equal(mt_optim_parse(mt_optim_name((mt_opt_kind)i)), i);
    assert_int_equal(mt_optim_parse("rmsprop"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adam_first_step_is_lr_times_sign),
        cmocka_unit_test(test_adam_matches_textbook_over_steps),
        cmocka_unit_test(test_adamw_decays_decoupled),
        cmocka_unit_test(test_sgd_momentum_by_hand),
        cmocka_unit_test(test_clip_grad_norm_by_hand),
        cmocka_unit_test(test_optim_names_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
