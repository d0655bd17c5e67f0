/* Seed lists, the summary statistics (against values worked out by hand and
 * numpy's std(ddof=1)), and the run pool (every index once, at most
 * `parallel` at a time, results by index), and training runs made side by
 * side in one process giving the bits of runs made one after another. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mt_data.h"
#include "mt_engine.h"
#include "mt_sweep.h"
#include "mt_train.h"

static void expect_seeds(const char *s, const uint64_t *want, int n_want)
{
    uint64_t got[MT_SWEEP_MAX];
    int n = -1;
    mt_err err = { 0 };
    if (mt_seeds_parse(got, MT_SWEEP_MAX, &n, s, &err) != MT_OK)
        fail_msg("'%s': %s", s, err.msg);
    assert_int_equal(n, n_want);
    assert_memory_equal(got, want, (size_t)n * sizeof *got);
}

static void expect_bad(const char *s, const char *needle)
{
    uint64_t got[16];
    int n = -1;
    mt_err err = { 0 };
    if (mt_seeds_parse(got, 16, &n, s, &err) != MT_EARG || !strstr(err.msg, needle))
        fail_msg("'%s': wanted MT_EARG with '%s', got '%s'", s ? s : "(null)", needle, err.msg);
    assert_int_equal(n, -1); /* untouched */
}

static void test_seeds_lists_and_ranges(void **state)
{
    (void)state;
    const uint64_t a[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }, b[] = { 4, 1, 9 }, c[] = { 1, 2, 3, 7 },
                   d[] = { 0 }, e[] = { 9223372036854775807ull }, f[] = { 5 };
    expect_seeds("1-10", a, 10);
    expect_seeds("4,1,9", b, 3);
    expect_seeds("1-3,7", c, 4);
    expect_seeds("0", d, 1);
    expect_seeds("9223372036854775807", e, 1);
    expect_seeds("5-5", f, 1);
}

static void test_seeds_rejects_bad_lists(void **state)
{
    (void)state;
    expect_bad("", "empty");
    expect_bad(NULL, "empty");
    expect_bad("1,", "expected a seed");
    expect_bad(",1", "expected a seed");
    expect_bad("-3", "expected a seed");
    expect_bad("3-", "end of a range");
    expect_bad("5-2", "runs backwards");
    expect_bad("1-3,2", "seed 2 appears twice");
    expect_bad("1 2", "unexpected ' '");
    expect_bad("x", "expected a seed");
    expect_bad("9223372036854775808", "expected a seed"); /* 2^63 */
    expect_bad("1-17", "more than 16 seeds");
    expect_bad("0-18446744073709551615", "end of a range");
}

static void test_stats_match_hand_values(void **state)
{
    (void)state;
    const double x[] = { 97.94, 98.10, 97.80, 97.92 };
    mt_stats s;
    mt_stats_of(&s, x, 4);
    /* mean 97.94; deviations 0, .16, -.14, -.02; ss = .0456; std = sqrt(.0456/3) */
    assert_true(fabs(s.mean - 97.94) < 1e-12);
    assert_true(fabs(s.std - sqrt(0.0456 / 3)) < 1e-12);
    assert_true(s.min == 97.80 && s.max == 98.10 && s.n == 4);
    mt_stats_of(&s, x, 1);
    assert_true(s.mean == 97.94 && s.std == 0.0 && s.min == 97.94 && s.max == 97.94);
    /* close large values: the two-pass sum keeps the spread */
    const double y[] = { 1e9 + 1, 1e9 + 2, 1e9 + 3 };
    mt_stats_of(&s, y, 3);
    assert_true(fabs(s.std - 1.0) < 1e-9);
}

static void test_parallel_runs_fit_the_cpus(void **state)
{
    (void)state;
    assert_int_equal(mt_sweep_parallel(10, 1, 2), 2);
    assert_int_equal(mt_sweep_parallel(10, 2, 2), 1);
    assert_int_equal(mt_sweep_parallel(10, 3, 2), 1);
    assert_int_equal(mt_sweep_parallel(10, 2, 8), 4);
    assert_int_equal(mt_sweep_parallel(3, 1, 8), 3);
    assert_int_equal(mt_sweep_parallel(1, 1, 1), 1);
}

typedef struct {
    atomic_int running, most, calls;
    int seen[100];
} pool_probe;

static void run_one(void *user, int i)
{
    pool_probe *p = user;
    int now = atomic_fetch_add(&p->running, 1) + 1;
    for (int m = atomic_load(&p->most); now > m && !atomic_compare_exchange_weak(&p->most, &m, now);)
        ;
    struct timespec ts = { 0, 200000 }; /* 0.2 ms: runs overlap */
    nanosleep(&ts, NULL);
    p->seen[i]++;
    atomic_fetch_add(&p->calls, 1);
    atomic_fetch_sub(&p->running, 1);
}

static void test_runs_each_index_once_at_most_parallel(void **state)
{
    (void)state;
    for (int par = 1; par <= 4; par++) {
        pool_probe p;
        memset(&p, 0, sizeof p);
        mt_err err = { 0 };
        assert_int_equal(mt_sweep_run(100, par, run_one, &p, &err), MT_OK);
        assert_int_equal(atomic_load(&p.calls), 100);
        for (int i = 0; i < 100; i++)
            assert_int_equal(p.seen[i], 1);
        assert_true(atomic_load(&p.most) <= par);
        assert_true(atomic_load(&p.most) >= 1);
    }
    pool_probe q;
    memset(&q, 0, sizeof q);
    assert_int_equal(mt_sweep_run(3, 16, run_one, &q, NULL), MT_OK); /* more threads than runs */
    assert_int_equal(atomic_load(&q.calls), 3);
    assert_true(atomic_load(&q.most) <= 3);
}

