/* bench/conv: GFLOP/s of the convolution layers' three products (forward,
 * weight gradient, input gradient; offset tables and col2im included) for
 * every runnable kernel variant, as a percentage of this core's FMA peak
 * measured by a register-resident probe in the same run (the forward one
 * sample at a time, the weight gradient over the whole batch, as mt_net
 * does); then whole training steps of the named CNNs on 1 and 2 threads
 * (samples/s and the 2-thread speed-up).  A network's first layer never
 * makes its input gradient (mt_net skips it), so a one-channel layer's
 * bwd_x is timed but marked as not part of training.
 * Not a test: numbers depend on the machine and its load.
 *   usage: conv [--json] [--reps N]                                          */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mt_kern.h"
#include "mt_layers.h"
#include "mt_net.h"
#include "mt_pool.h"

#include "peak.h"

/* ---- conv layers -------------------------------------------------------- */

typedef struct {
    const char *name;
    int B, H, W, C, OC, k, pad;
} conv_case;

/* The conv layers of cnn (batch 64), fastcnn and configs/fast99.json's net
 * (batch 256). */
static const conv_case CASES[] = {
    { "cnn.conv1", 64, 28, 28, 1, 32, 3, 0 },
    { "cnn.conv2", 64, 26, 26, 32, 64, 3, 0 },
    { "fastcnn.conv1", 256, 28, 28, 1, 24, 5, 0 },
    { "fastcnn.conv2", 256, 12, 12, 24, 32, 3, 0 },
    { "fast99.conv1", 256, 28, 28, 1, 16, 5, 0 },
    { "fast99.conv2", 256, 12, 12, 16, 32, 3, 0 },
};

enum { FWD, BWD_W, BWD_X, N_OPS };
static const char *op_names[] = { "fwd", "bwd_w", "bwd_x" };

typedef struct {
    const mt_kern *k;
    conv_case c;
    float *x, *wt, *w2, *b, *col, *y, *dy, *dwt, *db, *dx, *dcol, *colp;
} ws;

static void run_op(ws *s, int op)
{
    const conv_case *c = &s->c;
    int CKK = c->k * c->k * c->C;
    switch (op) {
    case FWD: mt_conv2d_forward(s->y, s->col, s->x, s->wt, s->b, c->B, c->H, c->W, c->C, c->OC, c->k, c->pad, s->k); break;
    case BWD_W: /* as mt_net: the whole batch (patches in place at pad 0; else 4 samples per product) */
        mt_conv2d_backward_w_rows(s->dwt, s->db, s->colp, s->dy, s->x, c->B, 4, c->H, c->W, c->C, c->OC, c->k,
                                  c->pad, 0, CKK, s->k);
        break;
    case BWD_X: mt_conv2d_backward_x(s->dx, s->dcol, s->dy, s->w2, c->B, c->H, c->W, c->C, c->OC, c->k, c->pad, s->k); break;
    }
}

static void run_op_any(void *s, int op)
{
    run_op(s, op);
}

static double time_op(ws *s, int op, int reps)
{
    return time_best(run_op_any, s, op, reps);
}

