/* app_viz: what `train` and `eval` show after testing: the confusion table on
 * stderr and as a JSON event, and the PNG pictures (prediction grid, confident
 * mistakes, confusion heatmap, learning curves).  Drawing is mt_viz's job;
 * this file only gathers the numbers, names the files and reports. */
#include "app_viz.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_data.h"
#include "app_exit.h"
#include "mt_metrics.h"
#include "mt_viz.h"

/* The confusion table is printed for at most this many classes (wider than
 * a terminal beyond that; the JSON event and the PNG have it all). */
#define TABLE_MAX_CLASSES 30

mt_status app_viz_init(app_viz *v, const app_config *cfg, const mt_dataset *test, mt_err *err)
{
    memset(v, 0, sizeof *v);
    size_t n = test->n ? test->n : 1, K = (size_t)test->n_classes;
    v->K = test->n_classes;
    v->max_epochs = (int)cfg->epochs;
    v->preds = malloc(n);
    v->confusion = calloc(K * K, sizeof *v->confusion);
    v->train_loss = malloc((size_t)v->max_epochs * sizeof *v->train_loss);
    v->test_loss = malloc((size_t)v->max_epochs * sizeof *v->test_loss);
    v->test_acc = malloc((size_t)v->max_epochs * sizeof *v->test_acc);
    const int want_probs = cfg->mistakes[0] || cfg->report[0];
    if (want_probs)
        v->probs = malloc(n * K * sizeof *v->probs);
    if (!v->preds || !v->confusion || !v->train_loss || !v->test_loss || !v->test_acc ||
        (want_probs && !v->probs)) {
        app_viz_free(v);
        return mt_errf(err, MT_ENOMEM, "out of memory for the test predictions");
    }
    for (int i = 0; i < v->max_epochs; i++)
        v->train_loss[i] = v->test_loss[i] = v->test_acc[i] = NAN;
    /* class names (--class-names, else the data set's own), when they fit */
    int n_names;
    const char *const *names = app_data_class_names(cfg->class_names, cfg->dataset, &n_names);
    if (names && n_names == v->K)
        v->class_names = names;
    return MT_OK;
}

void app_viz_free(app_viz *v)
{
    free(v->preds);
    free(v->probs);
    free(v->confusion);
    free(v->train_loss);
    free(v->test_loss);
    free(v->test_acc);
    memset(v, 0, sizeof *v);
}

int app_viz_eval_each_epoch(const app_config *cfg)
{
    return cfg->curves[0] != '\0' || cfg->report[0] != '\0';
}

void app_viz_record_epoch(app_viz *v, int ep, double train_loss, const mt_eval *test)
{
    if (ep < 1 || ep > v->max_epochs)
        return;
    v->train_loss[ep - 1] = (float)train_loss;
    if (test && test->total) {
        v->test_loss[ep - 1] = (float)test->loss;
        v->test_acc[ep - 1] = (float)((double)test->correct / test->total);
    }
    if (ep > v->n_epochs)
        v->n_epochs = ep;
}

/* ------------------------------------------------------------ confusion */

static const char *class_name(const app_viz *v, int c, char *buf, size_t cap)
{
    if (v->class_names)
        return v->class_names[c];
    snprintf(buf, cap, "%d", c);
    return buf;
}

static const char *row_label(const app_viz *v, int t, char *buf, size_t cap)
{
    char num[16];
    snprintf(num, sizeof num, "%d", t);
    if (v->class_names && strcmp(v->class_names[t], num) != 0)
        snprintf(buf, cap, "%d %s", t, v->class_names[t]);
    else
        snprintf(buf, cap, "%s", num);
    return buf;
}

static void print_table(const app_viz *v, app_log *lg)
{
    int K = v->K;
    if (K > TABLE_MAX_CLASSES) {
        app_log_info(lg, "Confusion matrix: %d classes, too many for a table here (see --json or --confusion FILE)",
                     K);
        return;
    }
    uint32_t most = 0;
    for (int i = 0; i < K * K; i++)
        if (v->confusion[i] > most)
            most = v->confusion[i];
    char buf[32];
    int w = snprintf(buf, sizeof buf, "%u", (unsigned)most);
    int wk = snprintf(buf, sizeof buf, "%d", K - 1);
    w = (w > wk ? w : wk) + 2;
    if (w < 5)
        w = 5;
    /* row labels: "7", or "7 Sneaker" when the class has a name */
    int lw = (int)strlen("true\\pred");
    for (int t = 0; t < K; t++) {
        char label[96];
        int len = (int)strlen(row_label(v, t, label, sizeof label));
        if (len > lw)
            lw = len;
    }
    app_log_info(lg, "Confusion matrix (rows: true class, columns: predicted class):");
    char line[TABLE_MAX_CLASSES * 16 + 128];
    int n = snprintf(line, sizeof line, "%-*s", lw, "true\\pred");
    for (int p = 0; p < K; p++)
        n += snprintf(line + n, sizeof line - (size_t)n, "%*d", w, p);
    app_log_info(lg, "%s", line);
    for (int t = 0; t < K; t++) {
        char label[96];
        row_label(v, t, label, sizeof label);
        /* numbers line up on the right, names on the left */
        n = snprintf(line, sizeof line, v->class_names ? "%-*s" : "%*s", lw, label);
        for (int p = 0; p < K && n < (int)sizeof line; p++)
            n += snprintf(line + n, sizeof line - (size_t)n, "%*u", w, (unsigned)v->confusion[t * K + p]);
        app_log_info(lg, "%s", line);
    }
}

