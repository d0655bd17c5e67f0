/* mt_onnx: a trained model -> an ONNX file (opset 13, IR version 7) that
 * onnxruntime, browsers (onnxruntime-web) and phones run.
 *
 * The graph takes RAW pixels in [0, 1] (byte / 255, as MNIST's ToTensor gives)
 * and does the normalization itself, so users feed plain pixels:
 *   input  "input"  float [N, C, H, W]   (or [N, F] for a model on flat features)
 *   Sub(mean) -> Div(std) -> [Flatten(axis 1) when the first layer is dense]
 *   -> the layers in order (Gemm, Relu, Conv, MaxPool, Flatten, BatchNormalization)
 *   output "logits" float [N, K]         (no softmax: apply one for probabilities)
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

typedef enum {
    MT_ONNX_DENSE = 1, /* Gemm: out (N, OC) = in (N, C) @ w^T + b */
    MT_ONNX_RELU,      /* Relu, elementwise */
    MT_ONNX_CONV,      /* Conv: (N, C, H, W) -> (N, OC, H+2pad-k+1, ...), stride 1 */
    MT_ONNX_MAXPOOL,   /* MaxPool 2x2, stride 2 (floor) */
    MT_ONNX_FLATTEN,   /* Flatten axis 1: (N, C, H, W) -> (N, C*H*W), PyTorch's order */
    MT_ONNX_BN         /* BatchNormalization (inference: running statistics) */
} mt_onnx_kind;

typedef struct mt_onnx_layer {
    mt_onnx_kind kind;
    const char *name;  /* DENSE, CONV, BN: tensor prefix, e.g. "fc1" -> "fc1.weight", "fc1.bias" */
    int in, out;       /* DENSE: C and OC; CONV: channels C and OC; BN: channels (both) */
    const float *w;    /* DENSE: (OC, C) row-major (torch.nn.Linear's layout); CONV: (OC, C, k, k);
                          BN: gamma (C) */
    const float *b;    /* DENSE, CONV: (OC); BN: beta (C) */
    int k, pad;        /* CONV: kernel side and zero padding */
    const float *mean, *var; /* BN: running statistics (C) */
    float eps;         /* BN: epsilon */
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

/* Fills layers[0..*n) for a layer-list model (mt_net): one description per
 * layer in order, dropout left out (identity at inference); the descriptions
 * point into net's parameters and buffers (keep net alive).  cap must be
 * >= net->n_layers: MT_EARG otherwise. */
struct mt_net;
mt_status mt_onnx_describe_net(mt_onnx_layer *layers, int cap, int *n, const struct mt_net *net, mt_err *err);

/* mt_onnx_describe_net and mt_onnx_write for a layer-list model on its
 * in_c x in_h x in_w input. */
mt_status mt_onnx_export_net(const char *path, const struct mt_net *net, double mean, double std,
                             const char *producer_version, mt_err *err);

/* Fills layers[0..*n) for an MLP: fc1 (DENSE), relu, fc2, relu, ..., fcL
 * (DENSE); the descriptions point into m's parameters (keep m alive).
 * cap must be >= 2*m->n_layers - 1: MT_EARG otherwise. */
mt_status mt_onnx_describe_mlp(mt_onnx_layer *layers, int cap, int *n, const mt_mlp *m, mt_err *err);

/* Serialises the model to a newly allocated buffer (*buf, *len; free()).
 * Checks the description first: sizes positive, every DENSE layer's input
 * equal to the running feature count, weights present, std > 0 -> MT_EARG
 * naming the layer.  MT_ENOMEM. */
mt_status mt_onnx_encode(const mt_onnx_model *md, uint8_t **buf, size_t *len, mt_err *err);

/* mt_onnx_encode, then written atomically (mt_file_write_atomic): MT_EIO
 * "<path>: ..." when it cannot be written (a previous file stays intact). */
mt_status mt_onnx_write(const char *path, const mt_onnx_model *md, mt_err *err);

/* The usual case: an MLP on rows x cols one-channel images (rows = 0: flat
 * input of m->dims[0] features), normalization mean/std. */
mt_status mt_onnx_export_mlp(const char *path, const mt_mlp *m, int rows, int cols, double mean,
                             double std, const char *producer_version, mt_err *err);

#endif
