/* mt_onnx: builds the ONNX ModelProto of a list of layers with protobuf-c and
 * writes it.  Reference: ONNX IR spec (docs/IR.md) and operator docs
 * (docs/Operators.md: Sub-13, Div-13, Flatten-13, Gemm-13, Relu-13, Conv-11,
 * MaxPool-12, BatchNormalization-9).  It does not read ONNX files. */
#include "mt_onnx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_file.h"
#include "onnx_subset.pb-c.h"

#define OPSET      13
#define IR_VERSION 7  /* the IR version that introduced opset 13 */
#define NAME_LEN   48
#define MAX_IN     5  /* BatchNormalization's inputs: X, scale, B, mean, var */
#define MAX_ATTR   3  /* Conv's kernel_shape, pads, strides */
#define MAX_INTS   4  /* values per INTS attribute (Conv's pads) */

/* Every message of one export, allocated together and freed together. */
typedef struct build {
    Onnx__ModelProto model;
    Onnx__GraphProto graph;
    Onnx__OperatorSetIdProto opset, *opset_p;
    Onnx__NodeProto *nodes, **node_p;          /* (n_nodes) */
    Onnx__AttributeProto *attrs, **attr_p;     /* (n_nodes, MAX_ATTR) */
    int64_t *ints;                             /* (n_nodes, MAX_ATTR, MAX_INTS) INTS values */
    Onnx__TensorProto *inits, **init_p;        /* (n_inits) */
    int64_t *dims;                             /* (n_inits, 4) */
    char (*names)[NAME_LEN];                   /* (n_nodes * (MAX_IN + 2) + n_inits): per node its
                                                  name, inputs and output; initializer names */
    char **ins;                                /* (n_nodes, MAX_IN) node input pointers */
    char **outs;                               /* (n_nodes) */
    int nn, ni, nname;                         /* nodes, initializers, names used */
    char prev[NAME_LEN];                       /* the last node's output */
    Onnx__ValueInfoProto vi[2], *vi_in, *vi_out;
    Onnx__TypeProto type[2];
    Onnx__TypeProto__Tensor tt[2];
    Onnx__TensorShapeProto shape[2];
    Onnx__TensorShapeProto__Dimension dim[6], *dim_p[6];
    float consts[2];                           /* mean, std */
} build;

/* The tensor between two layers: an image (N, c, h, w) or features (N, c). */
typedef struct shape {
    int c, h, w, flat;
} shape;

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

static int has_params(mt_onnx_kind k)
{
    return k == MT_ONNX_DENSE || k == MT_ONNX_CONV || k == MT_ONNX_BN;
}

/* The shape after layer L (a DENSE layer on an image flattens it first);
 * a message naming layer l when L does not fit s. */
static mt_status next_shape(shape *s, const mt_onnx_layer *L, int l, mt_err *err)
{
    const char *nm = L->name ? L->name : "?";
    if (has_params(L->kind) && (!L->w || !L->b || !L->name || strlen(L->name) > NAME_LEN - 16))
        return mt_errf(err, MT_EARG, "onnx: layer %d (%s): weights or name missing", l, nm);
    switch (L->kind) {
    case MT_ONNX_DENSE: {
        const int f = s->flat ? s->c : s->c * s->h * s->w;
        if (L->in != f || L->out < 1)
            return mt_errf(err, MT_EARG, "onnx: layer %d (%s): takes %d inputs, %d arrive", l, nm, L->in, f);
        *s = (shape){ L->out, 1, 1, 1 };
        return MT_OK;
    }
    case MT_ONNX_CONV: {
        const int oh = s->h + 2 * L->pad - L->k + 1, ow = s->w + 2 * L->pad - L->k + 1;
        if (s->flat || L->in != s->c || L->out < 1 || L->k < 1 || L->pad < 0 || oh < 1 || ow < 1)
            return mt_errf(err, MT_EARG, "onnx: layer %d (%s): a %dx%d convolution of %d channels does not "
                           "fit %d%s", l, nm, L->k, L->k, L->in, s->c, s->flat ? " features" : " channels");
        *s = (shape){ L->out, oh, ow, 0 };
        return MT_OK;
    }
    case MT_ONNX_MAXPOOL:
        if (s->flat || s->h < 2 || s->w < 2)
            return mt_errf(err, MT_EARG, "onnx: layer %d: max-pool needs an image of at least 2x2", l);
        s->h /= 2, s->w /= 2;
        return MT_OK;
    case MT_ONNX_FLATTEN:
        *s = (shape){ s->flat ? s->c : s->c * s->h * s->w, 1, 1, 1 };
        return MT_OK;
    case MT_ONNX_BN:
        if (!L->mean || !L->var || L->in != s->c || L->out != L->in || !(L->eps > 0))
            return mt_errf(err, MT_EARG, "onnx: layer %d (%s): batch norm of %d channels on %d", l, nm, L->in,
                           s->c);
        return MT_OK;
    case MT_ONNX_RELU:
        return MT_OK;
    }
    return mt_errf(err, MT_EARG, "onnx: layer %d: unknown kind %d", l, (int)L->kind);
}

