/* test_pool: every thread runs each job exactly once, runs can follow each
 * other back to back or after the workers went to sleep, the in-run barrier
 * orders phases, and bad thread counts are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "mt_pool.h"

typedef struct {
    int hits[8];
    long runs[8];
    int phase_a[8];
    int seen_all[8];
    mt_pool *p;
} job;

static void count_job(void *arg, int tid, int n)
{
    job *j = arg;
    assert_true(n >= 1 && tid < n);
    j->hits[tid]++;
    j->runs[tid]++;
}

static void barrier_job(void *arg, int tid, int n)
{
    job *j = arg;
    for (int round = 1; round <= 50; round++) {
        j->phase_a[tid] = round;
        mt_pool_barrier(j->p);
        int ok = 1;
        for (int t = 0; t < n; t++)
            ok &= __atomic_load_n(&j->phase_a[t], __ATOMIC_ACQUIRE) == round;
        j->seen_all[tid] += ok;
        mt_pool_barrier(j->p);
    }
}

static void test_every_thread_runs_each_job_once(void **state)
{
    (void)state;
    for (int n = 1; n <= 4; n++) {
        mt_pool *p = NULL;
        mt_err err = { 0 };
        assert_int_equal(mt_pool_create(&p, n, &err), MT_OK);
        assert_int_equal(mt_pool_threads(p), n);
        job j;
        memset(&j, 0, sizeof j);
        /* more threads than CPUs: spinners wait for descheduled threads */
        long runs = n <= mt_pool_online_cpus() ? 20000 : 300;
        for (long r = 0; r < runs; r++)
            mt_pool_run(p, count_job, &j);
        for (int t = 0; t < n; t++)
            assert_int_equal(j.runs[t], runs);
        for (int t = n; t < 8; t++)
            assert_int_equal(j.runs[t], 0);
        mt_pool_free(p);
    }
}

static void test_runs_after_workers_sleep(void **state)
{
    (void)state;
    mt_pool *p = NULL;
    assert_int_equal(mt_pool_create(&p, 3, NULL), MT_OK);
    job j;
    memset(&j, 0, sizeof j);
    for (int r = 0; r < 5; r++) {
        struct timespec ts = { 0, 3 * MT_POOL_SPIN_US * 1000L }; /* past the spin budget */
        nanosleep(&ts, NULL);
        mt_pool_run(p, count_job, &j);
    }
    for (int t = 0; t < 3; t++)
        assert_int_equal(j.runs[t], 5);
    mt_pool_free(p);
}

static void test_barrier_orders_phases(void **state)
{
    (void)state;
    for (int n = 1; n <= 3; n++) {
        job j;
        memset(&j, 0, sizeof j);
        assert_int_equal(mt_pool_create(&j.p, n, NULL), MT_OK);
        for (int r = 0; r < 20; r++) {
            memset(j.phase_a, 0, sizeof j.phase_a);
            mt_pool_run(j.p, barrier_job, &j);
        }
        for (int t = 0; t < n; t++)
            assert_int_equal(j.seen_all[t], 20 * 50);
        mt_pool_free(j.p);
    }
}

static void test_create_refuses_bad_counts(void **state)
{
    (void)state;
    mt_pool *p = NULL;
    mt_err err = { 0 };
    assert_int_equal(mt_pool_create(&p, 0, &err), MT_EARG);
    assert_non_null(strstr(err.msg, "0 threads"));
    assert_int_equal(mt_pool_create(&p, 100000, &err), MT_EARG);
    assert_null(p);
    mt_pool_free(NULL);
    assert_true(mt_pool_online_cpus() >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_thread_runs_each_job_once),
        cmocka_unit_test(test_runs_after_workers_sleep),
        cmocka_unit_test(test_barrier_orders_phases),
        cmocka_unit_test(test_create_refuses_bad_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
