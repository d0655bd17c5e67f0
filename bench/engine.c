/* bench/engine: the engine's training step and evaluation forward in
 * isolation, robust to a shared machine: steps are timed in chunks of 50 and
 * the BEST chunk is reported next to the median, plus the pool's empty-run
 * and barrier round trips.  Usage: engine DATA_DIR THREADS [dense|sparse|auto] */
#include "mt_data.h"
#include "mt_engine.h"
#include "mt_rng.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void empty_job(void *arg, int t, int T) { (void)arg; (void)t; (void)T; }

static void barrier_job(void *arg, int t, int T)
{
    (void)t;
    (void)T;
    for (int i = 0; i < 1000; i++)
        mt_pool_barrier(arg);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s DATA_DIR THREADS [dense|sparse|auto]\n", argv[0]);
        return 2;
    }
    int T = atoi(argv[2]);
    mt_path path = argc > 3 ? (mt_path)mt_path_parse(argv[3]) : MT_PATH_AUTO;
    mt_err err = { 0 };
    mt_dataset tr = { 0 }, te = { 0 };
    const mt_kern *k;
    if (mt_kern_select(&k, MT_ISA_AUTO, &err) || mt_dataset_load(&tr, argv[1], "train", 10, 0, &err)
        || mt_dataset_load(&te, argv[1], "t10k", 10, 0, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    int dims[4] = { 784, 128, 64, 10 };
    mt_rng r;
    mt_rng_seed(&r, 1);
    mt_mlp m = { 0 };
    mt_optim o = { 0 };
    mt_engine *e = NULL;
    if (mt_mlp_init(&m, dims, 3, &r, &err) || mt_optim_init(&o, MT_OPT_ADAM, m.n_params, &err)
        || mt_engine_create(&e, &m, k, T, path, 64, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    mt_optim_defaults(&o);
    o.lr = 1e-3f;
    float scale, shift;
    mt_norm_affine(&scale, &shift, 0.1307, 0.3081);
    uint32_t *perm = malloc(tr.n * sizeof *perm);
    for (uint32_t i = 0; i < tr.n; i++)
        perm[i] = i;
    mt_rng_shuffle(&r, perm, tr.n);

    enum { B = 64, CH = 50, NCH = 36 };
    double ct[NCH];
    uint32_t pos = 0;
    for (int c = 0; c < NCH; c++) {
        double t0 = now();
        for (int s = 0; s < CH; s++) {
            if (pos + 2 * B > tr.n)
                pos = 0;
            mt_engine_prefetch(e, tr.images, perm + pos + B, B);
            mt_engine_step(e, &o, tr.images, tr.labels, perm + pos, B, scale, shift, NULL);
            pos += B;
        }
        ct[c] = now() - t0;
    }
    qsort(ct, NCH, sizeof *ct, cmp_d);
    printf("train T=%d %s: best %.0f samples/s, median %.0f (%.1f us/step best)\n", T,
           mt_path_name(path), CH * B / ct[0], CH * B / ct[NCH / 2], ct[0] / CH * 1e6);

    static float logits[1000 * 10];
    double ev[7];
    for (int rep = 0; rep < 7; rep++) {
        double t0 = now();
        for (uint32_t i0 = 0; i0 < te.n; i0 += 1000)
            mt_engine_forward(e, te.images + (size_t)i0 * 784, 1000, scale, shift, logits);
        ev[rep] = now() - t0;
    }
    qsort(ev, 7, sizeof *ev, cmp_d);
    printf("eval 10k T=%d: best %.2f ms, median %.2f ms\n", T, ev[0] * 1e3, ev[3] * 1e3);

    mt_pool *p = NULL;
    if (T > 1 && mt_pool_create(&p, T, &err) == MT_OK) {
        double best = 1e9;
        for (int rep = 0; rep < 20; rep++) {
            double t0 = now();
            for (int i = 0; i < 1000; i++)
                mt_pool_run(p, empty_job, NULL);
            double dt = now() - t0;
            best = dt < best ? dt : best;
        }
        double bbest = 1e9;
        for (int rep = 0; rep < 20; rep++) {
            double t0 = now();
            mt_pool_run(p, barrier_job, p);
            double dt = now() - t0;
            bbest = dt < bbest ? dt : bbest;
        }
        printf("pool T=%d: empty run %.2f us, barrier %.2f us (best of 20 x 1000)\n", T, best * 1e3,
               bbest * 1e3);
        mt_pool_free(p);
    }
    free(perm);
    mt_engine_free(e);
    mt_optim_free(&o);
    mt_mlp_free(&m);
    mt_dataset_free(&tr);
    mt_dataset_free(&te);
    return 0;
}
