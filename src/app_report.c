/* app_report: the HTML run report.  Pictures are drawn by mt_viz into a
 * temporary folder (removed afterwards) and embedded by mt_report; nothing
 * else is written next to the report. */
#include "app_report.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app_opt.h"
#include "mt_metrics.h"
#include "mt_viz.h"

#define MAX_SUMMARY 24
#define GRID_CELLS  64

mt_status app_report_write(app_log *lg, const app_config *cfg, const app_viz *v, const mt_dataset *test,
                           const mt_eval *ev, const char *title, const mt_report_kv *summary, int n_summary,
                           const mt_report_kv *timing, int n_timing, mt_err *err)
{
    mt_status st = MT_OK;
    char dir[256], paths[4][320], acc_s[96], loss_s[32], n_s[32], macro_s[64];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/mt_report.XXXXXX", tmp && *tmp && strlen(tmp) < 200 ? tmp : "/tmp");
    if (!mkdtemp(dir))
        return mt_errf(err, MT_EIO, "%s: cannot make a temporary folder for its pictures (%s): %s", cfg->report,
                       dir, strerror(errno));
    const char *names[4] = { "curves.png", "grid.png", "mistakes.png", "confusion.png" };
    for (int i = 0; i < 4; i++)
        snprintf(paths[i], sizeof paths[i], "%s/%s", dir, names[i]);
    mt_report_image ims[4];
    int n_ims = 0, n = (int)test->n, rows = (int)test->rows, cols = (int)test->cols;
    double acc = ev->total ? 100.0 * ev->correct / ev->total : 0.0;
    char caption[160];
    mt_viz_grid_opts o;
    memset(&o, 0, sizeof o);
    o.title = caption;
    o.class_names = v->class_names;
    o.n_classes = v->class_names ? v->K : 0;
    o.max_cells = GRID_CELLS;

    if (v->n_epochs > 0) {
        mt_viz_curves_in in = { 0 };
        in.n_epochs = v->n_epochs;
        in.train_loss = v->train_loss;
        in.test_loss = v->test_loss;
        in.test_acc = v->test_acc;
        in.held_out_name = "test";
        if ((st = mt_viz_curves(paths[0], &in, NULL, err)))
            goto done;
        ims[n_ims++] = (mt_report_image){ "curves", "Learning curves", paths[0], NULL, 0 };
    }
    if (n > 0) {
        snprintf(caption, sizeof caption, "First %d test images (green: right, red: wrong)",
                 n < GRID_CELLS ? n : GRID_CELLS);
        if ((st = mt_viz_grid(paths[1], test->images, test->labels, v->preds, n, rows, cols, &o, NULL, err)))
            goto done;
        ims[n_ims++] = (mt_report_image){ "predictions", "Predictions", paths[1], NULL, 0 };
    }
    if (n > 0 && v->probs) {
        float *conf = malloc((size_t)n * sizeof *conf);
        if (!conf) {
            st = mt_errf(err, MT_ENOMEM, "%s: out of memory", cfg->report);
            goto done;
        }
        for (int i = 0; i < n; i++)
            conf[i] = v->probs[(size_t)i * (size_t)v->K + v->preds[i]];
        snprintf(caption, sizeof caption, "Mistakes: %u of %u, most confident first", (unsigned)(ev->total - ev->correct),
                 (unsigned)ev->total);
        st = mt_viz_mistakes(paths[2], test->images, test->labels, v->preds, conf, n, rows, cols, &o, NULL, err);
        free(conf);
        if (st)
            goto done;
        ims[n_ims++] = (mt_report_image){ "mistakes", "Most confident mistakes", paths[2], NULL, 0 };
    }
    int *counts = malloc((size_t)v->K * (size_t)v->K * sizeof *counts);
    if (!counts) {
        st = mt_errf(err, MT_ENOMEM, "%s: out of memory", cfg->report);
        goto done;
    }
    for (int i = 0; i < v->K * v->K; i++)
        counts[i] = (int)v->confusion[i];
    snprintf(caption, sizeof caption, "Confusion matrix, test set (accuracy %.2f%%)", acc);
    st = mt_viz_confusion(paths[3], counts, v->K, v->class_names, caption, NULL, err);
    free(counts);
    if (st)
        goto done;
    ims[n_ims++] = (mt_report_image){ "confusion-heatmap", "Confusion heatmap", paths[3], NULL, 0 };

    mt_metrics m;
    if ((st = mt_metrics_compute(&m, v->confusion, v->K, err)))
        goto done;
    mt_report_kv sum[MAX_SUMMARY];
    int ns = 0;
    snprintf(acc_s, sizeof acc_s, "%.2f %% (%u/%u)", acc, (unsigned)ev->correct, (unsigned)ev->total);
    snprintf(loss_s, sizeof loss_s, "%.4f", ev->loss);
    snprintf(macro_s, sizeof macro_s, "%.4f", m.macro_f1);
    snprintf(n_s, sizeof n_s, "%u", (unsigned)ev->total);
    sum[ns++] = (mt_report_kv){ "Test accuracy", acc_s };
    sum[ns++] = (mt_report_kv){ "Test loss", loss_s };
    sum[ns++] = (mt_report_kv){ "Macro F1", macro_s };
    for (int i = 0; i < n_summary && ns < MAX_SUMMARY; i++)
        sum[ns++] = summary[i];
    char *cj = app_config_to_json(cfg, 1);
    mt_report r = { title, "mnist-train " APP_VERSION, sum, ns, ims, n_ims, v->confusion, &m, v->class_names,
                    v->K, timing, n_timing, cj };
    st = mt_report_write_html(cfg->report, &r, err);
    free(cj);
    if (st)
        goto done;
    app_log_info(lg, "Wrote %s (HTML report: %d pictures, confusion matrix, per-class metrics)", cfg->report, n_ims);
    app_ev *e = app_ev_new("report");
    app_ev_str(e, "path", cfg->report);
    app_ev_int(e, "pictures", n_ims);
    app_ev_emit(lg, e);
done:
    for (int i = 0; i < 4; i++)
        unlink(paths[i]);
    rmdir(dir);
    return st;
}
