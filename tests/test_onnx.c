/* mt_onnx: the ONNX export of an MLP and of layer-list models (mt_net).  The
 * bytes are read back with protobuf-c (structure, names, shapes, weights),
 * checked by onnx.checker (python3-onnx) and run in onnxruntime (npm
 * onnxruntime-node), whose logits must equal ours within 1e-5 (MLP) or 1e-4
 * (convolutions: longer sums in another order) on MNIST test images
 * ($MNIST_DATA; else synthetic ones).  The external checks skip with a
 * message when their tool is missing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "mt_data.h"
#include "mt_idx.h"
#include "mt_net.h"
#include "mt_onnx.h"
#include "mt_optim.h"
#include "onnx_subset.pb-c.h"
#include "test_util.h"

static void make_mlp(mt_mlp *m, const int *dims, int n_layers)
{
    mt_rng rng;
    mt_rng_seed(&rng, 7);
    assert_int_equal(mt_mlp_init(m, dims, n_layers, &rng, NULL), MT_OK);
}

static void test_onnx_graph_has_the_documented_structure(void **state)
{
    (void)state;
    const int dims[] = { 784, 16, 8, 10 };
    mt_mlp m = { 0 };
    make_mlp(&m, dims, 3);
    mt_onnx_layer layers[8];
    int n = 0;
    assert_int_equal(mt_onnx_describe_mlp(layers, 8, &n, &m, NULL), MT_OK);
    assert_int_equal(n, 5);
    mt_onnx_model md = { 1, 28, 28, 784, 0.1307, 0.3081, layers, n, "test", NULL };
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(mt_onnx_encode(&md, &buf, &len, NULL), MT_OK);
    Onnx__ModelProto *p = onnx__model_proto__unpack(NULL, len, buf);
    assert_non_null(p);
    assert_int_equal(p->ir_version, 7);
    assert_int_equal(p->n_opset_import, 1);
    assert_int_equal(p->opset_import[0]->version, 13);
    const Onnx__GraphProto *g = p->graph;
    const char *ops[] = { "Sub", "Div", "Flatten", "Gemm", "Relu", "Gemm", "Relu", "Gemm" };
    assert_int_equal(g->n_node, 8);
    for (int i = 0; i < 8; i++)
        assert_string_equal(g->node[i]->op_type, ops[i]);
    assert_string_equal(g->node[7]->output[0], "logits");
    assert_int_equal(g->node[3]->n_attribute, 1);
    assert_string_equal(g->node[3]->attribute[0]->name, "transB");
    assert_int_equal(g->node[3]->attribute[0]->i, 1);
    /* input [N,1,28,28], output [N,10] */
    const Onnx__TensorShapeProto *si = g->input[0]->type->tensor_type->shape;
    assert_string_equal(g->input[0]->name, "input");
    assert_int_equal(si->n_dim, 4);
    assert_string_equal(si->dim[0]->dim_param, "N");
    assert_int_equal(si->dim[3]->dim_value, 28);
    assert_int_equal(g->output[0]->type->tensor_type->shape->dim[1]->dim_value, 10);
    /* initializers: mean, std, then the state_dict tensors with their values */
    assert_int_equal(g->n_initializer, 8);
    assert_true(fabsf(g->initializer[0]->float_data[0] - 0.1307f) < 1e-7f);
    assert_string_equal(g->initializer[2]->name, "fc1.weight");
    assert_int_equal(g->initializer[2]->dims[0], 16);
    assert_int_equal(g->initializer[2]->dims[1], 784);
    assert_memory_equal(g->initializer[2]->float_data, m.w[0], 16 * 784 * sizeof(float));
    assert_string_equal(g->initializer[7]->name, "fc3.bias");
    assert_memory_equal(g->initializer[7]->float_data, m.b[2], 10 * sizeof(float));
    onnx__model_proto__free_unpacked(p, NULL);
    free(buf);
    mt_mlp_free(&m);
}

