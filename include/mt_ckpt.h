/* mt_ckpt: the model and the training state <-> safetensors files (mt_st).
 *
 * A model file holds exactly PyTorch's state_dict of the MLP, F32, row-major:
 *   fc1.weight (H1,C)  fc1.bias (H1)  fc2.weight (H2,H1) ...  fcL.bias (K)
 * so `model.load_state_dict(safetensors.torch.load_file(FILE))` works in
 * strict mode.  The architecture is read back from these shapes alone.
 *
 * A state file holds the same tensors plus (names chosen to sort after them):
 *   optimizer.exp_avg.<p>, optimizer.exp_avg_sq.<p>  F32, shape of <p>  (Adam/AdamW)
 *   optimizer.momentum_buffer.<p>                    F32, shape of <p>  (SGD)
 *   optimizer.step   I64 (1)  steps taken
 *   train.epoch      I64 (1)  epochs completed
 *   train.in_epoch   I64 (1)  1: an epoch is under way, its order is train.perm
 *   train.batch      I64 (1)  next batch of that epoch
 *   train.loss_sum   F64 (1)  sum of its batch losses so far
 *   train.rng        U64 (4)  shuffling PRNG state (xoshiro256**)
 *   train.perm       U32 (N)  sample order (a permutation of 0..N-1)
 * Together with the config (metadata "config") this resumes bit-exactly.
 *
 * Every file is untrusted: mt_st validates the format; this module checks
 * presence, dtype and shape of every tensor it uses against the model, and
 * the consistency of the state.  Nothing here prints or exits. */
#ifndef MT_CKPT_H
#define MT_CKPT_H

#include <stddef.h>

#include "mt_err.h"
#include "mt_mlp.h"
#include "mt_optim.h"
#include "mt_st.h"
#include "mt_train.h"

/* A loaded checkpoint of either kind.  Zero-initialise; free with mt_ckpt_free. */
typedef struct mt_ckpt {
    mt_st st;                      /* the file (tensors and metadata) */
    int is_state;                  /* 1 when it holds training state (train.epoch present) */
    int n_layers;                  /* Linear layers, from fc1.weight ... fcL.weight */
    int dims[MT_MAX_LAYERS + 1];   /* dims[0] inputs ... dims[n_layers] classes */
    size_t n_params;               /* floats in all weights and biases */
    double mean, std;              /* normalization from metadata, else MNIST's */
    int rows, cols;                /* image size from metadata "input_shape", else
                                      sqrt(dims[0]) when a square, else 0 */
} mt_ckpt;

/* Loads path and checks the model part: fc1.weight, fc1.bias, ... present,
 * F32, 2-D/1-D, each layer's input equal to the previous output, sizes in
 * 1..65536, at most MT_MAX_LAYERS layers, no other "fcN." tensor.
 * *out must be zeroed; written only on success.
 * Returns MT_OK, MT_EDATA "PATH: ..." (one line), or MT_ENOMEM. */
mt_status mt_ckpt_load(const char *path, mt_ckpt *out, mt_err *err);
/* Same as mt_ckpt_load, from the n bytes at bytes (copied); name is used in
 * messages (a checkpoint held in memory, e.g. by a fuzz harness). */
mt_status mt_ckpt_parse(const void *bytes, size_t n, const char *name, mt_ckpt *out, mt_err *err);
void mt_ckpt_free(mt_ckpt *c);

/* The metadata value for key, or NULL. */
const char *mt_ckpt_meta(const mt_ckpt *c, const char *key);

/* "784-128-64-10" into buf (cap bytes). */
void mt_ckpt_arch(char *buf, size_t cap, const int *dims, int n_layers);

/* Allocates *m with the checkpoint's architecture and copies the weights
 * (caller frees with mt_mlp_free). */
mt_status mt_ckpt_model(const mt_ckpt *c, mt_mlp *m, mt_err *err);

/* Copies the weights into an existing model after checking that the
 * checkpoint's architecture equals m's: MT_EDATA naming the first tensor
 * whose shape differs ("PATH: tensor 'fc1.weight': shape [128,784] in the
 * file, the model needs [32,784]"); m untouched on failure. */
mt_status mt_ckpt_weights(const mt_ckpt *c, mt_mlp *m, mt_err *err);

/* Restores everything from a state file: weights (as mt_ckpt_weights), the
 * optimizer moments and step for o->kind, the trainer's PRNG, order and
 * position, and *epochs_done.  Checks every tensor and the state's
 * consistency (order length == t->n and a permutation, position inside the
 * epoch, PRNG state non-zero, moments finite and second moments >= 0, step
 * and epoch non-negative, progress implies steps) before writing anything;
 * MT_EDATA "PATH: ..." otherwise (m, o, t untouched). */
mt_status mt_ckpt_restore(const mt_ckpt *c, mt_mlp *m, mt_optim *o, mt_trainer *t,
                          long long *epochs_done, mt_err *err);

/* Writes the model file atomically (mt_st_write): the state_dict tensors and
 * meta[0..n_meta) (string pairs; may be NULL when 0).  MT_EIO / MT_EARG /
 * MT_ENOMEM as mt_st_write. */
mt_status mt_ckpt_save_model(const char *path, const mt_mlp *m, const mt_st_meta *meta,
                             size_t n_meta, mt_err *err);

/* Writes a state file atomically: model, optimizer o, trainer t's PRNG, order
 * and position, epochs_done, and meta (put the effective config under
 * "config" so --resume can restore the recipe). */
mt_status mt_ckpt_save_state(const char *path, const mt_mlp *m, const mt_optim *o,
                             const mt_trainer *t, long long epochs_done,
                             const mt_st_meta *meta, size_t n_meta, mt_err *err);

#endif
