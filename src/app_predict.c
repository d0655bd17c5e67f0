/* app_predict: the `predict` command: classifies digit pictures (any PNG)
 * with a checkpoint.  Each picture goes through MNIST's own preprocessing
 * (mt_prep) so photos and drawings look like the training data. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "app_ckpt.h"
#include "mt_data.h"
#include "mt_png.h"
#include "mt_prep.h"

static const char *const predict_opts[] = { "checkpoint", "isa", "json", NULL };

/* Classifies one file: probs (K) and *inverted; MT_EDATA naming the file. */
static mt_status predict_one(const char *path, const mt_ckpt *ck, const mt_mlp *m, mt_mlp_work *w,
                             const mt_kern *k, double *probs, int *inverted, mt_err *err)
{
    uint8_t *gray = NULL, *img = NULL;
    int W, H;
    mt_prep_info info;
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
    k->u8_to_f32(w->act[0], img, (size_t)ck->rows * ck->cols, scale, shift);
    mt_mlp_forward(m, w, 1, k);
    const float *z = w->act[m->n_layers];
    const int K = m->dims[m->n_layers];
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

int app_cmd_predict(int argc, char **argv)
{
    app_args a;
    app_log lg;
    mt_err err = { 0 };
    mt_status st, worst = MT_OK;
    mt_ckpt ck = { 0 };
    mt_mlp m = { 0 };
    mt_mlp_work w = { 0 };
    double *probs = NULL;
    const mt_kern *k = NULL;

    if ((st = app_cli_parse(&a, argc, argv, &err))) {
        fprintf(stderr, "mnist-train: %s\nTry 'mnist-train predict --help' for more information.\n", err.msg);
        return app_exit_code(st);
    }
    if (a.help) {
        app_ckpt_help(stdout, "mnist-train predict --checkpoint FILE [OPTIONS] IMAGE.png...",
                      "Classify digit pictures: any PNG (gray, RGB, palette, alpha, 8 or 16 bits) is turned\n"
                      "into gray, inverted when its background is light, cropped to the ink, fitted into\n"
                      "20x20 keeping its aspect ratio and centred by centre of mass in 28x28, as MNIST was\n"
                      "made. Prints the predicted class and the top-3 probabilities per file (one JSON\n"
                      "line each with --json). A file that cannot be read is named on stderr; the\n"
                      "others are still classified and the exit code is 3.",
                      predict_opts);
        return MT_EXIT_OK;
    }
    app_log_init(&lg, a.cfg.json, "off");
    if (a.n_pos == 0) {
        st = mt_errf(&err, MT_EARG, "no image given (mnist-train predict --checkpoint FILE IMAGE.png...)");
        goto fail;
    }
    if ((st = app_ckpt_open_model(&a, 0, &ck, &m, &err)) ||
        (st = mt_kern_select(&k, (mt_isa)mt_isa_parse(a.cfg.isa), &err)))
        goto fail;
    if (ck.rows < 1) {
        st = mt_errf(&err, MT_EDATA, "%s: the model takes %d inputs, not a square image (no input_shape metadata)",
                     ck.st.path, m.dims[0]);
        goto fail;
    }
    const int K = m.dims[m.n_layers];
    if (!(probs = malloc((size_t)K * sizeof *probs))) {
        st = mt_errf(&err, MT_ENOMEM, "out of memory");
        goto fail;
    }
    if ((st = mt_mlp_work_init(&w, &m, 1, &err)))
        goto fail;
    for (int f = 0; f < a.n_pos && !app_stop_signal; f++) {
        int inv = 0, top[3] = { -1, -1, -1 };
        mt_err fe = { 0 };
        mt_status s = predict_one(a.pos[f], &ck, &m, &w, k, probs, &inv, &fe);
        if (s) {
            app_ckpt_fail(&lg, &fe, NULL);
            if (s == MT_ENOMEM || worst == MT_OK)
                worst = s;
            continue;
        }
        for (int t = 0; t < 3 && t < K; t++)
            for (int c = 0; c < K; c++) {
                int used = 0;
                for (int u = 0; u < t; u++)
                    used |= top[u] == c;
                if (!used && (top[t] < 0 || probs[c] > probs[top[t]]))
                    top[t] = c;
            }
        if (a.cfg.json) {
            char raw[256];
            int len = snprintf(raw, sizeof raw, "[");
            for (int t = 0; t < 3 && t < K; t++)
                len += snprintf(raw + len, sizeof raw - (size_t)len, "%s{\"class\":%d,\"probability\":%.6g}",
                                t ? "," : "", top[t], probs[top[t]]);
            snprintf(raw + len, sizeof raw - (size_t)len, "]");
            app_ev *e = app_ev_new("predict");
            app_ev_str(e, "file", a.pos[f]);
            app_ev_int(e, "class", top[0]);
            app_ev_num(e, "probability", probs[top[0]]);
            app_ev_raw(e, "top", raw);
            app_ev_bool(e, "inverted", inv);
            app_ev_emit(&lg, e);
        } else {
            printf("%s: %d  (", a.pos[f], top[0]);
            for (int t = 0; t < 3 && t < K; t++)
                printf("%s%d: %.1f%%", t ? ", " : "", top[t], 100.0 * probs[top[t]]);
            printf(")\n");
        }
        fflush(stdout);
    }
    if (app_stop_signal)
        st = mt_errf(&err, MT_EINTR, "interrupted");
fail:
    free(probs);
    mt_mlp_work_free(&w);
    mt_mlp_free(&m);
    mt_ckpt_free(&ck);
    if (st)
        return app_ckpt_fail(&lg, &err, "predict");
    return worst ? app_exit_code(worst) : MT_EXIT_OK;
}
