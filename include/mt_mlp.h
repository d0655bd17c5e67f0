/* mt_mlp: a multi-layer perceptron (Linear -> ReLU -> ... -> Linear, raw
 * logits), the seed's DigitClassifier generalised to any layer sizes.
 *
 * Dimension letters: B batch, C input features, OC output features,
 * K classes, N flat element count.
 *
 * Parameters live in ONE block in PyTorch state_dict order
 * (fc1.weight (OC,C), fc1.bias (OC), fc2.weight, ...), gradients in a second
 * block with the same layout, so an optimizer is one loop and a checkpoint
 * is one write. */
#ifndef MT_MLP_H
#define MT_MLP_H

#include <stddef.h>
#include <stdint.h>

#include "mt_err.h"
#include "mt_kern.h"
#include "mt_rng.h"

#define MT_MAX_LAYERS 8

typedef struct mt_mlp {
    int n_layers;                 /* number of Linear layers (3 for the seed) */
    int dims[MT_MAX_LAYERS + 1];  /* dims[0] inputs ... dims[n_layers] classes */
    size_t n_params;              /* floats in params and grads */
    float *params;                /* (n_params) all weights and biases */
    float *grads;                 /* (n_params) same layout as params */
    float *w[MT_MAX_LAYERS];      /* (dims[l+1], dims[l]) views into params */
    float *b[MT_MAX_LAYERS];      /* (dims[l+1]) */
    float *dw[MT_MAX_LAYERS];     /* views into grads */
    float *db[MT_MAX_LAYERS];
} mt_mlp;

/* Per-batch buffers the forward pass fills and the backward pass reads. */
typedef struct mt_mlp_work {
    int max_B;                    /* capacity in rows */
    float *act[MT_MAX_LAYERS + 1];/* act[0] (B,dims[0]) input; act[l] (B,dims[l]) ReLU output;
                                     act[n_layers] (B,K) logits */
    float *dact[MT_MAX_LAYERS + 1];/* gradients w.r.t. act[l], l >= 1 */
    float *losses;                /* (B) per-sample loss */
} mt_mlp_work;

/* Allocates a model with layer sizes dims[0..n_layers] and initialises it as
 * torch.nn.Linear does: weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))
 * (kaiming_uniform with a = sqrt(5)), layer by layer, weight then bias.
 * Caller frees with mt_mlp_free. */
mt_status mt_mlp_init(mt_mlp *m, const int *dims, int n_layers, mt_rng *rng, mt_err *err);
void mt_mlp_free(mt_mlp *m);

mt_status mt_mlp_work_init(mt_mlp_work *w, const mt_mlp *m, int max_B, mt_err *err);
void mt_mlp_work_free(mt_mlp_work *w);

/* Forward pass on work->act[0] (B rows); logits in work->act[n_layers]. */
void mt_mlp_forward(const mt_mlp *m, mt_mlp_work *w, int B, const mt_kern *k);

/* Loss and its gradient on the logits: returns the SUM of per-sample losses;
 * dlogits are scaled by dscale (1/B for the batch mean). */
double mt_mlp_loss(const mt_mlp *m, mt_mlp_work *w, const uint8_t *labels, int B,
                   float dscale, const mt_kern *k);

/* Backward pass: ACCUMULATES into m->grads (clear with mt_mlp_zero_grad). */
void mt_mlp_backward(mt_mlp *m, mt_mlp_work *w, int B, const mt_kern *k);
void mt_mlp_zero_grad(mt_mlp *m);

/* Name, shape and view of parameter tensor i (0 <= i < 2*n_layers), in
 * state_dict order: "fc1.weight", "fc1.bias", ... */
const char *mt_mlp_tensor(const mt_mlp *m, int i, int shape[2], int *ndim, float **data);

/* Parses a comma-separated list of hidden sizes ("128,64") into dims[1..];
 * returns the number of hidden layers or -1 if malformed. */
int mt_mlp_parse_hidden(const char *s, int *hidden, int max);

#endif
