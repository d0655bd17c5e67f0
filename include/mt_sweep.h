/* mt_sweep: one recipe run for several seeds: the seed list ("1-10",
 * "1,4,9", "1-3,7"), the runs spread over threads, and the summary
 * statistics of their results.  It knows nothing of what a run does: the
 * caller's function trains and records; the runs must not share anything
 * they write. */
#ifndef MT_SWEEP_H
#define MT_SWEEP_H

#include <stdint.h>

#include "mt_err.h"

#define MT_SWEEP_MAX 1000 /* seeds in one list */

/* Parses s: comma-separated items, each a seed N or a range A-B (A <= B,
 * both included), seeds 0 .. 2^63-1, no seed twice, at most cap (<=
 * MT_SWEEP_MAX) in all.  seeds (cap) receives them in the order given, *n
 * their count.  MT_EARG with a message quoting s otherwise. */
mt_status mt_seeds_parse(uint64_t *seeds, int cap, int *n, const char *s, mt_err *err);

/* Mean, sample standard deviation (n - 1 in the denominator, as numpy's
 * std(ddof=1) and torch.std; 0 for one value), minimum and maximum of x (n >= 1). */
typedef struct { double mean, std, min, max; int n; } mt_stats;
void mt_stats_of(mt_stats *out, const double *x, int n);

/* How many runs of threads_per_run threads go at once on cpus CPUs:
 * cpus / threads_per_run, at least 1 and at most n_runs. */
int mt_sweep_parallel(int n_runs, int threads_per_run, int cpus);

/* Calls fn(user, i) once for each i in 0 .. n-1, at most `parallel` at a
 * time (the caller's thread is one of them); runs start in order of i.
 * Returns when all have finished.  MT_ENOMEM if no thread could be made
 * (then every run has still been made, on the caller's thread). */
typedef void (*mt_sweep_fn)(void *user, int i);
mt_status mt_sweep_run(int n, int parallel, mt_sweep_fn fn, void *user, mt_err *err);

#endif
