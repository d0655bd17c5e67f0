/* test_net: models from names and SPEC strings (shapes, tensor names, the
 * one-line errors), the whole step's gradient against central differences,
 * bit-identical steps and predictions for 1, 2 and 3 threads, batch-norm
 * running statistics, and the state_dict round trip through safetensors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mt_kern.h"
#include "mt_layers.h"
#include "mt_net.h"
#include "mt_optim.h"
#include "mt_pool.h"
#include "mt_rng.h"
#include "mt_st.h"

static const mt_kern *auto_kern(void)
{
    const mt_kern *k = NULL;
    mt_err err;
    assert_int_equal(mt_kern_select(&k, MT_ISA_AUTO, &err), MT_OK);
    return k;
}

static void fill(mt_rng *r, float *x, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = mt_rng_uniform(r, lo, hi);
}

static void test_named_models_have_pytorch_shapes(void **state)
{
    (void)state;
    mt_net n = { 0 };
    mt_err err;
    char name[64];
    mt_st_tensor t;
    assert_int_equal(mt_net_build(&n, "cnn", NULL, 1, 28, 28, 10, &err), MT_OK);
    assert_int_equal(n.n_params, 320 + 18496 + 1179776 + 1290);
    assert_int_equal(mt_net_n_tensors(&n), 8);
    mt_net_tensor(&n, 0, name, sizeof name, &t);
    assert_string_equal(name, "conv1.weight");
    assert_true(t.ndim == 4 && t.shape[0] == 32 && t.shape[1] == 1 && t.shape[2] == 3);
    mt_net_tensor(&n, 4, name, sizeof name, &t);
    assert_string_equal(name, "fc1.weight");
    assert_true(t.ndim == 2 && t.shape[0] == 128 && t.shape[1] == 9216);
    mt_net_tensor(&n, 7, name, sizeof name, &t);
    assert_string_equal(name, "fc2.bias");
    assert_true((const float *)t.data + 10 == n.params + n.n_params);
    mt_net_free(&n);

    assert_int_equal(mt_net_build(&n, "fastcnn", NULL, 1, 28, 28, 10, &err), MT_OK);
    assert_int_equal(n.n_params, 624 + 6944 + 205056 + 2570);
    mt_net_tensor(&n, 2, name, sizeof name, &t);
    assert_string_equal(name, "conv2.weight");
    assert_true(t.shape[0] == 32 && t.shape[1] == 24 && t.shape[2] == 3);
    mt_net_free(&n);

    mt_net_opts o = { .hidden = { 100 }, .n_hidden = 1, .dropout = 0.5f };
    assert_int_equal(mt_net_build(&n, "mlp", &o, 1, 28, 28, 10, &err), MT_OK);
    assert_int_equal(n.n_params, 784 * 100 + 100 + 1010);
    assert_string_equal(n.spec, "flatten,linear:100,relu,dropout:0.5,linear:10");
    mt_net_tensor(&n, 2, name, sizeof name, &t);
    assert_string_equal(name, "fc2.weight");
    mt_net_free(&n);

    /* SPEC: Sequential names, bn tensors and buffers */
    assert_int_equal(mt_net_build(&n, "conv:4:3:same,bn,relu,maxpool,flatten,linear:10", NULL, 1, 28,
                                  28, 10, &err), MT_OK);
    assert_int_equal(mt_net_n_tensors(&n), 2 + 5 + 2);
    mt_net_tensor(&n, 5, name, sizeof name, &t);
    assert_string_equal(name, "1.running_var");
    mt_net_tensor(&n, 6, name, sizeof name, &t);
    assert_string_equal(name, "1.num_batches_tracked");
    assert_true(t.dtype == MT_ST_I64 && t.ndim == 0);
    mt_net_tensor(&n, 7, name, sizeof name, &t);
    assert_string_equal(name, "5.weight");
    assert_true(t.shape[1] == 4 * 14 * 14);
    mt_net_free(&n);
}

