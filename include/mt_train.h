/* mt_train: one epoch of mini-batch training and the evaluation pass, as the
 * seed's train() and test().  It reports progress through a callback and
 * never prints. */
#ifndef MT_TRAIN_H
#define MT_TRAIN_H

#include <signal.h>
#include <stdint.h>

#include "mt_data.h"
#include "mt_epoch.h"
#include "mt_err.h"
#include "mt_kern.h"
#include "mt_mlp.h"
#include "mt_optim.h"
#include "mt_rng.h"

typedef struct mt_trainer {
    mt_mlp *model;            /* borrowed */
    mt_optim *opt;            /* borrowed */
    const mt_kern *k;         /* borrowed */
    mt_epoch ep;              /* order, position (exact resume), shuffle, max_steps */
    float scale, shift;       /* pixel normalization x = p*scale + shift */
    float label_smoothing;    /* training loss's CrossEntropyLoss label_smoothing (0 = off); the
                               * engine has its own (mt_engine_set_label_smoothing) */
    uint8_t *labels;          /* (batch_size) labels of the current batch */
    mt_mlp_work work;
    struct mt_engine *engine; /* borrowed; when set, steps run on it (threaded) */
} mt_trainer;

/* Allocates buffers for training on n samples; the shuffling stream is
 * seeded from shuffle_seed.  Caller frees with mt_trainer_free. */
mt_status mt_trainer_init(mt_trainer *t, mt_mlp *model, mt_optim *opt, const mt_kern *k,
                          uint32_t n, int batch_size, uint64_t shuffle_seed, mt_err *err);
void mt_trainer_free(mt_trainer *t);

/* One pass over ds: mt_epoch_run with the MLP's step (on the engine when
 * t->engine is set). */
mt_status mt_train_epoch(mt_trainer *t, const mt_dataset *ds, int epoch, mt_batch_fn on_batch,
                         void *user, volatile sig_atomic_t *stop, double *avg_loss,
                         int *batches_done, mt_err *err);

typedef struct mt_eval {
    double loss;        /* mean per-sample loss */
    uint32_t correct;
    uint32_t total;
} mt_eval;

/* Evaluates the first ds->n samples in batches of batch_size.  preds (n) and
 * probs (n, K) receive predictions and softmax probabilities when not NULL;
 * confusion (K,K) (rows true, columns predicted) is ADDED to when not NULL. */
mt_status mt_evaluate(const mt_mlp *m, const mt_kern *k, const mt_dataset *ds, int batch_size,
                      float scale, float shift, mt_eval *out, uint8_t *preds, float *probs,
                      uint32_t *confusion, mt_err *err);

/* mt_evaluate with the forward pass on engine e (threaded; the engine's
 * max_B must be >= batch_size and its kernels k).  Same results as
 * mt_evaluate up to rounding. */
struct mt_engine;
mt_status mt_evaluate_engine(struct mt_engine *e, const mt_mlp *m, const mt_kern *k, const mt_dataset *ds,
                             int batch_size, float scale, float shift, mt_eval *out, uint8_t *preds,
                             float *probs, uint32_t *confusion, mt_err *err);

#endif
