/* mt_net: a model as a list of layers (mt_layers), built from a name or a
 * SPEC string, trained and evaluated with the batch split across threads.
 *
 * SPEC grammar: comma-separated items, walked in order on an input of
 * in_c x in_h x in_w (1x28x28 for MNIST):
 *   conv:OC:K        OC output channels, KxK kernel, stride 1, no padding
 *   conv:OC:K:same   the same with zero padding (K-1)/2 (K odd)
 *   maxpool          2x2 max-pool, stride 2
 *   relu
 *   dropout:P        inverted dropout, 0 <= P < 1 (training only)
 *   flatten          image -> features, PyTorch's (c,h,w) order
 *   linear:OC        OC output features (needs a flat input)
 *   bn               batch norm: BatchNorm2d on an image, BatchNorm1d on features
 * e.g. "conv:32:3,relu,conv:64:3,relu,maxpool,dropout:0.25,flatten,linear:128,relu,dropout:0.5,linear:10".
 * The last item must produce n_classes features (the logits).  A SPEC model
 * is torch.nn.Sequential of the same modules: tensors are named by item
 * index ("0.weight", "9.bias", "1.running_mean").
 *
 * Named models (tensor names of their PyTorch modules):
 *   cnn      pytorch/examples mnist/main.py's Net: conv1 (1->32, 3x3), relu,
 *            conv2 (32->64, 3x3), relu, maxpool, dropout 0.25, flatten,
 *            fc1 (9216->128), relu, dropout 0.5, fc2 (128->10)
 *   fastcnn  conv1 (1->24, 5x5), maxpool, relu, conv2 (24->32, 3x3), maxpool,
 *            relu, flatten, fc1 (800->256), relu, fc2 (256->10)
 *   mlp      flatten, fc1, relu, [dropout P], ..., fcL: the MLP of mt_mlp
 *            (hidden sizes and dropout from mt_net_opts), names fc1..fcL
 *
 * Parameters are ONE block in PyTorch state_dict order (per layer weight,
 * bias), gradients a second block of the same layout, so mt_optim steps the
 * whole model as one loop.  Batch-norm running statistics are a separate
 * buffer block (running_mean, running_var per layer) plus one
 * num_batches_tracked counter; checkpoints store both.
 *
 * Determinism: every sample's forward is computed by the same operations
 * whichever thread runs it; weight gradients are split between threads by
 * rows of the gradient, each element one chain over the whole batch in
 * sample order; dropout masks come from (seed, layer, step, sample).  So a
 * step gives the same bits for any thread count. */
#ifndef MT_NET_H
#define MT_NET_H

#include <stddef.h>
#include <stdint.h>

#include "mt_err.h"
#include "mt_kern.h"
#include "mt_pool.h"
#include "mt_rng.h"
#include "mt_st.h"

#define MT_NET_MAX_LAYERS 64
#define MT_NET_SPEC_MAX 1024
#define MT_NET_BN_EPS 1e-5f /* batch norm's eps (PyTorch's default) */

typedef enum {
    MT_LAYER_CONV, MT_LAYER_MAXPOOL, MT_LAYER_RELU, MT_LAYER_DROPOUT,
    MT_LAYER_FLATTEN, MT_LAYER_LINEAR, MT_LAYER_BN
} mt_layer_kind;

typedef struct mt_layer {
    mt_layer_kind kind;
    char name[24];       /* PyTorch module name ("conv1", "3"); "" when it has no tensors */
    int c, h, w;         /* input channels, rows, columns (features: c, h = w = 1) */
    int oc, oh, ow;      /* output, likewise */
    int flat;            /* the input is features (no image) */
    int k, pad;          /* conv kernel side and padding */
    float p;             /* dropout probability */
    size_t w_off, b_off; /* weight (conv (oc,c,k,k), linear (oc,c), bn (c)) and bias in params */
    size_t buf_off;      /* bn: running_mean (c) at buffers + buf_off, running_var (c) after */
} mt_layer;

typedef struct mt_net {
    char model[MT_NET_SPEC_MAX]; /* the name or SPEC it was built from */
    char spec[MT_NET_SPEC_MAX];  /* the equivalent SPEC (for metadata) */
    int n_layers;
    mt_layer layers[MT_NET_MAX_LAYERS];
    int in_c, in_h, in_w;        /* input image */
    int n_classes;
    size_t n_params;             /* floats in params and grads */
    float *params;               /* (n_params) state_dict order */
    float *grads;                /* (n_params) same layout */
    size_t n_buffers;            /* floats in buffers */
    float *buffers;              /* (n_buffers) bn running statistics */
    long long bn_batches;        /* num_batches_tracked of every bn layer */
} mt_net;

