/* Learning-rate schedules against values computed by hand from PyTorch's
 * formulas, and early stopping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>

#include "mt_sched.h"

static void near(double a, double b)
{
    if (fabs(a - b) > 1e-12 * (1 + fabs(b)))
        fail_msg("%.15g vs %.15g", a, b);
}

static void test_step_lr_decays_every_step_size_epochs(void **state)
{
    (void)state;
    mt_sched s;
    mt_sched_init(&s, MT_SCHED_STEP, 0.1);
    s.step_size = 2;
    s.gamma = 0.5;
    const double want[] = { 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125 };
    for (int e = 0; e < 6; e++)
        near(mt_sched_epoch_end(&s, NAN), want[e]); /* rate for epoch e+2 */
}

static void test_cosine_reaches_min_at_t_max(void **state)
{
    (void)state;
    mt_sched s;
    mt_sched_init(&s, MT_SCHED_COSINE, 1.0);
    s.t_max = 4;
    s.min_lr = 0.1;
    /* 0.1 + 0.9 (1 + cos(pi t/4)) / 2 for t = 1..4, then it stays at min */
    near(mt_sched_epoch_end(&s, NAN), 0.1 + 0.45 * (1 + sqrt(0.5)));
    near(mt_sched_epoch_end(&s, NAN), 0.55);
    near(mt_sched_epoch_end(&s, NAN), 0.1 + 0.45 * (1 - sqrt(0.5)));
    near(mt_sched_epoch_end(&s, NAN), 0.1);
    near(mt_sched_epoch_end(&s, NAN), 0.1);
}

static void test_plateau_cuts_after_patience(void **state)
{
    (void)state;
    mt_sched s;
    mt_sched_init(&s, MT_SCHED_PLATEAU, 1.0);
    s.patience = 2;
    s.gamma = 0.5;
    near(mt_sched_epoch_end(&s, 1.0), 1.0);      /* best 1.0 */
    near(mt_sched_epoch_end(&s, 0.99995), 1.0);  /* within threshold: bad 1 */
    near(mt_sched_epoch_end(&s, 1.2), 1.0);      /* bad 2 */
    near(mt_sched_epoch_end(&s, 1.1), 0.5);      /* bad 3 > patience: cut */
    near(mt_sched_epoch_end(&s, 0.5), 0.5);      /* improvement resets */
    near(mt_sched_epoch_end(&s, NAN), 0.5);      /* NaN is ignored */
    assert_int_equal(s.bad_epochs, 0);
}

static void test_early_stopping_counts_epochs_without_improvement(void **state)
{
    (void)state;
    mt_early e;
    mt_early_init(&e, 2, 0.01);
    assert_int_equal(mt_early_update(&e, 1, 1.0), 1);
    assert_int_equal(mt_early_update(&e, 2, 0.995), 0); /* less than min_delta */
    assert_false(mt_early_should_stop(&e));
    assert_int_equal(mt_early_update(&e, 3, 0.5), 1);
    assert_int_equal(e.best_epoch, 3);
    assert_int_equal(mt_early_update(&e, 4, 0.6), 0);
    assert_int_equal(mt_early_update(&e, 5, 0.7), 0);
    assert_true(mt_early_should_stop(&e));
    mt_early_init(&e, 0, 0);
    for (int i = 1; i < 10; i++)
        mt_early_update(&e, i, (double)i);
    assert_false(mt_early_should_stop(&e)); /* patience 0: never */
}

static void test_state_text_round_trips_exactly(void **state)
{
    (void)state;
    mt_sched s, s2;
    mt_early e, e2;
    mt_sched_init(&s, MT_SCHED_PLATEAU, 0.1);
    mt_early_init(&e, 3, 0);
    mt_sched_epoch_end(&s, 1.0 / 3.0);
    mt_sched_epoch_end(&s, 0.5);
    mt_early_update(&e, 1, 1.0 / 7.0);
    mt_early_update(&e, 2, 0.9);
    char buf[256];
    mt_sched_state_text(buf, sizeof buf, &s, &e);
    mt_sched_init(&s2, MT_SCHED_PLATEAU, 0.1);
    mt_early_init(&e2, 3, 0);
    assert_int_equal(mt_sched_state_parse(buf, &s2, &e2), 0);
    assert_true(s2.lr == s.lr && s2.best == s.best && s2.bad_epochs == 1 && s2.epoch == 2);
    assert_true(e2.best == 1.0 / 7.0 && e2.best_epoch == 1 && e2.bad_epochs == 1);
    mt_sched_init(&s2, MT_SCHED_PLATEAU, 0.1);
    assert_int_equal(mt_sched_state_parse("lr=1 best=2", &s2, &e2), -1);
    assert_int_equal(mt_sched_state_parse("lr=-1 best=0 bad=0 epoch=0 early_best=0 early_epoch=0 early_bad=0", &s2, &e2), -1);
    assert_true(s2.lr == 0.1); /* untouched on failure */
    /* a fresh state (infinite bests) also round-trips */
    mt_sched_init(&s, MT_SCHED_NONE, 0.5);
    mt_early_init(&e, 0, 0);
    mt_sched_state_text(buf, sizeof buf, &s, &e);
    assert_int_equal(mt_sched_state_parse(buf, &s2, &e2), 0);
    assert_true(isinf(s2.best) && isinf(e2.best) && s2.lr == 0.5);
}

static void test_sched_names(void **state)
{
    (void)state;
    assert_int_equal(mt_sched_parse("none"), MT_SCHED_NONE);
    assert_int_equal(mt_sched_parse("cosine"), MT_SCHED_COSINE);
    assert_int_equal(mt_sched_parse("plateau"), MT_SCHED_PLATEAU);
    assert_int_equal(mt_sched_parse("linear"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_step_lr_decays_every_step_size_epochs),
        cmocka_unit_test(test_cosine_reaches_min_at_t_max),
        cmocka_unit_test(test_plateau_cuts_after_patience),
        cmocka_unit_test(test_early_stopping_counts_epochs_without_improvement),
        cmocka_unit_test(test_state_text_round_trips_exactly),
        cmocka_unit_test(test_sched_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