/* ---- whole training runs side by side ------------------------------------ */

enum { NS = 600, SIDE = 12 };
static uint8_t ds_img[NS * SIDE * SIDE], ds_lbl[NS];

typedef struct {
    mt_dataset ds;
    const mt_kern *k;
    uint64_t seeds[4];
    int threads;
    float *params[4]; /* each run's final weights */
    double loss[4];
} seed_runs;

/* One seed's run: init from the seed, 2 epochs of Adam with augmentation
 * on the engine, then the test loss on the training set. */
static void train_seed(void *user, int i)
{
    seed_runs *sr = user;
    const int dims[4] = { SIDE * SIDE, 64, 32, 4 };
    mt_mlp m = { 0 };
    mt_optim o = { 0 };
    mt_trainer t = { 0 };
    mt_engine *e = NULL;
    mt_err err = { 0 };
    mt_rng r;
    mt_eval ev;
    const mt_augment aug = { 1.f, 8.f, 0.f };
    mt_rng_seed(&r, sr->seeds[i]);
    if (mt_mlp_init(&m, dims, 3, &r, &err) || mt_optim_init(&o, MT_OPT_ADAM, m.n_params, &err) ||
        mt_trainer_init(&t, &m, &o, sr->k, sr->ds.n, 32, sr->seeds[i] + 1, &err) ||
        mt_engine_create(&e, &m, sr->k, sr->threads, MT_PATH_AUTO, 100, &err) ||
        mt_engine_set_augment(e, &aug, SIDE, SIDE, sr->seeds[i] + 2, &err))
        fail_msg("%s", err.msg);
    mt_optim_defaults(&o);
    o.lr = 3e-3f;
    mt_norm_affine(&t.scale, &t.shift, 0.1, 0.3);
    t.engine = e;
    for (int ep = 1; ep <= 2; ep++) {
        double avg;
        int done;
        if (mt_train_epoch(&t, &sr->ds, ep, NULL, NULL, NULL, &avg, &done, &err))
            fail_msg("%s", err.msg);
    }
    if (mt_evaluate_engine(e, &m, sr->k, &sr->ds, 100, t.scale, t.shift, &ev, NULL, NULL, NULL, &err))
        fail_msg("%s", err.msg);
    sr->loss[i] = ev.loss;
    sr->params[i] = malloc(m.n_params * sizeof(float));
    memcpy(sr->params[i], m.params, m.n_params * sizeof(float));
    mt_engine_free(e);
    mt_trainer_free(&t);
    mt_optim_free(&o);
    mt_mlp_free(&m);
}

static void test_side_by_side_runs_equal_runs_one_by_one(void **state)
{
    (void)state;
    uint64_t s = 99;
    for (int i = 0; i < NS; i++) { /* class c: a bright square in quadrant c, plus noise */
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        int c = (int)((s >> 33) % 4);
        ds_lbl[i] = (uint8_t)c;
        for (int p = 0; p < SIDE * SIDE; p++) {
            int y = p / SIDE, x = p % SIDE;
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            int on = (y / (SIDE / 2)) * 2 + x / (SIDE / 2) == c && (s >> 60) < 12;
            ds_img[i * SIDE * SIDE + p] = on ? (uint8_t)(150 + (s >> 58)) : (s >> 59) == 0 ? 40 : 0;
        }
    }
    seed_runs a, b;
    memset(&a, 0, sizeof a);
    a.ds.images = ds_img;
    a.ds.labels = ds_lbl;
    a.ds.n = NS;
    a.ds.rows = a.ds.cols = SIDE;
    a.ds.n_classes = 4;
    mt_err err = { 0 };
    assert_int_equal(mt_kern_select(&a.k, MT_ISA_AUTO, &err), MT_OK);
    a.seeds[0] = 1, a.seeds[1] = 2, a.seeds[2] = 3, a.seeds[3] = 4;
    b = a;
    a.threads = 2; /* one after another, two threads each */
    assert_int_equal(mt_sweep_run(4, 1, train_seed, &a, &err), MT_OK);
    b.threads = 1; /* up to three at once, one thread each */
    assert_int_equal(mt_sweep_run(4, 3, train_seed, &b, &err), MT_OK);
    size_t n = (size_t)(SIDE * SIDE * 64 + 64 + 64 * 32 + 32 + 32 * 4 + 4);
    for (int i = 0; i < 4; i++) {
        assert_memory_equal(a.params[i], b.params[i], n * sizeof(float));
        assert_true(a.loss[i] == b.loss[i]);
        assert_true(a.loss[i] < 1.0); /* it learned something */
        if (i > 0)
            assert_true(memcmp(a.params[i], a.params[0], n * sizeof(float)) != 0);
    }
    for (int i = 0; i < 4; i++) {
        free(a.params[i]);
        free(b.params[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seeds_lists_and_ranges),
        cmocka_unit_test(test_seeds_rejects_bad_lists),
        cmocka_unit_test(test_stats_match_hand_values),
        cmocka_unit_test(test_parallel_runs_fit_the_cpus),
        cmocka_unit_test(test_runs_each_index_once_at_most_parallel),
        cmocka_unit_test(test_side_by_side_runs_equal_runs_one_by_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
