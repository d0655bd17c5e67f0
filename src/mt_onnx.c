/* mt_onnx: builds the ONNX ModelProto of a list of layers with protobuf-c and
 * writes it.  Reference: ONNX IR spec (docs/IR.md) and operator docs
 * (docs/Operators.md: Sub-13, Div-13, Flatten-13, Gemm-13, Relu-13).
 * It does not read ONNX files. */
#include "mt_onnx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_file.h"
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
    Onnx__AttributeProto attrs[2], *attr_p[2]; /* Flatten's axis, Gemm's transB (shared) */
    Onnx__TensorProto *inits, **init_p;        /* (n_inits) */
    int64_t *dims;                             /* (n_inits, 2) */
    char (*names)[NAME_LEN];                   /* (n_nodes * 5 + n_inits): per node its name,
                                                  <= 3 inputs and its output; initializer names */
    char **ins;                                /* (n_nodes * 3) node input pointers */
    char **outs;                               /* (n_nodes) */
    Onnx__ValueInfoProto vi[2], *vi_in, *vi_out;
    Onnx__TypeProto type[2];
    Onnx__TypeProto__Tensor tt[2];
    Onnx__TensorShapeProto shape[2];
    Onnx__TensorShapeProto__Dimension dim[6], *dim_p[6];
    float consts[2];                           /* mean, std */
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

static mt_status check(const mt_onnx_model *md, mt_err *err)
{
    if (!md || !md->layers || md->n_layers < 1)
        return mt_errf(err, MT_EARG, "onnx: no layers");
    if (md->features < 1 || (md->rows > 0 && md->channels * md->rows * md->cols != md->features))
        return mt_errf(err, MT_EARG, "onnx: input of %d features does not match %dx%dx%d", md->features,
                       md->channels, md->rows, md->cols);
    if (!(md->std > 0))
        return mt_errf(err, MT_EARG, "onnx: normalization std must be > 0");
    int f = md->features;
    for (int l = 0; l < md->n_layers; l++) {
        const mt_onnx_layer *L = &md->layers[l];
        if (L->kind == MT_ONNX_DENSE) {
            if (L->in != f || L->out < 1 || !L->w || !L->b || !L->name || strlen(L->name) > NAME_LEN - 8)
                return mt_errf(err, MT_EARG, "onnx: layer %d (%s): takes %d inputs, %d arrive", l,
                               L->name ? L->name : "?", L->in, f);
            f = L->out;
        } else if (L->kind != MT_ONNX_RELU) {
            return mt_errf(err, MT_EARG, "onnx: layer %d: unknown kind %d", l, (int)L->kind);
        }
    }
    return MT_OK;
}

