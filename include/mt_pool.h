/* mt_pool: a persistent pool of worker threads for the training step.
 * Created once; mt_pool_run() hands one function to every thread (the caller
 * is thread 0) and returns when all have finished.  Between runs a worker
 * spins for at most MT_POOL_SPIN_US microseconds (runs come back to back
 * during training) and then sleeps on a condition variable: an idle pool
 * costs no CPU.  mt_pool_barrier spins ~30 us, then sleeps as well.  No
 * thread is created after mt_pool_create.
 *
 * The pool decides nothing about the work split: callers split by tid with a
 * rule that does not depend on timing, which keeps results deterministic. */
#ifndef MT_POOL_H
#define MT_POOL_H

#include "mt_err.h"

#define MT_POOL_SPIN_US 50

typedef struct mt_pool mt_pool;

/* fn(arg, tid, nthreads) runs once on each thread, tid = 0 .. nthreads-1. */
typedef void (*mt_pool_fn)(void *arg, int tid, int nthreads);

/* Starts nthreads-1 workers (nthreads >= 1; 1 means no extra thread).
 * Fails with MT_EARG for nthreads < 1 or > 256, MT_ENOMEM if memory or a
 * thread cannot be had.  Caller frees with mt_pool_free. */
mt_status mt_pool_create(mt_pool **out, int nthreads, mt_err *err);

/* Runs fn on every thread and waits for all of them.  Not reentrant: one run
 * at a time, from the thread that created the pool. */
void mt_pool_run(mt_pool *p, mt_pool_fn fn, void *arg);

/* Inside a run: waits until every thread of the run has reached it. */
void mt_pool_barrier(mt_pool *p);

int mt_pool_threads(const mt_pool *p);

/* Stops and joins the workers.  NULL is fine. */
void mt_pool_free(mt_pool *p);

/* Online CPUs (sysconf), at least 1: the default for --threads. */
int mt_pool_online_cpus(void);

#endif