static void test_bad_models_get_one_line_errors(void **state)
{
    (void)state;
    static const struct { const char *spec, *want; } cases[] = {
        { "conv:8:3,linear:10", "item 2 'linear:10' needs flat input, got 8x26x26 (add flatten" },
        { "conv:8:3,relu,flatten,linear:12", "ends with 12 features, the data has 10 classes" },
        { "conv:8:30,flatten,linear:10", "item 1 'conv:8:30' needs an input of at least 30x30, got 1x28x28" },
        { "conv:8:4:same,flatten,linear:10", "item 1 'conv:8:4:same' is not one of" },
        { "flatten,maxpool,linear:10", "item 2 'maxpool' needs an image of at least 2x2, got 784 features" },
        { "flatten,dropout:1,linear:10", "item 2 'dropout:1' is not one of" },
        { "flatten,,linear:10", "item 2 '' is not one of" },
        { "resnet", "item 1 'resnet' is not one of" },
        { "", "give a name" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        mt_net n = { 0 };
        mt_err err = { 0 };
        assert_int_equal(mt_net_build(&n, cases[i].spec, NULL, 1, 28, 28, 10, &err), MT_EARG);
        if (!strstr(err.msg, cases[i].want)) {
            print_error("spec '%s': message '%s' lacks '%s'\n", cases[i].spec, err.msg, cases[i].want);
            fail();
        }
        assert_null(strchr(err.msg, '\n'));
        assert_null(n.params);
        assert_false(mt_net_is_model(cases[i].spec));
    }
    assert_true(mt_net_is_model("cnn") && mt_net_is_model("fastcnn") && mt_net_is_model("mlp"));
    assert_true(mt_net_is_model("flatten,linear:10"));
}

/* The step's gradient of the mean loss against central differences of the
 * loss (a float forward, so a loose tolerance; the layers are checked
 * tightly in test_layers).  A smooth net must match everywhere; with ReLU
 * and max-pool a perturbation may cross a kink (batch norm couples every
 * element to every weight), so a few misses are allowed there. */
static int grad_misses(const char *spec, float h)
{
    mt_net n = { 0 };
    mt_err err;
    mt_rng r;
    mt_rng_seed(&r, 5);
    assert_int_equal(mt_net_build(&n, spec, NULL, 2, 8, 7, 3, &err), MT_OK);
    mt_net_init(&n, &r);
    enum { NB = 5 };
    float x[NB * 2 * 8 * 7];
    uint8_t y[NB] = { 0, 1, 2, 1, 0 };
    fill(&r, x, sizeof x / sizeof *x, -1.f, 1.f);
    mt_net_work *w = NULL;
    assert_int_equal(mt_net_work_create(&w, &n, NB, 1, &err), MT_OK);
    const mt_kern *k = mt_kern_ref();
    mt_net_step(&n, w, NULL, x, y, NB, 7, 3, k);
    float *g = malloc(n.n_params * sizeof *g);
    assert_non_null(g);
    memcpy(g, n.grads, n.n_params * sizeof *g);
    int bad = 0;
    for (size_t i = 0; i < n.n_params; i++) {
        float keep = n.params[i];
        n.params[i] = keep + h;
        double lp = mt_net_step(&n, w, NULL, x, y, NB, 7, 3, k) / NB;
        n.params[i] = keep - h;
        double lm = mt_net_step(&n, w, NULL, x, y, NB, 7, 3, k) / NB;
        n.params[i] = keep;
        double num = (lp - lm) / (2 * h);
        double d = fabs(g[i] - num), s = fabs(g[i]) + fabs(num);
        if (d > 1e-3 && d > 0.02 * s) {
            print_message("%s: param %zu: analytic %g numeric %g\n", spec, i, g[i], num);
            bad++;
        }
    }
    free(g);
    mt_net_work_free(w);
    mt_net_free(&n);
    return bad;
}

static void test_step_gradient_matches_finite_differences(void **state)
{
    (void)state;
    assert_int_equal(grad_misses("conv:3:3:same,bn,conv:4:3,dropout:0.3,flatten,linear:6,bn,"
                                 "dropout:0.2,linear:3", 1e-3f), 0);
    assert_int_equal(grad_misses("conv:3:3,relu,conv:4:3,maxpool,flatten,linear:6,relu,linear:3", 5e-4f), 0);
    assert_true(grad_misses("conv:3:3:same,bn,relu,conv:4:3,maxpool,dropout:0.3,flatten,linear:6,bn,"
                            "relu,dropout:0.2,linear:3", 5e-4f) <= 3);
}

/* One step on 1, 2 and 3 threads: the same gradients, loss, bn statistics
 * and predictions, bit for bit. */
static void check_threads(const char *model, int in_c, int hw, int B)
{
    mt_err err;
    const mt_kern *k = auto_kern();
    float *g[3] = { 0 }, *bufs[3] = { 0 }, *pred[3] = { 0 };
    double loss[3];
    size_t npar = 0, nbuf = 0, nin = (size_t)in_c * hw * hw;
    mt_rng r;
    mt_rng_seed(&r, 11);
    float *x = malloc((size_t)B * nin * sizeof *x);
    uint8_t *y = malloc((size_t)B);
    assert_non_null(x), assert_non_null(y);
    fill(&r, x, (size_t)B * nin, -0.5f, 2.f);
    for (int i = 0; i < B; i++)
        y[i] = (uint8_t)mt_rng_below(&r, 10);
    for (int t = 0; t < 3; t++) {
        mt_net n = { 0 };
        mt_pool *pool = NULL;
        mt_net_work *w = NULL;
        assert_int_equal(mt_net_build(&n, model, NULL, in_c, hw, hw, 10, &err), MT_OK);
        mt_rng ri;
        mt_rng_seed(&ri, 3);
        mt_net_init(&n, &ri);
        assert_int_equal(mt_pool_create(&pool, t + 1, &err), MT_OK);
        assert_int_equal(mt_net_work_create(&w, &n, B, t + 1, &err), MT_OK);
        loss[t] = mt_net_step(&n, w, pool, x, y, B, 99, 5, k);
        npar = n.n_params, nbuf = n.n_buffers;
        g[t] = malloc(npar * sizeof(float));
        bufs[t] = malloc((nbuf + 1) * sizeof(float));
        pred[t] = malloc((size_t)B * 10 * sizeof(float));
        memcpy(g[t], n.grads, npar * sizeof(float));
        memcpy(bufs[t], n.buffers, nbuf * sizeof(float));
        mt_net_predict(&n, w, pool, x, (size_t)B, pred[t], k);
        mt_net_work_free(w);
        mt_pool_free(pool);
        mt_net_free(&n);
    }
    for (int t = 1; t < 3; t++) {
        assert_true(loss[t] == loss[0]);
        assert_memory_equal(g[t], g[0], npar * sizeof(float));
        assert_memory_equal(bufs[t], bufs[0], nbuf * sizeof(float));
        assert_memory_equal(pred[t], pred[0], (size_t)B * 10 * sizeof(float));
    }
    for (int t = 0; t < 3; t++)
        free(g[t]), free(bufs[t]), free(pred[t]);
    free(x), free(y);
}

static void test_threads_give_identical_bits(void **state)
{
    (void)state;
    check_threads("fastcnn", 1, 28, 7);
    check_threads("cnn", 1, 28, 5);
    check_threads("conv:5:3:same,bn,relu,maxpool,conv:7:3,relu,flatten,bn,linear:10", 3, 9, 13);
}

/* The step's running statistics follow PyTorch (momentum 0.1, unbiased var);
 * evaluation uses them, training does not. */
static void test_batchnorm_running_stats_in_the_net(void **state)
{
    (void)state;
    mt_net n = { 0 };
    mt_err err;
    mt_rng r;
    mt_rng_seed(&r, 2);
    assert_int_equal(mt_net_build(&n, "flatten,bn,linear:10", NULL, 1, 2, 2, 10, &err), MT_OK);
    mt_net_init(&n, &r);
    enum { NB = 6 };
    float x[NB * 4];
    uint8_t y[NB] = { 0 };
    fill(&r, x, NB * 4, -3.f, 3.f);
    mt_net_work *w = NULL;
    assert_int_equal(mt_net_work_create(&w, &n, NB, 1, &err), MT_OK);
    mt_net_step(&n, w, NULL, x, y, NB, 1, 1, mt_kern_ref());
    mt_net_step(&n, w, NULL, x, y, NB, 1, 2, mt_kern_ref());
    assert_true(n.bn_batches == 2);
    for (int c = 0; c < 4; c++) {
        double m = 0, v = 0;
        for (int i = 0; i < NB; i++)
            m += x[i * 4 + c];
        m /= NB;
        for (int i = 0; i < NB; i++)
            v += (x[i * 4 + c] - m) * (x[i * 4 + c] - m);
        v /= NB - 1;
        double rm = 0.1 * m * (1 + 0.9), rv = 0.81 + 0.1 * v * (1 + 0.9);
        assert_true(fabs(n.buffers[c] - rm) <= 1e-5);
        assert_true(fabs(n.buffers[4 + c] - rv) <= 1e-4);
    }
    mt_net_work_free(w);
    mt_net_free(&n);
}

static void test_state_dict_round_trip(void **state)
{
    (void)state;
    mt_net a = { 0 }, b = { 0 };
    mt_err err;
    mt_rng r;
    const char *spec = "conv:4:3,bn,relu,maxpool,flatten,linear:10";
    mt_rng_seed(&r, 9);
    assert_int_equal(mt_net_build(&a, spec, NULL, 1, 10, 10, 10, &err), MT_OK);
    assert_int_equal(mt_net_build(&b, spec, NULL, 1, 10, 10, 10, &err), MT_OK);
    mt_net_init(&a, &r);
    for (size_t i = 0; i < a.n_buffers; i++)
        a.buffers[i] = (float)i * 0.25f;
    a.bn_batches = 42;
    char path[] = "/tmp/test_net_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    mt_st_meta meta = { "model", spec };
    assert_int_equal(mt_net_save(path, &a, &meta, 1, &err), MT_OK);
    mt_st st = { 0 };
    assert_int_equal(mt_st_load(path, &st, &err), MT_OK);
    assert_string_equal(mt_st_meta_get(&st, "model"), spec);
    assert_int_equal(mt_net_load(&b, &st, &err), MT_OK);
    assert_memory_equal(a.params, b.params, a.n_params * sizeof(float));
    assert_memory_equal(a.buffers, b.buffers, a.n_buffers * sizeof(float));
    assert_true(b.bn_batches == 42);
    mt_st_free(&st);
    /* a file of another model: the first differing tensor is named */
    mt_net c = { 0 };
    assert_int_equal(mt_net_build(&c, "conv:5:3,bn,relu,maxpool,flatten,linear:10", NULL, 1, 10, 10, 10, &err), MT_OK);
    assert_int_equal(mt_st_load(path, &st, &err), MT_OK);
    assert_int_equal(mt_net_load(&c, &st, &err), MT_EDATA);
    assert_non_null(strstr(err.msg, "tensor '0.weight': F32 [4,1,3,3] in the file, model"));
    mt_st_free(&st);
    unlink(path);
    mt_net_free(&a), mt_net_free(&b), mt_net_free(&c);
}

/* ---- PyTorch golden file (tests/golden/gen_cnn_golden.py) ---------------- */

static int close_all(const char *what, const float *got, const float *want, size_t n, double rtol,
                     double atol)
{
    for (size_t i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= atol + rtol * fabs(want[i]))) {
            print_error("%s[%zu]: got %.8g, PyTorch %.8g\n", what, i, got[i], want[i]);
            return 0;
        }
    return 1;
}

