/* mt_optim: optimizers over one flat parameter block: Adam and AdamW exactly
 * as torch.optim.Adam / AdamW (default, non-amsgrad), SGD with momentum and
 * optional Nesterov momentum as torch.optim.SGD (dampening 0), and Adadelta
 * as torch.optim.Adadelta.  State (moments, step) is one block each, so
 * checkpoints store it with one write. */
#ifndef MT_OPTIM_H
#define MT_OPTIM_H

#include <stddef.h>

#include "mt_err.h"
#include "mt_kern.h"

typedef enum { MT_OPT_ADAM = 0, MT_OPT_ADAMW, MT_OPT_SGD, MT_OPT_ADADELTA } mt_opt_kind;

typedef struct mt_optim {
    mt_opt_kind kind;
    float lr;            /* learning rate of the next step (schedulers may change it) */
    float beta1, beta2;  /* Adam moment decay (0.9, 0.999) */
    float eps;           /* Adam denominator epsilon (1e-8); Adadelta's (1e-6) */
    float rho;           /* Adadelta running-average decay (0.9) */
    float weight_decay;  /* L2 for Adam/SGD/Adadelta, decoupled for AdamW */
    float momentum;      /* SGD momentum (0 = plain SGD) */
    int nesterov;        /* SGD: Nesterov momentum (needs momentum > 0) */
    long long step;      /* steps taken so far */
    float bc1, bc2;      /* Adam bias corrections 1 - beta^step of the current step */
    size_t n;            /* parameter count */
    float *m;            /* (n) Adam first moment, SGD momentum buffer, or
                          * Adadelta square_avg (running mean of g^2) */
    float *v;            /* (n) Adam second moment, or Adadelta acc_delta
                          * (running mean of update^2); NULL for SGD */
} mt_optim;

/* Allocates zeroed state for n parameters; hyper-parameters are set by the
 * caller afterwards (mt_optim_defaults gives PyTorch's). */
mt_status mt_optim_init(mt_optim *o, mt_opt_kind kind, size_t n, mt_err *err);
void mt_optim_defaults(mt_optim *o);
/* Checks the hyper-parameters PyTorch's constructors check: lr, eps,
 * weight_decay, momentum >= 0; betas and rho in [0, 1); Nesterov only for
 * SGD with momentum > 0.  MT_EARG with a message naming the field. */
mt_status mt_optim_check(const mt_optim *o, mt_err *err);
void mt_optim_free(mt_optim *o);

/* One update of params with grads (both (n)). */
void mt_optim_step(mt_optim *o, float *params, const float *grads, const mt_kern *k);

/* The same step in pieces, for threads that split the block (mt_engine):
 * mt_optim_begin_step once (advances o->step), then mt_optim_step_range over
 * disjoint ranges [lo,hi) that together cover [0,n), in any order or in
 * parallel.  The update is elementwise, so the result does not depend on how
 * the block is split. */
void mt_optim_begin_step(mt_optim *o);
void mt_optim_step_range(const mt_optim *o, float *params, const float *grads, const mt_kern *k,
                         size_t lo, size_t hi);

/* The same step on separate buffers: n parameters p with gradients g and
 * their state m (and v for Adam/AdamW; NULL for SGD) held elsewhere than
 * o->m / o->v (mt_engine keeps the first layer's transposed).  Elementwise
 * and the same operations as mt_optim_step_range.  Call after
 * mt_optim_begin_step. */
void mt_optim_step_buf(const mt_optim *o, float *p, const float *g, float *m, float *v, size_t n,
                       const mt_kern *k);

/* Scales grads (n) so their global L2 norm is at most max_norm, as
 * torch.nn.utils.clip_grad_norm_ (factor max_norm / (norm + 1e-6), applied
 * only when that is below 1).  Returns the norm before clipping; a
 * non-finite norm leaves grads untouched (the loss check reports it). */
double mt_clip_grad_norm(float *grads, size_t n, double max_norm);

/* "adam", "adamw", "sgd", "adadelta" -> kind, or -1. */
int mt_optim_parse(const char *name);
const char *mt_optim_name(mt_opt_kind kind);

#endif