static mt_status check(const mt_onnx_model *md, shape *out, mt_err *err)
{
    if (!md || !md->layers || md->n_layers < 1)
        return mt_errf(err, MT_EARG, "onnx: no layers");
    if (md->features < 1 || (md->rows > 0 && md->channels * md->rows * md->cols != md->features))
        return mt_errf(err, MT_EARG, "onnx: input of %d features does not match %dx%dx%d", md->features,
                       md->channels, md->rows, md->cols);
    if (!(md->std > 0))
        return mt_errf(err, MT_EARG, "onnx: normalization std must be > 0");
    shape s = md->rows > 0 ? (shape){ md->channels, md->rows, md->cols, 0 } : (shape){ md->features, 1, 1, 1 };
    for (int l = 0; l < md->n_layers; l++) {
        mt_status st = next_shape(&s, &md->layers[l], l, err);
        if (st)
            return st;
    }
    if (!s.flat)
        return mt_errf(err, MT_EARG, "onnx: the last layer gives an image of %dx%dx%d, not logits (N, K)", s.c,
                       s.h, s.w);
    *out = s;
    return MT_OK;
}

/* ---- building blocks: each stores its strings in b->names ---------------- */

static char *name(build *b, const char *s)
{
    char *p = b->names[b->nname++];
    snprintf(p, NAME_LEN, "%s", s);
    return p;
}

/* A node op_type named nm reading the last output; more inputs with in(). */
static Onnx__NodeProto *node(build *b, const char *op, const char *nm)
{
    Onnx__NodeProto *nd = &b->nodes[b->nn];
    onnx__node_proto__init(nd);
    nd->op_type = (char *)op;
    nd->name = name(b, nm);
    nd->input = &b->ins[b->nn * MAX_IN];
    nd->output = &b->outs[b->nn];
    nd->attribute = &b->attr_p[b->nn * MAX_ATTR];
    b->node_p[b->nn++] = nd;
    nd->input[nd->n_input++] = name(b, b->prev);
    return nd;
}

static void in(build *b, Onnx__NodeProto *nd, const char *prefix, const char *sfx)
{
    char s[NAME_LEN];
    snprintf(s, sizeof s, "%s.%s", prefix, sfx);
    nd->input[nd->n_input++] = name(b, s);
}

static void out(build *b, Onnx__NodeProto *nd, const char *s)
{
    nd->output[0] = name(b, s);
    nd->n_output = 1;
    snprintf(b->prev, sizeof b->prev, "%s", s);
}

/* An attribute of node nd (the last one made): INT i, FLOAT f or INTS v[nv]. */
static void attr(build *b, Onnx__NodeProto *nd, const char *nm, int64_t i, float f, const int64_t *v, int nv)
{
    const size_t k = (size_t)(b->nn - 1) * MAX_ATTR + nd->n_attribute;
    Onnx__AttributeProto *a = &b->attrs[k];
    onnx__attribute_proto__init(a);
    a->name = (char *)nm;
    if (v) {
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
        a->ints = &b->ints[k * MAX_INTS];
        memcpy(a->ints, v, (size_t)nv * sizeof *v);
        a->n_ints = (size_t)nv;
    } else if (f != 0.f) {
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
        a->f = f;
    } else {
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
        a->i = i;
    }
    b->attr_p[k] = a;
    nd->n_attribute++;
}

