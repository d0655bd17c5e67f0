/* mt_metrics: per-class precision, recall and F1 and their macro averages,
 * computed from a confusion matrix (rows = true class, columns = predicted).
 *   precision_k = C[k][k] / sum_t C[t][k]   (0 when class k was never predicted)
 *   recall_k    = C[k][k] / sum_p C[k][p]   (0 when class k has no samples)
 *   f1_k        = 2 P R / (P + R)           (0 when P + R = 0)
 * Macro averages are plain means over the classes that occur (as true or as
 * predicted class), like scikit-learn's average="macro" on the same labels. */
#ifndef MT_METRICS_H
#define MT_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "mt_err.h"

#define MT_METRICS_MAX_CLASSES 256

typedef struct mt_metrics {
    int K;                                    /* classes */
    uint64_t n;                               /* samples (sum of the matrix) */
    double accuracy;                          /* trace / n, 0 when n = 0 */
    double precision[MT_METRICS_MAX_CLASSES]; /* (K) */
    double recall[MT_METRICS_MAX_CLASSES];    /* (K) */
    double f1[MT_METRICS_MAX_CLASSES];        /* (K) */
    uint64_t support[MT_METRICS_MAX_CLASSES]; /* (K) true samples of class k (row sums) */
    uint64_t predicted[MT_METRICS_MAX_CLASSES]; /* (K) samples predicted as k (column sums) */
    int n_present;                            /* classes counted in the macro averages */
    double macro_precision, macro_recall, macro_f1;
} mt_metrics;

/* out from confusion (K, K), counts[t*K + p].  Returns MT_OK; MT_EARG when K
 * is not in 1..MT_METRICS_MAX_CLASSES or a pointer is NULL. */
mt_status mt_metrics_compute(mt_metrics *out, const uint32_t *confusion, int K, mt_err *err);

/* The metrics as one JSON object (no newline) into buf (cap bytes):
 *   {"per_class":[{"class":0,"name":"0","precision":0.99,"recall":0.98,
 *    "f1":0.985,"support":980},...],"macro":{"precision":..,"recall":..,"f1":..}}
 * "name" only when names is not NULL.  Numbers %.6g.  Returns the length
 * (as snprintf: >= cap means truncated). */
size_t mt_metrics_json(char *buf, size_t cap, const mt_metrics *m, const char *const *names);

/* Its two parts alone: the "per_class" array and the "macro" object. */
size_t mt_metrics_json_per_class(char *buf, size_t cap, const mt_metrics *m, const char *const *names);
size_t mt_metrics_json_macro(char *buf, size_t cap, const mt_metrics *m);

/* A fixed-width text table, one line per class then "macro avg":
 *   class  precision  recall      f1  support
 *       0     0.9899  0.9959  0.9929      980
 * into buf (cap bytes); returns the length as snprintf. */
size_t mt_metrics_table(char *buf, size_t cap, const mt_metrics *m, const char *const *names);

#endif