static void test_onnx_refuses_inconsistent_descriptions(void **state)
{
    (void)state;
    const int dims[] = { 784, 16, 10 };
    mt_mlp m = { 0 };
    make_mlp(&m, dims, 2);
    mt_onnx_layer layers[4];
    int n = 0;
    mt_err err = { 0 };
    assert_int_equal(mt_onnx_describe_mlp(layers, 2, &n, &m, &err), MT_EARG);
    assert_int_equal(mt_onnx_describe_mlp(layers, 4, &n, &m, &err), MT_OK);
    uint8_t *buf = NULL;
    size_t len = 0;
    mt_onnx_model md = { 1, 20, 20, 400, 0.1, 0.3, layers, n, NULL, NULL };
    assert_int_equal(mt_onnx_encode(&md, &buf, &len, &err), MT_EARG);
    assert_non_null(strstr(err.msg, "fc1"));
    md = (mt_onnx_model){ 1, 28, 28, 784, 0.1, 0.0, layers, n, NULL, NULL };
    assert_int_equal(mt_onnx_encode(&md, &buf, &len, &err), MT_EARG);
    /* an unwritable path is an output error and leaves nothing behind */
    assert_int_equal(mt_onnx_export_mlp("/nonexistent-dir/m.onnx", &m, 28, 28, 0.1, 0.3, NULL, &err), MT_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/m.onnx"));
    mt_mlp_free(&m);
}

static int run(const char *cmd)
{
    int rc = system(cmd);
    return rc == -1 ? -1 : WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void write_f32(const char *path, const float *v, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(v, sizeof *v, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

/* N test images (all when N = 0) and labels: MNIST's from $MNIST_DATA, else
 * N (or 512) synthetic ones with random labels.  Caller frees both. */
static int load_images(uint8_t **img, uint8_t **lab, int N)
{
    const char *data = getenv("MNIST_DATA");
    char path[512];
    mt_idx idx = { 0 }, lidx = { 0 };
    if (data) {
        snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", data);
        if (mt_idx_load(&idx, path, 3, NULL) == MT_OK) {
            snprintf(path, sizeof path, "%s/t10k-labels-idx1-ubyte.gz", data);
            assert_int_equal(mt_idx_load(&lidx, path, 1, NULL), MT_OK);
            if (N == 0 || N > (int)idx.dims[0])
                N = (int)idx.dims[0];
            *img = malloc((size_t)N * 784); /* the first N of them */
            *lab = malloc((size_t)N);
            assert_non_null(*img);
            assert_non_null(*lab);
            memcpy(*img, idx.data, (size_t)N * 784);
            memcpy(*lab, lidx.data, (size_t)N);
            mt_idx_free(&idx);
            mt_idx_free(&lidx);
            return N;
        }
    }
    N = N ? N : 512;
    printf("note: $MNIST_DATA has no test images; using %d synthetic images\n", N);
    *img = malloc((size_t)N * 784);
    *lab = malloc((size_t)N);
    assert_non_null(*img);
    assert_non_null(*lab);
    mt_rng rng;
    mt_rng_seed(&rng, 3);
    for (size_t i = 0; i < (size_t)N * 784; i++)
        (*img)[i] = (uint8_t)(mt_rng_u64(&rng) >> 56);
    for (int i = 0; i < N; i++)
        (*lab)[i] = (uint8_t)(mt_rng_u64(&rng) % 10);
    return N;
}

/* Exports a 784-128-64-10 MLP, computes our logits with the scalar kernel on
 * the test images and has onnx.checker and onnxruntime judge the file. */
static void test_onnx_checker_and_onnxruntime_agree_with_us(void **state)
{
    (void)state;
    const int dims[] = { 784, 128, 64, 10 };
    mt_mlp m = { 0 };
    make_mlp(&m, dims, 3);
    uint8_t *img = NULL, *lab = NULL;
    const int N = load_images(&img, &lab, 0);
    const mt_kern *k = NULL;
    assert_int_equal(mt_kern_select(&k, MT_ISA_SCALAR, NULL), MT_OK);
    mt_mlp_work w = { 0 };
    const int B = 500;
    assert_int_equal(mt_mlp_work_init(&w, &m, B, NULL), MT_OK);
    float *pix = malloc((size_t)N * 784 * sizeof *pix), *logits = malloc((size_t)N * 10 * sizeof *logits);
    assert_non_null(pix);
    assert_non_null(logits);
    float scale, shift;
    mt_norm_affine(&scale, &shift, 0.1307, 0.3081);
    for (int s = 0; s < N; s += B) {
        int nb = N - s < B ? N - s : B;
        k->u8_to_f32(w.act[0], img + (size_t)s * 784, (size_t)nb * 784, scale, shift);
        mt_mlp_forward(&m, &w, nb, k);
        memcpy(logits + (size_t)s * 10, w.act[3], (size_t)nb * 10 * sizeof *logits);
    }
    for (size_t i = 0; i < (size_t)N * 784; i++)
        pix[i] = img[i] / 255.f;
    const char *dir = tu_mkdtemp();
    mt_err err = { 0 };
    if (mt_onnx_export_mlp(tu_in(dir, "m.onnx"), &m, 28, 28, 0.1307, 0.3081, "test", &err))
        fail_msg("%s", err.msg);
    write_f32(tu_in(dir, "pix.f32"), pix, (size_t)N * 784);
    write_f32(tu_in(dir, "logits.f32"), logits, (size_t)N * 10);

    char cmd[2048];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/onnx_check.py %s 1 28 28 10", tu_in(dir, "m.onnx"));
    int rc_py = run(cmd);
    snprintf(cmd, sizeof cmd, "command -v node >/dev/null || { echo 'skip - node is not installed (Debian: nodejs)'; exit 77; }; "
             "node tests/js/onnx_run.js %s %s %s %d 1 28 28 10 1e-5", tu_in(dir, "m.onnx"),
             tu_in(dir, "pix.f32"), tu_in(dir, "logits.f32"), N);
    int rc_js = run(cmd);
    fflush(stdout);
    tu_rmrf(dir);
    free(pix);
    free(logits);
    mt_mlp_work_free(&w);
    mt_mlp_free(&m);
    free(img);
    free(lab);
    assert_true(rc_py == 0 || rc_py == 77);
    assert_true(rc_js == 0 || rc_js == 77);
    if (rc_py == 77 || rc_js == 77)
        skip();
}

/* A layer-list model with every layer kind (conv with and without padding,
 * batch norm on images and features, max-pool, dropout, flatten, linear):
 * onnx.checker and onnxruntime on 1000 images against mt_net_predict. */
static void test_onnx_layer_list_model_agrees_with_onnxruntime(void **state)
{
    (void)state;
    const char *spec = "conv:4:3:same,bn,relu,maxpool,conv:6:3,relu,dropout:0.25,flatten,linear:16,bn,relu,linear:10";
    mt_net net;
    memset(&net, 0, sizeof net);
    mt_net_opts o;
    memset(&o, 0, sizeof o);
    mt_err err = { 0 };
    if (mt_net_build(&net, spec, &o, 1, 28, 28, 10, &err))
        fail_msg("%s", err.msg);
    mt_rng rng;
    mt_rng_seed(&rng, 11);
    mt_net_init(&net, &rng);
    for (size_t i = 0; i < net.n_buffers; i++) /* running statistics away from 0 / 1 */
        net.buffers[i] = (float)(0.05 + 0.3 * (double)(mt_rng_u64(&rng) >> 11) / 9007199254740992.0);
    const int N = 1000;
    uint8_t *img = malloc((size_t)N * 784);
    float *x = malloc((size_t)N * 784 * sizeof *x), *pix = malloc((size_t)N * 784 * sizeof *pix),
          *logits = malloc((size_t)N * 10 * sizeof *logits);
    assert_non_null(img);
    assert_non_null(x);
    assert_non_null(pix);
    assert_non_null(logits);
    for (size_t i = 0; i < (size_t)N * 784; i++)
        img[i] = (uint8_t)(mt_rng_u64(&rng) >> 56);
    const mt_kern *k = NULL;
    assert_int_equal(mt_kern_select(&k, MT_ISA_SCALAR, NULL), MT_OK);
    float scale, shift;
    mt_norm_affine(&scale, &shift, 0.1307, 0.3081);
    k->u8_to_f32(x, img, (size_t)N * 784, scale, shift);
    mt_net_work *w = NULL;
    assert_int_equal(mt_net_work_create(&w, &net, 100, 1, NULL), MT_OK);
    for (int s0 = 0; s0 < N; s0 += 100)
        mt_net_predict(&net, w, NULL, x + (size_t)s0 * 784, 100, logits + (size_t)s0 * 10, k);
    for (size_t i = 0; i < (size_t)N * 784; i++)
        pix[i] = img[i] / 255.f;
    const char *dir = tu_mkdtemp();
    if (mt_onnx_export_net(tu_in(dir, "n.onnx"), &net, 0.1307, 0.3081, "test", &err))
        fail_msg("%s", err.msg);
    write_f32(tu_in(dir, "pix.f32"), pix, (size_t)N * 784);
    write_f32(tu_in(dir, "logits.f32"), logits, (size_t)N * 10);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/onnx_check.py %s 1 28 28 10", tu_in(dir, "n.onnx"));
    int rc_py = run(cmd);
    snprintf(cmd, sizeof cmd, "command -v node >/dev/null || { echo 'skip - node is not installed (Debian: nodejs)'; exit 77; }; "
             "node tests/js/onnx_run.js %s %s %s %d 1 28 28 10 1e-5", tu_in(dir, "n.onnx"),
             tu_in(dir, "pix.f32"), tu_in(dir, "logits.f32"), N);
    int rc_js = run(cmd);
    fflush(stdout);
    tu_rmrf(dir);
    mt_net_work_free(w);
    mt_net_free(&net);
    free(img);
    free(x);
    free(pix);
    free(logits);
    assert_true(rc_py == 0 || rc_py == 77);
    assert_true(rc_js == 0 || rc_js == 77);
    if (rc_py == 77 || rc_js == 77)
        skip();
}

/* The description of a layer-list model: one node per layer (dropout
 * left out), PyTorch's tensor names and shapes, Conv's pads, MaxPool's
 * window, BatchNormalization's running statistics and eps. */
static void test_onnx_net_graph_follows_the_layer_list(void **state)
{
    (void)state;
    mt_net net = { 0 };
    mt_err err = { 0 };
    if (mt_net_build(&net, "conv:4:3:same,bn,relu,maxpool,dropout:0.2,flatten,linear:6,bn,relu,linear:10", NULL, 1,
                     28, 28, 10, &err))
        fail_msg("%s", err.msg);
    mt_rng rng;
    mt_rng_seed(&rng, 5);
    mt_net_init(&net, &rng);
    for (size_t i = 0; i < net.n_buffers; i++) /* running statistics other than 0 and 1 */
        net.buffers[i] = 0.5f + 0.01f * (float)i;
    mt_onnx_layer layers[MT_NET_MAX_LAYERS];
    int n = 0;
    assert_int_equal(mt_onnx_describe_net(layers, 3, &n, &net, &err), MT_EARG);
    assert_int_equal(mt_onnx_describe_net(layers, MT_NET_MAX_LAYERS, &n, &net, &err), MT_OK);
    assert_int_equal(n, 9);
    mt_onnx_model md = { 1, 28, 28, 784, 0.1307, 0.3081, layers, n, "test", NULL };
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(mt_onnx_encode(&md, &buf, &len, &err), MT_OK);
    Onnx__ModelProto *p = onnx__model_proto__unpack(NULL, len, buf);
    assert_non_null(p);
    const Onnx__GraphProto *g = p->graph;
    const char *ops[] = { "Sub", "Div", "Conv", "BatchNormalization", "Relu", "MaxPool", "Flatten", "Gemm",
                          "BatchNormalization", "Relu", "Gemm" };
    assert_int_equal(g->n_node, 11);
    for (int i = 0; i < 11; i++)
        assert_string_equal(g->node[i]->op_type, ops[i]);
    assert_string_equal(g->node[10]->output[0], "logits");
    const Onnx__NodeProto *conv = g->node[2], *bn = g->node[3], *pool = g->node[5];
    assert_string_equal(conv->input[1], "0.weight");
    assert_int_equal(conv->n_attribute, 2);
    assert_string_equal(conv->attribute[1]->name, "pads");
    assert_int_equal(conv->attribute[1]->n_ints, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(conv->attribute[1]->ints[i], 1);
    assert_int_equal(bn->n_input, 5);
    assert_string_equal(bn->input[3], "1.running_mean");
    assert_string_equal(bn->attribute[0]->name, "epsilon");
    assert_true(bn->attribute[0]->f == MT_NET_BN_EPS);
    assert_string_equal(pool->attribute[1]->name, "strides");
    assert_int_equal(pool->attribute[1]->ints[0], 2);
    /* initializers: mean, std, conv (2), bn (4), linear (2), bn (4), linear (2) */
    assert_int_equal(g->n_initializer, 16);
    const Onnx__TensorProto *w0 = g->initializer[2], *rv = g->initializer[7];
    assert_string_equal(w0->name, "0.weight");
    assert_int_equal(w0->n_dims, 4);
    assert_int_equal(w0->dims[0], 4);
    assert_int_equal(w0->dims[1], 1);
    assert_int_equal(w0->dims[3], 3);
    assert_memory_equal(w0->float_data, net.params + net.layers[0].w_off, 36 * sizeof(float));
    assert_string_equal(rv->name, "1.running_var");
    assert_memory_equal(rv->float_data, net.buffers + net.layers[1].buf_off + 4, 4 * sizeof(float));
    assert_string_equal(g->initializer[8]->name, "6.weight");
    assert_int_equal(g->initializer[8]->dims[1], 4 * 14 * 14);
    onnx__model_proto__free_unpacked(p, NULL);
    free(buf);

    /* a model ending in an image, a conv on features, a linear of the wrong width */
    mt_onnx_layer bad[2] = { layers[0], layers[1] };
    md.layers = bad;
    md.n_layers = 2;
    assert_int_equal(mt_onnx_encode(&md, &buf, &len, &err), MT_EARG);
    assert_non_null(strstr(err.msg, "image"));
    bad[0] = layers[4];
    bad[1] = layers[5]; /* fc "6" takes 4*14*14 = 784 features; a 20x20 input gives 400 */
    md = (mt_onnx_model){ 1, 20, 20, 400, 0.1307, 0.3081, bad, 2, "test", NULL };
    assert_int_equal(mt_onnx_encode(&md, &buf, &len, &err), MT_EARG);
    assert_non_null(strstr(err.msg, "(6)"));
    mt_net_free(&net);
}

/* Trains model one epoch on the first 256 images (batches of 32, Adam), so
 * weights and batch-norm statistics are a trained model's, then compares
 * onnxruntime's logits on the next 256 images with mt_net_predict's (scalar
 * kernel) within 1e-4. */
static int net_agrees(const char *model)
{
    enum { NT = 256, NE = 256, B = 32 };
    uint8_t *img = NULL, *lab = NULL;
    const int N = load_images(&img, &lab, NT + NE);
    assert_true(N == NT + NE);
    mt_net net = { 0 };
    mt_err err = { 0 };
    if (mt_net_build(&net, model, NULL, 1, 28, 28, 10, &err))
        fail_msg("%s", err.msg);
    mt_rng rng;
    mt_rng_seed(&rng, 11);
    mt_net_init(&net, &rng);
    const mt_kern *kfast = NULL, *kref = NULL;
    assert_int_equal(mt_kern_select(&kfast, MT_ISA_AUTO, NULL), MT_OK);
    assert_int_equal(mt_kern_select(&kref, MT_ISA_SCALAR, NULL), MT_OK);
    mt_net_work *wk = NULL;
    assert_int_equal(mt_net_work_create(&wk, &net, B, 1, &err), MT_OK);
    mt_optim opt = { 0 };
    assert_int_equal(mt_optim_init(&opt, MT_OPT_ADAM, net.n_params, &err), MT_OK);
    mt_optim_defaults(&opt);
    opt.lr = 1e-3f;
    float *x = malloc((size_t)N * 784 * sizeof *x), *pix = malloc((size_t)NE * 784 * sizeof *pix);
    float *logits = malloc((size_t)NE * 10 * sizeof *logits);
    assert_non_null(x);
    assert_non_null(pix);
    assert_non_null(logits);
    float scale, shift;
    mt_norm_affine(&scale, &shift, 0.1307, 0.3081);
    kref->u8_to_f32(x, img, (size_t)N * 784, scale, shift); /* one channel: NHWC is NCHW */
    for (int s = 0; s < NT; s += B) {
        mt_net_step(&net, wk, NULL, x + (size_t)s * 784, lab + s, B, 1, (uint64_t)(s / B), kfast);
        mt_optim_step(&opt, net.params, net.grads, kfast);
    }
    mt_net_predict(&net, wk, NULL, x + (size_t)NT * 784, NE, logits, kref);
    for (size_t i = 0; i < (size_t)NE * 784; i++)
        pix[i] = img[(size_t)NT * 784 + i] / 255.f;
    const char *dir = tu_mkdtemp();
    if (mt_onnx_export_net(tu_in(dir, "m.onnx"), &net, 0.1307, 0.3081, "test", &err))
        fail_msg("%s", err.msg);
    write_f32(tu_in(dir, "pix.f32"), pix, (size_t)NE * 784);
    write_f32(tu_in(dir, "logits.f32"), logits, (size_t)NE * 10);
    char cmd[2048];
    printf("%s: ", model);
    fflush(stdout);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/onnx_check.py %s 1 28 28 10", tu_in(dir, "m.onnx"));
    int rc_py = run(cmd);
    printf("%s: ", model);
    fflush(stdout);
    snprintf(cmd, sizeof cmd, "command -v node >/dev/null || { echo 'skip - node is not installed (Debian: nodejs)'; exit 77; }; "
             "node tests/js/onnx_run.js %s %s %s %d 1 28 28 10 1e-4", tu_in(dir, "m.onnx"),
             tu_in(dir, "pix.f32"), tu_in(dir, "logits.f32"), NE);
    int rc_js = run(cmd);
    fflush(stdout);
    tu_rmrf(dir);
    free(x);
    free(pix);
    free(logits);
    free(img);
    free(lab);
    mt_optim_free(&opt);
    mt_net_work_free(wk);
    mt_net_free(&net);
    assert_true(rc_py == 0 || rc_py == 77);
    assert_true(rc_js == 0 || rc_js == 77);
    return rc_py == 77 || rc_js == 77;
}

static void test_onnx_cnn_agrees_with_onnxruntime(void **state)
{
    (void)state;
    if (net_agrees("cnn"))
        skip();
}

static void test_onnx_fastcnn_agrees_with_onnxruntime(void **state)
{
    (void)state;
    if (net_agrees("fastcnn"))
        skip();
}

/* batch norm on images and on features, 'same' padding of 3x3 and 5x5,
 * dropout, and a max-pool of an odd side (7 -> 3, floor as in PyTorch) */
static void test_onnx_spec_with_batchnorm_and_padding_agrees_with_onnxruntime(void **state)
{
    (void)state;
    if (net_agrees("conv:8:3:same,bn,relu,maxpool,conv:16:5:same,relu,maxpool,maxpool,dropout:0.25,flatten,"
                   "linear:32,bn,relu,dropout:0.3,linear:10"))
        skip();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_onnx_graph_has_the_documented_structure),
        cmocka_unit_test(test_onnx_refuses_inconsistent_descriptions),
        cmocka_unit_test(test_onnx_checker_and_onnxruntime_agree_with_us),
        cmocka_unit_test(test_onnx_layer_list_model_agrees_with_onnxruntime),
        cmocka_unit_test(test_onnx_net_graph_follows_the_layer_list),
        cmocka_unit_test(test_onnx_cnn_agrees_with_onnxruntime),
        cmocka_unit_test(test_onnx_fastcnn_agrees_with_onnxruntime),
        cmocka_unit_test(test_onnx_spec_with_batchnorm_and_padding_agrees_with_onnxruntime),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