/* Options of the named "mlp" (ignored by other models). */
typedef struct mt_net_opts {
    int hidden[8];               /* hidden sizes */
    int n_hidden;
    float dropout;               /* after each hidden ReLU when > 0 */
} mt_net_opts;

/* Builds *net from a name ("cnn", "fastcnn", "mlp") or a SPEC for inputs of
 * in_c x in_h x in_w and n_classes logits, with zeroed parameters (see
 * mt_net_init).  o may be NULL (mlp: 128,64, no dropout).  Fails with MT_EARG
 * and a one-line message naming the item and the shapes ("model 'conv:8:3,linear:10':
 * item 2 'linear:10' needs flat input, got 8x26x26 (add flatten)"), or
 * MT_ENOMEM.  *net must be zeroed; written only on success; free with
 * mt_net_free. */
mt_status mt_net_build(mt_net *net, const char *model, const mt_net_opts *o, int in_c, int in_h,
                       int in_w, int n_classes, mt_err *err);
void mt_net_free(mt_net *net);

/* PyTorch's default initialisation, layer by layer, weight then bias:
 * conv and linear ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (kaiming_uniform with
 * a = sqrt(5), and the bias rule), fan_in = c*k*k or c; bn weight 1, bias 0,
 * running mean 0, var 1, num_batches_tracked 0. */
void mt_net_init(mt_net *net, mt_rng *rng);

/* 1 when model names a known model or parses as a SPEC (no message). */
int mt_net_is_model(const char *model);

/* Per-batch buffers for up to max_B samples and n_threads threads.  Caller
 * frees with mt_net_work_free (safe on a zeroed struct). */
typedef struct mt_net_work mt_net_work;
mt_status mt_net_work_create(mt_net_work **out, const mt_net *net, int max_B, int n_threads,
                             mt_err *err);
void mt_net_work_free(mt_net_work *w);
/* The bytes mt_net_work_create would allocate for these arguments (sized by
 * the same code, nothing allocated): for memory checks before a run. */
mt_status mt_net_work_bytes(const mt_net *net, int max_B, int n_threads, uint64_t *bytes, mt_err *err);

/* One training step's forward and backward on x (B, in_c*in_h*in_w) NHWC
 * floats (normalised) with labels (B), B <= max_B, 1 <= B:
 * OVERWRITES net->grads with the gradient of the mean cross-entropy, updates
 * the bn running statistics, and returns the sum of the per-sample losses.
 * Dropout masks come from mt_dropout_seed(seed, layer index, step, sample).
 * pool NULL runs on the calling thread; its thread count must not exceed
 * the work's. */
double mt_net_step(mt_net *net, mt_net_work *w, mt_pool *pool, const float *x,
                   const uint8_t *labels, int B, uint64_t seed, uint64_t step, const mt_kern *k);

/* The steps' loss: torch.nn.CrossEntropyLoss(label_smoothing=ls), 0 <= ls
 * <= 1 (0, the default, is plain cross-entropy). */
void mt_net_work_set_label_smoothing(mt_net_work *w, float ls);

/* The last step's logits (B, n_classes), valid until the next call. */
const float *mt_net_work_logits(const mt_net_work *w);

/* Evaluation forward (dropout off, bn on running statistics) of n samples
 * x (n, in_c*in_h*in_w) in chunks of max_B: logits (n, n_classes). */
void mt_net_predict(const mt_net *net, mt_net_work *w, mt_pool *pool, const float *x, size_t n,
                    float *logits, const mt_kern *k);

/* Tensors in state_dict order: parameters of each layer, then its buffers.
 * Returns the count; mt_net_tensor fills tensor i (name in buf, cap bytes):
 * F32 tensors point into params or buffers, num_batches_tracked is I64 at
 * the net's counter.  Returns the tensor's float data or NULL for the I64. */
int mt_net_n_tensors(const mt_net *net);
void mt_net_tensor(const mt_net *net, int i, char *buf, size_t cap, mt_st_tensor *t);

/* Writes the state_dict (+ meta) as safetensors (mt_st_write's statuses). */
mt_status mt_net_save(const char *path, const mt_net *net, const mt_st_meta *meta, size_t n_meta,
                      mt_err *err);
/* Copies every tensor of net from st after checking presence, dtype and
 * shape (MT_EDATA "PATH: tensor 'NAME': ..."; net untouched on failure). */
mt_status mt_net_load(mt_net *net, const mt_st *st, mt_err *err);

#endif
