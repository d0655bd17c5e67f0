/* mt_pool: persistent worker threads, woken by a generation counter.
 * Workers spin briefly (bounded by MT_POOL_SPIN_US) on the counter, because a
 * training step is ~100 us and a futex wake costs several us; then they sleep
 * on a condition variable.  The in-run barrier spins for MT_POOL_BARRIER_SPIN_US
 * and then sleeps too: on a shared machine the other thread may have been
 * descheduled, and a spinning waiter would only keep it off the CPU.
 * C11 atomics + POSIX threads only. */
#include "mt_pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

struct mt_pool {
    int n;                    /* threads including the caller */
    pthread_t *tid;           /* (n-1) workers */
    pthread_mutex_t mu;
    pthread_cond_t wake;      /* workers sleep here between runs */
    pthread_cond_t done_cv;   /* the caller sleeps here if a run is long */
    atomic_uint gen;          /* bumped once per run */
    atomic_int done;          /* workers finished with the current run */
    atomic_int sleepers;      /* workers blocked (or about to block) on wake */
    atomic_int waiting;       /* caller blocked on done_cv */
    atomic_int quit;
    mt_pool_fn fn;
    void *arg;
    /* sense-reversing barrier; spins briefly, then sleeps on bar_cv */
    atomic_int bar_count;
    atomic_int bar_sense;
    atomic_int bar_sleepers;
    pthread_cond_t bar_cv;
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec * 1e-3;
}

/* Spins until *a != old or the spin budget is spent; returns the new value or old. */
static unsigned spin_while_eq(atomic_uint *a, unsigned old)
{
    double t0 = 0.0;
    for (unsigned i = 0;; i++) {
        unsigned v = atomic_load_explicit(a, memory_order_acquire);
        if (v != old)
            return v;
        cpu_relax();
        if ((i & 255) == 255) {
            double t = now_us();
            if (t0 == 0.0)
                t0 = t;
            else if (t - t0 > MT_POOL_SPIN_US)
                return old;
        }
    }
}

typedef struct {
    mt_pool *p;
    int tid;
} worker_arg;

static void *worker(void *varg)
{
    worker_arg *wa = varg;
    mt_pool *p = wa->p;
    int tid = wa->tid;
    free(wa);
    unsigned seen = 0;
    for (;;) {
        unsigned g = spin_while_eq(&p->gen, seen);
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while ((g = atomic_load(&p->gen)) == seen && !atomic_load(&p->quit))
                pthread_cond_wait(&p->wake, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->quit))
            return NULL;
        seen = g;
        p->fn(p->arg, tid, p->n);
        if (atomic_fetch_add_explicit(&p->done, 1, memory_order_acq_rel) == p->n - 2
            && atomic_load(&p->waiting)) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done_cv);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

int mt_pool_online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}

int mt_pool_threads(const mt_pool *p) { return p ? p->n : 1; }

mt_status mt_pool_create(mt_pool **out, int nthreads, mt_err *err)
{
    if (nthreads < 1 || nthreads > 256)
        return mt_errf(err, MT_EARG, "%d threads: must be between 1 and 256", nthreads);
    mt_pool *p = calloc(1, sizeof *p);
    if (!p)
        return mt_errf(err, MT_ENOMEM, "thread pool: out of memory");
    p->n = 1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    pthread_cond_init(&p->bar_cv, NULL);
    if (nthreads > 1) {
        p->tid = calloc((size_t)nthreads - 1, sizeof *p->tid);
        if (!p->tid)
            goto nomem;
    }
    for (int t = 1; t < nthreads; t++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa)
            goto nomem;
        *wa = (worker_arg){ p, t };
        if (pthread_create(&p->tid[t - 1], NULL, worker, wa) != 0) {
            free(wa);
            mt_pool_free(p);
            return mt_errf(err, MT_ENOMEM, "thread pool: cannot start thread %d of %d", t + 1, nthreads);
        }
        p->n = t + 1;
    }
    *out = p;
    return MT_OK;
nomem:
    mt_pool_free(p);
    return mt_errf(err, MT_ENOMEM, "thread pool: out of memory");
}

void mt_pool_run(mt_pool *p, mt_pool_fn fn, void *arg)
{
    if (p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store(&p->done, 0);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
    fn(arg, 0, p->n);
    /* Wait for the workers: spin a little, then sleep. */
    double t0 = 0.0;
    for (unsigned i = 0; atomic_load_explicit(&p->done, memory_order_acquire) < p->n - 1; i++) {
        cpu_relax();
        if ((i & 255) == 255) {
            double t = now_us();
            if (t0 == 0.0) {
                t0 = t;
            } else if (t - t0 > MT_POOL_SPIN_US) {
                pthread_mutex_lock(&p->mu);
                atomic_store(&p->waiting, 1);
                while (atomic_load(&p->done) < p->n - 1)
                    pthread_cond_wait(&p->done_cv, &p->mu);
                atomic_store(&p->waiting, 0);
                pthread_mutex_unlock(&p->mu);
                break;
            }
        }
    }
}

#define MT_POOL_BARRIER_SPIN_US 30

void mt_pool_barrier(mt_pool *p)
{
    if (p->n == 1)
        return;
    int sense = !atomic_load_explicit(&p->bar_sense, memory_order_relaxed);
    if (atomic_fetch_add(&p->bar_count, 1) == p->n - 1) {
        atomic_store_explicit(&p->bar_count, 0, memory_order_relaxed);
        atomic_store(&p->bar_sense, sense);
        if (atomic_load(&p->bar_sleepers) > 0) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_broadcast(&p->bar_cv);
            pthread_mutex_unlock(&p->mu);
        }
        return;
    }
    double t0 = 0.0;
    for (unsigned i = 0; atomic_load_explicit(&p->bar_sense, memory_order_acquire) != sense; i++) {
        cpu_relax();
        if ((i & 63) != 63)
            continue;
        double t = now_us();
        if (t0 == 0.0) {
            t0 = t;
        } else if (t - t0 > MT_POOL_BARRIER_SPIN_US) {
            /* seq_cst pairs with the last arriver's store + sleepers load */
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->bar_sleepers, 1);
            while (atomic_load(&p->bar_sense) != sense)
                pthread_cond_wait(&p->bar_cv, &p->mu);
            atomic_fetch_sub(&p->bar_sleepers, 1);
            pthread_mutex_unlock(&p->mu);
            return;
        }
    }
}

void mt_pool_free(mt_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, 1);
    atomic_fetch_add(&p->gen, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int t = 1; t < p->n; t++)
        pthread_join(p->tid[t - 1], NULL);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done_cv);
    pthread_cond_destroy(&p->bar_cv);
    pthread_mutex_destroy(&p->mu);
    free(p->tid);
    free(p);
}
