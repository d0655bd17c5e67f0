/* app_eval: the `eval` command: a checkpoint (either kind) against the test
 * split: loss, accuracy and the confusion table.  The architecture and the
 * normalization come from the file, so no training options are needed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "app_ckpt.h"
#include "app_fetch.h"
#include "app_log.h"
#include "app_viz.h"
#include "mt_data.h"
#include "mt_engine.h"
#include "mt_train.h"

static const char *const eval_opts[] = { "checkpoint", "data", "dataset", "test-limit", "test-batch-size",
                                         "isa", "threads", "json", "grid", "no-grid", "grid-count", "grid-cols",
                                         "grid-scale", "mistakes", "confusion", "class-names", "no-download",
                                         "mirror", NULL };

/* {"rows true": [[...], ...]} as JSON text (caller frees) */
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

int app_cmd_eval(int argc, char **argv)
{
    app_args a;
    app_log lg;
    mt_err err = { 0 };
    mt_status st;
    mt_ckpt ck = { 0 };
    mt_mlp m = { 0 };
    mt_dataset test = { 0 };
    app_viz viz = { 0 };
    mt_status viz_st = MT_OK;
    const mt_kern *k = NULL;
    mt_engine *eng = NULL;
    char dir[MT_PATH_MAX], arch[160];

    if ((st = app_cli_parse(&a, argc, argv, &err))) {
        fprintf(stderr, "mnist-train: %s\nTry 'mnist-train eval --help' for more information.\n", err.msg);
        return app_exit_code(st);
    }
    if (a.help) {
        app_ckpt_help(stdout, "mnist-train eval --checkpoint FILE [--data DIR] [OPTIONS]",
                      "Evaluate a checkpoint (model or training state) on the test split (t10k): test loss,\n"
                      "accuracy, the confusion table (rows: true class, columns: predicted) and the\n"
                      "prediction grid (and --mistakes / --confusion pictures when asked).\n"
                      "The model's sizes and normalization are read from the file.",
                      eval_opts);
        return MT_EXIT_OK;
    }
    app_log_init(&lg, a.cfg.json, "off");
    if (a.n_pos > (a.cfg.checkpoint[0] ? 0 : 1)) {
        st = mt_errf(&err, MT_EARG, "unexpected argument '%s'", a.pos[a.cfg.checkpoint[0] ? 0 : 1]);
        goto fail;
    }
    if ((st = app_ckpt_open_model(&a, 1, &ck, &m, &err)) ||
        (st = mt_kern_select(&k, (mt_isa)mt_isa_parse(a.cfg.isa), &err)))
        goto fail;
    app_cli_data_dir(dir, sizeof dir, &a.cfg);
    const int K = m.dims[m.n_layers];
    if ((st = app_fetch_ensure(&a.cfg, dir, &lg, &err)) ||
        (st = mt_dataset_load(&test, dir, "t10k", K, (uint32_t)a.cfg.test_limit, &err)))
        goto fail;
    if ((int)(test.rows * test.cols) != m.dims[0]) {
        st = mt_errf(&err, MT_EDATA, "%s: images are %ux%u (%u inputs) but the model in %s takes %d inputs",
                     test.img_path, (unsigned)test.rows, (unsigned)test.cols, (unsigned)(test.rows * test.cols),
                     ck.st.path, m.dims[0]);
        goto fail;
    }
    if ((st = app_viz_init(&viz, &a.cfg, &test, &err)))
        goto fail;
    float scale, shift;
    mt_norm_affine(&scale, &shift, ck.mean, ck.std);
    /* the engine's threaded forward, as training's test: the same numbers */
    mt_eval ev;
    if ((st = mt_engine_create(&eng, &m, k, app_cli_threads(&a.cfg), MT_PATH_AUTO, (int)a.cfg.test_batch_size, &err)) ||
        (st = mt_evaluate_engine(eng, &m, k, &test, (int)a.cfg.test_batch_size, scale, shift, &ev, viz.preds,
                                 viz.probs, viz.confusion, &err)))
        goto fail;
    double acc = ev.total ? (double)ev.correct / ev.total : 0.0;
    mt_ckpt_arch(arch, sizeof arch, m.dims, m.n_layers);

    app_log_info(&lg, "checkpoint %s: model %s (%zu parameters), %u test images from %s", ck.st.path, arch,
                 m.n_params, (unsigned)test.n, dir);
    app_log_info(&lg, "Test Loss: %.4f, Test Accuracy: %.2f%% (%u/%u)", ev.loss, 100.0 * acc, (unsigned)ev.correct,
                 (unsigned)ev.total);
    {
        char *cj = confusion_json(viz.confusion, K);
        app_ev *e = app_ev_new("eval");
        app_ev_str(e, "checkpoint", ck.st.path);
        app_ev_str(e, "model", arch);
        app_ev_str(e, "data", dir);
        app_ev_num(e, "loss", ev.loss);
        app_ev_num(e, "accuracy", acc);
        app_ev_int(e, "correct", ev.correct);
        app_ev_int(e, "total", ev.total);
        if (cj)
            app_ev_raw(e, "confusion", cj);
        app_ev_emit(&lg, e);
        free(cj);
    }
    /* the confusion table on stderr and the pictures, as after training */
    viz_st = app_viz_report(&viz, &lg, &a.cfg, &test, &ev);
fail:
    mt_engine_free(eng);
    app_viz_free(&viz);
    mt_dataset_free(&test);
    mt_mlp_free(&m);
    mt_ckpt_free(&ck);
    return st ? app_ckpt_fail(&lg, &err, "eval") : app_exit_code(viz_st);
}
