/* mt_onnx: a trained model -> an ONNX file (opset 13, IR version 7) that
 * onnxruntime, browsers (onnxruntime-web) and phones run.
 *
 * The graph takes RAW pixels in [0, 1] (byte / 255, as MNIST's ToTensor gives)
 * and does the normalization itself, so users feed plain pixels:
 *   input  "input"  float [N, C, H, W]   (or [N, F] for a model on flat features)
 *   Sub(mean) -> Div(std) -> the layers in order
 *   output "logits" float [N, K]         (no softmax: apply one for probabilities)
 * Tensors between the layers are NCHW (ONNX's layout) until a Flatten, whose
 * (c, h, w) feature order is PyTorch's, so PyTorch's weights go in as they
 * are; a DENSE layer on an image flattens it first (Flatten, axis 1).
 * N is symbolic ("N"), so any batch size runs.
 *
 * The exporter walks a list of layer descriptions (mt_onnx_layer), one ONNX
 * operator each, so other layer types are new cases of the same loop.
 * Serialisation is protobuf-c on our proto/onnx_subset.proto (the ONNX spec's
 * own messages and field numbers).  Nothing here prints. */
#ifndef MT_ONNX_H
#define MT_ONNX_H

#include <stddef.h>
#include <stdint.h>

#include "mt_err.h"
#include "mt_mlp.h"
#include "mt_net.h"

typedef enum {
    MT_ONNX_DENSE = 1, /* Gemm: out (N, OC) = in (N, C) @ w^T + b */
    MT_ONNX_RELU,      /* Relu, elementwise */
    MT_ONNX_CONV,      /* Conv: (N,C,H,W) -> (N,OC,H+2pad-k+1,W+2pad-k+1), stride 1 */
    MT_ONNX_MAXPOOL,   /* MaxPool 2x2, stride 2: (N,C,H,W) -> (N,C,H/2,W/2) (floor) */
    MT_ONNX_FLATTEN,   /* Flatten axis 1: (N,C,H,W) -> (N,C*H*W); features stay */
    MT_ONNX_BN         /* BatchNormalization on running statistics (inference):
                          (x - mean) / sqrt(var + eps) * w + b per channel C
                          of an image, or per feature of (N,C) */
} mt_onnx_kind;

typedef struct mt_onnx_layer {
    mt_onnx_kind kind;
    const char *name;  /* DENSE, CONV, BN: tensor prefix, e.g. "fc1" -> "fc1.weight",
                          "fc1.bias" (BN also ".running_mean", ".running_var"), and
                          the node's output; others: NULL (a generated name) */
    int in, out;       /* DENSE, CONV: C and OC; BN: C and C */
    const float *w;    /* DENSE: (OC, C) row-major (torch.nn.Linear's layout);
                          CONV: (OC, C, k, k) (torch.nn.Conv2d's); BN: gamma (C) */
    const float *b;    /* DENSE, CONV: (OC); BN: beta (C) */
    int k, pad;        /* CONV: kernel side, zero padding on every side */
    const float *mean, *var; /* BN: running_mean (C), running_var (C) */
    float eps;         /* BN: added to var */
} mt_onnx_layer;

typedef struct mt_onnx_model {
    int channels, rows, cols;   /* image input [N, channels, rows, cols]; rows = 0: flat input */
    int features;               /* inputs per sample: channels*rows*cols, or F when rows = 0 */
    double mean, std;           /* the graph computes (x - mean) / std, std > 0 */
    const mt_onnx_layer *layers;/* (n_layers) in order; the last one's output is "logits" */
    int n_layers;
    const char *producer_version; /* e.g. "mnist-train 1.2"; NULL -> "" */
    const char *doc;            /* model doc_string; NULL -> a default describing input/output */
} mt_onnx_model;

/* Fills layers[0..*n) for an MLP: fc1 (DENSE), relu, fc2, relu, ..., fcL
 * (DENSE); the descriptions point into m's parameters (keep m alive).
 * cap must be >= 2*m->n_layers - 1: MT_EARG otherwise. */
mt_status mt_onnx_describe_mlp(mt_onnx_layer *layers, int cap, int *n, const mt_mlp *m, mt_err *err);

/* Fills layers[0..*n) for a layer-list model, one description per layer
 * in order, dropout left out (identity at inference); the descriptions
 * point into net's parameters and buffers (keep net alive).  cap must be >=
 * net->n_layers: MT_EARG otherwise. */
mt_status mt_onnx_describe_net(mt_onnx_layer *layers, int cap, int *n, const mt_net *net, mt_err *err);

/* Serialises the model to a newly allocated buffer (*buf, *len; free()).
 * Checks the description first, following the shape through the layers:
 * sizes positive, every DENSE/CONV/BN layer's input equal to the running
 * feature or channel count, CONV and MAXPOOL on an image that is large
 * enough, weights present, the last output (N, K) features, std > 0 ->
 * MT_EARG naming the layer.  MT_ENOMEM. */
mt_status mt_onnx_encode(const mt_onnx_model *md, uint8_t **buf, size_t *len, mt_err *err);

/* mt_onnx_encode, then written atomically (mt_file_write_atomic): MT_EIO
 * "<path>: ..." when it cannot be written (a previous file stays intact). */
mt_status mt_onnx_write(const char *path, const mt_onnx_model *md, mt_err *err);

/* The usual case: an MLP on rows x cols one-channel images (rows = 0: flat
 * input of m->dims[0] features), normalization mean/std. */
mt_status mt_onnx_export_mlp(const char *path, const mt_mlp *m, int rows, int cols, double mean,
                             double std, const char *producer_version, mt_err *err);

/* The same for a layer-list model: input [N, in_c, in_h, in_w], logits
 * [N, n_classes]. */
mt_status mt_onnx_export_net(const char *path, const mt_net *net, double mean, double std,
                             const char *producer_version, mt_err *err);

#endif
