/* app_ckpt: checkpoint plumbing for the commands.  The files are mt_ckpt's;
 * this adds what only the program knows: the effective config, version, data
 * set and test accuracy as metadata, the log lines, and reading that
 * context back for eval and predict. */
#include "app_ckpt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_data.h"
#include "mt_onnx.h"
#include "mt_sniff.h"

/* The shortest "%.*g" text that reads back as exactly v. */
static void num_text(char *buf, size_t cap, double v)
{
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

int app_ckpt_is_net(const mt_ckpt *ck)
{
    return mt_ckpt_meta(ck, "model_spec") != NULL;
}

/* A layer-list model's file (metadata "model_spec"): the mt_st only, with
 * the normalisation and input size from its metadata; mt_net_load checks
 * the tensors when the model is built. */
static int load_net(const char *path, mt_ckpt *ck)
{
    mt_st st = { 0 };
    if (mt_st_load(path, &st, NULL) != MT_OK)
        return 0;
    if (!mt_st_meta_get(&st, "model_spec")) {
        mt_st_free(&st);
        return 0;
    }
    memset(ck, 0, sizeof *ck);
    ck->st = st;
    ck->is_state = mt_st_find(&ck->st, "train.epoch") != NULL;
    const char *m = mt_st_meta_get(&ck->st, "norm_mean"), *sd = mt_st_meta_get(&ck->st, "norm_std");
    const char *shape = mt_st_meta_get(&ck->st, "input_shape");
    ck->mean = m ? strtod(m, NULL) : 0.1307;
    ck->std = sd && strtod(sd, NULL) > 0 ? strtod(sd, NULL) : 0.3081;
    if (!shape || sscanf(shape, "%dx%d", &ck->rows, &ck->cols) != 2)
        ck->rows = ck->cols = 28;
    return 1;
}

/* Loads path as a checkpoint; a file of another kind says what it is. */
static mt_status load(const char *path, mt_ckpt *ck, mt_err *err)
{
    if (load_net(path, ck))
        return MT_OK;
    mt_status st = mt_ckpt_load(path, ck, err);
    if (st == MT_EDATA) {
        mt_kind k = mt_sniff_path(path);
        if (k != MT_KIND_UNKNOWN && k != MT_KIND_SAFETENSORS)
            return mt_errf(err, MT_EDATA, "%s: not a checkpoint (safetensors file): it looks like %s", path,
                           mt_kind_text(k));
    }
    return st;
}

mt_status app_ckpt_resume_args(app_args *a, int argc, char **argv, mt_ckpt *ck, long long *epochs_done,
                               mt_err *err)
{
    mt_status st;
    char path[APP_PATH_MAX];
    if (a->cfg.init[0])
        return mt_errf(err, MT_EARG, "--resume and --init exclude each other (a state already holds weights)");
    snprintf(path, sizeof path, "%s", a->cfg.resume);
    if ((st = load(path, ck, err)))
        return st;
    const char *js = mt_ckpt_meta(ck, "config");
    if (!ck->is_state)
        return mt_errf(err, MT_EDATA, "%s: a model file, not a training state (no 'train.epoch'); "
                       "use --init to start from its weights", path);
    if (!js)
        return mt_errf(err, MT_EDATA, "%s: no 'config' in the metadata: not written by mnist-train --save-state",
                       path);
    app_config stored, base;
    mt_err e2 = { 0 };
    app_config_defaults(&stored);
    if (app_config_parse(&stored, js, "stored config", &e2))
        return mt_errf(err, MT_EDATA, "%s: %s", path, e2.msg);
    app_config_defaults(&base);
    int n;
    const app_optdef *t = app_config_options(&n);
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
    /* a resumed run keeps its state where it came from unless told otherwise */
    snprintf(base.save_state, sizeof base.save_state, "%s", path);
    if ((st = app_opt_parse(a, APP_CMD_TRAIN, argc, argv, &base, err)))
        return st;
    int64_t done = 0, in_epoch = 0;
    const size_t one = 1;
    mt_st_get(&ck->st, "train.epoch", MT_ST_I64, &one, 1, &done, NULL);
    mt_st_get(&ck->st, "train.in_epoch", MT_ST_I64, &one, 1, &in_epoch, NULL);
    *epochs_done = done;
    if (a->cfg.epochs < done || (a->cfg.epochs == done && !in_epoch))
        return mt_errf(err, MT_EARG, "--epochs %lld: %s has already done %lld epoch%s; ask for more (--epochs %lld "
                       "or higher) to continue it", a->cfg.epochs, path, (long long)done, done == 1 ? "" : "s",
                       (long long)done + 1);
    return MT_OK;
}

mt_status app_ckpt_init_weights(app_log *lg, const char *path, mt_mlp *m, mt_err *err)
{
    mt_ckpt ck = { 0 };
    mt_status st = load(path, &ck, err);
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

mt_status app_ckpt_save_state(app_log *lg, const app_config *cfg, const mt_mlp *m, const mt_optim *o,
                              const mt_trainer *t, long long epochs_done, const char *schedule, mt_err *err)
{
    char *js = app_config_to_json(cfg, 0);
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
    if (t->ep.in_epoch)
        app_log_info(lg, "saved training state to %s (epoch %lld, batch %d, step %lld)", cfg->save_state,
                     epochs_done + 1, t->ep.next_batch, o->step);
    else
        app_log_info(lg, "saved training state to %s (after epoch %lld, step %lld)", cfg->save_state, epochs_done,
                     o->step);
    event(lg, "state", cfg->save_state, epochs_done, o->step);
    return MT_OK;
}

mt_status app_ckpt_save_model(app_log *lg, const app_config *cfg, const mt_mlp *m, int rows, int cols,
                              double acc, double loss, long long steps, mt_err *err)
{
    char *js = app_config_to_json(cfg, 0);
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

mt_status app_ckpt_save_onnx(app_log *lg, const char *path, const mt_mlp *m, const mt_net *net, int rows,
                             int cols, double mean, double std, mt_err *err)
{
    mt_status st = net ? mt_onnx_export_net(path, net, mean, std, "mnist-train " APP_VERSION, err)
                       : mt_onnx_export_mlp(path, m, rows, cols, mean, std, "mnist-train " APP_VERSION, err);
    if (st)
        return st;
    char in[64], out[64];
    const int K = net ? net->n_classes : m->dims[m->n_layers];
    if (net)
        snprintf(in, sizeof in, "[N,%d,%d,%d]", net->in_c, net->in_h, net->in_w);
    else if (rows > 0)
        snprintf(in, sizeof in, "[N,1,%d,%d]", rows, cols);
    else
        snprintf(in, sizeof in, "[N,%d]", m->dims[0]);
    snprintf(out, sizeof out, "[N,%d]", K);
    app_log_info(lg, "saved ONNX model to %s (input %s pixels in [0,1], output logits %s)", path, in, out);
    app_ev *e = app_ev_new("onnx");
    app_ev_str(e, "path", path);
    app_ev_str(e, "input", in);
    app_ev_str(e, "output", out);
    app_ev_int(e, "opset", 13);
    app_ev_emit(lg, e);
    return MT_OK;
}

/* ------------------------------------------------------- layer lists -- */

mt_status app_ckpt_net_build(const mt_ckpt *ck, mt_net *net, mt_err *err)
{
    const char *model = mt_ckpt_meta(ck, "model"), *cls = mt_ckpt_meta(ck, "classes");
    const char *js = mt_ckpt_meta(ck, "config");
    app_config c;
    app_config_defaults(&c);
    if (js)
        app_config_parse(&c, js, "stored config", NULL);
    mt_net_opts o = { .dropout = (float)c.dropout };
    o.n_hidden = mt_mlp_parse_hidden(c.hidden, o.hidden, 8);
    int K = cls ? atoi(cls) : 0;
    if (!model || o.n_hidden < 0 || K < 1)
        return mt_errf(err, MT_EDATA, "%s: metadata 'model', 'classes' or the stored config is missing or bad",
                       ck->st.path);
    mt_status st = mt_net_build(net, model, &o, 1, ck->rows, ck->cols, K, err);
    if (st)
        return mt_errf(err, MT_EDATA, "%s: %s", ck->st.path, err->msg);
    if ((st = mt_net_load(net, &ck->st, err)))
        mt_net_free(net);
    return st;
}

/* The metadata both kinds of net files carry (text in bufs, which must
 * outlive meta); returns the count. */
static size_t net_meta(mt_st_meta *meta, char bufs[][64], const app_config *cfg, const mt_net *n, const char *js)
{
    size_t k = 0;
    num_text(bufs[0], 64, cfg->mean);
    num_text(bufs[1], 64, cfg->std);
    snprintf(bufs[2], 64, "%dx%d", n->in_h, n->in_w);
    snprintf(bufs[3], 64, "%d", n->n_classes);
    meta[k++] = (mt_st_meta){ "program", "mnist-train " APP_VERSION };
    meta[k++] = (mt_st_meta){ "dataset", cfg->dataset };
    meta[k++] = (mt_st_meta){ "norm_mean", bufs[0] };
    meta[k++] = (mt_st_meta){ "norm_std", bufs[1] };
    meta[k++] = (mt_st_meta){ "input_shape", bufs[2] };
    meta[k++] = (mt_st_meta){ "classes", bufs[3] };
    meta[k++] = (mt_st_meta){ "model", n->model };
    meta[k++] = (mt_st_meta){ "model_spec", n->spec };
    meta[k++] = (mt_st_meta){ "config", js };
    return k;
}

mt_status app_ckpt_save_net_model(app_log *lg, const app_config *cfg, const mt_net *n, double acc, double loss,
                                  long long steps, mt_err *err)
{
    char *js = app_config_to_json(cfg, 0);
    char bufs[4][64], accs[32], losss[32], stepss[32];
    mt_st_meta meta[16];
    if (!js)
        return mt_errf(err, MT_ENOMEM, "out of memory");
    size_t k = net_meta(meta, bufs, cfg, n, js);
    snprintf(stepss, sizeof stepss, "%lld", steps);
    meta[k++] = (mt_st_meta){ "steps", stepss };
    if (acc >= 0) {
        snprintf(accs, sizeof accs, "%.6f", acc);
        snprintf(losss, sizeof losss, "%.6f", loss);
        meta[k++] = (mt_st_meta){ "test_accuracy", accs };
        meta[k++] = (mt_st_meta){ "test_loss", losss };
    }
    mt_status st = mt_net_save(cfg->save, n, meta, k, err);
    free(js);
    if (st)
        return st;
    app_log_info(lg, "saved model to %s", cfg->save);
    event(lg, "model", cfg->save, -1, steps);
    return MT_OK;
}

mt_status app_ckpt_save_net_state(app_log *lg, const app_config *cfg, const mt_net_trainer *t,
                                  long long epochs_done, const char *schedule, mt_err *err)
{
    char *js = app_config_to_json(cfg, 0);
    char bufs[4][64];
    mt_st_meta meta[16];
    if (!js)
        return mt_errf(err, MT_ENOMEM, "out of memory");
    size_t k = net_meta(meta, bufs, cfg, t->net, js);
    if (schedule)
        meta[k++] = (mt_st_meta){ "schedule", schedule };
    mt_status st = mt_net_save_state(cfg->save_state, t, epochs_done, meta, k, err);
    free(js);
    if (st)
        return st;
    if (t->ep.in_epoch)
        app_log_info(lg, "saved training state to %s (epoch %lld, batch %d, step %lld)", cfg->save_state,
                     epochs_done + 1, t->ep.next_batch, t->opt->step);
    else
        app_log_info(lg, "saved training state to %s (after epoch %lld, step %lld)", cfg->save_state, epochs_done,
                     t->opt->step);
    event(lg, "state", cfg->save_state, epochs_done, t->opt->step);
    return MT_OK;
}

/* ------------------------------------------------------------- models -- */

mt_status app_model_open(app_model *md, const char *path, mt_err *err)
{
    mt_status st;
    memset(md, 0, sizeof *md);
    if ((st = load(path, &md->ck, err))) {
        app_model_free(md);
        return st;
    }
    md->is_net = app_ckpt_is_net(&md->ck);
    if ((st = md->is_net ? app_ckpt_net_build(&md->ck, &md->net, err) : mt_ckpt_model(&md->ck, &md->m, err))) {
        app_model_free(md);
        return st;
    }
    const char *ds = mt_ckpt_meta(&md->ck, "dataset");
    if (ds)
        snprintf(md->dataset, sizeof md->dataset, "%s", ds);
    /* the run's own --class-names, when its stored config parses (the file
     * is untrusted: anything else is ignored) */
    const char *js = mt_ckpt_meta(&md->ck, "config");
    app_config c;
    app_config_defaults(&c);
    if (js && app_config_parse(&c, js, "stored config", NULL) == MT_OK)
        snprintf(md->class_names, sizeof md->class_names, "%s", c.class_names);
    return MT_OK;
}

void app_model_free(app_model *md)
{
    mt_net_free(&md->net);
    mt_mlp_free(&md->m);
    mt_ckpt_free(&md->ck);
}

mt_status app_model_dataset(const app_model *md, const char *cfg_dataset, int dataset_given, char *out,
                            size_t cap, mt_err *err)
{
    if (dataset_given && md->dataset[0] && strcmp(md->dataset, cfg_dataset) != 0)
        return mt_errf(err, MT_EARG, "--dataset %s: %s was trained on %s (its classes are that set's); leave "
                       "--dataset out, or give --data DIR to test it on other files", cfg_dataset,
                       md->ck.st.path, md->dataset);
    snprintf(out, cap, "%s", md->dataset[0] && !dataset_given ? md->dataset : cfg_dataset);
    return MT_OK;
}

const char *const *app_model_class_names(const app_model *md, const char *cli_names, const char *dataset)
{
    int n;
    const int K = app_model_classes(md);
    const char *const *names = app_data_class_names(cli_names && *cli_names ? cli_names : md->class_names,
                                                    dataset, &n);
    return names && n == K ? names : NULL;
}

int app_model_classes(const app_model *md)
{
    return md->is_net ? md->net.n_classes : md->m.dims[md->m.n_layers];
}

void app_model_arch(char *buf, size_t cap, const app_model *md)
{
    if (md->is_net)
        snprintf(buf, cap, "%s", md->net.model);
    else
        mt_ckpt_arch(buf, cap, md->m.dims, md->m.n_layers);
}

size_t app_model_params(const app_model *md)
{
    return md->is_net ? md->net.n_params : md->m.n_params;
}
