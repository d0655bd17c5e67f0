/* mt_onnx: builds the ONNX ModelProto of a list of layers with protobuf-c and
 * writes it.  Reference: ONNX IR spec (docs/IR.md) and operator docs
 * (docs/Operators.md: Sub-13, Div-13, Flatten-13, Gemm-13, Relu-13, Conv-11,
 * MaxPool-12, BatchNormalization-9).
 * It does not read ONNX files. */
#include "mt_onnx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_file.h"
#include "mt_net.h"
#include "onnx_subset.pb-c.h"

#define OPSET      13
#define IR_VERSION 7  /* the IR version that introduced opset 13 */
#define NAME_LEN   48

/* Every message of one export, allocated together and freed together. */
typedef struct build {
    Onnx__ModelProto model;
    Onnx__GraphProto graph;
    Onnx__OperatorSetIdProto opset, *opset_p;
    Onnx__NodeProto *nodes, **node_p;          /* (n_nodes) */
    Onnx__AttributeProto *attrs, **attr_p;     /* (n_nodes * 2): up to two per node */
    int64_t *ints;                             /* (n_nodes * 2 * 4): their int lists */
    Onnx__TensorProto *inits, **init_p;        /* (n_inits) */
    int64_t *dims;                             /* (n_inits, 4) */
    char (*names)[NAME_LEN];                   /* (n_nodes * 8 + n_inits): per node its name,
                                                  <= 5 inputs and its output; initializer names */
    char **ins;                                /* (n_nodes * 5) node input pointers */
    char **outs;                               /* (n_nodes) */
    Onnx__ValueInfoProto vi[2], *vi_in, *vi_out;
    Onnx__TypeProto type[2];
    Onnx__TypeProto__Tensor tt[2];
    Onnx__TensorShapeProto shape[2];
    Onnx__TensorShapeProto__Dimension dim[6], *dim_p[6];
    float consts[2];                           /* mean, std */
    int nn, ni, nname, na;                     /* used: nodes, initializers, names, attributes */
    char prev[NAME_LEN];                       /* the value the next node reads */
} build;

static void value_info(build *b, int k, Onnx__ValueInfoProto **slot, const char *name, const int64_t *d,
                       int nd, Onnx__TensorShapeProto__Dimension **dp, Onnx__TensorShapeProto__Dimension *dd)
{
    Onnx__ValueInfoProto *v = &b->vi[k];
    onnx__value_info_proto__init(v);
    onnx__type_proto__init(&b->type[k]);
    onnx__type_proto__tensor__init(&b->tt[k]);
    onnx__tensor_shape_proto__init(&b->shape[k]);
    v->name = (char *)name;
    v->type = &b->type[k];
    b->type[k].value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    b->type[k].tensor_type = &b->tt[k];
    b->tt[k].elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    b->tt[k].shape = &b->shape[k];
    for (int i = 0; i < nd; i++) {
        onnx__tensor_shape_proto__dimension__init(&dd[i]);
        if (i == 0) { /* the batch: symbolic */
            dd[i].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            dd[i].dim_param = (char *)"N";
        } else {
            dd[i].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dd[i].dim_value = d[i];
        }
        dp[i] = &dd[i];
    }
    b->shape[k].n_dim = (size_t)nd;
    b->shape[k].dim = dp;
    *slot = v;
}

/* The shape flowing through the layers: (c, h, w) image or f features. */
typedef struct flow {
    int image, c, h, w, f;
} flow;

