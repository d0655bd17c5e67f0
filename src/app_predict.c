/* app_predict: the `predict` command: classifies digit pictures (any PNG)
 * with a checkpoint.  Each picture goes through MNIST's own preprocessing
 * (mt_prep) so photos and drawings look like the training data; answers are
 * named with the model's class names (its data set's, or its run's). */
#include "app_cmd.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_ckpt.h"
#include "app_exit.h"
#include "app_opt.h"
#include "mt_data.h"
#include "mt_net.h"
#include "mt_png.h"
#include "mt_prep.h"
#include "mt_sniff.h"

/* Classifies one file: probs (K) and *inverted; MT_EDATA naming the file. */
static mt_status predict_one(const char *path, const app_model *md, mt_mlp_work *w, mt_net_work *nw,
                             const mt_kern *k, double *probs, int *inverted, mt_err *err)
{
    const mt_ckpt *ck = &md->ck;
    const mt_mlp *m = &md->m;
    uint8_t *gray = NULL, *img = NULL;
    int W, H;
    mt_prep_info info;
    mt_kind kind = mt_sniff_path(path);
    if (kind != MT_KIND_UNKNOWN && kind != MT_KIND_PNG)
        return mt_errf(err, MT_EDATA, "%s: not a PNG image: it looks like %s", path, mt_kind_text(kind));
    mt_status st = mt_png_read_gray(path, &gray, &W, &H, err);
    if (st)
        return st;
    if (!(img = malloc((size_t)ck->rows * ck->cols))) {
        st = mt_errf(err, MT_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    mt_err e2 = { 0 };
    if ((st = mt_prep_digit(img, ck->rows, ck->cols, gray, W, H, &info, &e2))) {
        st = mt_errf(err, st, "%s: %s", path, e2.msg);
        goto done;
    }
    float scale, shift;
    mt_norm_affine(&scale, &shift, ck->mean, ck->std);
    const int K = app_model_classes(md);
    float xin[784 * 16], zn[256];
    const float *z;
    if (md->is_net) { /* a layer-list model: one sample through its forward */
        if ((size_t)ck->rows * ck->cols > sizeof xin / sizeof *xin || K > 256) {
            st = mt_errf(err, MT_EDATA, "%s: the model's input or classes are too large to predict", ck->st.path);
            goto done;
        }
        k->u8_to_f32(xin, img, (size_t)ck->rows * ck->cols, scale, shift);
        mt_net_predict(&md->net, nw, NULL, xin, 1, zn, k);
        z = zn;
    } else {
        k->u8_to_f32(w->act[0], img, (size_t)ck->rows * ck->cols, scale, shift);
        mt_mlp_forward(m, w, 1, k);
        z = w->act[m->n_layers];
    }
    double mx = z[0], sum = 0;
    for (int c = 1; c < K; c++)
        mx = z[c] > mx ? z[c] : mx;
    for (int c = 0; c < K; c++)
        sum += probs[c] = exp(z[c] - mx);
    for (int c = 0; c < K; c++)
        probs[c] /= sum;
    *inverted = info.inverted;
done:
    free(gray);
    free(img);
    return st;
}

/* top[0..2]: the three most probable classes, best first */
static void top3(int *top, const double *probs, int K)
{
    for (int t = 0; t < 3; t++) {
        top[t] = -1;
        for (int c = 0; c < K; c++) {
            int used = 0;
            for (int u = 0; u < t; u++)
                used |= top[u] == c;
            if (!used && (top[t] < 0 || probs[c] > probs[top[t]]))
                top[t] = c;
        }
    }
}

static void print_answer(app_log *lg, const char *path, const double *probs, int K, const char *const *names,
                         int inverted)
{
    int top[3];
    char num[3][16];
    const char *label[3] = { "", "", "" };
    top3(top, probs, K);
    for (int t = 0; t < 3 && t < K; t++) {
        snprintf(num[t], sizeof num[t], "%d", top[t]);
        label[t] = names ? names[top[t]] : num[t];
    }
    if (lg->json) {
        char raw[1024];
        int len = snprintf(raw, sizeof raw, "[");
        for (int t = 0; t < 3 && t < K; t++)
            len += snprintf(raw + len, sizeof raw - (size_t)len, "%s{\"class\":%d,\"probability\":%.6g}",
                            t ? "," : "", top[t], probs[top[t]]);
        snprintf(raw + len, sizeof raw - (size_t)len, "]");
        app_ev *e = app_ev_new("predict");
        app_ev_str(e, "file", path);
        app_ev_int(e, "class", top[0]);
        if (names)
            app_ev_str(e, "name", names[top[0]]);
        app_ev_num(e, "probability", probs[top[0]]);
        app_ev_raw(e, "top", raw);
        app_ev_bool(e, "inverted", inverted);
        app_ev_emit(lg, e);
    } else {
        printf("%s: %s  (", path, label[0]);
        for (int t = 0; t < 3 && t < K; t++)
            printf("%s%s: %.1f%%", t ? ", " : "", label[t], 100.0 * probs[top[t]]);
        printf(")\n");
    }
    fflush(stdout);
}

int app_cmd_predict(int argc, char **argv)
{
    app_args a;
    app_log lg;
    mt_err err = { 0 };
    mt_status st, worst = MT_OK;
    app_model md = { 0 };
    mt_mlp_work w = { 0 };
    mt_net_work *nw = NULL;
    double *probs = NULL;
    const mt_kern *k = NULL;
    char dataset[32];

    app_log_init(&lg, app_opt_wants_json(argc, argv), "off");
    if ((st = app_opt_parse(&a, APP_CMD_PREDICT, argc, argv, NULL, &err)))
        return app_fail(&lg, &err, "predict");
    if (a.help) {
        app_opt_help(stdout, APP_CMD_PREDICT, "mnist-train predict --checkpoint FILE [OPTIONS] IMAGE.png...",
                     "Classify digit pictures: any PNG (gray, RGB, palette, alpha, 8 or 16 bits) is turned\n"
                     "into gray, inverted when its background is light, cropped to the ink, fitted into\n"
                     "20x20 keeping its aspect ratio and centred by centre of mass in 28x28, as MNIST was\n"
                     "made. Prints the predicted class (by name when the model's data set has names) and the\n"
                     "top-3 probabilities per file (one JSON line each with --json). A file that cannot be\n"
                     "read is named on stderr; the others are still classified and the exit code is 3.");
        return APP_EXIT_OK;
    }
    app_log_init(&lg, a.cfg.json, "off");
    if (!a.cfg.checkpoint[0]) {
        st = mt_errf(&err, MT_EARG, "--checkpoint FILE is required (mnist-train predict --checkpoint FILE IMAGE.png...)");
        goto fail;
    }
    if (a.n_pos == 0) {
        st = mt_errf(&err, MT_EARG, "no image given (mnist-train predict --checkpoint FILE IMAGE.png...)");
        goto fail;
    }
    if ((st = app_model_open(&md, a.cfg.checkpoint, &err)) ||
        (st = app_model_dataset(&md, a.cfg.dataset, app_opt_given(&a, "dataset"), dataset, sizeof dataset, &err)) ||
        (st = app_opt_kernels(&a.cfg, &k, &err)))
        goto fail;
    if (md.ck.rows < 1) {
        st = mt_errf(&err, MT_EDATA, "%s: the model takes %d inputs, not a square image (no input_shape metadata)",
                     md.ck.st.path, md.m.dims[0]);
        goto fail;
    }
    const int K = app_model_classes(&md);
    const char *const *names = app_model_class_names(&md, a.cfg.class_names, dataset);
    if (a.cfg.class_names[0] && !names) {
        st = mt_errf(&err, MT_EARG, "--class-names: the model has %d classes; give that many names", K);
        goto fail;
    }
    if (!(probs = malloc((size_t)K * sizeof *probs))) {
        st = mt_errf(&err, MT_ENOMEM, "out of memory");
        goto fail;
    }
    if ((st = md.is_net ? mt_net_work_create(&nw, &md.net, 1, 1, &err) : mt_mlp_work_init(&w, &md.m, 1, &err)))
        goto fail;
    for (int f = 0; f < a.n_pos && !app_stop_signal; f++) {
        int inv = 0;
        mt_err fe = { 0 };
        mt_status s = predict_one(a.pos[f], &md, &w, nw, k, probs, &inv, &fe);
        if (s) {
            app_fail(&lg, &fe, NULL);
            if (s == MT_ENOMEM || worst == MT_OK)
                worst = s;
            continue;
        }
        print_answer(&lg, a.pos[f], probs, K, names, inv);
    }
    if (app_stop_signal)
        st = mt_errf(&err, MT_EINTR, "interrupted");
fail:
    free(probs);
    mt_mlp_work_free(&w);
    mt_net_work_free(nw);
    app_model_free(&md);
    if (st)
        return app_fail(&lg, &err, "predict");
    return worst ? app_exit_code(worst) : APP_EXIT_OK;
}
