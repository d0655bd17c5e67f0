/* mt_engine: the fast, threaded and deterministic training step and the
 * evaluation forward pass (issue 3), on top of mt_mlp's parameter block and
 * the mt_kern table.
 *
 * The first layer (100k of the seed's 109k parameters) is model-parallel:
 * thread t owns a fixed 16-aligned block [o0,o1) of its output features and
 * computes that block's outputs for the whole batch (dense on normalised
 * floats, or sparse on the raw pixels, see mt_kern.sparse_fwd), its weight
 * gradient, its optimizer update and its own slice of W1^T, so the first
 * layer's weights, moments and gradients stay in one core's cache.  A step is
 * two mt_pool runs.
 *   1. mt_engine_forward_backward: gather (rows split between the threads),
 *      barrier, first-layer blocks, barrier, the small layers' forward,
 *      softmax + cross-entropy and input gradients (rows split), barrier;
 *      each thread writes its block of dW1 (sparse: from column lists the
 *      threads built together), the last thread the small layers' weight
 *      gradients.
 *   2. mt_engine_update: optional clipping by the global gradient norm, then
 *      each thread updates its block of the first layer (and refreshes its
 *      W1^T slice), the last thread the small layers.
 * Every float is produced by one fixed chain of operations whatever the
 * split (tests/test_kern.c checks the kernels' split invariance), and the
 * loss is summed in row order, so the same seed gives bit-identical losses
 * and weights for any --threads and on every run.  The dense and sparse
 * first-layer paths, and different ISAs, may differ in the last bits.
 *
 * The engine keeps W^T copies of the weights: after changing m->params any
 * other way (checkpoint load, another optimizer step), call mt_engine_sync. */
#ifndef MT_ENGINE_H
#define MT_ENGINE_H

#include <stdint.h>

#include "mt_augment.h"
#include "mt_err.h"
#include "mt_kern.h"
#include "mt_mlp.h"
#include "mt_optim.h"
#include "mt_pool.h"

typedef enum { MT_PATH_AUTO = 0, MT_PATH_DENSE, MT_PATH_SPARSE } mt_path;

/* Batches with at most this fraction of non-zero pixels take the sparse
 * first layer under MT_PATH_AUTO (measured crossover, see bench/gemm). */
#define MT_SPARSE_MAX_DENSITY 0.40

typedef struct mt_engine mt_engine;

/* For model m (borrowed; must outlive the engine) with kernels k, nthreads
 * threads (>= 1) and batches of up to max_B rows.  Caller frees with
 * mt_engine_free.  MT_EARG for a bad thread count, MT_ENOMEM. */
mt_status mt_engine_create(mt_engine **out, mt_mlp *m, const mt_kern *k, int nthreads,
                           mt_path path, int max_B, mt_err *err);
void mt_engine_free(mt_engine *e);

/* Re-reads m->params into the engine's transposed copies. */
void mt_engine_sync(mt_engine *e);

/* Step part 1 for the B (<= max_B) samples idx[0..B) of images (n, C) and
 * labels (n): forward, loss (mean: dlogits scaled by 1/B) and input
 * gradients.  Copies the batch's labels to labels_out (B) when not NULL.
 * Returns the SUM of the per-sample losses, added in row order. */
double mt_engine_forward_backward(mt_engine *e, const uint8_t *images, const uint8_t *labels,
                                  const uint32_t *idx, int B, float scale, float shift,
                                  uint8_t *labels_out);

/* Hints the rows of the next batch into the cache (they are random rows of
 * a 47 MB array): call it between part 1 and part 2. */
void mt_engine_prefetch(const mt_engine *e, const uint8_t *images, const uint32_t *idx, int B);

/* Step part 2: grads = this batch's gradients (scaled when clipping is on),
 * then one optimizer step (o->step advances once) and the refresh of the W^T
 * copies. */
void mt_engine_update(mt_engine *e, mt_optim *o);

/* Gradient clipping by the global L2 norm of all gradients, as
 * torch.nn.utils.clip_grad_norm_ (and mt_clip_grad_norm): before each
 * update, grads *= max_norm / (norm + 1e-6) when that is below 1.  The norm
 * is summed in double in a fixed block order (first-layer rows, then the
 * other layers), so it does not depend on the thread count.  max_norm <= 0
 * (the default) or non-finite turns clipping off. */
void mt_engine_set_clip(mt_engine *e, float max_norm);
/* The global gradient norm before clipping of the last update (0 before any
 * update with clipping on). */
double mt_engine_grad_norm(const mt_engine *e);

/* Data augmentation: every gathered training image (rows x cols, rows*cols
 * = the model's inputs) is warped by mt_augment_random before the forward
 * pass, with an rng seeded from (seed, the augmentation step, the row in the
 * batch): results do not depend on the thread count.  The step counts the
 * mt_engine_forward_backward calls made with augmentation on; a resumed run
 * sets it with mt_engine_set_augment_step.  a NULL or inactive turns augmentation
 * off.  MT_EARG when rows*cols does not match.  Evaluation never augments. */
mt_status mt_engine_set_augment(mt_engine *e, const mt_augment *a, int rows, int cols, uint64_t seed,
                                mt_err *err);
void mt_engine_set_augment_step(mt_engine *e, uint64_t step);

/* Forward only, for evaluation, on the B (<= max_B) consecutive samples
 * starting at images (B, C).  Returns the logits (B, K), valid until the next
 * engine call. */
const float *mt_engine_forward(mt_engine *e, const uint8_t *images, int B, float scale, float shift);

/* "dense", "sparse" or "auto" (the requested path), and how many batches
 * took each path so far. */
const char *mt_path_name(mt_path p);
int mt_path_parse(const char *s); /* -1 if unknown */
mt_path mt_engine_path(const mt_engine *e);
void mt_engine_path_counts(const mt_engine *e, long long *dense, long long *sparse);
int mt_engine_threads(const mt_engine *e);

#endif
