/* mt_engine: the fast, threaded and deterministic training step and the
 * evaluation forward pass, on top of mt_mlp's parameter block and
 * the mt_kern table.
 *
 * The first layer's outputs are split into segments, one per thread (two
 * for the seed's 128 units; min(threads, ceil(units / 64))): a segment's
 * thread owns, for the whole run, its block of W1^T (the master copy while
 * training, never transposed per step), its b1 and its rows of W2^T, with
 * their optimizer moments, gradients and activations, each in its own
 * page-aligned allocation.  Cores then share almost nothing: on a machine
 * whose cores sit far apart (a VM's vCPUs may pay ~0.24 us per cache line
 * moved between them: docs/speed.md) every line one core writes and another
 * reads costs more than the arithmetic on it.  A step (mt_engine_step) is
 * one mt_pool run with one barrier (two with augmentation: the threads
 * warp a share of the rows each first): every thread reads the whole batch
 * itself (gather, per-row non-zero lists, column masks) and
 * makes its segments' first-layer outputs (sparse on the raw pixels from
 * the row lists, see mt_kern.sparse_fwd_rows, or dense on normalised
 * floats) and their part of layer 2's sums (a partial sum per 64 units) |
 * each thread adds the parts up (the step's exchange: 16 KB per segment,
 * besides the labels and the small layers' weights) and runs layer 2's output and the small layers above, softmax +
 * cross-entropy and the gradients down to layer 2's input for all rows
 * itself, then its segments' gradients and updates: W1^T by chunks of 96
 * pixels, each chunk's gradient (from the batch's column masks, see
 * mt_kern.sparse_bwd_masks) applied while in L1, then b1 and W2^T; the
 * small layers' update follows the run.  With gradient clipping the
 * gradient is made whole and a second run applies it once the global norm
 * is known.
 * Every float is produced by one fixed chain of operations whatever the
 * split (tests/test_kern.c checks the kernels' split invariance), and the
 * loss is summed in row order, so the same seed gives bit-identical losses
 * and weights for any --threads and on every run.  The dense and sparse
 * first-layer paths, and different ISAs, may differ in the last bits.
 *
 * The engine keeps W^T copies of the weights and owns the first layer's
 * and W2's while training: see mt_engine_sync / mt_engine_export. */
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

/* While training, the engine holds the first layer's weights and biases and
 * the second layer's weights, with their optimizer moments and gradients,
 * itself (transposed, in per-thread segments): m->params', m->grads' and
 * o->m / o->v's matching parts are stale between mt_engine_sync and
 * mt_engine_export.
 * mt_engine_sync: re-reads m->params (all W^T copies) and, when o is not
 * NULL, o's moments of those.  Call it after changing them any other way
 * (checkpoint load, another optimizer) and before the first mt_engine_step.
 * mt_engine_export: writes them back to m->params, their moments to o (when
 * not NULL) and their last gradients to m->grads (W1's only after a clipped
 * step: fused steps never make it whole; the other layers' gradients are
 * always there). */
void mt_engine_sync(mt_engine *e, mt_optim *o);
void mt_engine_export(mt_engine *e, mt_optim *o);

/* One training step on the B (<= max_B) samples idx[0..B) of images (n, C)
 * and labels (n): forward, loss (mean: dlogits scaled by 1/B), gradients and
 * one step of o (o->step advances).  Without clipping the first layer's
 * gradient is made and applied in row chunks in the same pass (one pool run);
 * with clipping, whole, then scaled and applied in a second run.  Copies the
 * batch's labels to labels_out (B) when not NULL.  Returns the SUM of the
 * per-sample losses, added in row order; when it is not finite nothing is
 * updated and o->step stays. */
double mt_engine_step(mt_engine *e, mt_optim *o, const uint8_t *images, const uint8_t *labels,
                      const uint32_t *idx, int B, float scale, float shift, uint8_t *labels_out);

/* The rows of the next batch (random rows of a large array): the next
 * mt_engine_step fetches them towards each working thread's cache, a few at
 * a time while it works.  The pointers must stay valid until that step
 * returns. */
void mt_engine_prefetch(mt_engine *e, const uint8_t *images, const uint32_t *idx, int B);

