/* app_info: the `info` command: describes a checkpoint (model or training
 * state) or an IDX file.  Everything is validated by the same loaders as
 * training, so `info` is also a quick integrity check (exit 3 when bad). */
#include "app_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app_ckpt.h"
#include "app_exit.h"
#include "app_opt.h"
#include "mt_idx.h"
#include "mt_sched.h"
#include "mt_sniff.h"

static int64_t get_i64(const mt_st *st, const char *name, int64_t dflt)
{
    int64_t v;
    const size_t one = 1;
    return mt_st_get(st, name, MT_ST_I64, &one, 1, &v, NULL) ? dflt : v;
}

static mt_status info_idx(app_log *lg, const char *path, int ndim, int json, mt_err *err)
{
    mt_idx x = { 0 };
    mt_status st = MT_EDATA;
    if (ndim)
        st = mt_idx_load(&x, path, ndim, err);
    else { /* gzip: the magic is inside; images are likelier, labels else */
        mt_err e3 = { 0 };
        if ((st = mt_idx_load(&x, path, 3, &e3)) && (st = mt_idx_load(&x, path, 1, err)) && !strstr(path, "label"))
            *err = e3;
    }
    if (st)
        return st;
    app_ev *e = app_ev_new("info");
    app_ev_str(e, "file", path);
    app_ev_int(e, "items", x.dims[0]);
    if (x.ndim == 1) {
        long long count[256] = { 0 };
        int maxc = 0;
        for (size_t i = 0; i < x.n_bytes; i++) {
            count[x.data[i]]++;
            maxc = x.data[i] > maxc ? x.data[i] : maxc;
        }
        app_ev_str(e, "kind", "idx-labels");
        app_ev_int(e, "classes", maxc + 1);
        app_ev_ints(e, "counts", count, maxc + 1);
        if (!json) {
            printf("%s: IDX labels, %u items, classes 0..%d\n  counts:", path, (unsigned)x.dims[0], maxc);
            for (int c = 0; c <= maxc; c++)
                printf(" %d:%lld", c, count[c]);
            printf("\n");
        }
    } else {
        double sum = 0;
        for (size_t i = 0; i < x.n_bytes; i++)
            sum += x.data[i];
        double mean = x.n_bytes ? sum / (double)x.n_bytes : 0;
        app_ev_str(e, "kind", x.ndim == 3 ? "idx-images" : "idx");
        long long dims[MT_IDX_MAX_DIMS];
        for (int d = 0; d < x.ndim; d++)
            dims[d] = x.dims[d];
        app_ev_ints(e, "dims", dims, x.ndim);
        app_ev_num(e, "mean_pixel", mean);
        if (!json) {
            printf("%s: IDX %s, %u items", path, x.ndim == 3 ? "images" : "array", (unsigned)x.dims[0]);
            for (int d = 1; d < x.ndim; d++)
                printf("%s%u", d == 1 ? " of " : "x", (unsigned)x.dims[d]);
            printf(", unsigned bytes, mean %.2f (%.4f of 255)\n", mean, mean / 255.0);
        }
    }
    app_ev_emit(lg, e); /* prints only with --json; frees it */
    mt_idx_free(&x);
    return MT_OK;
}

/* The schedule's saved state in words ("step, learning rate 0.0001 after 3
 * epochs"), not its exact hex floats. */
static void schedule_text(char *out, size_t cap, const char *name, const char *state)
{
    mt_sched s;
    mt_early e;
    mt_sched_init(&s, MT_SCHED_NONE, 0);
    mt_early_init(&e, 0, 0);
    if (!*state || mt_sched_state_parse(state, &s, &e) != 0) {
        snprintf(out, cap, "%s", *state ? "(unreadable)" : "none");
        return;
    }
    int n = snprintf(out, cap, "%s, learning rate %.6g after %d epoch%s", name, s.lr, s.epoch, s.epoch == 1 ? "" : "s");
    if (e.best_epoch > 0 && n > 0 && (size_t)n < cap)
        snprintf(out + n, cap - (size_t)n, "; best loss %.4f at epoch %d", e.best, e.best_epoch);
}

