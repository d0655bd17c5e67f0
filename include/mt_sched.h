/* mt_sched: learning-rate schedules and early stopping, with PyTorch's
 * semantics: torch.optim.lr_scheduler.StepLR, CosineAnnealingLR and
 * ReduceLROnPlateau, stepped once per epoch, and OneCycleLR, stepped once
 * per batch.  Pure arithmetic: the caller applies the returned rate to its
 * optimizer.
 *
 * A training loop drives every kind the same way:
 *     opt.lr = mt_sched_lr(&s);                     before the first batch
 *     after each batch:  opt.lr = mt_sched_batch_end(&s);
 *     after each epoch:  opt.lr = mt_sched_epoch_end(&s, val_loss);
 * (per-epoch kinds ignore batch_end; onecycle ignores epoch_end). */
#ifndef MT_SCHED_H
#define MT_SCHED_H

#include <stddef.h>

typedef enum { MT_SCHED_NONE = 0, MT_SCHED_STEP, MT_SCHED_COSINE, MT_SCHED_PLATEAU, MT_SCHED_ONECYCLE } mt_sched_kind;

typedef struct mt_sched {
    mt_sched_kind kind;
    double base_lr;     /* the optimizer's initial rate */
    double lr;          /* current rate */
    int step_size;      /* step: epochs between decays */
    double gamma;       /* step: decay factor; plateau: factor */
    int t_max;          /* cosine: epochs of one half period */
    double min_lr;      /* cosine: eta_min; plateau: min_lr */
    int patience;       /* plateau: epochs without improvement before a cut */
    double threshold;   /* plateau: relative improvement that counts (1e-4) */
    double best;        /* plateau: best metric so far */
    int bad_epochs;     /* plateau: epochs since the best */
    int epoch;          /* epochs completed */
    long long step;     /* batches completed (all kinds count them) */
    long long total_steps;    /* onecycle: batches of the whole run (epochs x batches per epoch) */
    double pct_start;         /* onecycle: fraction of total_steps spent rising (0.3) */
    double div_factor;        /* onecycle: the start rate is base_lr / div_factor (25) */
    double final_div_factor;  /* onecycle: the end rate is start / final_div_factor (1e4) */
} mt_sched;

/* Starts a schedule at base_lr with PyTorch's defaults where it has them
 * (gamma/factor 0.1, patience 10, threshold 1e-4, min_lr 0; onecycle's
 * pct_start 0.3, div_factor 25, final_div_factor 1e4) and step_size 1,
 * t_max 1, total_steps 1; the caller overwrites fields before the first
 * batch (onecycle needs total_steps), then takes mt_sched_lr. */
void mt_sched_init(mt_sched *s, mt_sched_kind kind, double base_lr);

/* The rate of the next batch: onecycle's mt_sched_onecycle_lr at s->step,
 * the per-epoch kinds' current rate otherwise. */
double mt_sched_lr(const mt_sched *s);

/* Call at the end of each batch (every kind: it counts s->step).  Returns
 * the rate for the next batch (changed by onecycle only). */
double mt_sched_batch_end(mt_sched *s);

/* Call at the end of each epoch; metric is the monitored loss (used by
 * plateau only; NaN is ignored).  Returns the rate for the next epoch
 * (onecycle: the next batch's, unchanged by the epoch's end). */
double mt_sched_epoch_end(mt_sched *s, double metric);

/* OneCycleLR (anneal_strategy "cos", three_phase False, cycle_momentum
 * off) at 0-based global step t of s->total_steps, with max_lr = base_lr,
 * in PyTorch's double-precision operations (so its values to the last
 * bit): the rate rises from base_lr/div_factor to base_lr over the first
 * pct_start*total_steps - 1 steps and falls to
 * base_lr/div_factor/final_div_factor at step total_steps - 1, both halves
 * cosine.  Steps past the end continue the last phase's formula (PyTorch
 * refuses them). */
double mt_sched_onecycle_lr(const mt_sched *s, long long t);

/* 1 for a schedule stepped every batch (onecycle), 0 for per-epoch ones. */
int mt_sched_per_batch(const mt_sched *s);

/* "none", "step", "cosine", "plateau", "onecycle" -> kind, or -1. */
int mt_sched_parse(const char *name);
const char *mt_sched_name(mt_sched_kind kind);

/* Early stopping on a monitored loss: stop after `patience` epochs without
 * an improvement larger than min_delta. */
typedef struct mt_early {
    int patience;       /* 0 = never stop */
    double min_delta;
    double best;        /* best loss so far (inf before the first) */
    int best_epoch;     /* 1-based epoch of the best loss, 0 before */
    int bad_epochs;
} mt_early;

void mt_early_init(mt_early *e, int patience, double min_delta);
/* Records epoch's loss; returns 1 when it improved on the best (the caller
 * may keep these weights), 0 otherwise. */
int mt_early_update(mt_early *e, int epoch, double loss);
/* 1 when training should stop. */
int mt_early_should_stop(const mt_early *e);

/* The mutable state of a schedule and an early stopper as one line of text
 * (hex floats, exact), for training-state checkpoints; parse returns 0 on
 * success, -1 when the text is malformed (s and e untouched).  The text
 * ends in " step=N" (batches done); text without it (older checkpoints)
 * parses with step 0. */
void mt_sched_state_text(char *buf, size_t cap, const mt_sched *s, const mt_early *e);
int mt_sched_state_parse(const char *text, mt_sched *s, mt_early *e);

#endif
