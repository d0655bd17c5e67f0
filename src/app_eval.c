/* app_eval: the `eval` command: a checkpoint (either kind) against the test
 * split: loss, accuracy and the confusion table.  The architecture and the
 * normalization come from the file, so no training options are needed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "app_ckpt.h"
#include "mt_data.h"
#include "mt_train.h"

static const char *const eval_opts[] = { "checkpoint", "data", "dataset", "test-limit", "test-batch-size",
                                         "isa", "threads", "json", NULL };

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
    uint32_t *conf = NULL;
    uint8_t *preds = NULL;
    float *probs = NULL;
    const mt_kern *k = NULL;
    char dir[MT_PATH_MAX], arch[160];

    if ((st = app_cli_parse(&a, argc, argv, &err))) {
        fprintf(stderr, "mnist-train: %s\nTry 'mnist-train eval --help' for more information.\n", err.msg);
        return app_exit_code(st);
    }
    if (a.help) {
        app_ckpt_help(stdout, "mnist-train eval --checkpoint FILE [--data DIR] [OPTIONS]",
                      "Evaluate a checkpoint (model or training state) on the test split (t10k): test loss,\n"
                      "accuracy and the confusion table (rows: true class, columns: predicted).\n"
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
    if ((st = mt_dataset_load(&test, dir, "t10k", K, (uint32_t)a.cfg.test_limit, &err)))
        goto fail;
    if ((int)(test.rows * test.cols) != m.dims[0]) {
        st = mt_errf(&err, MT_EDATA, "%s: images are %ux%u (%u inputs) but the model in %s takes %d inputs",
                     test.img_path, (unsigned)test.rows, (unsigned)test.cols, (unsigned)(test.rows * test.cols),
                     ck.st.path, m.dims[0]);
        goto fail;
    }
    conf = calloc((size_t)K * K, sizeof *conf);
    preds = malloc(test.n ? test.n : 1);
    probs = malloc((size_t)(test.n ? test.n : 1) * K * sizeof *probs);
    if (!conf || !preds || !probs) {
        st = mt_errf(&err, MT_ENOMEM, "out of memory");
        goto fail;
    }
    float scale, shift;
    mt_norm_affine(&scale, &shift, ck.mean, ck.std);
    mt_eval ev;
    if ((st = mt_evaluate(&m, k, &test, (int)a.cfg.test_batch_size, scale, shift, &ev, preds, probs, conf, &err)))
        goto fail;
    double acc = ev.total ? (double)ev.correct / ev.total : 0.0;
    mt_ckpt_arch(arch, sizeof arch, m.dims, m.n_layers);

    /* pictures (issue 4): a prediction grid / confusion heatmap can be drawn
     * here from test, preds (n), probs (n,K) and conf (K,K). */

    if (a.cfg.json) {
        char *cj = confusion_json(conf, K);
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
    } else {
        printf("checkpoint %s: model %s (%zu parameters), %u test images from %s\n", ck.st.path, arch, m.n_params,
               (unsigned)test.n, dir);
        printf("Test Loss: %.4f, Test Accuracy: %.2f%% (%u/%u)\n", ev.loss, 100.0 * acc, (unsigned)ev.correct,
               (unsigned)ev.total);
        printf("Confusion (rows: true class, columns: predicted):\n     ");
        for (int j = 0; j < K; j++)
            printf(" %5d", j);
        printf("\n");
        for (int i = 0; i < K; i++) {
            printf("%5d", i);
            for (int j = 0; j < K; j++)
                printf(" %5u", (unsigned)conf[(size_t)i * K + j]);
            printf("\n");
        }
    }
fail:
    free(conf);
    free(preds);
    free(probs);
    mt_dataset_free(&test);
    mt_mlp_free(&m);
    mt_ckpt_free(&ck);
    return st ? app_ckpt_fail(&lg, &err, "eval") : MT_EXIT_OK;
}