/* {"event":"confusion","matrix":[[...],...],"classes":[...]} */
static void emit_confusion(const app_viz *v, app_log *lg)
{
    if (!lg->json)
        return;
    cJSON *m = cJSON_CreateArray(), *cl = cJSON_CreateArray();
    char *ms = NULL, *cs = NULL;
    if (!m || !cl)
        goto done;
    for (int t = 0; t < v->K; t++) {
        char buf[16];
        cJSON *row = cJSON_CreateArray();
        if (!row || !cJSON_AddItemToArray(m, row) ||
            !cJSON_AddItemToArray(cl, cJSON_CreateString(class_name(v, t, buf, sizeof buf))))
            goto done;
        for (int p = 0; p < v->K; p++)
            if (!cJSON_AddItemToArray(row, cJSON_CreateNumber(v->confusion[t * v->K + p])))
                goto done;
    }
    ms = cJSON_PrintUnformatted(m);
    cs = cJSON_PrintUnformatted(cl);
    if (ms && cs) {
        app_ev *e = app_ev_new("confusion");
        app_ev_raw(e, "matrix", ms);
        app_ev_raw(e, "classes", cs);
        app_ev_emit(lg, e);
    }
done:
    free(ms);
    free(cs);
    cJSON_Delete(m);
    cJSON_Delete(cl);
}

/* Per-class precision / recall / F1 on stderr and as a "metrics" event
 * {"event":"metrics","split":"test","per_class":[...],"macro":{...}}. */
static void report_metrics(const app_viz *v, app_log *lg)
{
    mt_metrics m;
    if (mt_metrics_compute(&m, v->confusion, v->K, NULL) != MT_OK)
        return;
    if (v->K <= TABLE_MAX_CLASSES) {
        char *table = malloc(256 + (size_t)v->K * 64);
        if (table) {
            mt_metrics_table(table, 256 + (size_t)v->K * 64, &m, v->class_names);
            app_log_info(lg, "Per-class metrics (test):");
            for (char *line = strtok(table, "\n"); line; line = strtok(NULL, "\n"))
                app_log_info(lg, "%s", line);
            free(table);
        }
    } else {
        app_log_info(lg, "Macro averages (test): precision %.4f, recall %.4f, F1 %.4f", m.macro_precision,
                     m.macro_recall, m.macro_f1);
    }
    if (!lg->json)
        return;
    size_t cap = mt_metrics_json_per_class(NULL, 0, &m, v->class_names) + 1;
    char *per = malloc(cap), mac[256];
    if (!per)
        return;
    mt_metrics_json_per_class(per, cap, &m, v->class_names);
    mt_metrics_json_macro(mac, sizeof mac, &m);
    app_ev *e = app_ev_new("metrics");
    app_ev_str(e, "split", "test");
    app_ev_raw(e, "per_class", per);
    app_ev_raw(e, "macro", mac);
    app_ev_emit(lg, e);
    free(per);
}

/* ------------------------------------------------------------- pictures */

/* One line and one "picture" event for a file written. */
static void report_written(app_log *lg, const char *kind, const char *path, const mt_viz_info *info,
                           const char *what)
{
    app_log_info(lg, "Wrote %s (%s, %dx%d px)", path, what, info->w, info->h);
    app_ev *e = app_ev_new("picture");
    app_ev_str(e, "kind", kind);
    app_ev_str(e, "path", path);
    app_ev_int(e, "width", info->w);
    app_ev_int(e, "height", info->h);
    if (strcmp(kind, "grid") == 0 || strcmp(kind, "mistakes") == 0) {
        app_ev_int(e, "cells", info->n_cells);
        app_ev_int(e, "columns", info->n_cols);
        app_ev_int(e, "rows", info->n_rows);
        app_ev_int(e, "scale", info->scale);
    }
    app_ev_emit(lg, e);
}

static void grid_opts(mt_viz_grid_opts *o, const app_viz *v, const app_config *cfg, int n_cells,
                      const char *title)
{
    memset(o, 0, sizeof *o);
    o->max_cells = n_cells;
    o->n_cols = (int)cfg->grid_cols;
    o->scale = (int)cfg->grid_scale;
    o->title = title;
    o->class_names = v->class_names;
    o->n_classes = v->class_names ? v->K : 0;
}

static void layout_text(char *out, size_t cap, const mt_viz_info *info, const app_config *cfg, const char *noun)
{
    if (info->n_cells == 0) {
        snprintf(out, cap, "no %s", noun);
        return;
    }
    int n = snprintf(out, cap, "%d %s in %d column%s, %d row%s", info->n_cells, noun, info->n_cols,
                     info->n_cols == 1 ? "" : "s", info->n_rows, info->n_rows == 1 ? "" : "s");
    if (info->scale != (int)cfg->grid_scale)
        snprintf(out + n, cap - (size_t)n, ", scale lowered from %lld to %d to fit", cfg->grid_scale,
                 info->scale);
}