static float *rnd(size_t n, uint64_t *st)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    if (!p)
        exit(1);
    for (size_t i = 0; i < n; i++) {
        *st = *st * 6364136223846793005ull + 1442695040888963407ull;
        p[i] = (float)((double)(*st >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    }
    return p;
}

/* ---- whole steps ------------------------------------------------------- */

/* Seconds per training step of model at batch B on nt threads (best of reps
 * windows of >= 0.2 s). */
static double time_step(const char *model, int B, int nt, int reps, const mt_kern *k)
{
    mt_net n = { 0 };
    mt_net_work *w = NULL;
    mt_pool *pool = NULL;
    mt_err err;
    mt_rng r;
    if (mt_net_build(&n, model, NULL, 1, 28, 28, 10, &err) || mt_net_work_create(&w, &n, B, nt, &err) ||
        mt_pool_create(&pool, nt, &err)) {
        fprintf(stderr, "conv: %s\n", err.msg);
        exit(1);
    }
    mt_rng_seed(&r, 1);
    mt_net_init(&n, &r);
    uint64_t st = 5;
    float *x = rnd((size_t)B * 784, &st);
    uint8_t *y = malloc((size_t)B);
    if (!y)
        exit(1);
    for (int i = 0; i < B; i++)
        y[i] = (uint8_t)(i % 10);
    double best = 1e9;
    uint64_t step = 0;
    mt_net_step(&n, w, pool, x, y, B, 1, step++, k);
    for (int rep = 0; rep < reps; rep++) {
        int cnt = 0;
        double t0 = now(), t1;
        do {
            mt_net_step(&n, w, pool, x, y, B, 1, step++, k);
            cnt++;
        } while ((t1 = now()) - t0 < 0.2);
        best = (t1 - t0) / cnt < best ? (t1 - t0) / cnt : best;
    }
    free(x), free(y);
    mt_pool_free(pool);
    mt_net_work_free(w);
    mt_net_free(&n);
    return best;
}

int main(int argc, char **argv)
{
    int json = 0, reps = 11;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: conv [--json] [--reps N]\n");
            return 2;
        }
    }
    reps = reps < 1 ? 1 : reps > 31 ? 31 : reps;
    mt_kern_variant v[8];
    int nv = mt_kern_variants(v, 8);
    const mt_kern *best_k = NULL;
    double best_peak = 0.0;
    for (int vi = 0; vi < nv; vi++) {
        if (!v[vi].runnable)
            continue;
        double peak = probe_peak(v[vi].isa);
        if (json)
            printf("{\"bench\":\"fma_peak\",\"isa\":\"%s\",\"gflops\":%.2f}\n", v[vi].k->name, peak);
        else
            printf("%s: FMA peak %.1f GFLOP/s (1 thread)\n", v[vi].k->name, peak);
        if (v[vi].isa != MT_ISA_SCALAR)
            best_k = v[vi].k, best_peak = peak;
        if (v[vi].isa == MT_ISA_SCALAR)
            continue;
        for (size_t ci = 0; ci < sizeof CASES / sizeof *CASES; ci++) {
            ws s = { .k = v[vi].k, .c = CASES[ci] };
            const conv_case *c = &s.c;
            int P = (c->H + 2 * c->pad - c->k + 1) * (c->W + 2 * c->pad - c->k + 1), CKK = c->k * c->k * c->C;
            uint64_t st = 42;
            s.x = rnd((size_t)c->B * c->H * c->W * c->C, &st);
            s.wt = rnd((size_t)CKK * c->OC, &st), s.w2 = rnd((size_t)CKK * c->OC, &st);
            s.b = rnd((size_t)c->OC, &st), s.col = rnd((size_t)c->B * P * CKK, &st);
            s.y = rnd((size_t)c->B * P * c->OC, &st), s.dy = rnd((size_t)c->B * P * c->OC, &st);
            s.dwt = rnd((size_t)CKK * c->OC, &st), s.db = rnd((size_t)c->OC, &st);
            s.dx = rnd((size_t)c->B * c->H * c->W * c->C, &st), s.dcol = rnd((size_t)P * CKK, &st);
            s.colp = rnd((size_t)4 * P * CKK, &st);
            double flops = 2.0 * c->B * P * CKK * c->OC;
            for (int op = 0; op < N_OPS; op++) {
                double t = time_op(&s, op, reps), gf = flops / t * 1e-9;
                /* the CASES with C = 1 are first layers: no input gradient in training */
                int in_training = !(op == BWD_X && c->C == 1);
                if (json)
                    printf("{\"bench\":\"conv\",\"isa\":\"%s\",\"layer\":\"%s\",\"op\":\"%s\",\"us\":%.1f,"
                           "\"gflops\":%.2f,\"pct_peak\":%.1f,\"in_training\":%s}\n", v[vi].k->name, c->name,
                           op_names[op], t * 1e6, gf, 100.0 * gf / peak, in_training ? "true" : "false");
                else
                    printf("  %-14s %-6s %9.1f us %7.1f GFLOP/s %5.1f %% of peak%s\n", c->name, op_names[op],
                           t * 1e6, gf, 100.0 * gf / peak,
                           in_training ? "" : "  (first layer: not computed in training)");
            }
            free(s.x), free(s.wt), free(s.w2), free(s.b), free(s.col), free(s.y), free(s.dy);
            free(s.dwt), free(s.db), free(s.dx), free(s.dcol), free(s.colp);
        }
    }
    (void)best_peak;
    if (!best_k)
        best_k = mt_kern_ref();
    static const struct { const char *name, *model; int B; } M[] = {
        { "cnn", "cnn", 64 },
        { "fastcnn", "fastcnn", 256 },
        { "fast99", "conv:16:5,maxpool,relu,conv:32:3,maxpool,relu,flatten,linear:256,relu,linear:10", 256 },
    };
    for (size_t mi = 0; mi < sizeof M / sizeof *M; mi++) {
        double t1 = time_step(M[mi].model, M[mi].B, 1, reps > 5 ? 5 : reps, best_k);
        double t2 = time_step(M[mi].model, M[mi].B, 2, reps > 5 ? 5 : reps, best_k);
        if (json)
            printf("{\"bench\":\"step\",\"isa\":\"%s\",\"model\":\"%s\",\"B\":%d,\"ms_1t\":%.3f,\"ms_2t\":%.3f,"
                   "\"speedup\":%.3f}\n", best_k->name, M[mi].name, M[mi].B, t1 * 1e3, t2 * 1e3, t1 / t2);
        else
            printf("%s step (batch %d, %s): %.2f ms on 1 thread, %.2f ms on 2 (%.2fx), %.0f samples/s\n",
                   M[mi].name, M[mi].B, best_k->name, t1 * 1e3, t2 * 1e3, t1 / t2, M[mi].B / t2);
    }
    return 0;
}