/* Checks the description and returns the output features in *K. */
static mt_status check(const mt_onnx_model *md, int *K, mt_err *err)
{
    if (!md || !md->layers || md->n_layers < 1)
        return mt_errf(err, MT_EARG, "onnx: no layers");
    if (md->features < 1 || (md->rows > 0 && md->channels * md->rows * md->cols != md->features))
        return mt_errf(err, MT_EARG, "onnx: input of %d features does not match %dx%dx%d", md->features,
                       md->channels, md->rows, md->cols);
    if (!(md->std > 0))
        return mt_errf(err, MT_EARG, "onnx: normalization std must be > 0");
    flow s = { md->rows > 0, md->channels, md->rows, md->cols, md->features };
    for (int l = 0; l < md->n_layers; l++) {
        const mt_onnx_layer *L = &md->layers[l];
        const char *nm = L->name ? L->name : "?";
        int named = L->name && strlen(L->name) <= NAME_LEN - 20;
        switch (L->kind) {
        case MT_ONNX_DENSE:
            if (s.image && l == 0) /* the graph flattens the image first */
                s.image = 0;
            if (s.image || L->in != s.f || L->out < 1 || !L->w || !L->b || !named)
                return mt_errf(err, MT_EARG, "onnx: layer %d (%s): takes %d inputs, %d arrive", l, nm, L->in,
                               s.image ? 0 : s.f);
            s.f = L->out;
            break;
        case MT_ONNX_CONV:
            if (!s.image || L->in != s.c || L->out < 1 || L->k < 1 || L->pad < 0 || !L->w || !L->b || !named ||
                s.h + 2 * L->pad - L->k + 1 < 1 || s.w + 2 * L->pad - L->k + 1 < 1)
                return mt_errf(err, MT_EARG, "onnx: layer %d (%s): a %dx%d convolution of %d channels does not fit "
                               "the %dx%dx%d input", l, nm, L->k, L->k, L->in, s.c, s.h, s.w);
            s.c = L->out;
            s.h += 2 * L->pad - L->k + 1;
            s.w += 2 * L->pad - L->k + 1;
            break;
        case MT_ONNX_MAXPOOL:
            if (!s.image || s.h < 2 || s.w < 2)
                return mt_errf(err, MT_EARG, "onnx: layer %d: max-pool needs an image of at least 2x2", l);
            s.h /= 2;
            s.w /= 2;
            break;
        case MT_ONNX_FLATTEN:
            if (s.image)
                s.f = s.c * s.h * s.w;
            s.image = 0;
            break;
        case MT_ONNX_BN:
            if (L->in != (s.image ? s.c : s.f) || !L->w || !L->b || !L->mean || !L->var || !named)
                return mt_errf(err, MT_EARG, "onnx: layer %d (%s): batch norm of %d channels, %d arrive", l, nm,
                               L->in, s.image ? s.c : s.f);
            break;
        case MT_ONNX_RELU:
            break;
        default:
            return mt_errf(err, MT_EARG, "onnx: layer %d: unknown kind %d", l, (int)L->kind);
        }
    }
    if (s.image)
        return mt_errf(err, MT_EARG, "onnx: the last layer gives an image, not class scores");
    *K = s.f;
    return MT_OK;
}

static char *name_of(build *b, const char *fmt1, const char *a1, const char *a2)
{
    char *p = b->names[b->nname++];
    snprintf(p, NAME_LEN, fmt1, a1, a2 ? a2 : "");
    return p;
}

/* A node reading b->prev (and more inputs), writing out (NULL: a fresh name
 * from the node's); its output becomes b->prev. */
static Onnx__NodeProto *node(build *b, const char *op, const char *nm, const char *out)
{
    Onnx__NodeProto *nd = &b->nodes[b->nn];
    onnx__node_proto__init(nd);
    nd->op_type = (char *)op;
    nd->name = name_of(b, "%s%s", nm, NULL);
    nd->input = &b->ins[b->nn * 5];
    nd->output = &b->outs[b->nn];
    nd->n_output = 1;
    nd->input[nd->n_input++] = name_of(b, "%s%s", b->prev, NULL);
    nd->output[0] = name_of(b, "%s%s", out ? out : nm, NULL);
    snprintf(b->prev, sizeof b->prev, "%s", nd->output[0]);
    b->node_p[b->nn++] = nd;
    return nd;
}

static void input(build *b, Onnx__NodeProto *nd, const char *prefix, const char *suffix)
{
    nd->input[nd->n_input++] = name_of(b, suffix ? "%s.%s" : "%s%s", prefix, suffix);
}

/* An initializer: name (prefix.suffix), float data, dims (nd of them). */
static void init(build *b, const char *prefix, const char *suffix, const float *data, const int64_t *d, int nd)
{
    Onnx__TensorProto *t = &b->inits[b->ni];
    onnx__tensor_proto__init(t);
    t->name = name_of(b, suffix ? "%s.%s" : "%s%s", prefix, suffix);
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    t->dims = &b->dims[b->ni * 4];
    size_t n = 1;
    for (int i = 0; i < nd; i++) {
        t->dims[i] = d[i];
        n *= (size_t)d[i];
    }
    t->n_dims = (size_t)nd;
    t->n_float_data = n;
    t->float_data = (float *)data;
    b->init_p[b->ni++] = t;
}

/* An attribute on nd: an int (n = 0) or a list of n ints (INTS), or a float. */
static void attr_ints(build *b, Onnx__NodeProto *nd, const char *name, const int64_t *v, int n)
{
    Onnx__AttributeProto *a = &b->attrs[b->na];
    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    if (n == 0) {
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
        a->i = v[0];
    } else {
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
        a->ints = &b->ints[b->na * 4];
        memcpy(a->ints, v, (size_t)n * sizeof *v);
        a->n_ints = (size_t)n;
    }
    if (!nd->attribute)
        nd->attribute = &b->attr_p[b->na];
    b->attr_p[b->na++] = a;
    nd->n_attribute++;
}

