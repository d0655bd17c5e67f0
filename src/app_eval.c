/* app_eval: the `eval` command: a checkpoint (either kind) against the test
 * split of the data set it was trained on: loss, accuracy and the confusion
 * table; pictures only when asked.  The architecture, normalization, data
 * set and class names come from the file. */
#include "app_cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_ckpt.h"
#include "app_data.h"
#include "app_exit.h"
#include "app_opt.h"
#include "app_report.h"
#include "app_viz.h"
#include "mt_engine.h"
#include "mt_net.h"
#include "mt_nettrain.h"
#include "mt_pool.h"
#include "mt_train.h"

/* [[...], ...] rows true, columns predicted, as JSON text (caller frees) */
static char *confusion_json(const uint32_t *conf, int K)
{
    size_t cap = (size_t)K * K * 12 + 16, len = 0;
    char *s = malloc(cap);
    if (!s)
        return NULL;
    len += (size_t)snprintf(s + len, cap - len, "[");
    for (int i = 0; i < K; i++) {
        len += (size_t)snprintf(s + len, cap - len, "%s[", i ? "," : "");
        for (int j = 0; j < K; j++)
            len += (size_t)snprintf(s + len, cap - len, "%s%u", j ? "," : "", (unsigned)conf[(size_t)i * K + j]);
        len += (size_t)snprintf(s + len, cap - len, "]");
    }
    snprintf(s + len, cap - len, "]");
    return s;
}

static void report(app_log *lg, const app_model *md, const app_data_dir *d, const mt_dataset *test,
                   const mt_eval *ev, const uint32_t *confusion)
{
    char arch[1100];
    const int K = app_model_classes(md);
    double acc = ev->total ? (double)ev->correct / ev->total : 0.0;
    app_model_arch(arch, sizeof arch, md);
    app_log_info(lg, "checkpoint %s: model %s (%zu parameters), %u test images from %s", md->ck.st.path, arch,
                 app_model_params(md), (unsigned)test->n, d->path);
    app_log_info(lg, "Test Loss: %.4f, Test Accuracy: %.2f%% (%u/%u)", ev->loss, 100.0 * acc,
                 (unsigned)ev->correct, (unsigned)ev->total);
    char *cj = confusion_json(confusion, K);
    app_ev *e = app_ev_new("eval");
    app_ev_str(e, "checkpoint", md->ck.st.path);
    app_ev_str(e, "model", arch);
    app_ev_str(e, "data", d->path);
    app_ev_num(e, "loss", ev->loss);
    app_ev_num(e, "accuracy", acc);
    app_ev_int(e, "correct", ev->correct);
    app_ev_int(e, "total", ev->total);
    if (cj)
        app_ev_raw(e, "confusion", cj);
    app_ev_emit(lg, e);
    free(cj);
}