/* The stored elements of a tensor of n floats: every stride-th. */
static size_t gather(float *dst, const float *src, size_t n)
{
    size_t stride = n <= 4096 ? 1 : n / 2048 + 1, m = 0;
    for (size_t i = 0; i < n; i += stride)
        dst[m++] = src[i];
    return m;
}

static const mt_st_tensor *need(const mt_st *st, const char *a, const char *b)
{
    char key[400];
    snprintf(key, sizeof key, "%s.%s", a, b);
    const mt_st_tensor *t = mt_st_find(st, key);
    if (!t) {
        print_error("golden file lacks '%s'\n", key);
        fail();
    }
    return t;
}

/* Compares every F32 tensor of net (parameters if which is "p0", "p1" or
 * "g" -- gradients --, buffers if "b1") with the file's sampled copy. */
static void compare_tensors(const mt_st *st, const char *cs, const mt_net *net, const char *which,
                            double rtol, double atol)
{
    int nt = mt_net_n_tensors(net);
    char name[64], key[160];
    mt_st_tensor t;
    float *tmp = malloc(8192 * sizeof *tmp);
    assert_non_null(tmp);
    int is_buf_pass = !strcmp(which, "b1");
    for (int i = 0; i < nt; i++) {
        mt_net_tensor(net, i, name, sizeof name, &t);
        int is_buf = strstr(name, "running_") || strstr(name, "num_batches");
        if (is_buf != is_buf_pass)
            continue;
        snprintf(key, sizeof key, "%s.%s", which, name);
        const mt_st_tensor *f = need(st, cs, key);
        if (t.dtype == MT_ST_I64) {
            int64_t v;
            assert_true(f->dtype == MT_ST_I64);
            memcpy(&v, f->data, sizeof v);
            assert_true(*(const long long *)t.data == v);
            continue;
        }
        size_t n = t.nbytes / sizeof(float);
        const float *src = (const float *)t.data;
        if (!strcmp(which, "g"))
            src = net->grads + (src - net->params);
        size_t m = gather(tmp, src, n);
        assert_true(f->dtype == MT_ST_F32 && f->nbytes == m * sizeof(float));
        char what[200];
        snprintf(what, sizeof what, "%s %s", cs, key);
        if (!close_all(what, tmp, (const float *)f->data, m, rtol, atol))
            fail();
    }
    free(tmp);
}

