/* Learning-rate schedules against values computed by hand from PyTorch's
 * formulas and, for OneCycleLR, against torch itself where /usr/bin/python3
 * has it (tests/torch_ref.py); early stopping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>

#include "mt_sched.h"
#include "test_util.h"

#define PI 3.14159265358979323846

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

static void test_onecycle_by_hand(void **state)
{
    (void)state;
    mt_sched s;
    mt_sched_init(&s, MT_SCHED_ONECYCLE, 0.01);
    s.total_steps = 11; /* phase ends 2.3 and 10 */
    assert_true(mt_sched_per_batch(&s));
    near(mt_sched_lr(&s), 0.01 / 25);                                 /* start */
    near(mt_sched_onecycle_lr(&s, 1), 0.0004 + 0.0096 * (1 - cos(PI / 2.3)) / 2);
    near(mt_sched_onecycle_lr(&s, 3), 4e-8 + (0.01 - 4e-8) * (1 + cos(PI * 0.7 / 7.7)) / 2);
    near(mt_sched_onecycle_lr(&s, 10), 0.01 / 25 / 1e4);              /* end */
    for (int t = 1; t <= 10; t++)
        near(mt_sched_batch_end(&s), mt_sched_onecycle_lr(&s, t));
    assert_int_equal(s.step, 10);
    /* the epoch's end changes nothing */
    double lr = mt_sched_lr(&s);
    near(mt_sched_epoch_end(&s, 1.0), lr);
    assert_int_equal(s.epoch, 1);
    /* per-epoch kinds count batches but keep their rate */
    mt_sched_init(&s, MT_SCHED_STEP, 0.1);
    assert_false(mt_sched_per_batch(&s));
    near(mt_sched_batch_end(&s), 0.1);
    near(mt_sched_lr(&s), 0.1);
    assert_int_equal(s.step, 1);
}

/* The rate of every step of whole schedules, and torch's OneCycleLR redoing
 * them: one epoch of batch 256 (235 steps), 14 epochs of batch 64, and
 * short ones whose first phase is less than one step. */
static void test_onecycle_matches_torch(void **state)
{
    (void)state;
    const long long totals[] = { 235, 14 * 938, 2, 3, 7 };
    for (int i = 0; i < 5; i++) {
        mt_sched s;
        mt_sched_init(&s, MT_SCHED_ONECYCLE, i == 1 ? 1.0 : 0.01);
        s.total_steps = totals[i];
        const char *path = tu_tmp("sched.txt");
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fprintf(f, "onecycle max_lr=%.17g total_steps=%lld\n", s.base_lr, s.total_steps);
        double lr = mt_sched_lr(&s);
        for (long long t = 0; t < s.total_steps; t++) {
            fprintf(f, "%.17g\n", lr);
            lr = mt_sched_batch_end(&s);
        }
        fclose(f);
        int rc = tu_torch_ref("sched", path);
        if (rc == 77) {
            print_message("skipping: /usr/bin/python3 with torch not found\n");
            skip();
        }
        assert_int_equal(rc, 0);
    }
}

/* Resuming from the state text continues the schedule at the same step. */
static void test_onecycle_state_resumes(void **state)
{
    (void)state;
    mt_sched s, s2;
    mt_early e, e2;
    mt_sched_init(&s, MT_SCHED_ONECYCLE, 0.01);
    s.total_steps = 100;
    mt_early_init(&e, 0, 0);
    for (int t = 0; t < 37; t++)
        mt_sched_batch_end(&s);
    char buf[256];
    mt_sched_state_text(buf, sizeof buf, &s, &e);
    mt_sched_init(&s2, MT_SCHED_ONECYCLE, 0.01);
    s2.total_steps = 100;
    assert_int_equal(mt_sched_state_parse(buf, &s2, &e2), 0);
    assert_int_equal(s2.step, 37);
    assert_true(mt_sched_lr(&s2) == mt_sched_lr(&s));
    assert_true(mt_sched_batch_end(&s2) == mt_sched_batch_end(&s));
    /* state text of an older checkpoint (no step) still parses, with step 0 */
    assert_int_equal(mt_sched_state_parse("lr=0x1p-4 best=inf bad=0 epoch=2 early_best=inf early_epoch=0 early_bad=0",
                                          &s2, &e2), 0);
    assert_int_equal(s2.step, 0);
    assert_int_equal(s2.epoch, 2);
    /* malformed endings are refused */
    assert_int_equal(mt_sched_state_parse("lr=1 best=2 bad=0 epoch=0 early_best=0 early_epoch=0 early_bad=0 step=-3",
                                          &s2, &e2), -1);
    assert_int_equal(mt_sched_state_parse("lr=1 best=2 bad=0 epoch=0 early_best=0 early_epoch=0 early_bad=0 step=3x",
                                          &s2, &e2), -1);
    assert_int_equal(mt_sched_state_parse("lr=1 best=2 bad=0 epoch=0 early_best=0 early_epoch=0 early_bad=0 junk",
                                          &s2, &e2), -1);
}

static void test_sched_names(void **state)
{
    (void)state;
    assert_int_equal(mt_sched_parse("none"), MT_SCHED_NONE);
    assert_int_equal(mt_sched_parse("cosine"), MT_SCHED_COSINE);
    assert_int_equal(mt_sched_parse("plateau"), MT_SCHED_PLATEAU);
    assert_int_equal(mt_sched_parse("onecycle"), MT_SCHED_ONECYCLE);
    assert_int_equal(mt_sched_parse("linear"), -1);
    for (int i = 0; i <= MT_SCHED_ONECYCLE; i++)
        assert_int_equal(mt_sched_parse(mt_sched_name((mt_sched_kind)i)), i);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_step_lr_decays_every_step_size_epochs),
        cmocka_unit_test(test_cosine_reaches_min_at_t_max),
        cmocka_unit_test(test_plateau_cuts_after_patience),
        cmocka_unit_test(test_early_stopping_counts_epochs_without_improvement),
        cmocka_unit_test(test_state_text_round_trips_exactly),
        cmocka_unit_test(test_onecycle_by_hand),
        cmocka_unit_test(test_onecycle_matches_torch),
        cmocka_unit_test(test_onecycle_state_resumes),
        cmocka_unit_test(test_sched_names),
    };
    return cmocka_run_group_tests(tests, tu_group_setup, tu_group_teardown);
}
