/* mt_sweep: seed lists, a pool of runs, and their summary.  The runs take
 * the next index from a shared counter, so a slow run never holds back the
 * others; the results stay the caller's, by index, so their order does not
 * depend on which run finished first. */
#include "mt_sweep.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* One unsigned decimal number at *p (advanced past it); -1 if none or too large. */
static int parse_u63(const char **p, uint64_t *v)
{
    const char *s = *p;
    uint64_t x = 0;
    if (*s < '0' || *s > '9')
        return -1;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (x > (UINT64_MAX >> 1) / 10 || x * 10 + (uint64_t)(*s - '0') > (UINT64_MAX >> 1))
            return -1;
        x = x * 10 + (uint64_t)(*s - '0');
    }
    *v = x;
    *p = s;
    return 0;
}

mt_status mt_seeds_parse(uint64_t *seeds, int cap, int *n, const char *s, mt_err *err)
{
    int k = 0;
    const char *p = s;
    if (cap > MT_SWEEP_MAX)
        cap = MT_SWEEP_MAX;
    if (!s || !*s)
        return mt_errf(err, MT_EARG, "seed list is empty (e.g. 1-10 or 1,4,9)");
    for (;;) {
        uint64_t a, b;
        if (parse_u63(&p, &a))
            return mt_errf(err, MT_EARG, "seed list '%s': expected a seed (0 or more) at '%s'", s, p);
        b = a;
        if (*p == '-') {
            p++;
            if (parse_u63(&p, &b))
                return mt_errf(err, MT_EARG, "seed list '%s': expected the end of a range at '%s'", s, p);
            if (b < a)
                return mt_errf(err, MT_EARG, "seed list '%s': range %llu-%llu runs backwards", s,
                               (unsigned long long)a, (unsigned long long)b);
        }
        if (b - a >= (uint64_t)(cap - k))
            return mt_errf(err, MT_EARG, "seed list '%s': more than %d seeds", s, cap);
        for (uint64_t v = a;; v++) {
            for (int j = 0; j < k; j++)
                if (seeds[j] == v)
                    return mt_errf(err, MT_EARG, "seed list '%s': seed %llu appears twice", s,
                                   (unsigned long long)v);
            seeds[k++] = v;
            if (v == b)
                break;
        }
        if (*p == '\0')
            break;
        if (*p != ',')
            return mt_errf(err, MT_EARG, "seed list '%s': unexpected '%c' (seeds are N or A-B, comma-separated)",
                           s, *p);
        p++;
    }
    *n = k;
    return MT_OK;
}

void mt_stats_of(mt_stats *out, const double *x, int n)
{
    mt_stats r = { 0.0, 0.0, x[0], x[0], n };
    double sum = 0.0, ss = 0.0;
    for (int i = 0; i < n; i++) {
        sum += x[i];
        r.min = x[i] < r.min ? x[i] : r.min;
        r.max = x[i] > r.max ? x[i] : r.max;
    }
    r.mean = sum / n;
    for (int i = 0; i < n; i++) /* two passes: no cancellation for close values */
        ss += (x[i] - r.mean) * (x[i] - r.mean);
    r.std = n > 1 ? sqrt(ss / (n - 1)) : 0.0;
    *out = r;
}

int mt_sweep_parallel(int n_runs, int threads_per_run, int cpus)
{
    int p = threads_per_run > 0 ? cpus / threads_per_run : cpus;
    if (p > n_runs)
        p = n_runs;
    return p < 1 ? 1 : p;
}

typedef struct {
    mt_sweep_fn fn;
    void *user;
    int n;
    atomic_int next;
} sweep;

static void *sweep_worker(void *arg)
{
    sweep *w = arg;
    for (int i; (i = atomic_fetch_add(&w->next, 1)) < w->n;)
        w->fn(w->user, i);
    return NULL;
}

mt_status mt_sweep_run(int n, int parallel, mt_sweep_fn fn, void *user, mt_err *err)
{
    sweep w = { fn, user, n, 0 };
    pthread_t tid[64];
    int started = 0, rc = 0;
    if (parallel > n)
        parallel = n;
    if (parallel > 64)
        parallel = 64;
    while (started + 1 < parallel && (rc = pthread_create(&tid[started], NULL, sweep_worker, &w)) == 0)
        started++;
    sweep_worker(&w); /* runs whatever the others do not take (all, if none started) */
    for (int t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
    if (parallel > 1 && started == 0)
        return mt_errf(err, MT_ENOMEM, "seed runs: cannot start a thread (%s): the runs went one at a time",
                       strerror(rc));
    return MT_OK;
}