static mt_status info_ckpt(app_log *lg, const char *path, int json, mt_err *err)
{
    mt_ckpt ck = { 0 };
    app_model md = { 0 };
    char arch[1100];
    size_t n_params;
    int is_net = 0;
    /* a layer-list model's file (metadata model_spec): built to check it */
    if (app_model_open(&md, path, NULL) == MT_OK && md.is_net) {
        is_net = 1;
        snprintf(arch, sizeof arch, "%s", md.net.spec);
        n_params = md.net.n_params;
        ck = md.ck;
        memset(&md.ck, 0, sizeof md.ck);
    } else {
        mt_status st = mt_ckpt_load(path, &ck, err);
        if (st) {
            app_model_free(&md);
            return st;
        }
        mt_ckpt_arch(arch, sizeof arch, ck.dims, ck.n_layers);
        n_params = ck.n_params;
    }
    app_model_free(&md);
    struct stat sb;
    long long size = stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
    /* the optimizer and schedule by name, from the stored config when it parses */
    app_config c;
    app_config_defaults(&c);
    const char *js = mt_ckpt_meta(&ck, "config");
    int have_cfg = js && app_config_parse(&c, js, "stored config", NULL) == MT_OK;
    const char *opt = have_cfg ? c.optimizer
                      : mt_st_find(&ck.st, "optimizer.exp_avg.fc1.weight") ? "adam or adamw"
                      : mt_st_find(&ck.st, "optimizer.momentum_buffer.fc1.weight") ? "sgd"
                      : mt_st_find(&ck.st, "optimizer.square_avg.fc1.weight") ? "adadelta" : "?";
    int64_t epoch = get_i64(&ck.st, "train.epoch", -1), step = get_i64(&ck.st, "optimizer.step", -1);
    int64_t in_epoch = get_i64(&ck.st, "train.in_epoch", 0), batch = get_i64(&ck.st, "train.batch", 0);
    if (json) {
        app_ev *e = app_ev_new("info");
        app_ev_str(e, "file", path);
        app_ev_str(e, "kind", ck.is_state ? "state" : "model");
        app_ev_int(e, "bytes", size);
        app_ev_str(e, "model", arch);
        app_ev_int(e, "parameters", (long long)n_params);
        app_ev_int(e, "tensors", (long long)ck.st.n_tensors);
        app_ev_num(e, "norm_mean", ck.mean);
        app_ev_num(e, "norm_std", ck.std);
        if (ck.is_state) {
            app_ev_int(e, "epochs_done", epoch);
            app_ev_int(e, "steps", step);
            app_ev_str(e, "optimizer", opt);
        }
        for (size_t i = 0; i < ck.st.n_meta; i++) {
            char key[160];
            snprintf(key, sizeof key, "meta.%s", ck.st.meta[i].key);
            /* raw JSON only when it parses as a config (the file is untrusted) */
            if (strcmp(ck.st.meta[i].key, "config") == 0 && have_cfg)
                app_ev_raw(e, key, ck.st.meta[i].value);
            else
                app_ev_str(e, key, ck.st.meta[i].value);
        }
        app_ev_emit(lg, e);
    } else {
        printf("%s: mnist-train %s (safetensors, %lld bytes, %zu tensors)\n", path,
               ck.is_state ? "training state" : "model", size, ck.st.n_tensors);
        if (is_net && strcmp(mt_ckpt_meta(&ck, "model"), arch) != 0)
            printf("  model:        %s: %s (%zu parameters)\n", mt_ckpt_meta(&ck, "model"), arch, n_params);
        else if (is_net)
            printf("  model:        %s (%zu parameters)\n", arch, n_params);
        else
            printf("  model:        MLP %s, ReLU (%zu parameters)\n", arch, n_params);
        if (ck.rows)
            printf("  input:        %dx%d, x = (pixel/255 - %g) / %g\n", ck.rows, ck.cols, ck.mean, ck.std);
        if (ck.is_state) {
            printf("  progress:     %lld epochs done", (long long)epoch);
            if (in_epoch)
                printf(", epoch %lld at batch %lld", (long long)epoch + 1, (long long)batch);
            printf(", %lld steps, optimizer %s\n", (long long)step, opt);
        }
        for (size_t i = 0; i < ck.st.n_meta; i++) {
            const char *key = ck.st.meta[i].key, *val = ck.st.meta[i].value;
            if (strcmp(key, "schedule") == 0) {
                char text[256];
                schedule_text(text, sizeof text, have_cfg ? c.scheduler : "?", val);
                printf("  %-13s %s\n", key, text);
            } else
                printf("  %-13s %s\n", key, val);
        }
        printf("  tensors:\n");
        for (size_t i = 0; i < ck.st.n_tensors; i++) {
            const mt_st_tensor *t = &ck.st.tensors[i];
            printf("    %-40s %-4s [", t->name, mt_st_dtype_name(t->dtype));
            for (int d = 0; d < t->ndim; d++)
                printf("%s%zu", d ? "," : "", t->shape[d]);
            printf("]\n");
        }
    }
    mt_ckpt_free(&ck);
    return MT_OK;
}

