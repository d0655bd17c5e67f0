/* The model against PyTorch: tests/golden/mlp_ref.bin (written by
 * tests/golden/gen_golden.py with torch) holds a small MLP's weights, a batch,
 * its logits, loss, every gradient, and the losses and weights over 5 Adam
 * steps.  The C model must reproduce them up to float rounding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_mlp.h"
#include "mt_optim.h"

typedef struct golden {
    int n_layers, dims[MT_MAX_LAYERS + 1], B, steps;
    float lr, loss;
    float *params, *x, *logits, *grads, *losses, *params1;
    int *labels;
    size_t n_params;
} golden;

static void rd(void *p, size_t size, size_t n, FILE *f)
{
    if (fread(p, size, n, f) != n)
        fail_msg("golden file truncated");
}

static float *rdf(size_t n, FILE *f)
{
    float *p = malloc(n * sizeof *p);
    assert_non_null(p);
    rd(p, sizeof *p, n, f);
    return p;
}

static void load(golden *g)
{
    const char *path = getenv("MT_GOLDEN") ? getenv("MT_GOLDEN") : "tests/golden/mlp_ref.bin";
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("%s: cannot open (run make check from the source tree)", path);
    char magic[8];
    rd(magic, 1, 8, f);
    assert_memory_equal(magic, "MTGOLD01", 8);
    rd(&g->n_layers, 4, 1, f);
    assert_true(g->n_layers >= 1 && g->n_layers <= MT_MAX_LAYERS);
    rd(g->dims, 4, (size_t)g->n_layers + 1, f);
    rd(&g->B, 4, 1, f);
    rd(&g->steps, 4, 1, f);
    rd(&g->lr, 4, 1, f);
    g->n_params = 0;
    for (int l = 0; l < g->n_layers; l++)
        g->n_params += (size_t)g->dims[l + 1] * g->dims[l] + g->dims[l + 1];
    int K = g->dims[g->n_layers];
    g->params = rdf(g->n_params, f);
    g->x = rdf((size_t)g->B * g->dims[0], f);
    g->labels = malloc((size_t)g->B * sizeof(int));
    rd(g->labels, 4, (size_t)g->B, f);
    g->logits = rdf((size_t)g->B * K, f);
    rd(&g->loss, 4, 1, f);
    g->grads = rdf(g->n_params, f);
    g->losses = rdf((size_t)g->steps, f);
    g->params1 = rdf(g->n_params, f);
    assert_int_equal(fgetc(f), EOF);
    fclose(f);
}

static void close_to(const char *what, const float *a, const float *b, size_t n, float atol, float rtol)
{
    for (size_t i = 0; i < n; i++)
        if (!(fabsf(a[i] - b[i]) <= atol + rtol * fabsf(b[i])))
            fail_msg("%s[%zu]: %.9g vs PyTorch %.9g", what, i, a[i], b[i]);
}

static void test_mlp_matches_pytorch(void **state)
{
    (void)state;
    golden g;
    load(&g);
    const mt_kern *k = mt_kern_ref();
    mt_mlp m = { 0 };
    mt_mlp_work w = { 0 };
    mt_optim o = { 0 };
    mt_err err = { 0 };
    mt_rng r;
    mt_rng_seed(&r, 1);
    assert_int_equal(mt_mlp_init(&m, g.dims, g.n_layers, &r, &err), MT_OK);
    assert_int_equal(m.n_params, g.n_params);
    assert_int_equal(mt_mlp_work_init(&w, &m, g.B, &err), MT_OK);
    memcpy(m.params, g.params, g.n_params * sizeof(float));
    uint8_t y[64];
    for (int i = 0; i < g.B; i++)
        y[i] = (uint8_t)g.labels[i];
    int K = g.dims[g.n_layers];

    memcpy(w.act[0], g.x, (size_t)g.B * g.dims[0] * sizeof(float));
    mt_mlp_forward(&m, &w, g.B, k);
    close_to("logits", w.act[g.n_layers], g.logits, (size_t)g.B * K, 1e-5f, 1e-5f);
    float loss = (float)(mt_mlp_loss(&m, &w, y, g.B, 1.0f / g.B, k) / g.B);
    close_to("loss", &loss, &g.loss, 1, 1e-6f, 1e-5f);
    mt_mlp_zero_grad(&m);
    mt_mlp_backward(&m, &w, g.B, k);
    close_to("grads", m.grads, g.grads, g.n_params, 1e-6f, 1e-4f);

    /* five Adam steps on the same batch, from the initial weights */
    memcpy(m.params, g.params, g.n_params * sizeof(float));
    assert_int_equal(mt_optim_init(&o, MT_OPT_ADAM, m.n_params, &err), MT_OK);
    o.lr = g.lr;
    for (int s = 0; s < g.steps; s++) {
        memcpy(w.act[0], g.x, (size_t)g.B * g.dims[0] * sizeof(float));
        mt_mlp_forward(&m, &w, g.B, k);
        float l = (float)(mt_mlp_loss(&m, &w, y, g.B, 1.0f / g.B, k) / g.B);
        close_to("step loss", &l, &g.losses[s], 1, 1e-6f, 1e-5f);
        mt_mlp_zero_grad(&m);
        mt_mlp_backward(&m, &w, g.B, k);
        mt_optim_step(&o, m.params, m.grads, k);
    }
    close_to("params after 5 Adam steps", m.params, g.params1, g.n_params, 1e-6f, 1e-4f);

    mt_optim_free(&o);
    mt_mlp_work_free(&w);
    mt_mlp_free(&m);
    free(g.params); free(g.x); free(g.labels); free(g.logits);
    free(g.grads); free(g.losses); free(g.params1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mlp_matches_pytorch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
