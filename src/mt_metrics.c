/* mt_metrics: precision / recall / F1 from a confusion matrix, and their JSON
 * and text forms.  Definitions: van Rijsbergen's F-measure with beta = 1;
 * macro averaging as scikit-learn's precision_recall_fscore_support. */
#include "mt_metrics.h"

#include <stdio.h>
#include <string.h>

mt_status mt_metrics_compute(mt_metrics *out, const uint32_t *confusion, int K, mt_err *err)
{
    if (!out || !confusion || K < 1 || K > MT_METRICS_MAX_CLASSES)
        return mt_errf(err, MT_EARG, "metrics: %d classes (1..%d)", K, MT_METRICS_MAX_CLASSES);
    memset(out, 0, sizeof *out);
    out->K = K;
    uint64_t trace = 0;
    for (int t = 0; t < K; t++)
        for (int p = 0; p < K; p++) {
            uint64_t c = confusion[(size_t)t * K + p];
            out->support[t] += c;
            out->predicted[p] += c;
            out->n += c;
            if (t == p)
                trace += c;
        }
    out->accuracy = out->n ? (double)trace / (double)out->n : 0.0;
    for (int k = 0; k < K; k++) {
        double tp = confusion[(size_t)k * K + k];
        double P = out->predicted[k] ? tp / (double)out->predicted[k] : 0.0;
        double R = out->support[k] ? tp / (double)out->support[k] : 0.0;
        out->precision[k] = P;
        out->recall[k] = R;
        out->f1[k] = P + R > 0 ? 2 * P * R / (P + R) : 0.0;
        if (out->support[k] || out->predicted[k]) {
            out->n_present++;
            out->macro_precision += P;
            out->macro_recall += R;
            out->macro_f1 += out->f1[k];
        }
    }
    if (out->n_present) {
        out->macro_precision /= out->n_present;
        out->macro_recall /= out->n_present;
        out->macro_f1 /= out->n_present;
    }
    return MT_OK;
}

/* Appends like snprintf at *len, keeping the would-be length when full. */
#define APPEND(...)                                                                           \
    do {                                                                                      \
        int r_ = snprintf(buf + (len < cap ? len : cap), len < cap ? cap - len : 0, __VA_ARGS__); \
        len += r_ > 0 ? (size_t)r_ : 0;                                                       \
    } while (0)

/* name as a JSON string body: quotes, backslashes and control bytes escaped */
static size_t json_str(char *buf, size_t cap, size_t len, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            APPEND("\\%c", c);
        else if (c < 0x20)
            APPEND("\\u%04x", c);
        else
            APPEND("%c", c);
    }
    return len;
}

size_t mt_metrics_json_per_class(char *buf, size_t cap, const mt_metrics *m, const char *const *names)
{
    size_t len = 0;
    if (cap)
        buf[0] = '\0';
    APPEND("[");
    for (int k = 0; k < m->K; k++) {
        APPEND("%s{\"class\":%d,", k ? "," : "", k);
        if (names) {
            APPEND("\"name\":\"");
            len = json_str(buf, cap, len, names[k]);
            APPEND("\",");
        }
        APPEND("\"precision\":%.6g,\"recall\":%.6g,\"f1\":%.6g,\"support\":%llu}", m->precision[k],
               m->recall[k], m->f1[k], (unsigned long long)m->support[k]);
    }
    APPEND("]");
    return len;
}

size_t mt_metrics_json_macro(char *buf, size_t cap, const mt_metrics *m)
{
    return (size_t)snprintf(buf, cap, "{\"precision\":%.6g,\"recall\":%.6g,\"f1\":%.6g}", m->macro_precision,
                            m->macro_recall, m->macro_f1);
}

size_t mt_metrics_json(char *buf, size_t cap, const mt_metrics *m, const char *const *names)
{
    size_t len = 0;
    APPEND("{\"per_class\":");
    len += mt_metrics_json_per_class(buf + (len < cap ? len : cap), len < cap ? cap - len : 0, m, names);
    APPEND(",\"macro\":");
    len += mt_metrics_json_macro(buf + (len < cap ? len : cap), len < cap ? cap - len : 0, m);
    APPEND("}");
    return len;
}

size_t mt_metrics_table(char *buf, size_t cap, const mt_metrics *m, const char *const *names)
{
    size_t len = 0;
    if (cap)
        buf[0] = '\0';
    APPEND("%12s  %9s  %6s  %6s  %7s\n", "class", "precision", "recall", "f1", "support");
    for (int k = 0; k < m->K; k++) {
        char nm[16];
        if (names)
            snprintf(nm, sizeof nm, "%s", names[k]);
        else
            snprintf(nm, sizeof nm, "%d", k);
        APPEND("%12s  %9.4f  %6.4f  %6.4f  %7llu\n", nm, m->precision[k], m->recall[k], m->f1[k],
               (unsigned long long)m->support[k]);
    }
    APPEND("%12s  %9.4f  %6.4f  %6.4f  %7llu\n", "macro avg", m->macro_precision, m->macro_recall,
           m->macro_f1, (unsigned long long)m->n);
    return len;
}