/* An initializer prefix.sfx holding data of shape d[nd]. */
static void init(build *b, const char *prefix, const char *sfx, const float *data, const int64_t *d, int nd)
{
    Onnx__TensorProto *t = &b->inits[b->ni];
    char s[NAME_LEN];
    onnx__tensor_proto__init(t);
    snprintf(s, sizeof s, "%s%s%s", prefix, sfx ? "." : "", sfx ? sfx : "");
    t->name = name(b, s);
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

/* The nodes (and initializers) of layer L on a tensor of shape s; gen is
 * the generated name of a layer without tensors. */
static void add_layer(build *b, const mt_onnx_layer *L, const shape *s, const char *gen, int last)
{
    static const int64_t k2[2] = { 2, 2 };
    const char *o = last ? "logits" : L->name ? L->name : gen;
    Onnx__NodeProto *nd;
    switch (L->kind) {
    case MT_ONNX_DENSE: {
        if (!s->flat) { /* Gemm takes (N, C): PyTorch's (c, h, w) order, as Flatten gives */
            nd = node(b, "Flatten", "flatten");
            attr(b, nd, "axis", 1, 0.f, NULL, 0);
            out(b, nd, "flat");
        }
        const int64_t dw[2] = { L->out, L->in }, db[1] = { L->out };
        init(b, L->name, "weight", L->w, dw, 2);
        init(b, L->name, "bias", L->b, db, 1);
        nd = node(b, "Gemm", L->name);
        in(b, nd, L->name, "weight");
        in(b, nd, L->name, "bias");
        attr(b, nd, "transB", 1, 0.f, NULL, 0);
        break;
    }
    case MT_ONNX_CONV: {
        const int64_t dw[4] = { L->out, L->in, L->k, L->k }, db[1] = { L->out };
        const int64_t ks[2] = { L->k, L->k }, pads[4] = { L->pad, L->pad, L->pad, L->pad }; /* t, l, b, r */
        init(b, L->name, "weight", L->w, dw, 4);
        init(b, L->name, "bias", L->b, db, 1);
        nd = node(b, "Conv", L->name);
        in(b, nd, L->name, "weight");
        in(b, nd, L->name, "bias");
        attr(b, nd, "kernel_shape", 0, 0.f, ks, 2);
        attr(b, nd, "pads", 0, 0.f, pads, 4);
        break;
    }
    case MT_ONNX_BN: {
        const int64_t dc[1] = { L->in };
        init(b, L->name, "weight", L->w, dc, 1);
        init(b, L->name, "bias", L->b, dc, 1);
        init(b, L->name, "running_mean", L->mean, dc, 1);
        init(b, L->name, "running_var", L->var, dc, 1);
        nd = node(b, "BatchNormalization", L->name);
        in(b, nd, L->name, "weight");
        in(b, nd, L->name, "bias");
        in(b, nd, L->name, "running_mean");
        in(b, nd, L->name, "running_var");
        attr(b, nd, "epsilon", 0, L->eps, NULL, 0);
        break;
    }
    case MT_ONNX_MAXPOOL:
        nd = node(b, "MaxPool", o);
        attr(b, nd, "kernel_shape", 0, 0.f, k2, 2);
        attr(b, nd, "strides", 0, 0.f, k2, 2);
        break;
    case MT_ONNX_FLATTEN:
        nd = node(b, "Flatten", o);
        attr(b, nd, "axis", 1, 0.f, NULL, 0);
        break;
    case MT_ONNX_RELU:
    default:
        nd = node(b, "Relu", o);
        break;
    }
    out(b, nd, o);
}

mt_status mt_onnx_encode(const mt_onnx_model *md, uint8_t **out_buf, size_t *out_len, mt_err *err)
{
    shape s, fin = { 0, 0, 0, 0 };
    mt_status st = check(md, &fin, err);
    if (st)
        return st;
    const int n_nodes = 3 + md->n_layers; /* Sub, Div, at most one Flatten before a Gemm, the layers */
    int n_inits = 2;
    for (int l = 0; l < md->n_layers; l++)
        n_inits += md->layers[l].kind == MT_ONNX_BN ? 4 : has_params(md->layers[l].kind) ? 2 : 0;
    build *b = calloc(1, sizeof *b);
    if (!b)
        return mt_errf(err, MT_ENOMEM, "onnx: out of memory");
    const size_t nn = (size_t)n_nodes, ni = (size_t)n_inits;
    b->nodes = calloc(nn, sizeof *b->nodes);
    b->node_p = calloc(nn, sizeof *b->node_p);
    b->attrs = calloc(nn * MAX_ATTR, sizeof *b->attrs);
    b->attr_p = calloc(nn * MAX_ATTR, sizeof *b->attr_p);
    b->ints = calloc(nn * MAX_ATTR * MAX_INTS, sizeof *b->ints);
    b->inits = calloc(ni, sizeof *b->inits);
    b->init_p = calloc(ni, sizeof *b->init_p);
    b->dims = calloc(ni * 4, sizeof *b->dims);
    b->names = calloc(nn * (MAX_IN + 2) + ni, sizeof *b->names);
    b->ins = calloc(nn * MAX_IN, sizeof *b->ins);
    b->outs = calloc(nn, sizeof *b->outs);
    uint8_t *buf = NULL;
    if (!b->nodes || !b->node_p || !b->attrs || !b->attr_p || !b->ints || !b->inits || !b->init_p || !b->dims ||
        !b->names || !b->ins || !b->outs) {
        st = mt_errf(err, MT_ENOMEM, "onnx: out of memory");
        goto done;
    }
    snprintf(b->prev, sizeof b->prev, "input");

    /* initializers: scalars mean and std first, then each layer's tensors */
    b->consts[0] = (float)md->mean;
    b->consts[1] = (float)md->std;
    init(b, "norm.mean", NULL, &b->consts[0], NULL, 0);
    init(b, "norm.std", NULL, &b->consts[1], NULL, 0);
    Onnx__NodeProto *nd = node(b, "Sub", "normalize_sub");
    nd->input[nd->n_input++] = name(b, "norm.mean");
    out(b, nd, "centered");
    nd = node(b, "Div", "normalize_div");
    nd->input[nd->n_input++] = name(b, "norm.std");
    out(b, nd, "normalized");

    /* Generated names of layers without tensors: kind and the number of
     * layers with tensors before it ("relu1" after fc1), "_2" on a repeat. */
    static const char *const kname[] = { "", "", "relu", "", "maxpool", "flatten", "" };
    int n_param = 0, rep[8] = { 0 };
    s = md->rows > 0 ? (shape){ md->channels, md->rows, md->cols, 0 } : (shape){ md->features, 1, 1, 1 };
    for (int l = 0; l < md->n_layers; l++) {
        const mt_onnx_layer *L = &md->layers[l];
        char gen[NAME_LEN] = "";
        if (has_params(L->kind)) {
            n_param++;
            memset(rep, 0, sizeof rep);
        } else if (rep[L->kind]++ == 0) {
            snprintf(gen, sizeof gen, "%s%d", kname[L->kind], n_param);
        } else {
            snprintf(gen, sizeof gen, "%s%d_%d", kname[L->kind], n_param, rep[L->kind]);
        }
        add_layer(b, L, &s, gen, l == md->n_layers - 1);
        next_shape(&s, L, l, NULL); /* checked above */
    }

    int64_t din[4] = { 0, md->channels, md->rows, md->cols }, dflat[2] = { 0, md->features }, dout[2] = { 0, fin.c };
    const int image = md->rows > 0;
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
    *out_buf = buf;
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
        layers[k++] = (mt_onnx_layer){ .kind = MT_ONNX_DENSE, .name = names[l], .in = m->dims[l],
                                       .out = m->dims[l + 1], .w = m->w[l], .b = m->b[l] };
        if (l < m->n_layers - 1)
            layers[k++] = (mt_onnx_layer){ .kind = MT_ONNX_RELU };
    }
    *n = k;
    return MT_OK;
}

