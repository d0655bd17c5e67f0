/* app_ckpt: checkpoint plumbing for the commands (issue 5).  The files are
 * mt_ckpt's; this adds what only the program knows: the effective config,
 * version, data set and test accuracy as metadata, and the log lines. */
#include "app_ckpt.h"

#include <stdlib.h>
#include <string.h>

#include "app.h"

/* The shortest "%.*g" text that reads back as exactly v. */
static void num_text(char *buf, size_t cap, double v)
{
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

mt_status app_ckpt_resume_args(app_args *a, int argc, char **argv, mt_ckpt *ck, mt_err *err)
{
    mt_status st;
    char path[MT_PATH_MAX];
    if (a->cfg.init[0])
        return mt_errf(err, MT_EARG, "--resume and --init exclude each other (a state already holds weights)");
    snprintf(path, sizeof path, "%s", a->cfg.resume);
    if ((st = mt_ckpt_load(path, ck, err)))
        return st;
    const char *js = mt_ckpt_meta(ck, "config");
    if (!ck->is_state)
        return mt_errf(err, MT_EDATA, "%s: a model file, not a training state (no 'train.epoch'); "
                       "use --init to start from its weights", path);
    if (!js)
        return mt_errf(err, MT_EDATA, "%s: no 'config' in the metadata: not written by mnist-train --save-state",
                       path);
    mt_config stored, base;
    mt_err e2 = { 0 };
    mt_config_defaults(&stored);
    if (mt_config_parse(&stored, js, "stored config", &e2))
        return mt_errf(err, MT_EDATA, "%s: %s", path, e2.msg);
    mt_config_defaults(&base);
    int n;
    const mt_optdef *t = mt_config_options(&n);
    static const char *const groups[] = { "data.", "model.", "training.", "optimizer.", "scheduler.", "augment." };
    /* The kernels and first-layer path decide the last bits of every step, so
     * an exact resume restores them too (--isa / --first-layer on the command
     * line still override).  The thread count does not change results. */
    static const char *const keys[] = { "runtime.isa", "runtime.first_layer" };
    for (int i = 0; i < n; i++) {
        int take = 0;
        for (size_t g = 0; g < sizeof groups / sizeof *groups; g++)
            take |= strncmp(t[i].key, groups[g], strlen(groups[g])) == 0;
        for (size_t j = 0; j < sizeof keys / sizeof *keys; j++)
            take |= strcmp(t[i].key, keys[j]) == 0;
        if (take)
            memcpy((char *)&base + t[i].offset, (const char *)&stored + t[i].offset, t[i].size);
    }
    return app_cli_parse_base(a, argc, argv, &base, err);
}

mt_status app_ckpt_init_weights(app_log *lg, const char *path, mt_mlp *m, mt_err *err)
{
    mt_ckpt ck = { 0 };
    mt_status st = mt_ckpt_load(path, &ck, err);
    if (!st)
        st = mt_ckpt_weights(&ck, m, err);
    if (!st)
        app_log_info(lg, "initial weights from %s (%s)", path, ck.is_state ? "training state" : "model");
    mt_ckpt_free(&ck);
    return st;
}

static void event(app_log *lg, const char *kind, const char *path, long long epoch, long long step)
{
    app_ev *e = app_ev_new("checkpoint");
    app_ev_str(e, "kind", kind);
    app_ev_str(e, "path", path);
    if (epoch >= 0)
        app_ev_int(e, "epoch", epoch);
    app_ev_int(e, "steps", step);
    app_ev_emit(lg, e);
}

mt_status app_ckpt_save_state(app_log *lg, const mt_config *cfg, const mt_mlp *m, const mt_optim *o,
                              const mt_trainer *t, long long epochs_done, const char *schedule,
                              mt_err *err)
{
    char *js = mt_config_to_json(cfg, 0);
    char mean[32], sd[32];
    if (!js)
        return mt_errf(err, MT_ENOMEM, "out of memory");
    num_text(mean, sizeof mean, cfg->mean);
    num_text(sd, sizeof sd, cfg->std);
    const mt_st_meta meta[] = {
        { "program", "mnist-train " APP_VERSION }, { "dataset", cfg->dataset },
        { "norm_mean", mean }, { "norm_std", sd }, { "config", js },
        { "schedule", schedule ? schedule : "" },
    };
    /* "schedule" (learning-rate schedule and early-stopping state) only when given */
    size_t n_meta = sizeof meta / sizeof *meta - (schedule ? 0 : 1);
    mt_status st = mt_ckpt_save_state(cfg->save_state, m, o, t, epochs_done, meta, n_meta, err);
    free(js);
    if (st)
        return st;
    if (t->in_epoch)
        app_log_info(lg, "saved training state to %s (epoch %lld, batch %d, step %lld)", cfg->save_state,
                     epochs_done + 1, t->next_batch, o->step);
    else
        app_log_info(lg, "saved training state to %s (after epoch %lld, step %lld)", cfg->save_state, epochs_done,
                     o->step);
    event(lg, "state", cfg->save_state, epochs_done, o->step);
    return MT_OK;
}

mt_status app_ckpt_save_model(app_log *lg, const mt_config *cfg, const mt_mlp *m, int rows, int cols,
                              double acc, double loss, long long steps, mt_err *err)
{
    char *js = mt_config_to_json(cfg, 0);
    char mean[32], sd[32], norm[96], shape[32], accs[32], losss[32], stepss[32];
    if (!js)
        return mt_errf(err, MT_ENOMEM, "out of memory");
    num_text(mean, sizeof mean, cfg->mean);
    num_text(sd, sizeof sd, cfg->std);
    snprintf(norm, sizeof norm, "x = (pixel/255 - %g) / %g", cfg->mean, cfg->std);
    snprintf(shape, sizeof shape, "%dx%d", rows, cols);
    snprintf(accs, sizeof accs, "%.6f", acc);
    snprintf(losss, sizeof losss, "%.6f", loss);
    snprintf(stepss, sizeof stepss, "%lld", steps);
    mt_st_meta meta[] = {
        { "program", "mnist-train " APP_VERSION }, { "dataset", cfg->dataset }, { "input_shape", shape },
        { "normalization", norm }, { "norm_mean", mean }, { "norm_std", sd }, { "steps", stepss },
        { "config", js }, { "test_accuracy", accs }, { "test_loss", losss },
    };
    size_t n_meta = sizeof meta / sizeof *meta - (acc < 0 ? 2 : 0);
    mt_status st = mt_ckpt_save_model(cfg->save, m, meta, n_meta, err);
    free(js);
    if (st)
        return st;
    app_log_info(lg, "saved model to %s", cfg->save);
    event(lg, "model", cfg->save, -1, steps);
    return MT_OK;
}

int app_ckpt_fail(app_log *lg, const mt_err *err, const char *cmd)
{
    app_log_error(lg, "%s", err->msg);
    if (err->code == MT_EARG)
        fprintf(stderr, "Try 'mnist-train %s%s--help' for more information.\n", cmd ? cmd : "", cmd ? " " : "");
    app_ev *e = app_ev_new("error");
    app_ev_str(e, "kind", mt_status_name(err->code));
    app_ev_str(e, "message", err->msg);
    app_ev_int(e, "exit_code", app_exit_code(err->code));
    app_ev_emit(lg, e);
    return app_exit_code(err->code);
}

void app_ckpt_help(FILE *f, const char *usage, const char *about, const char *const *opts)
{
    fprintf(f, "Usage: %s\n\n%s\n\nOptions:\n", usage, about);
    for (int i = 0; opts[i]; i++)
        app_cli_print_option(f, opts[i]);
    fprintf(f, "  --config FILE          read options from a JSON config file (command line wins)\n"
               "  -h, --help             show this help and exit\n");
}

mt_status app_ckpt_open_model(const app_args *a, int pos_ok, mt_ckpt *ck, mt_mlp *m, mt_err *err)
{
    const char *path = a->cfg.checkpoint;
    if (!*path && pos_ok && a->n_pos == 1)
        path = a->pos[0];
    if (!*path)
        return mt_errf(err, MT_EARG, "--checkpoint FILE is required");
    mt_status st = mt_ckpt_load(path, ck, err);
    if (!st && (st = mt_ckpt_model(ck, m, err)))
        mt_ckpt_free(ck);
    return st;
}