static void attr_float(build *b, Onnx__NodeProto *nd, const char *name, float v)
{
    Onnx__AttributeProto *a = &b->attrs[b->na];
    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    a->f = v;
    if (!nd->attribute)
        nd->attribute = &b->attr_p[b->na];
    b->attr_p[b->na++] = a;
    nd->n_attribute++;
}

mt_status mt_onnx_encode(const mt_onnx_model *md, uint8_t **out, size_t *out_len, mt_err *err)
{
    int K = 0;
    mt_status st = check(md, &K, err);
    if (st)
        return st;
    const int image = md->rows > 0;
    const int n_nodes = 3 + md->n_layers;
    int n_inits = 2;
    for (int l = 0; l < md->n_layers; l++) {
        mt_onnx_kind kd = md->layers[l].kind;
        n_inits += kd == MT_ONNX_DENSE || kd == MT_ONNX_CONV ? 2 : kd == MT_ONNX_BN ? 4 : 0;
    }
    build *b = calloc(1, sizeof *b);
    if (!b)
        return mt_errf(err, MT_ENOMEM, "onnx: out of memory");
    b->nodes = calloc((size_t)n_nodes, sizeof *b->nodes);
    b->node_p = calloc((size_t)n_nodes, sizeof *b->node_p);
    b->attrs = calloc((size_t)n_nodes * 2, sizeof *b->attrs);
    b->attr_p = calloc((size_t)n_nodes * 2, sizeof *b->attr_p);
    b->ints = calloc((size_t)n_nodes * 2 * 4, sizeof *b->ints);
    b->inits = calloc((size_t)n_inits, sizeof *b->inits);
    b->init_p = calloc((size_t)n_inits, sizeof *b->init_p);
    b->dims = calloc((size_t)n_inits * 4, sizeof *b->dims);
    b->names = calloc((size_t)n_nodes * 8 + (size_t)n_inits, sizeof *b->names);
    b->ins = calloc((size_t)n_nodes * 5, sizeof *b->ins);
    b->outs = calloc((size_t)n_nodes, sizeof *b->outs);
    uint8_t *buf = NULL;
    if (!b->nodes || !b->node_p || !b->attrs || !b->attr_p || !b->ints || !b->inits || !b->init_p || !b->dims ||
        !b->names || !b->ins || !b->outs) {
        st = mt_errf(err, MT_ENOMEM, "onnx: out of memory");
        goto done;
    }
    snprintf(b->prev, sizeof b->prev, "input");

    /* normalization: scalars mean and std */
    b->consts[0] = (float)md->mean;
    b->consts[1] = (float)md->std;
    init(b, "norm.mean", NULL, &b->consts[0], NULL, 0);
    init(b, "norm.std", NULL, &b->consts[1], NULL, 0);
    Onnx__NodeProto *nd = node(b, "Sub", "normalize_sub", "centered");
    input(b, nd, "norm.mean", NULL);
    nd = node(b, "Div", "normalize_div", "normalized");
    input(b, nd, "norm.std", NULL);
    const int64_t one = 1;
    if (image && md->layers[0].kind == MT_ONNX_DENSE) {
        nd = node(b, "Flatten", "flatten", "flat");
        attr_ints(b, nd, "axis", &one, 0);
    }
    int n_relu = 0, n_pool = 0, n_flat = 0;
    for (int l = 0; l < md->n_layers; l++) {
        const mt_onnx_layer *L = &md->layers[l];
        const char *last = l == md->n_layers - 1 ? "logits" : NULL;
        char nm[NAME_LEN];
        switch (L->kind) {
        case MT_ONNX_DENSE: {
            const int64_t dw[2] = { L->out, L->in }, db[1] = { L->out };
            init(b, L->name, "weight", L->w, dw, 2);
            init(b, L->name, "bias", L->b, db, 1);
            nd = node(b, "Gemm", L->name, last);
            input(b, nd, L->name, "weight");
            input(b, nd, L->name, "bias");
            attr_ints(b, nd, "transB", &one, 0);
            break;
        }
        case MT_ONNX_CONV: {
            const int64_t dw[4] = { L->out, L->in, L->k, L->k }, db[1] = { L->out };
            const int64_t ks[2] = { L->k, L->k }, pads[4] = { L->pad, L->pad, L->pad, L->pad };
            init(b, L->name, "weight", L->w, dw, 4);
            init(b, L->name, "bias", L->b, db, 1);
            nd = node(b, "Conv", L->name, last);
            input(b, nd, L->name, "weight");
            input(b, nd, L->name, "bias");
            attr_ints(b, nd, "kernel_shape", ks, 2);
            attr_ints(b, nd, "pads", pads, 4);
            break;
        }
        case MT_ONNX_BN: {
            const int64_t dc[1] = { L->in };
            init(b, L->name, "weight", L->w, dc, 1);
            init(b, L->name, "bias", L->b, dc, 1);
            init(b, L->name, "running_mean", L->mean, dc, 1);
            init(b, L->name, "running_var", L->var, dc, 1);
            nd = node(b, "BatchNormalization", L->name, last);
            input(b, nd, L->name, "weight");
            input(b, nd, L->name, "bias");
            input(b, nd, L->name, "running_mean");
            input(b, nd, L->name, "running_var");
            attr_float(b, nd, "epsilon", L->eps);
            break;
        }
        case MT_ONNX_MAXPOOL: {
            const int64_t two[2] = { 2, 2 };
            snprintf(nm, sizeof nm, "maxpool%d", ++n_pool);
            nd = node(b, "MaxPool", nm, last);
            attr_ints(b, nd, "kernel_shape", two, 2);
            attr_ints(b, nd, "strides", two, 2);
            break;
        }
        case MT_ONNX_FLATTEN:
            snprintf(nm, sizeof nm, "flatten%d", ++n_flat);
            nd = node(b, "Flatten", nm, last);
            attr_ints(b, nd, "axis", &one, 0);
            break;
        case MT_ONNX_RELU:
        default:
            snprintf(nm, sizeof nm, "relu%d", ++n_relu);
            node(b, "Relu", nm, last);
            break;
        }
    }

    int64_t din[4] = { 0, md->channels, md->rows, md->cols }, dflat[2] = { 0, md->features }, dout[2] = { 0, K };
    value_info(b, 0, &b->vi_in, "input", image ? din : dflat, image ? 4 : 2, &b->dim_p[0], &b->dim[0]);
    value_info(b, 1, &b->vi_out, "logits", dout, 2, &b->dim_p[4], &b->dim[4]);

    onnx__graph_proto__init(&b->graph);
    b->graph.name = (char *)"mnist_train";
    b->graph.n_node = (size_t)b->nn;
    b->graph.node = b->node_p;
    b->graph.n_initializer = (size_t)b->ni;
    b->graph.initializer = b->init_p;
    b->graph.n_input = 1;
    b->graph.input = &b->vi_in;
    b->graph.n_output = 1;
    b->graph.output = &b->vi_out;

    onnx__operator_set_id_proto__init(&b->opset);
    b->opset.domain = (char *)"";
    b->opset.version = OPSET;
    b->opset_p = &b->opset;
    onnx__model_proto__init(&b->model);
    b->model.ir_version = IR_VERSION;
    b->model.producer_name = (char *)"mnist-train";
    b->model.producer_version = (char *)(md->producer_version ? md->producer_version : "");
    b->model.model_version = 1;
    b->model.doc_string = (char *)(md->doc ? md->doc
                                           : "input: float pixels in [0,1] (byte/255), shape [N,C,H,W] "
                                             "(or [N,F]); normalization is inside the graph. "
                                             "output: logits [N,K], apply softmax for probabilities.");
    b->model.graph = &b->graph;
    b->model.n_opset_import = 1;
    b->model.opset_import = &b->opset_p;

    size_t len = onnx__model_proto__get_packed_size(&b->model);
    if (!(buf = malloc(len ? len : 1))) {
        st = mt_errf(err, MT_ENOMEM, "onnx: out of memory for %zu bytes", len);
        goto done;
    }
    if (onnx__model_proto__pack(&b->model, buf) != len) {
        free(buf);
        st = mt_errf(err, MT_EARG, "onnx: protobuf-c packed an unexpected size");
        goto done;
    }
    *out = buf;
    *out_len = len;
done:
    free(b->nodes);
    free(b->node_p);
    free(b->attrs);
    free(b->attr_p);
    free(b->ints);
    free(b->inits);
    free(b->init_p);
    free(b->dims);
    free(b->names);
    free(b->ins);
    free(b->outs);
    free(b);
    return st;
}