mt_status mt_onnx_describe_net(mt_onnx_layer *layers, int cap, int *n, const mt_net *net, mt_err *err)
{
    if (!net || net->n_layers < 1 || cap < net->n_layers)
        return mt_errf(err, MT_EARG, "onnx: room for %d layer descriptions, the model needs %d", cap,
                       net ? net->n_layers : 0);
    int k = 0;
    for (int l = 0; l < net->n_layers; l++) {
        const mt_layer *L = &net->layers[l];
        const float *w = net->params + L->w_off, *b = net->params + L->b_off;
        mt_onnx_layer *o = &layers[k];
        switch (L->kind) {
        case MT_LAYER_CONV: /* weights (oc, c, k, k) as PyTorch's: the NHWC layout is activations' only */
            *o = (mt_onnx_layer){ .kind = MT_ONNX_CONV, .name = L->name, .in = L->c, .out = L->oc, .w = w, .b = b,
                                  .k = L->k, .pad = L->pad };
            break;
        case MT_LAYER_LINEAR:
            *o = (mt_onnx_layer){ .kind = MT_ONNX_DENSE, .name = L->name, .in = L->c, .out = L->oc, .w = w, .b = b };
            break;
        case MT_LAYER_BN:
            *o = (mt_onnx_layer){ .kind = MT_ONNX_BN, .name = L->name, .in = L->c, .out = L->c, .w = w, .b = b,
                                  .mean = net->buffers + L->buf_off, .var = net->buffers + L->buf_off + L->c,
                                  .eps = MT_NET_BN_EPS };
            break;
        case MT_LAYER_MAXPOOL:
            *o = (mt_onnx_layer){ .kind = MT_ONNX_MAXPOOL };
            break;
        case MT_LAYER_RELU:
            *o = (mt_onnx_layer){ .kind = MT_ONNX_RELU };
            break;
        case MT_LAYER_FLATTEN: /* mt_net's flatten gives PyTorch's (c, h, w) order, as ONNX's on NCHW */
            *o = (mt_onnx_layer){ .kind = MT_ONNX_FLATTEN };
            break;
        case MT_LAYER_DROPOUT: /* the identity at inference */
            continue;
        }
        k++;
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