static void run_golden_case(const mt_st *st, const char *cs, const mt_kern *k, int threads)
{
    char key[96];
    mt_err err;
#define META(field) (snprintf(key, sizeof key, "%s.%s", cs, field), mt_st_meta_get(st, key))
    const char *model = META("model");
    assert_non_null(model);
    int c, h, w;
    assert_int_equal(sscanf(META("input"), "%d,%d,%d", &c, &h, &w), 3);
    uint64_t seed = strtoull(META("seed"), NULL, 10);
    int steps = atoi(META("steps"));
    float lr = strtof(META("lr"), NULL);
    mt_net_opts o = { 0 };
    if (META("hidden")) {
        const char *p = META("hidden");
        while (*p && o.n_hidden < 8) {
            o.hidden[o.n_hidden++] = atoi(p);
            p = strchr(p, ',') ? strchr(p, ',') + 1 : p + strlen(p);
        }
        o.dropout = strtof(META("dropout"), NULL);
    }
#undef META
    mt_net net = { 0 };
    assert_int_equal(mt_net_build(&net, model, &o, c, h, w, 10, &err), MT_OK);
    mt_rng r;
    mt_rng_seed(&r, seed);
    mt_net_init(&net, &r);
    compare_tensors(st, cs, &net, "p0", 0.0, 0.0); /* the same draws, bit for bit */

    const mt_st_tensor *tx = need(st, cs, "x"), *ty = need(st, cs, "y");
    int B = (int)ty->shape[0];
    uint8_t lab[64];
    for (int i = 0; i < B; i++) { /* the data may sit at any offset: copy it out */
        int64_t v;
        memcpy(&v, (const char *)ty->data + (size_t)i * sizeof v, sizeof v);
        lab[i] = (uint8_t)v;
    }
    const float *x = tx->data;
    mt_net_work *wk = NULL;
    mt_pool *pool = NULL;
    assert_int_equal(mt_net_work_create(&wk, &net, B, threads, &err), MT_OK);
    assert_int_equal(mt_pool_create(&pool, threads, &err), MT_OK);
    mt_optim opt = { 0 };
    assert_int_equal(mt_optim_init(&opt, MT_OPT_ADAM, net.n_params, &err), MT_OK);
    mt_optim_defaults(&opt);
    opt.lr = lr;
    const float *wl = need(st, cs, "losses")->data;
    for (int t = 0; t < steps; t++) {
        float loss = (float)(mt_net_step(&net, wk, pool, x, lab, B, seed, (uint64_t)t, k) / B);
        if (t == 0) {
            char what[64];
            snprintf(what, sizeof what, "%s logits", cs);
            assert_true(close_all(what, mt_net_work_logits(wk), need(st, cs, "logits")->data,
                                  (size_t)B * 10, 1e-4, 1e-5));
            assert_true(close_all(what, &loss, need(st, cs, "loss")->data, 1, 1e-5, 1e-6));
            compare_tensors(st, cs, &net, "g", 2e-3, 2e-6);
        }
        char what[64];
        snprintf(what, sizeof what, "%s loss of step %d", cs, t);
        assert_true(close_all(what, &loss, wl + t, 1, 1e-4, 1e-6));
        mt_optim_step(&opt, net.params, net.grads, k);
    }
    /* Adam amplifies tiny gradient differences for near-zero gradients
     * (m / sqrt(v) is +-1 whatever their size): an absolute tolerance of
     * a fraction of steps * lr */
    compare_tensors(st, cs, &net, "p1", 1e-3, 0.05 * lr * steps);
    compare_tensors(st, cs, &net, "b1", 1e-4, 1e-5);
    float *ev = malloc((size_t)B * 10 * sizeof *ev);
    assert_non_null(ev);
    mt_net_predict(&net, wk, pool, x, (size_t)B, ev, k);
    char what[64];
    snprintf(what, sizeof what, "%s eval logits", cs);
    assert_true(close_all(what, ev, need(st, cs, "eval_logits")->data, (size_t)B * 10, 1e-3, 1e-3));
    free(ev);
    mt_optim_free(&opt);
    mt_pool_free(pool);
    mt_net_work_free(wk);
    mt_net_free(&net);
}

