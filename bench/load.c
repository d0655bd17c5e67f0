/* bench/load: reading MNIST's four IDX files, as training does (both splits
 * at once on parallel threads) and one file after another, each timed over
 * several runs; prints the median and best of each in ms, and as JSON with
 * --json.  Usage: load DATA_DIR [RUNS] [--json] */
#include "mt_data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DATA_DIR [RUNS] [--json]\n", argv[0]);
        return 2;
    }
    int runs = argc > 2 && strcmp(argv[2], "--json") ? atoi(argv[2]) : 9;
    int json = strcmp(argv[argc - 1], "--json") == 0;
    if (runs < 1 || runs > 1000)
        runs = 9;
    double *par = calloc((size_t)runs, sizeof *par), *seq = calloc((size_t)runs, sizeof *seq);
    const char *splits[2] = { "train", "t10k" };
    mt_err err = { 0 };
    if (!par || !seq)
        return 1;
    for (int r = 0; r < runs; r++) {
        mt_dataset d[2];
        double t0 = now();
        if (mt_dataset_load_splits(d, argv[1], splits, NULL, 2, 10, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        par[r] = now() - t0;
        mt_dataset_free(&d[0]);
        mt_dataset_free(&d[1]);
        t0 = now();
        for (int s = 0; s < 2; s++)
            if (mt_dataset_load(&d[s], argv[1], splits[s], 10, 0, &err)) {
                fprintf(stderr, "%s\n", err.msg);
                return 1;
            }
        seq[r] = now() - t0;
        mt_dataset_free(&d[0]);
        mt_dataset_free(&d[1]);
    }
    qsort(par, (size_t)runs, sizeof *par, cmp_d);
    qsort(seq, (size_t)runs, sizeof *seq, cmp_d);
    double pm = par[runs / 2] * 1e3, sm = seq[runs / 2] * 1e3;
    if (json)
        printf("{\"bench\":\"load\",\"runs\":%d,\"parallel_ms\":%.2f,\"parallel_best_ms\":%.2f,"
               "\"sequential_ms\":%.2f,\"sequential_best_ms\":%.2f}\n", runs, pm, par[0] * 1e3, sm, seq[0] * 1e3);
    else
        printf("load MNIST (4 files): parallel median %.1f ms (best %.1f), one after another median %.1f ms (best %.1f)\n",
               pm, par[0] * 1e3, sm, seq[0] * 1e3);
    free(par);
    free(seq);
    return 0;
}
