/* app_predict: the `predict` command: classifies digit pictures (PNG or JPEG
 * files, folders of them, or stdin) with a checkpoint.  Each picture goes
 * through mt_prep_picture (the ink found as people draw and photograph it,
 * then MNIST's own preprocessing) so it looks like the training data; answers
 * are named with the model's class names and flagged when not confident. */
#include "app_cmd.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "app_ckpt.h"
#include "app_exit.h"
#include "app_opt.h"
#include "mt_data.h"
#include "mt_image.h"
#include "mt_net.h"
#include "mt_prep.h"
#include "mt_sniff.h"
#include "mt_viz.h"

/* Classifies one picture (a file, or "-" for stdin): probs (K), the input
 * the model saw (rows, cols) and what the preparation found; MT_EDATA naming
 * the file. */
static mt_status predict_one(const char *path, const app_model *md, mt_mlp_work *w, mt_net_work *nw,
                             const mt_kern *k, double *probs, uint8_t *input, mt_prep_info *info, mt_err *err)
{
    const mt_ckpt *ck = &md->ck;
    const mt_mlp *m = &md->m;
    mt_image im = { 0 };
    mt_status st;
    if (strcmp(path, "-") == 0) {
        st = mt_image_read_fp(stdin, "-", &im, err);
    } else {
        mt_kind kind = mt_sniff_path(path);
        if (kind != MT_KIND_UNKNOWN && kind != MT_KIND_PNG && kind != MT_KIND_JPEG)
            return mt_errf(err, MT_EDATA, "%s: not a PNG or JPEG image: it looks like %s", path, mt_kind_text(kind));
        st = mt_image_read(path, &im, err);
    }
    if (st)
        return st;
    mt_err e2 = { 0 };
    if ((st = mt_prep_picture(input, ck->rows, ck->cols, im.gray, im.alpha, im.w, im.h, info, &e2))) {
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
        k->u8_to_f32(xin, input, (size_t)ck->rows * ck->cols, scale, shift);
        mt_net_predict(&md->net, nw, NULL, xin, 1, zn, k);
        z = zn;
    } else {
        k->u8_to_f32(w->act[0], input, (size_t)ck->rows * ck->cols, scale, shift);
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
done:
    mt_image_free(&im);
    return st;
}

/* The pictures to classify: each argument as given, a folder replaced by its
 * PNG and JPEG files in name order.  *paths (n) are owned (free_list).  A
 * folder that cannot be listed or has no pictures is reported through
 * app_fail and counted in *worst; the others still run. */
static mt_status expand_args(char ***paths, int *n, app_args *a, app_log *lg, mt_status *worst, mt_err *err)
{
    char **list = NULL;
    int cnt = 0, cap = 0, stdin_seen = 0;
    for (int i = 0; i < a->n_pos; i++) {
        const char *arg = a->pos[i];
        struct stat sb;
        char **dir = NULL;
        int nd = 0;
        if (strcmp(arg, "-") == 0 && stdin_seen++) {
            mt_image_paths_free(list, cnt);
            return mt_errf(err, MT_EARG, "'-' (standard input) given twice");
        }
        if (strcmp(arg, "-") != 0 && stat(arg, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            mt_err fe = { 0 };
            mt_status s = mt_image_list_dir(arg, &dir, &nd, &fe);
            if (!s && nd == 0)
                s = mt_errf(&fe, MT_EDATA, "%s: is a directory with no PNG or JPEG pictures in it", arg);
            if (s == MT_ENOMEM) {
                mt_image_paths_free(list, cnt);
                *err = fe;
                return s;
            }
            if (s) {
                app_fail(lg, &fe, NULL);
                *worst = *worst ? *worst : s;
                continue;
            }
        }
        int add = dir ? nd : 1;
        if (cnt + add > cap) {
            int nc = cap ? cap : 16;
            while (nc < cnt + add)
                nc *= 2;
            char **nl = realloc(list, (size_t)nc * sizeof *nl);
            if (!nl) {
                mt_image_paths_free(dir, nd);
                mt_image_paths_free(list, cnt);
                return mt_errf(err, MT_ENOMEM, "out of memory");
            }
            list = nl;
            cap = nc;
        }
        if (dir) {
            memcpy(list + cnt, dir, (size_t)nd * sizeof *dir);
            cnt += nd;
            free(dir);
        } else if (!(list[cnt++] = strdup(arg))) {
            mt_image_paths_free(list, cnt - 1);
            return mt_errf(err, MT_ENOMEM, "out of memory");
        }
    }
    *paths = list;
    *n = cnt;
    return MT_OK;
}

/* Where --show-input puts the input of picture path: the option's file, or
 * in its folder "<name without extension>-input.png" ("stdin-input.png"). */
static void show_path(char *out, size_t cap, const char *show, int show_is_dir, const char *path)
{
    if (!show_is_dir) {
        snprintf(out, cap, "%s", show);
        return;
    }
    const char *base = strcmp(path, "-") == 0 ? "stdin" : strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    const char *dot = strrchr(base, '.');
    int stem = dot && dot != base ? (int)(dot - base) : (int)strlen(base);
    size_t dl = strlen(show);
    snprintf(out, cap, "%s%s%.*s-input.png", show, dl && show[dl - 1] == '/' ? "" : "/", stem, base);
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
                         const mt_prep_info *info, double min_conf, const char *shown)
{
    int top[3];
    char num[3][16];
    const char *label[3] = { "", "", "" };
    top3(top, probs, K);
    const int unsure = mt_prep_unsure(info, probs[top[0]], min_conf);
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
        app_ev_bool(e, "inverted", info->inverted);
        app_ev_bool(e, "ink_from_alpha", info->from_alpha);
        app_ev_int(e, "components", info->n_components);
        app_ev_bool(e, "confident", !unsure);
        if (unsure)
            app_ev_raw(e, "unsure", (unsure & MT_PREP_UNSURE_PROB) && (unsure & MT_PREP_UNSURE_COMPONENTS)
                                        ? "[\"probability\",\"components\"]"
                                    : unsure & MT_PREP_UNSURE_PROB ? "[\"probability\"]"
                                                                   : "[\"components\"]");
        if (shown)
            app_ev_str(e, "input", shown);
        app_ev_emit(lg, e);
    } else {
        printf("%s: %s  (", path, label[0]);
        for (int t = 0; t < 3 && t < K; t++)
            printf("%s%s: %.1f%%", t ? ", " : "", label[t], 100.0 * probs[top[t]]);
        printf(")");
        if (unsure & MT_PREP_UNSURE_PROB)
            printf("  [not sure: top probability below %.0f%%]", 100.0 * min_conf);
        if (unsure & MT_PREP_UNSURE_COMPONENTS)
            printf("  [not sure: more than one digit-sized blob of ink]");
        printf("\n");
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
    uint8_t *input = NULL;
    char **paths = NULL;
    int n_paths = 0;
    const mt_kern *k = NULL;
    char dataset[32];

    app_log_init(&lg, app_opt_wants_json(argc, argv), "off");
    if ((st = app_opt_parse(&a, APP_CMD_PREDICT, argc, argv, NULL, &err)))
        return app_fail(&lg, &err, "predict");
    if (a.help) {
        app_opt_help(stdout, APP_CMD_PREDICT,
                     "mnist-train predict --checkpoint FILE [OPTIONS] PICTURE|FOLDER|-...",
                     "Classify digit pictures: PNG (any kind, with alpha) or JPEG, told apart by content; a\n"
                     "folder means every PNG and JPEG in it, in name order; - reads one picture from stdin.\n"
                     "Each is prepared as people draw and photograph digits: ink in the alpha channel of a\n"
                     "transparent drawing is used as such, dark-on-light is inverted, shadows and paper\n"
                     "shading are removed, the digit is the ink blob near the centre (frames, borders and\n"
                     "specks are dropped), then, as MNIST was made, fitted into 20x20 and centred by centre\n"
                     "of mass in 28x28 (--show-input writes that image). Prints the predicted class (by name\n"
                     "when the model's data set has names) and the top-3 probabilities per file (one JSON\n"
                     "line each with --json); an answer below --min-confidence or with several digit-sized\n"
                     "blobs is marked 'not sure'. A file that cannot be read is named on stderr; the others\n"
                     "are still classified and the exit code is 3.");
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
    if ((st = expand_args(&paths, &n_paths, &a, &lg, &worst, &err)))
        goto fail;
    /* --show-input: a folder (existing, or named with a trailing '/') gets one
     * file per picture; a file name takes exactly one picture */
    const char *show = a.cfg.show_input[0] ? a.cfg.show_input : NULL;
    struct stat sb;
    int show_dir = 0;
    if (show) {
        size_t sl = strlen(show);
        show_dir = (stat(show, &sb) == 0 && S_ISDIR(sb.st_mode)) || show[sl - 1] == '/';
        if (show_dir && stat(show, &sb) != 0 && mkdir(show, 0777) != 0) {
            st = mt_errf(&err, MT_EIO, "--show-input %s: cannot create the folder: %s", show, strerror(errno));
            goto fail;
        }
        if (!show_dir && n_paths > 1) {
            st = mt_errf(&err, MT_EARG, "--show-input %s: a file holds one picture's input; give a folder for %d pictures",
                         show, n_paths);
            goto fail;
        }
    }
    if (!(probs = malloc((size_t)K * sizeof *probs)) || !(input = malloc((size_t)md.ck.rows * md.ck.cols))) {
        st = mt_errf(&err, MT_ENOMEM, "out of memory");
        goto fail;
    }
    if ((st = md.is_net ? mt_net_work_create(&nw, &md.net, 1, 1, &err) : mt_mlp_work_init(&w, &md.m, 1, &err)))
        goto fail;
    for (int f = 0; f < n_paths && !app_stop_signal; f++) {
        mt_prep_info info;
        mt_err fe = { 0 };
        char shown[APP_PATH_MAX + 64];
        mt_status s = predict_one(paths[f], &md, &w, nw, k, probs, input, &info, &fe);
        if (!s && show) {
            show_path(shown, sizeof shown, show, show_dir, paths[f]);
            s = mt_viz_input(shown, input, md.ck.rows, md.ck.cols, 8, &fe);
        }
        if (s) {
            app_fail(&lg, &fe, NULL);
            if (s == MT_ENOMEM || worst == MT_OK)
                worst = s;
            continue;
        }
        print_answer(&lg, paths[f], probs, K, names, &info, a.cfg.min_confidence, show ? shown : NULL);
    }
    if (app_stop_signal)
        st = mt_errf(&err, MT_EINTR, "interrupted");
fail:
    free(probs);
    free(input);
    mt_image_paths_free(paths, n_paths);
    mt_mlp_work_free(&w);
    mt_net_work_free(nw);
    app_model_free(&md);
    if (st)
        return app_fail(&lg, &err, "predict");
    return worst ? app_exit_code(worst) : APP_EXIT_OK;
}