int app_cmd_info(int argc, char **argv)
{
    app_args a;
    app_log lg;
    mt_err err = { 0 };
    mt_status st;
    app_log_init(&lg, app_opt_wants_json(argc, argv), "off");
    if ((st = app_opt_parse(&a, APP_CMD_INFO, argc, argv, NULL, &err)))
        return app_fail(&lg, &err, "info");
    if (a.help) {
        app_opt_help(stdout, APP_CMD_INFO, "mnist-train info [--json] FILE...",
                     "Describe checkpoints (model or training state: architecture, normalization,\n"
                     "progress, metadata, tensors) or IDX files (item count, sizes, label counts).\n"
                     "Every file is fully validated; a bad one gives exit code 3.");
        return APP_EXIT_OK;
    }
    if (a.n_pos == 0) {
        mt_errf(&err, MT_EARG, "no file given (mnist-train info FILE...)");
        return app_fail(&lg, &err, "info");
    }
    mt_status worst = MT_OK;
    for (int i = 0; i < a.n_pos; i++) {
        const char *path = a.pos[i];
        unsigned char m[16] = { 0 };
        struct stat sb;
        int fd = open(path, O_RDONLY | O_NONBLOCK); /* never blocks on a FIFO */
        ssize_t n = -1;
        st = MT_OK;
        if (fd < 0)
            st = mt_errf(&err, MT_EDATA, "%s: cannot open: %s", path, strerror(errno));
        else if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
            st = mt_errf(&err, MT_EDATA, "%s: not a regular file", path);
        else if ((n = read(fd, m, sizeof m)) < 0)
            st = mt_errf(&err, MT_EDATA, "%s: cannot read: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        mt_kind kind = n >= 0 ? mt_sniff(m, (size_t)n) : MT_KIND_UNKNOWN;
        if (st)
            ;
        else if (kind == MT_KIND_GZIP)
            st = info_idx(&lg, path, 0, a.cfg.json, &err);
        else if (kind == MT_KIND_IDX && m[3] <= MT_IDX_MAX_DIMS)
            st = info_idx(&lg, path, m[3], a.cfg.json, &err);
        else if (kind == MT_KIND_SAFETENSORS || kind == MT_KIND_UNKNOWN)
            st = info_ckpt(&lg, path, a.cfg.json, &err);
        else
            st = mt_errf(&err, MT_EDATA, "%s: neither a checkpoint nor an IDX file: it looks like %s", path,
                         mt_kind_text(kind));
        if (st) {
            app_fail(&lg, &err, NULL);
            if (!worst || st == MT_ENOMEM)
                worst = st;
        }
    }
    return worst ? app_exit_code(worst) : APP_EXIT_OK;
}
