/* bench/gemm: GFLOP/s of each layer's GEMMs for every runnable kernel variant,
 * as a percentage of this core's FMA peak measured by a register-resident
 * probe in the same run.  One thread.  Prints a table, or JSON
 * lines with --json.  Not a test: numbers depend on the machine and its load.
 *   usage: gemm [--json] [--reps N]                                          */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mt_kern.h"

#include "peak.h"

/* ---- workloads ---------------------------------------------------------- */

typedef struct {
    const mt_kern *k;
    int B, C, OC;
    const float *x, *w, *wt, *b, *dy, *mask, *beff;
    const uint8_t *px;
    float *y, *dw, *db, *dx, *gt, *cs;
    mt_sp_rows rows;   /* the batch's non-zero pixels (B rows) */
    uint64_t *masks;   /* the batch's column masks (C columns) */
} ws;

enum { FWD, FWD_SPARSE, BWD_W, BWD_WT, BWD_W_SPARSE, BWD_X, TRANSPOSE, N_OPS };
static const char *op_names[] = { "fwd", "fwd_sparse", "bwd_w", "bwd_wt", "bwd_w_sparse", "bwd_x", "transpose" };

#define SCALE (1.f / (255.f * 0.3081f))
#define SHIFT (-0.1307f / 0.3081f)

/* The sparse ops are timed the way mt_engine calls the kernels in a step:
 * fwd_sparse makes the batch's row lists and runs the layer (beff, from the
 * chunks' column sums of W1^T, is made outside); bwd_w_sparse makes b1's
 * gradient cs and the batch's column masks, then per 96-pixel chunk its rows
 * of the W1^T gradient. */