mt_status app_viz_report(app_viz *v, app_log *lg, const app_config *cfg, const mt_dataset *test,
                         const mt_eval *ev)
{
    mt_status first = MT_OK;
    mt_err err = { 0 };
    mt_viz_info info;
    char title[256], what[160];
    int n = (int)test->n, rows = (int)test->rows, cols = (int)test->cols;
    double acc = ev->total ? 100.0 * ev->correct / ev->total : 0.0;

    print_table(v, lg);
    emit_confusion(v, lg);
    report_metrics(v, lg);

    if (cfg->grid_enabled && cfg->grid[0] && n > 0) {
        mt_viz_grid_opts o;
        int cells = cfg->grid_count < n ? (int)cfg->grid_count : n;
        int len = snprintf(title, sizeof title, "Test accuracy %.2f%% (%u/%u)", acc, (unsigned)ev->correct,
                           (unsigned)ev->total);
        if (cells < n)
            snprintf(title + len, sizeof title - (size_t)len, ", first %d images", cells);
        grid_opts(&o, v, cfg, cells, title);
        memset(&info, 0, sizeof info);
        mt_status st = mt_viz_grid(cfg->grid, test->images, test->labels, v->preds, n, rows, cols, &o, &info, &err);
        if (st) {
            app_fail(lg, &err, NULL);
            first = first ? first : st;
        } else {
            layout_text(what, sizeof what, &info, cfg, "test images");
            report_written(lg, "grid", cfg->grid, &info, what);
        }
    }

    if (cfg->mistakes[0] && n > 0) {
        mt_viz_grid_opts o;
        float *conf = malloc((size_t)n * sizeof *conf);
        mt_status st;
        if (!conf || !v->probs) {
            st = mt_errf(&err, MT_ENOMEM, "%s: out of memory", cfg->mistakes);
        } else {
            uint32_t wrong = ev->total - ev->correct;
            for (int i = 0; i < n; i++)
                conf[i] = v->probs[(size_t)i * (size_t)v->K + v->preds[i]];
            int cells = cfg->grid_count < (long long)wrong ? (int)cfg->grid_count : (int)wrong;
            if (cells < (int)wrong)
                snprintf(title, sizeof title, "Most confident mistakes: %d of %u (test accuracy %.2f%%)", cells,
                         (unsigned)wrong, acc);
            else
                snprintf(title, sizeof title, "Mistakes: %u of %u, most confident first", (unsigned)wrong,
                         (unsigned)ev->total);
            grid_opts(&o, v, cfg, (int)cfg->grid_count, title);
            memset(&info, 0, sizeof info);
            st = mt_viz_mistakes(cfg->mistakes, test->images, test->labels, v->preds, conf, n, rows, cols, &o,
                                 &info, &err);
        }
        free(conf);
        if (st) {
            app_fail(lg, &err, NULL);
            first = first ? first : st;
        } else {
            layout_text(what, sizeof what, &info, cfg, "mistakes");
            report_written(lg, "mistakes", cfg->mistakes, &info, what);
        }
    }

    if (cfg->confusion[0]) {
        int *counts = malloc((size_t)v->K * (size_t)v->K * sizeof *counts);
        mt_status st;
        if (!counts) {
            st = mt_errf(&err, MT_ENOMEM, "%s: out of memory", cfg->confusion);
        } else {
            for (int i = 0; i < v->K * v->K; i++)
                counts[i] = (int)v->confusion[i];
            snprintf(title, sizeof title, "Confusion matrix, test set (accuracy %.2f%%)", acc);
            memset(&info, 0, sizeof info);
            st = mt_viz_confusion(cfg->confusion, counts, v->K, v->class_names, title, &info, &err);
        }
        free(counts);
        if (st) {
            app_fail(lg, &err, NULL);
            first = first ? first : st;
        } else {
            snprintf(what, sizeof what, "%d x %d classes", v->K, v->K);
            report_written(lg, "confusion", cfg->confusion, &info, what);
        }
    }

    if (cfg->curves[0] && v->n_epochs > 0) {
        mt_viz_curves_in in = { 0 };
        in.n_epochs = v->n_epochs;
        in.train_loss = v->train_loss;
        in.test_loss = v->test_loss;
        in.test_acc = v->test_acc;
        in.held_out_name = "test";
        snprintf(title, sizeof title, "Learning curves: %s, %s lr %g, batch %lld", cfg->dataset, cfg->optimizer,
                 cfg->lr, cfg->batch_size);
        in.title = title;
        memset(&info, 0, sizeof info);
        mt_status st = mt_viz_curves(cfg->curves, &in, &info, &err);
        if (st) {
            app_fail(lg, &err, NULL);
            first = first ? first : st;
        } else {
            snprintf(what, sizeof what, "%d epoch%s", v->n_epochs, v->n_epochs == 1 ? "" : "s");
            report_written(lg, "curves", cfg->curves, &info, what);
        }
    }
    return first;
}
