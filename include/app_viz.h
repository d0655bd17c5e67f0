/* app_viz: the pictures and the confusion report of `train` and `eval`.
 * Collects what the pictures need while training runs (per-epoch losses,
 * the test predictions), then prints the confusion
 * table, emits its JSON event and writes the PNG files through mt_viz. */
#ifndef APP_VIZ_H
#define APP_VIZ_H

#include <stdint.h>

#include "app_log.h"
#include "app_config.h"
#include "mt_data.h"
#include "mt_err.h"
#include "mt_train.h"

typedef struct app_viz {
    uint8_t *preds;            /* (n_test) predicted classes, for mt_evaluate_engine */
    float *probs;              /* (n_test, K) softmax, or NULL without --mistakes and --report */
    uint32_t *confusion;       /* (K, K) rows true, columns predicted, for mt_evaluate_engine */
    int K;                     /* classes */
    float *train_loss;         /* (max_epochs) per-epoch mean training loss */
    float *test_loss;          /* (max_epochs) NaN where the test set was not evaluated */
    float *test_acc;           /* (max_epochs) fractions 0..1, NaN likewise */
    int max_epochs, n_epochs;  /* capacity and epochs recorded */
    const char *const *class_names; /* (K) names from the data set spec, or NULL */
} app_viz;

/* Allocates the buffers for a run with cfg on the test set test (n_classes K).
 * Caller frees with app_viz_free (safe on a zeroed struct). MT_ENOMEM. */
mt_status app_viz_init(app_viz *v, const app_config *cfg, const mt_dataset *test, mt_err *err);
void app_viz_free(app_viz *v);

/* Whether the test set should be evaluated after every epoch (--curves, --report). */
int app_viz_eval_each_epoch(const app_config *cfg);

/* Records epoch ep (1-based): its mean training loss and, when test is not
 * NULL, the test loss and accuracy measured after it. */
void app_viz_record_epoch(app_viz *v, int ep, double train_loss, const mt_eval *test);

/* After the final test (v->preds, v->probs and v->confusion filled by
 * mt_evaluate_engine, ev its totals): prints the confusion table on stderr, emits the
 * "confusion" event, and writes every picture cfg asks for.  A picture that
 * fails is reported on the spot (one error line and an "error" event) and the
 * others are still written.  Returns MT_OK or the status of the first failure
 * (MT_EIO for an unwritable path), already reported. */
mt_status app_viz_report(app_viz *v, app_log *lg, const app_config *cfg, const mt_dataset *test,
                         const mt_eval *ev);

#endif
