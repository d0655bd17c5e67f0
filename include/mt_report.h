/* mt_report: one self-contained HTML page of a run: the configuration, the
 * summary numbers, the pictures (learning curves, confusion heatmap,
 * mistakes, ...), the confusion matrix and per-class metrics as tables, and
 * the timing.  Pictures are embedded as data: URIs (base64 PNG); the page
 * loads nothing from the network and runs no script.  Nothing here knows
 * about the model or prints; the caller gathers the pieces. */
#ifndef MT_REPORT_H
#define MT_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "mt_err.h"
#include "mt_metrics.h"

/* Largest picture embedded (bytes of PNG). */
#define MT_REPORT_MAX_IMAGE (64L * 1024 * 1024)

typedef struct mt_report_kv {
    const char *key, *value;       /* shown as a two-column row (escaped) */
} mt_report_kv;

typedef struct mt_report_image {
    const char *id;                /* HTML id of its section, e.g. "curves" ([a-z0-9_-]) */
    const char *title;             /* heading, e.g. "Learning curves" */
    const char *path;              /* a PNG file to embed, or NULL when png is given */
    const uint8_t *png;            /* (png_len) PNG bytes, used when path is NULL */
    size_t png_len;
} mt_report_image;

typedef struct mt_report {
    const char *title;             /* page title and heading; NULL -> "mnist-train report" */
    const char *subtitle;          /* one line under it (command, date), or NULL */
    const mt_report_kv *summary;   /* (n_summary) headline numbers: accuracy, loss, ... */
    int n_summary;
    const mt_report_image *images; /* (n_images) in page order */
    int n_images;
    const uint32_t *confusion;     /* (K, K) rows true, columns predicted, or NULL */
    const mt_metrics *metrics;     /* per-class table, or NULL */
    const char *const *class_names;/* (K) or NULL -> numbers */
    int K;                         /* classes (confusion and metrics), 1..MT_METRICS_MAX_CLASSES */
    const mt_report_kv *timing;    /* (n_timing) e.g. {"training", "12.3 s"} */
    int n_timing;
    const char *config_json;       /* the effective configuration, shown verbatim, or NULL */
} mt_report;

/* Writes the page to path atomically (mt_file_write_atomic: a previous file
 * stays intact on failure).  Sections, in order, each an element with an id:
 * "summary", one per image (its id), "confusion" (table), "metrics",
 * "timing", "config" -- a section whose input is missing is left out.
 * Returns MT_OK; MT_EARG for a bad id or K; MT_EDATA "<png path>: ..." when
 * a picture cannot be read or is not a PNG; MT_EIO; MT_ENOMEM. */
mt_status mt_report_write_html(const char *path, const mt_report *r, mt_err *err);

/* RFC 4648 base64 of in (n bytes) into out, which must hold
 * mt_base64_len(n) + 1 bytes (NUL-terminated); returns the length. */
size_t mt_base64_len(size_t n);
size_t mt_base64(char *out, const uint8_t *in, size_t n);

#endif