static void test_cases_match_pytorch_golden(void **state)
{
    (void)state;
    const char *path = getenv("MT_CNN_GOLDEN") ? getenv("MT_CNN_GOLDEN") : "tests/golden/cnn_ref.safetensors";
    mt_st st = { 0 };
    mt_err err;
    if (mt_st_load(path, &st, &err) != MT_OK) {
        print_error("%s\n", err.msg);
        fail();
    }
    char cases[256];
    snprintf(cases, sizeof cases, "%s", mt_st_meta_get(&st, "cases"));
    mt_kern_variant v[8];
    int nv = mt_kern_variants(v, 8);
    for (char *save = NULL, *cs = strtok_r(cases, ",", &save); cs; cs = strtok_r(NULL, ",", &save))
        for (int i = 0; i < nv; i++) {
            if (!v[i].runnable)
                continue;
            print_message("golden case %s, %s kernels\n", cs, v[i].k->name);
            run_golden_case(&st, cs, v[i].k, 1 + i % 2);
        }
    mt_st_free(&st);
}

/* A saved model loads into the matching PyTorch module with
 * load_state_dict(strict=True) and gives our logits (tests/net_interop.py;
 * skipped where python3 or torch is missing). */
static void test_saved_models_load_strictly_into_pytorch(void **state)
{
    (void)state;
    if (access("/usr/bin/python3", X_OK) != 0) {
        print_message("skipped: no /usr/bin/python3\n");
        skip();
    }
    static const char *models[] = { "cnn", "fastcnn", "conv:4:3:same,bn,relu,maxpool,dropout:0.3,flatten,linear:10" };
    const mt_kern *k = auto_kern();
    enum { NB = 3 };
    for (int mi = 0; mi < 3; mi++) {
        mt_net n = { 0 };
        mt_err err;
        mt_rng r;
        mt_rng_seed(&r, 77 + mi);
        assert_int_equal(mt_net_build(&n, models[mi], NULL, 1, 28, 28, 10, &err), MT_OK);
        mt_net_init(&n, &r);
        float x[NB * 784], logits[NB * 10];
        uint8_t y[NB] = { 1, 2, 3 };
        fill(&r, x, NB * 784, -0.4f, 2.8f);
        mt_net_work *w = NULL;
        assert_int_equal(mt_net_work_create(&w, &n, NB, 1, &err), MT_OK);
        for (int s = 0; s < 2; s++) { /* training moves the bn statistics */
            mt_net_step(&n, w, NULL, x, y, NB, 1, (uint64_t)s, k);
            for (size_t i = 0; i < n.n_params; i++)
                n.params[i] -= 0.05f * n.grads[i];
        }
        mt_net_predict(&n, w, NULL, x, NB, logits, k);
        char mpath[] = "/tmp/test_net_model_XXXXXX", apath[] = "/tmp/test_net_aux_XXXXXX";
        int fd1 = mkstemp(mpath), fd2 = mkstemp(apath);
        assert_true(fd1 >= 0 && fd2 >= 0);
        close(fd1), close(fd2);
        mt_st_meta meta = { "model", models[mi] };
        assert_int_equal(mt_net_save(mpath, &n, &meta, 1, &err), MT_OK);
        mt_st_tensor aux[2] = { { .name = "x", .dtype = MT_ST_F32, .ndim = 4, .shape = { NB, 1, 28, 28 }, .data = x },
                                { .name = "logits", .dtype = MT_ST_F32, .ndim = 2, .shape = { NB, 10 }, .data = logits } };
        assert_int_equal(mt_st_write(apath, aux, 2, NULL, 0, &err), MT_OK);
        char cmd[512];
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/net_interop.py %s %s", mpath, apath);
        int rc = system(cmd);
        unlink(mpath), unlink(apath);
        mt_net_work_free(w);
        mt_net_free(&n);
        if (WIFEXITED(rc) && WEXITSTATUS(rc) == 77) {
            print_message("skipped: torch is not installed\n");
            skip();
        }
        assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_named_models_have_pytorch_shapes),
        cmocka_unit_test(test_bad_models_get_one_line_errors),
        cmocka_unit_test(test_step_gradient_matches_finite_differences),
        cmocka_unit_test(test_threads_give_identical_bits),
        cmocka_unit_test(test_batchnorm_running_stats_in_the_net),
        cmocka_unit_test(test_state_dict_round_trip),
        cmocka_unit_test(test_cases_match_pytorch_golden),
        cmocka_unit_test(test_saved_models_load_strictly_into_pytorch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
