/* bench/peak.h: what the speed benches share: a monotonic clock and this
 * core's FMA peak, measured by a register-resident probe in the same run so
 * a layer's GFLOP/s can be given as a percentage of it.  Static functions:
 * each bench program includes it once. */
#ifndef BENCH_PEAK_H
#define BENCH_PEAK_H

#include <stdlib.h>
#include <time.h>

#include "mt_kern.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ---- FMA peak probes: 16 independent accumulators, no memory traffic ---- */

#if defined(__x86_64__)
/* Named accumulators, not an array: at -O2 gcc would keep an array in memory. */
#define REP12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define REP16(X) REP12(X) X(12) X(13) X(14) X(15)
__attribute__((target("avx512f"))) static float probe_avx512(long iters)
{
    __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
#define DECL(j) __m512 a##j = _mm512_set1_ps((float)j);
#define STEP(j) a##j = _mm512_fmadd_ps(a##j, m, c);
#define SUM(j) s = _mm512_add_ps(s, a##j);
    REP16(DECL)
    for (long i = 0; i < iters; i++) {
        REP16(STEP)
    }
    __m512 s = _mm512_setzero_ps();
    REP16(SUM)
    return _mm512_reduce_add_ps(s);
#undef DECL
#undef STEP
#undef SUM
}

__attribute__((target("avx2,fma"))) static float probe_avx2(long iters)
{
    __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
#define DECL(j) __m256 a##j = _mm256_set1_ps((float)j);
#define STEP(j) a##j = _mm256_fmadd_ps(a##j, m, c);
#define SUM(j) s = _mm256_add_ps(s, a##j);
    REP12(DECL)
    for (long i = 0; i < iters; i++) {
        REP12(STEP)
    }
    __m256 s = _mm256_setzero_ps();
    REP12(SUM)
    float t[8];
    _mm256_storeu_ps(t, s);
    return t[0] + t[7];
#undef DECL
#undef STEP
#undef SUM
}
#endif

/* Peak GFLOP/s of one core for an ISA (best of 15 windows of ~5 ms), 0 if
 * there's no probe. */
static double probe_peak(mt_isa isa)
{
    double t[15];
    volatile float sink = 0.f;
    long iters = 500000;
    double flops_per_iter;
    switch (isa) {
#if defined(__x86_64__)
    case MT_ISA_AVX512: flops_per_iter = 16 * 16 * 2; break;
    case MT_ISA_AVX2: flops_per_iter = 12 * 8 * 2; break;
#endif
    default: return 0.0;
    }
    for (int r = 0; r < 15; r++) {
        double t0 = now();
#if defined(__x86_64__)
        sink += isa == MT_ISA_AVX512 ? probe_avx512(iters) : probe_avx2(iters);
#endif
        t[r] = now() - t0;
    }
    (void)sink;
    qsort(t, 15, sizeof *t, cmp_d);
    return flops_per_iter * (double)iters / t[0] * 1e-9;
}

/* Seconds per call of fn(ctx, op): the best of reps (<= 31) timings of
 * >= 5 ms each.  The machine is shared and noisy; noise only ever slows a
 * run down, so the best window is the estimate of what the code can do (the
 * probe is timed the same way). */
static double time_best(void (*fn)(void *ctx, int op), void *ctx, int op, int reps)
{
    double t[31];
    int n = 1;
    fn(ctx, op);
    for (;;) {
        double t0 = now();
        for (int i = 0; i < n; i++)
            fn(ctx, op);
        if (now() - t0 > 5e-3)
            break;
        n *= 2;
    }
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        for (int i = 0; i < n; i++)
            fn(ctx, op);
        t[r] = (now() - t0) / n;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp_d);
    return t[0];
}

#endif