mt_status mt_onnx_write(const char *path, const mt_onnx_model *md, mt_err *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    mt_status st = mt_onnx_encode(md, &buf, &len, err);
    if (st)
        return st;
    st = mt_file_write_atomic(path, buf, len, err);
    free(buf);
    return st;
}

mt_status mt_onnx_describe_mlp(mt_onnx_layer *layers, int cap, int *n, const mt_mlp *m, mt_err *err)
{
    static const char *const names[MT_MAX_LAYERS] = { "fc1", "fc2", "fc3", "fc4", "fc5", "fc6", "fc7", "fc8" };
    if (!m || m->n_layers < 1 || m->n_layers > MT_MAX_LAYERS || cap < 2 * m->n_layers - 1)
        return mt_errf(err, MT_EARG, "onnx: room for %d layer descriptions, the MLP needs %d", cap,
                       m ? 2 * m->n_layers - 1 : 0);
    int k = 0;
    for (int l = 0; l < m->n_layers; l++) {
        layers[k++] = (mt_onnx_layer){ MT_ONNX_DENSE, names[l], m->dims[l], m->dims[l + 1], m->w[l], m->b[l], 0, 0,
                                       NULL, NULL, 0.f };
        if (l < m->n_layers - 1)
            layers[k++] = (mt_onnx_layer){ MT_ONNX_RELU, NULL, 0, 0, NULL, NULL, 0, 0, NULL, NULL, 0.f };
    }
    *n = k;
    return MT_OK;
}