/* Gradient clipping by the global L2 norm of all gradients, as
 * torch.nn.utils.clip_grad_norm_ (and mt_clip_grad_norm): before each
 * update, grads *= max_norm / (norm + 1e-6) when that is below 1.  The norm
 * is summed in double in a fixed block order (first-layer rows, then the
 * other layers), so it does not depend on the thread count.  max_norm <= 0
 * (the default) or non-finite turns clipping off. */
void mt_engine_set_clip(mt_engine *e, float max_norm);
/* The training loss's label smoothing, as
 * torch.nn.CrossEntropyLoss(label_smoothing=ls) (kernel softmax_xent_ls):
 * the steps' losses and gradients use targets (1-ls) onehot + ls/K.  0 (the
 * default; also for ls outside (0, 1]) is the plain loss, bit for bit.
 * Evaluation losses are never smoothed. */
void mt_engine_set_label_smoothing(mt_engine *e, float ls);
/* The global gradient norm before clipping of the last update (0 before any
 * update with clipping on). */
double mt_engine_grad_norm(const mt_engine *e);

/* Data augmentation: every gathered training image (rows x cols, rows*cols
 * = the model's inputs) is warped as mt_augment_random does (by the
 * kernels' SIMD warp, which gives the reference's bytes) before the forward
 * pass, with an rng seeded from (seed, the augmentation step, the row in the
 * batch): results do not depend on the thread count or on who warps a row.  The step counts the
 * mt_engine_step calls made with augmentation on; a resumed run
 * sets it with mt_engine_set_augment_step.  a NULL or inactive turns augmentation
 * off.  MT_EARG when rows*cols does not match, MT_ENOMEM (the first time on:
 * it allocates the batch's warped rows).  Evaluation never augments. */
mt_status mt_engine_set_augment(mt_engine *e, const mt_augment *a, int rows, int cols, uint64_t seed,
                                mt_err *err);
void mt_engine_set_augment_step(mt_engine *e, uint64_t step);

/* Forward only, for evaluation, on the B consecutive samples starting at
 * images (B, C): logits (B, K).  Any B (runs of max_B rows, each on all
 * threads or on the caller's alone as a probe of its own finds faster; the
 * logits are the same either way). */
void mt_engine_forward(mt_engine *e, const uint8_t *images, int B, float scale, float shift,
                       float *logits);

/* "dense", "sparse" or "auto" (the requested path), and how many batches
 * took each path so far. */
const char *mt_path_name(mt_path p);
int mt_path_parse(const char *s); /* -1 if unknown */
mt_path mt_engine_path(const mt_engine *e);
void mt_engine_path_counts(const mt_engine *e, long long *dense, long long *sparse);
int mt_engine_threads(const mt_engine *e);
/* Training steps so far that ran on the caller's thread alone: with more
 * than one thread the engine times short probes (mt_probe) and runs each
 * stretch on one thread or on all, whichever was faster (the results are
 * the same either way). */
long long mt_engine_single_steps(const mt_engine *e);

/* The engine's thread-count probe (public for its tests).  From step `at`,
 * MT_PROBE_LEN steps run timed on one thread, then MT_PROBE_LEN on all; the
 * faster median (not the sum: one step preempted by the host, or the first
 * ones while a segment's state moves between cores, would decide it) runs
 * until the next probe.  That comes MT_PROBE_EVERY steps after the start of
 * a probe all threads won, and sooner after one that one thread won: the
 * other vCPU is often busy for a moment only (another program starting, the
 * host), and a whole epoch on one thread would cost far more than a probe.
 * The waits after such probes are MT_PROBE_SOON steps, then twice as many
 * each time up to MT_PROBE_EVERY; all threads winning resets them. */
#define MT_PROBE_LEN 8
#define MT_PROBE_EVERY 1024
#define MT_PROBE_SOON 128
typedef struct {
    long long at;              /* the first step of the current or next probe */
    int soon;                  /* the wait after the next probe one thread wins */
    int use_all;               /* the choice between probes: all threads (1) or one (0) */
    double s[2][MT_PROBE_LEN]; /* the probe's step times on one thread [0] and on all [1] */
} mt_probe;

void mt_probe_init(mt_probe *p);
/* Whether step `step` (steps come in order) runs on all threads (1) or on
 * one (0); *timed is set when its time must go to mt_probe_record. */
int mt_probe_mode(const mt_probe *p, long long step, int *timed);
void mt_probe_record(mt_probe *p, long long step, double seconds);

#endif