int app_cmd_eval(int argc, char **argv)
{
    app_args a;
    app_log lg;
    mt_err err = { 0 };
    mt_status st, viz_st = MT_OK;
    app_model md = { 0 };
    mt_dataset test = { 0 };
    app_viz viz = { 0 };
    app_data_dir d;
    const mt_kern *k = NULL;
    mt_engine *eng = NULL;
    mt_net_work *nw = NULL;
    mt_pool *pool = NULL;
    app_config base;

    app_log_init(&lg, app_opt_wants_json(argc, argv), "off");
    app_config_defaults(&base);
    base.grid[0] = '\0'; /* a read-only command writes pictures only when asked */
    if ((st = app_opt_parse(&a, APP_CMD_EVAL, argc, argv, &base, &err)))
        return app_fail(&lg, &err, "eval");
    if (a.help) {
        app_opt_help(stdout, APP_CMD_EVAL, "mnist-train eval --checkpoint FILE [OPTIONS]  (or: eval FILE)",
                     "Evaluate a checkpoint (model or training state) on the test split (t10k) of the data\n"
                     "set it was trained on: test loss, accuracy and the confusion table (rows: true class,\n"
                     "columns: predicted).  Pictures (--grid, --mistakes, --confusion) only when asked.\n"
                     "The model's sizes, normalization, data set and class names come from the file.");
        return APP_EXIT_OK;
    }
    app_log_init(&lg, a.cfg.json, a.cfg.progress);
    const char *path = a.cfg.checkpoint[0] ? a.cfg.checkpoint : a.n_pos == 1 ? a.pos[0] : NULL;
    if (a.n_pos > (a.cfg.checkpoint[0] ? 0 : 1)) {
        char e[MT_ESC_CAP];
        st = mt_errf(&err, MT_EARG, "unexpected argument '%s'", mt_esc(e, a.pos[a.cfg.checkpoint[0] ? 0 : 1]));
        goto fail;
    }
    if (!path) {
        st = mt_errf(&err, MT_EARG, "no checkpoint given (mnist-train eval --checkpoint FILE)");
        goto fail;
    }
    if ((st = app_model_open(&md, path, &err)) ||
        (st = app_model_dataset(&md, a.cfg.dataset, app_opt_given(&a, "dataset"), a.cfg.dataset,
                                sizeof a.cfg.dataset, &err)) ||
        (st = app_opt_kernels(&a.cfg, &k, &err)))
        goto fail;
    if (!a.cfg.class_names[0])
        snprintf(a.cfg.class_names, sizeof a.cfg.class_names, "%s", md.class_names);
    app_data_locate(&d, &a.cfg);
    const int K = app_model_classes(&md);
    if ((st = app_data_ensure(&a.cfg, &d, &lg, &err)) ||
        (st = app_data_load(&test, &a.cfg, &d, "t10k", K, (uint32_t)a.cfg.test_limit, &err)))
        goto fail;
    int n_in = md.is_net ? md.net.in_c * md.net.in_h * md.net.in_w : md.m.dims[0];
    if ((int)(test.rows * test.cols) != n_in) {
        st = mt_errf(&err, MT_EDATA, "%s: images are %ux%u (%u inputs) but the model in %s takes %d inputs",
                     test.img_path, (unsigned)test.rows, (unsigned)test.cols, (unsigned)(test.rows * test.cols),
                     md.ck.st.path, n_in);
        goto fail;
    }
    if ((st = app_viz_init(&viz, &a.cfg, &test, &err)))
        goto fail;
    float scale, shift;
    mt_norm_affine(&scale, &shift, md.ck.mean, md.ck.std);
    /* the engine's threaded forward, as training's test: the same numbers */
    mt_eval ev;
    double t0 = app_now();
    if (md.is_net) { /* a layer-list model: its own threaded forward */
        if ((st = mt_pool_create(&pool, app_opt_threads(&a.cfg), &err)) ||
            (st = mt_net_work_create(&nw, &md.net, 64, app_opt_threads(&a.cfg), &err)) ||
            (st = mt_net_evaluate(&md.net, nw, pool, k, &test, 64, scale, shift, &ev, viz.preds, viz.probs,
                                  viz.confusion, &err)))
            goto fail;
    } else if ((st = mt_engine_create(&eng, &md.m, k, app_opt_threads(&a.cfg), MT_PATH_AUTO, (int)a.cfg.test_batch_size,
                               &err)) ||
        (st = mt_evaluate_engine(eng, &md.m, k, &test, (int)a.cfg.test_batch_size, scale, shift, &ev, viz.preds,
                                 viz.probs, viz.confusion, &err)))
        goto fail;
    double secs = app_now() - t0;
    report(&lg, &md, &d, &test, &ev, viz.confusion);
    /* the confusion table on stderr and the pictures asked for */
    viz_st = app_viz_report(&viz, &lg, &a.cfg, &test, &ev);
    if (a.cfg.report[0]) {
        char arch[160], sec[32], kern[96];
        app_model_arch(arch, sizeof arch, &md);
        snprintf(sec, sizeof sec, "%.2f s", secs);
        snprintf(kern, sizeof kern, "%s, %d threads", k->name, app_opt_threads(&a.cfg));
        const mt_report_kv summary[] = { { "Checkpoint", md.ck.st.path }, { "Model", arch },
                                         { "Data set", a.cfg.dataset }, { "Test images", d.path } };
        const mt_report_kv timing[] = { { "Evaluation", sec }, { "Kernels", kern } };
        mt_err re = { 0 };
        mt_status rs = app_report_write(&lg, &a.cfg, &viz, &test, &ev, "mnist-train: evaluation", summary, 4,
                                        timing, 2, &re);
        if (rs) {
            app_fail(&lg, &re, NULL);
            viz_st = viz_st ? viz_st : rs;
        }
    }
fail:
    mt_net_work_free(nw);
    mt_pool_free(pool);
    mt_engine_free(eng);
    app_viz_free(&viz);
    mt_dataset_free(&test);
    app_model_free(&md);
    return st ? app_fail(&lg, &err, "eval") : app_exit_code(viz_st);
}