mt_status mt_onnx_export_mlp(const char *path, const mt_mlp *m, int rows, int cols, double mean,
                             double std, const char *producer_version, mt_err *err)
{
    mt_onnx_layer layers[2 * MT_MAX_LAYERS];
    int n = 0;
    mt_status st = mt_onnx_describe_mlp(layers, 2 * MT_MAX_LAYERS, &n, m, err);
    if (st)
        return st;
    mt_onnx_model md = { 1, rows > 0 ? rows : 0, rows > 0 ? cols : 0, m->dims[0], mean, std, layers, n,
                         producer_version, NULL };
    return mt_onnx_write(path, &md, err);
}

mt_status mt_onnx_describe_net(mt_onnx_layer *layers, int cap, int *n, const mt_net *net, mt_err *err)
{
    if (!net || net->n_layers < 1 || cap < net->n_layers)
        return mt_errf(err, MT_EARG, "onnx: room for %d layer descriptions, the model needs %d", cap,
                       net ? net->n_layers : 0);
    int k = 0;
    for (int l = 0; l < net->n_layers; l++) {
        const mt_layer *L = &net->layers[l];
        mt_onnx_layer d = { MT_ONNX_RELU, L->name, 0, 0, NULL, NULL, 0, 0, NULL, NULL, 0.f };
        switch (L->kind) {
        case MT_LAYER_CONV:
            d.kind = MT_ONNX_CONV;
            d.in = L->c;
            d.out = L->oc;
            d.k = L->k;
            d.pad = L->pad;
            d.w = net->params + L->w_off;
            d.b = net->params + L->b_off;
            break;
        case MT_LAYER_LINEAR:
            d.kind = MT_ONNX_DENSE;
            d.in = L->c;
            d.out = L->oc;
            d.w = net->params + L->w_off;
            d.b = net->params + L->b_off;
            break;
        case MT_LAYER_BN:
            d.kind = MT_ONNX_BN;
            d.in = d.out = L->c;
            d.w = net->params + L->w_off;
            d.b = net->params + L->b_off;
            d.mean = net->buffers + L->buf_off;
            d.var = net->buffers + L->buf_off + L->c;
            d.eps = MT_NET_BN_EPS;
            break;
        case MT_LAYER_MAXPOOL:
            d.kind = MT_ONNX_MAXPOOL;
            break;
        case MT_LAYER_FLATTEN:
            d.kind = MT_ONNX_FLATTEN;
            break;
        case MT_LAYER_RELU:
            break;
        case MT_LAYER_DROPOUT: /* identity at inference */
        default:
            continue;
        }
        layers[k++] = d;
    }
    *n = k;
    return MT_OK;
}

mt_status mt_onnx_export_net(const char *path, const mt_net *net, double mean, double std,
                             const char *producer_version, mt_err *err)
{
    mt_onnx_layer layers[MT_NET_MAX_LAYERS];
    int n = 0;
    mt_status st = mt_onnx_describe_net(layers, MT_NET_MAX_LAYERS, &n, net, err);
    if (st)
        return st;
    mt_onnx_model md = { net->in_c, net->in_h, net->in_w, net->in_c * net->in_h * net->in_w, mean, std, layers, n,
                         producer_version, NULL };
    return mt_onnx_write(path, &md, err);
}
