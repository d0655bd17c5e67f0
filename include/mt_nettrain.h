/* mt_nettrain: training epochs, evaluation and resumable state files for an
 * mt_net (the layer-list models), with the same contracts as mt_train /
 * mt_ckpt have for the MLP: a progress callback, exact resume inside an
 * epoch, PyTorch-loadable files.  Nothing here prints or exits. */
#ifndef MT_NETTRAIN_H
#define MT_NETTRAIN_H

#include <signal.h>
#include <stdint.h>

#include "mt_data.h"
#include "mt_err.h"
#include "mt_kern.h"
#include "mt_net.h"
#include "mt_optim.h"
#include "mt_pool.h"
#include "mt_rng.h"
#include "mt_st.h"
#include "mt_epoch.h"
#include "mt_train.h" /* mt_eval */

typedef struct mt_net_trainer {
    mt_net *net;              /* borrowed */
    mt_optim *opt;            /* borrowed; opt->step numbers the steps (dropout streams) */
    const mt_kern *k;         /* borrowed */
    mt_pool *pool;            /* borrowed, may be NULL (one thread) */
    mt_net_work *work;        /* owned, batch_size rows */
    mt_epoch ep;              /* order, position (exact resume), shuffle, max_steps */
    uint64_t dropout_seed;    /* masks: mt_dropout_seed(dropout_seed, layer, opt->step, row) */
    float scale, shift;       /* pixel normalisation x = p*scale + shift */
    float *x;                 /* (batch_size, pixels) the current batch */
    uint8_t *labels;          /* (batch_size) */
} mt_net_trainer;

/* Buffers for training net on n samples of `pixels` values each in batches
 * of batch_size on pool's threads (pool may be NULL).  Caller frees with
 * mt_net_trainer_free. */
mt_status mt_net_trainer_init(mt_net_trainer *t, mt_net *net, mt_optim *opt, const mt_kern *k,
                              mt_pool *pool, uint32_t n, int batch_size, uint64_t shuffle_seed,
                              uint64_t dropout_seed, mt_err *err);
void mt_net_trainer_free(mt_net_trainer *t);

/* One pass over ds: mt_epoch_run with the net's step (on_batch may set
 * opt->lr for the next step: a per-batch scheduler). */
mt_status mt_net_train_epoch(mt_net_trainer *t, const mt_dataset *ds, int epoch, mt_batch_fn on_batch,
                             void *user, volatile sig_atomic_t *stop, double *avg_loss,
                             int *batches_done, mt_err *err);

/* Evaluation mode (dropout off, bn running statistics) over ds in chunks of
 * the work's batch: as mt_evaluate (preds (n), probs (n,K), confusion (K,K)
 * ADDED to; each may be NULL). */
mt_status mt_net_evaluate(const mt_net *net, mt_net_work *w, mt_pool *pool, const mt_kern *k,
                          const mt_dataset *ds, int batch_size, float scale, float shift, mt_eval *out,
                          uint8_t *preds, float *probs, uint32_t *confusion, mt_err *err);

/* A state file: the net's state_dict, then (names sorting after it)
 *   optimizer.exp_avg, optimizer.exp_avg_sq (Adam/AdamW) or
 *   optimizer.momentum_buffer (SGD): F32 (n_params), the flat blocks
 *   optimizer.step I64 (1), train.epoch I64 (1), train.in_epoch I64 (1),
 *   train.batch I64 (1), train.loss_sum F64 (1), train.rng U64 (4),
 *   train.perm U32 (n), train.dropout_seed U64 (1)
 * and meta (put "model" and the config there). */
mt_status mt_net_save_state(const char *path, const mt_net_trainer *t, long long epochs_done,
                            const mt_st_meta *meta, size_t n_meta, mt_err *err);
/* Restores weights, bn buffers, optimizer state, order, position and
 * *epochs_done from st after checking every tensor (MT_EDATA "PATH: ...";
 * nothing changed on failure). */
mt_status mt_net_restore_state(const mt_st *st, mt_net_trainer *t, long long *epochs_done, mt_err *err);

#endif
