/* mt_onnx: the ONNX export of an MLP.  The bytes are read back with
 * protobuf-c (structure, names, shapes, weights), checked by onnx.checker
 * (python3-onnx) and run in onnxruntime (npm onnxruntime-node), whose logits
 * must equal ours within 1e-5 on the MNIST test set ($MNIST_DATA; else 512
 * synthetic images).  The external checks skip with a message when their
 * tool is missing. */
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

/* Exports a 784-128-64-10 MLP, computes our logits with the scalar kernel on
 * the test images and has onnx.checker and onnxruntime judge the file. */
static void test_onnx_checker_and_onnxruntime_agree_with_us(void **state)
{
    (void)state;
    const int dims[] = { 784, 128, 64, 10 };
    mt_mlp m = { 0 };
    make_mlp(&m, dims, 3);
    int N = 512;
    uint8_t *img = NULL;
    mt_idx idx = { 0 };
    const char *data = getenv("MNIST_DATA");
    char path[512];
    if (data) {
        snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", data);
        if (mt_idx_load(&idx, path, 3, NULL) == MT_OK) {
            N = (int)idx.dims[0];
            img = idx.data;
        }
    }
    if (!img) {
        printf("note: $MNIST_DATA has no test images; using %d synthetic images\n", N);
        img = malloc((size_t)N * 784);
        assert_non_null(img);
        mt_rng rng;
        mt_rng_seed(&rng, 3);
        for (size_t i = 0; i < (size_t)N * 784; i++)
            img[i] = (uint8_t)(mt_rng_u64(&rng) >> 56);
    }
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
    if (idx.data)
        mt_idx_free(&idx);
    else
        free(img);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_onnx_graph_has_the_documented_structure),
        cmocka_unit_test(test_onnx_refuses_inconsistent_descriptions),
        cmocka_unit_test(test_onnx_checker_and_onnxruntime_agree_with_us),
        cmocka_unit_test(test_onnx_layer_list_model_agrees_with_onnxruntime),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
