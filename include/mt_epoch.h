/* mt_epoch: what the two trainers (mt_train's MLP, mt_nettrain's layer
 * lists) share about the order of training: the shuffling stream, the
 * sample order of the current epoch, where in it training stands (for exact
 * resume), the loop over one epoch's batches around a model's own step, and
 * the train.* tensors of state files with their checks.  Nothing here
 * prints or exits. */
#ifndef MT_EPOCH_H
#define MT_EPOCH_H

#include <signal.h>
#include <stdint.h>

#include "mt_err.h"
#include "mt_rng.h"
#include "mt_st.h"

typedef struct mt_batch_info {
    int epoch;          /* 1-based */
    int batch;          /* 0-based index within the epoch */
    int n_batches;      /* batches per epoch */
    int batch_size;     /* rows in this batch */
    float loss;         /* mean loss of this batch */
    double running;     /* sum of batch-mean losses so far this epoch */
    double seconds;     /* since the epoch started */
} mt_batch_info;

typedef void (*mt_batch_fn)(void *user, const mt_batch_info *info);

typedef struct mt_epoch {
    mt_rng rng;               /* shuffling stream (after the init stream) */
    uint32_t *perm;           /* (n) sample order of the current epoch */
    uint32_t n;               /* samples */
    int batch_size;
    int shuffle;              /* reshuffle every epoch (0 = file order) */
    long long max_steps;      /* stop after this many optimizer steps (0 = no limit) */
    /* Position inside an epoch, for exact resume.  When in_epoch is set,
     * perm already holds this epoch's order: the next mt_epoch_run does not
     * reshuffle, starts at batch next_batch and continues the loss sum from
     * running.  mt_epoch_run keeps them current and clears them when an
     * epoch completes. */
    int in_epoch;
    int next_batch;
    double running;           /* sum of batch-mean losses of batches [0, next_batch) */
} mt_epoch;

/* The identity order of n samples, shuffled from shuffle_seed's stream at
 * each epoch's start.  Free with mt_epoch_free (safe on a zeroed struct). */
mt_status mt_epoch_init(mt_epoch *e, uint32_t n, int batch_size, uint64_t shuffle_seed, mt_err *err);
void mt_epoch_free(mt_epoch *e);

/* A model's training step, split where the loop decides.  step sets *sum,
 * the sum of the losses of the samples idx[0..B); next (B_next samples,
 * NULL after the last batch) is the batch after this one, for a step that
 * fetches ahead.  update applies the step to the model; the loop calls it
 * only when the loss is finite.  It is NULL when step updates the model
 * itself (the MLP engine's fused step). */
typedef struct mt_epoch_model {
    void (*step)(void *ctx, const uint32_t *idx, int B, const uint32_t *next, int B_next, double *sum);
    void (*update)(void *ctx, int B);
    void *ctx;
} mt_epoch_model;

/* One pass over the first n samples (n <= e->n) in batches of e->batch_size
 * (or the rest of one, see in_epoch), the last partial batch kept
 * (PyTorch's DataLoader, drop_last=False).  *step_count is the optimizer's
 * step counter (read for max_steps).  *avg_loss = mean of the per-batch mean
 * losses (the seed's running_loss / len(train_loader)).  Returns
 * MT_EDIVERGED if a loss is not finite, MT_EINTR if *stop becomes non-zero
 * between batches (stop may be NULL); then *batches_done tells how far it
 * got.  on_batch (may be NULL) is called after every batch. */
mt_status mt_epoch_run(mt_epoch *e, uint32_t n, int epoch, const long long *step_count,
                       const mt_epoch_model *m, mt_batch_fn on_batch, void *user, volatile sig_atomic_t *stop,
                       double *avg_loss, int *batches_done, mt_err *err);

/* ---- state files ----------------------------------------------------------
 * The tensors optimizer.step I64 (1), train.epoch I64 (1), train.in_epoch
 * I64 (1), train.batch I64 (1), train.loss_sum F64 (1), train.rng U64 (4),
 * train.perm U32 (n).  mt_epoch_tensors fills ts[0..MT_EPOCH_N_TENSORS)
 * (pointing into *keep, which must outlive the write). */
enum { MT_EPOCH_N_TENSORS = 7 };
typedef struct { int64_t step, epoch, in_epoch, batch; double loss_sum; } mt_epoch_keep;
void mt_epoch_tensors(mt_st_tensor *ts, mt_epoch_keep *keep, const mt_epoch *e, long long step,
                      long long epochs_done);

/* Reads and checks those tensors from st (MT_EDATA "PATH: ..." naming what
 * is missing or inconsistent: the order a permutation of this run's n
 * samples, the position inside an epoch of e->batch_size batches, a loss sum
 * and a step count that fit it, a live PRNG) into *out, which owns a copy
 * of the order; nothing of e changes.  mt_epoch_commit then moves it into e
 * (after the caller has checked the rest of the file). */
typedef struct { mt_epoch_keep k; mt_rng rng; uint32_t *perm; } mt_epoch_saved;
mt_status mt_epoch_read(mt_epoch_saved *out, const mt_epoch *e, const mt_st *st, mt_err *err);
void mt_epoch_commit(mt_epoch *e, mt_epoch_saved *s, long long *step, long long *epochs_done);
void mt_epoch_saved_free(mt_epoch_saved *s);

#endif
