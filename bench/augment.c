/* bench/augment: the augmentation warp of every kernel table this CPU runs,
 * on MNIST's test images with the best recipe's transforms (shift 2 px,
 * rotation 10 degrees), in microseconds per image: the best of 7 windows of
 * 10000 warps.  Usage: augment DATA_DIR [--json] */
#include "mt_augment.h"
#include "mt_data.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DATA_DIR [--json]\n", argv[0]);
        return 2;
    }
    int json = argc > 2 && strcmp(argv[2], "--json") == 0;
    mt_dataset te = { 0 };
    mt_err err = { 0 };
    if (mt_dataset_load(&te, argv[1], "t10k", 10, 0, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const int C = (int)(te.rows * te.cols), n = te.n < 10000 ? (int)te.n : 10000;
    static uint8_t out[4096];
    const mt_augment a = { 2.f, 10.f, 0.f };
    mt_kern_variant v[8];
    int nv = mt_kern_variants(v, 8);
    for (int i = 0; i < nv; i++) {
        if (!v[i].runnable || C > (int)sizeof out)
            continue;
        mt_warp_fn f = mt_augment_warp_kernel(v[i].k);
        mt_rng r;
        mt_rng_seed(&r, 1);
        double best = 1e30;
        for (int w = 0; w < 7; w++) {
            double t0 = now();
            for (int j = 0; j < n; j++)
                mt_augment_random_with(out, te.images + (size_t)j * C, (int)te.rows, (int)te.cols, &a, &r, f);
            double t = (now() - t0) / n;
            best = t < best ? t : best;
        }
        if (json)
            printf("{\"bench\":\"warp\",\"isa\":\"%s\",\"us_per_image\":%.3f}\n", v[i].k->name, best * 1e6);
        else
            printf("warp %-7s %.2f us/image\n", v[i].k->name, best * 1e6);
    }
    mt_dataset_free(&te);
    return 0;
}
