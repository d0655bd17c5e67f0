/* mt_sched: learning-rate schedules and early stopping, with PyTorch's
 * semantics (torch.optim.lr_scheduler.StepLR, CosineAnnealingLR,
 * ReduceLROnPlateau), all stepped once per epoch.  Pure arithmetic: the
 * caller applies the returned rate to its optimizer. */
#ifndef MT_SCHED_H
#define MT_SCHED_H

#include <stddef.h>

typedef enum { MT_SCHED_NONE = 0, MT_SCHED_STEP, MT_SCHED_COSINE, MT_SCHED_PLATEAU } mt_sched_kind;

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
} mt_sched;

/* Starts a schedule at base_lr with PyTorch's defaults where it has them
 * (gamma/factor 0.1, patience 10, threshold 1e-4, min_lr 0) and step_size 1,
 * t_max 1; the caller overwrites fields before the first epoch. */
void mt_sched_init(mt_sched *s, mt_sched_kind kind, double base_lr);

/* Call at the end of each epoch; metric is the monitored loss (used by
 * plateau only; NaN is ignored).  Returns the rate for the next epoch. */
double mt_sched_epoch_end(mt_sched *s, double metric);

/* "none", "step", "cosine", "plateau" -> kind, or -1. */
int mt_sched_parse(const char *name);

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
 * success, -1 when the text is malformed (s and e untouched). */
void mt_sched_state_text(char *buf, size_t cap, const mt_sched *s, const mt_early *e);
int mt_sched_state_parse(const char *text, mt_sched *s, mt_early *e);

#endif