mt_status mt_onnx_encode(const mt_onnx_model *md, uint8_t **out, size_t *out_len, mt_err *err)
{
    mt_status st = check(md, err);
    if (st)
        return st;
    const int image = md->rows > 0;
    const int n_nodes = 2 + image + md->n_layers;
    int n_inits = 2;
    for (int l = 0; l < md->n_layers; l++)
        n_inits += md->layers[l].kind == MT_ONNX_DENSE ? 2 : 0;
    build *b = calloc(1, sizeof *b);
    if (!b)
        return mt_errf(err, MT_ENOMEM, "onnx: out of memory");
    b->nodes = calloc((size_t)n_nodes, sizeof *b->nodes);
    b->node_p = calloc((size_t)n_nodes, sizeof *b->node_p);
    b->inits = calloc((size_t)n_inits, sizeof *b->inits);
    b->init_p = calloc((size_t)n_inits, sizeof *b->init_p);
    b->dims = calloc((size_t)n_inits * 2, sizeof *b->dims);
    b->names = calloc((size_t)n_nodes * 5 + (size_t)n_inits, sizeof *b->names);
    b->ins = calloc((size_t)n_nodes * 3, sizeof *b->ins);
    b->outs = calloc((size_t)n_nodes, sizeof *b->outs);
    uint8_t *buf = NULL;
    if (!b->nodes || !b->node_p || !b->inits || !b->init_p || !b->dims || !b->names || !b->ins || !b->outs) {
        st = mt_errf(err, MT_ENOMEM, "onnx: out of memory");
        goto done;
    }
    int nn = 0, ni = 0, nname = 0;
    char prev[NAME_LEN] = "input";

    /* initializers: scalars mean and std, then each dense layer's weight and bias */
    b->consts[0] = (float)md->mean;
    b->consts[1] = (float)md->std;
    const char *const cname[2] = { "norm.mean", "norm.std" };
    for (int k = 0; k < 2; k++, ni++) {
        Onnx__TensorProto *t = &b->inits[ni];
        onnx__tensor_proto__init(t);
        t->name = (char *)cname[k];
        t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
        t->n_float_data = 1;
        t->float_data = &b->consts[k];
        b->init_p[ni] = t;
    }

    /* nodes: op_type, inputs, output name */
#define NODE(op, nm)                                                          \
    Onnx__NodeProto *nd = &b->nodes[nn];                                      \
    onnx__node_proto__init(nd);                                               \
    nd->op_type = (char *)(op);                                               \
    nd->name = b->names[nname];                                               \
    snprintf(b->names[nname++], NAME_LEN, "%s", (nm));                        \
    nd->input = &b->ins[nn * 3];                                              \
    nd->output = &b->outs[nn];                                                \
    nd->n_output = 1;                                                         \
    b->node_p[nn++] = nd
#define IN(s)                                                                 \
    do {                                                                      \
        char *p_ = b->names[nname++];                                         \
        snprintf(p_, NAME_LEN, "%s", (s));                                    \
        nd->input[nd->n_input++] = p_;                                        \
    } while (0)
#define OUT(s)                                                                \
    do {                                                                      \
        char *p_ = b->names[nname++];                                         \
        snprintf(p_, NAME_LEN, "%s", (s));                                    \
        nd->output[0] = p_;                                                   \
        snprintf(prev, sizeof prev, "%s", p_);                                \
    } while (0)

    {
        NODE("Sub", "normalize_sub");
        IN(prev);
        IN("norm.mean");
        OUT("centered");
    }
    {
        NODE("Div", "normalize_div");
        IN(prev);
        IN("norm.std");
        OUT("normalized");
    }
    onnx__attribute_proto__init(&b->attrs[0]);
    b->attrs[0].name = (char *)"axis";
    b->attrs[0].type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    b->attrs[0].i = 1;
    b->attr_p[0] = &b->attrs[0];
    onnx__attribute_proto__init(&b->attrs[1]);
    b->attrs[1].name = (char *)"transB";
    b->attrs[1].type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    b->attrs[1].i = 1;
    b->attr_p[1] = &b->attrs[1];
    if (image) {
        NODE("Flatten", "flatten");
        IN(prev);
        OUT("flat");
        nd->n_attribute = 1;
        nd->attribute = &b->attr_p[0];
    }
    int f = md->features, n_dense = 0;
    for (int l = 0; l < md->n_layers; l++) {
        const mt_onnx_layer *L = &md->layers[l];
        const int last = l == md->n_layers - 1;
        char nm[NAME_LEN];
        if (L->kind == MT_ONNX_DENSE) {
            for (int k = 0; k < 2; k++, ni++) {
                Onnx__TensorProto *t = &b->inits[ni];
                onnx__tensor_proto__init(t);
                t->name = b->names[nname];
                snprintf(b->names[nname++], NAME_LEN, "%s.%s", L->name, k ? "bias" : "weight");
                t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
                t->dims = &b->dims[ni * 2];
                t->dims[0] = L->out;
                t->dims[1] = L->in;
                t->n_dims = k ? 1 : 2;
                t->n_float_data = k ? (size_t)L->out : (size_t)L->out * L->in;
                t->float_data = (float *)(k ? L->b : L->w);
                b->init_p[ni] = t;
            }
            NODE("Gemm", L->name);
            IN(prev);
            snprintf(nm, sizeof nm, "%s.weight", L->name);
            IN(nm);
            snprintf(nm, sizeof nm, "%s.bias", L->name);
            IN(nm);
            OUT(last ? "logits" : L->name);
            nd->n_attribute = 1;
            nd->attribute = &b->attr_p[1];
            f = L->out;
            n_dense++;
        } else { /* MT_ONNX_RELU */
            snprintf(nm, sizeof nm, "relu%d", n_dense);
            NODE("Relu", nm);
            IN(prev);
            OUT(last ? "logits" : nm);
        }
    }
#undef NODE
#undef IN
#undef OUT

    int64_t din[4] = { 0, md->channels, md->rows, md->cols }, dflat[2] = { 0, md->features }, dout[2] = { 0, f };
    value_info(b, 0, &b->vi_in, "input", image ? din : dflat, image ? 4 : 2, &b->dim_p[0], &b->dim[0]);
    value_info(b, 1, &b->vi_out, "logits", dout, 2, &b->dim_p[4], &b->dim[4]);

    onnx__graph_proto__init(&b->graph);
    b->graph.name = (char *)"mnist_train";
    b->graph.n_node = (size_t)nn;
    b->graph.node = b->node_p;
    b->graph.n_initializer = (size_t)ni;
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
        layers[k++] = (mt_onnx_layer){ MT_ONNX_DENSE, names[l], m->dims[l], m->dims[l + 1], m->w[l], m->b[l] };
        if (l < m->n_layers - 1)
            layers[k++] = (mt_onnx_layer){ MT_ONNX_RELU, NULL, 0, 0, NULL, NULL };
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