static void run_op(ws *s, int op)
{
    const mt_kern *k = s->k;
    switch (op) {
    case FWD: k->linear_fwd_t(s->y, s->x, s->wt, s->b, s->B, s->C, s->OC, 1); break;
    case FWD_SPARSE:
        for (int i = 0; i < s->B; i++)
            s->rows.cnt[i] = k->sparse_row_list(s->rows.ent + (size_t)i * s->rows.ld,
                                                s->rows.blk + (size_t)i * s->rows.nblk,
                                                s->px + (size_t)i * s->C, s->C);
        k->sparse_fwd_rows(s->y, &s->rows, s->wt, s->beff, s->B, s->OC, 1);
        break;
    case BWD_W: k->linear_bwd_w_cols(s->dw, s->db, s->dy, s->x, s->B, s->C, s->OC, 0, s->C); break;
    case BWD_WT: k->linear_bwd_wt(s->gt, s->dy, s->x, s->B, s->C, s->OC, 0, s->C); break;
    case BWD_W_SPARSE:
        memset(s->cs, 0, (size_t)s->OC * sizeof *s->cs);
        k->colsum_acc(s->cs, s->dy, s->B, s->OC);
        k->sparse_masks(s->masks, s->px, s->C, s->B, 0, s->C);
        for (int c0 = 0; c0 < s->C; c0 += 2 * MT_SP_CHUNK) {
            int c1 = s->C - c0 < 2 * MT_SP_CHUNK ? s->C : c0 + 2 * MT_SP_CHUNK;
            k->sparse_bwd_masks(s->gt + (size_t)c0 * s->OC, s->dy, s->cs, s->masks + (size_t)c0 * ((s->B + 63) / 64),
                                s->px, s->C, s->rows.lut, s->B, s->OC, SHIFT, c0, c1);
        }
        break;
    case BWD_X: k->linear_bwd_x(s->dx, s->dy, s->w, s->mask, s->B, s->C, s->OC); break;
    case TRANSPOSE: k->transpose((float *)s->wt, s->w, s->C, s->OC, 0, s->C); break;
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

static float *rnd(size_t n, uint64_t *st, double zero_frac)
{
    float *p = malloc(n * sizeof *p);
    if (!p)
        exit(1);
    for (size_t i = 0; i < n; i++) {
        *st = *st * 6364136223846793005ull + 1442695040888963407ull;
        double u = (double)(*st >> 11) / 9007199254740992.0;
        p[i] = u < zero_frac ? 0.f : (float)(u * 2.0 - 1.0);
    }
    return p;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        exit(1);
    return p;
}

int main(int argc, char **argv)
{
    int json = 0, reps = 11;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
    }
    if (reps < 1 || reps > 31)
        reps = 11;

    /* MNIST-like pixels: 81 % zeros. */
    static const int layers[][3] = { { 64, 784, 128 }, { 64, 128, 64 }, { 64, 64, 10 }, { 1000, 784, 128 } };
    mt_kern_variant v[8];
    int nv = mt_kern_variants(v, 8);
    if (!json)
        printf("%-7s %-14s %-10s %10s %9s %8s\n", "isa", "shape B,C,OC", "op", "us/call", "GFLOP/s", "%peak");
    for (int vi = 0; vi < nv; vi++) {
        if (!v[vi].runnable)
            continue;
        double peak = probe_peak(v[vi].isa);
        if (json)
            printf("{\"bench\":\"fma_peak\",\"isa\":\"%s\",\"gflops\":%.1f}\n", v[vi].k->name, peak);
        else if (peak > 0)
            printf("%-7s FMA peak probe (1 core): %.1f GFLOP/s\n", v[vi].k->name, peak);
        for (int li = 0; li < 4; li++) {
            int B = layers[li][0], C = layers[li][1], OC = layers[li][2];
            uint64_t st = 42;
            ws s = { .k = v[vi].k, .B = B, .C = C, .OC = OC };
            float *x = rnd((size_t)B * C, &st, 0.0), *w = rnd((size_t)OC * C, &st, 0.0);
            float *wt = rnd((size_t)OC * C, &st, 0.0), *b = rnd(OC, &st, 0.0);
            float *dy = rnd((size_t)B * OC, &st, 0.0), *mask = rnd((size_t)B * C, &st, 0.5);
            uint8_t *px = xmalloc((size_t)B * C);
            float *pxf = rnd((size_t)B * C, &st, 0.81);
            for (size_t i = 0; i < (size_t)B * C; i++) {
                px[i] = (uint8_t)(pxf[i] == 0.f ? 0 : 1 + (int)((pxf[i] + 1.f) * 127.f));
                x[i] = (float)px[i] * SCALE + SHIFT;
            }
            s.x = x, s.w = w, s.wt = wt, s.b = b, s.dy = dy, s.mask = mask, s.px = px;
            s.y = rnd((size_t)B * OC, &st, 0.0), s.dw = rnd((size_t)OC * C, &st, 0.0);
            s.db = rnd(OC, &st, 0.0), s.dx = rnd((size_t)B * C, &st, 0.0);
            s.gt = rnd((size_t)C * OC, &st, 0.0), s.cs = rnd(OC, &st, 0.0);
            int nblk = (C + MT_SP_CHUNK - 1) / MT_SP_CHUNK;
            static float lut[256];
            for (int p = 0; p < 256; p++)
                lut[p] = (float)p * SCALE;
            s.rows = (mt_sp_rows){ xmalloc((size_t)B * sizeof(int)), xmalloc((size_t)B * (C + MT_SP_SLACK) * sizeof(uint32_t)),
                                   xmalloc((size_t)B * nblk * sizeof(int)), C + MT_SP_SLACK, nblk, lut };
            s.masks = xmalloc((size_t)C * ((B + 63) / 64) * sizeof(uint64_t));
            v[vi].k->transpose(wt, w, C, OC, 0, C);
            /* beff = b + shift * colsum(W1^T); the row lists for bwd_w_sparse */
            float *beff = xmalloc((size_t)OC * sizeof *beff);
            memset(beff, 0, (size_t)OC * sizeof *beff);
            v[vi].k->colsum_acc(beff, wt, C, OC);
            for (int o = 0; o < OC; o++)
                beff[o] = b[o] + SHIFT * beff[o];
            s.beff = beff;
            run_op(&s, FWD_SPARSE);
            for (int op = 0; op < N_OPS; op++) {
                if ((op == FWD_SPARSE || op == BWD_W_SPARSE || op == BWD_WT) && C != 784)
                    continue; /* the first layer's own forms */
                if (li == 3 && op != FWD && op != FWD_SPARSE)
                    continue;
                double sec = time_op(&s, op, reps);
                /* sparse ops are credited with the dense FLOPs they replace */
                double flops = op == TRANSPOSE ? 0.0 : 2.0 * B * C * OC;
                double gf = flops / sec * 1e-9;
                if (json)
                    printf("{\"bench\":\"gemm\",\"isa\":\"%s\",\"B\":%d,\"C\":%d,\"OC\":%d,\"op\":\"%s\","
                           "\"us\":%.2f,\"gflops\":%.1f,\"pct_peak\":%.1f}\n",
                           v[vi].k->name, B, C, OC, op_names[op], sec * 1e6, gf,
                           peak > 0 ? 100.0 * gf / peak : 0.0);
                else
                    printf("%-7s %4d,%3d,%3d   %-12s %10.2f %9.1f %7.1f%%\n", v[vi].k->name, B, C, OC,
                           op_names[op], sec * 1e6, gf, peak > 0 ? 100.0 * gf / peak : 0.0);
            }
            free(x), free(w), free(wt), free(b), free(dy), free(mask), free(px), free(pxf);
            free(s.y), free(s.dw), free(s.db), free(s.dx), free(s.gt), free(s.cs), free(beff);
            free(s.rows.cnt), free(s.rows.ent), free(s.rows.blk);
            free(s.masks);
        }
    }
    return 0;
}
