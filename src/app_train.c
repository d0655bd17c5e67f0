/* app_train: the `train` command, the seed's program step by step: set up
 * the data, the model and its optimizer; train the epochs (a loss line every
 * log-interval batches, an average per epoch); test; report; save. */
#include "app_cmd.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include <png.h>
#include <zlib.h>

#include "app_ckpt.h"
#include "app_data.h"
#include "app_exit.h"
#include "app_opt.h"
#include "app_viz.h"
#include "mt_augment.h"
#include "mt_engine.h"
#include "mt_kern.h"
#include "mt_mlp.h"
#include "mt_net.h"
#include "mt_nettrain.h"
#include "mt_optim.h"
#include "mt_pool.h"
#include "mt_sched.h"
#include "mt_train.h"

typedef struct run {
    app_args a;
    const app_config *cfg;   /* &a.cfg */
    app_log log;
    app_data_dir dir;
    mt_dataset train, test, val; /* val: a view of train's last val_split samples */
    const mt_kern *k;
    mt_mlp model;
    mt_optim opt;
    mt_trainer tr;
    mt_engine *eng;
    int use_net;             /* a layer-list model (--model other than the plain mlp): net, not model */
    mt_net net;
    mt_net_trainer ntr;
    mt_pool *pool;           /* the net's threads */
    int threads;
    mt_sched sched;
    mt_early early;
    app_viz viz;
    mt_ckpt resume;          /* --resume: the state file */
    long long epochs_done;   /* whole epochs behind us (from --resume, then each epoch) */
    long long saved_step;    /* optimizer step of the last state written, -1 none */
    int epochs;              /* --epochs */
    int last_epoch;          /* the last epoch trained, 0 none */
    double train_secs;       /* training time, per-epoch evaluations left out */
    float *best;             /* (n_params) --restore-best: the best epoch's weights */
    int best_epoch;          /* its number, 0 none */
    mt_eval ev;              /* the final test */
    double test_secs;
} run;

static const char *plural(long long n)
{
    return n == 1 ? "" : "s";
}

static void print_version(void)
{
    const mt_kern *k = NULL;
    mt_kern_variant v[8];
    int n = mt_kern_variants(v, 8);
    mt_kern_select(&k, MT_ISA_AUTO, NULL);
    printf("mnist-train %s\nkernels: %s (compiled:", APP_VERSION, k ? k->name : "?");
    for (int i = 0; i < n && i < 8; i++)
        printf(" %s%s", v[i].k->name, v[i].runnable ? "" : "(unsupported here)");
    printf(")\nfirst layer: auto (sparse on raw pixels when <= %.0f%% are non-zero, else dense)\n"
           "threads: %d (online CPUs)\n", 100.0 * MT_SPARSE_MAX_DENSITY, mt_pool_online_cpus());
    printf("libraries: zlib %s, libpng %s, cJSON %s\n", zlibVersion(), png_get_libpng_ver(NULL),
           cJSON_Version());
}

/* ------------------------------------------------------------- progress -- */

static void on_batch(void *user, const mt_batch_info *b)
{
    run *r = user;
    const app_config *cfg = r->cfg;
    long long li = cfg->log_interval;
    if (mt_sched_per_batch(&r->sched)) /* one-cycle: the next batch's rate */
        r->opt.lr = (float)mt_sched_batch_end(&r->sched);
    if (li > 0 && b->batch % li == 0) {
        /* the seed logs batch_idx % 100 == 0, 0-based */
        app_log_info(&r->log, "Epoch [%d/%d], Batch [%d/%d], Loss: %.4f", b->epoch, r->epochs, b->batch,
                     b->n_batches, b->loss);
        app_ev *e = app_ev_new("batch");
        app_ev_int(e, "epoch", b->epoch);
        app_ev_int(e, "batch", b->batch);
        app_ev_int(e, "batches", b->n_batches);
        app_ev_num(e, "loss", b->loss);
        app_ev_emit(&r->log, e);
    }
    if (app_log_bar_due(&r->log, b->batch + 1 == b->n_batches)) { /* formatting every batch costs ~3 % */
        char label[32], text[128];
        long long seen = (long long)(b->batch + 1) * cfg->batch_size;
        double rate = b->seconds > 0 ? seen / b->seconds : 0;
        /* the rest of this epoch and the epochs after it */
        long long left = (long long)(b->n_batches - b->batch - 1) + (long long)(r->epochs - b->epoch) * b->n_batches;
        double eta = rate > 0 ? (double)left * cfg->batch_size / rate : 0;
        snprintf(label, sizeof label, "epoch %d/%d", b->epoch, r->epochs);
        snprintf(text, sizeof text, "loss %.4f  %.0f samples/s  ETA %.1fs", b->running / (b->batch + 1), rate, eta);
        app_log_bar(&r->log, label, b->batch + 1, b->n_batches, text, b->batch + 1 == b->n_batches);
    }
}

/* --------------------------------------------------------------- set up -- */

static mt_status setup_data(run *r, mt_err *err)
{
    const app_config *cfg = r->cfg;
    mt_status st;
    app_data_locate(&r->dir, cfg);
    if ((st = app_data_ensure(cfg, &r->dir, &r->log, err)) ||
        (st = app_data_load(&r->train, cfg, &r->dir, "train", (int)cfg->classes, (uint32_t)cfg->train_limit, err)) ||
        (st = app_data_load(&r->test, cfg, &r->dir, "t10k", r->train.n_classes, (uint32_t)cfg->test_limit, err)))
        return st;
    if (r->test.rows != r->train.rows || r->test.cols != r->train.cols)
        return mt_errf(err, MT_EDATA, "%s: images are %ux%u but the training images are %ux%u", r->test.img_path,
                       (unsigned)r->test.rows, (unsigned)r->test.cols, (unsigned)r->train.rows,
                       (unsigned)r->train.cols);
    if (cfg->val_split > 0) {
        /* the last N training samples become the validation set (a view) */
        if ((unsigned long long)cfg->val_split >= r->train.n)
            return mt_errf(err, MT_EARG, "--val-split %lld: must be smaller than the %u training samples",
                           cfg->val_split, (unsigned)r->train.n);
        r->val = mt_dataset_slice(&r->train, r->train.n - (uint32_t)cfg->val_split, (uint32_t)cfg->val_split);
        r->train.n -= (uint32_t)cfg->val_split;
    }
    return MT_OK;
}

static void setup_optimizer(run *r)
{
    const app_config *cfg = r->cfg;
    r->opt.lr = (float)cfg->lr;
    r->opt.beta1 = (float)cfg->beta1;
    r->opt.beta2 = (float)cfg->beta2;
    r->opt.eps = (float)cfg->eps;
    r->opt.weight_decay = (float)cfg->weight_decay;
    r->opt.momentum = (float)cfg->momentum;
    mt_sched_init(&r->sched, (mt_sched_kind)mt_sched_parse(cfg->scheduler), cfg->lr);
    r->sched.step_size = (int)cfg->step_size;
    r->sched.gamma = cfg->gamma;
    r->sched.min_lr = cfg->min_lr;
    r->sched.patience = (int)cfg->lr_patience;
    r->sched.t_max = (int)cfg->epochs;
    r->sched.total_steps = cfg->epochs * (((long long)r->train.n + cfg->batch_size - 1) / cfg->batch_size);
    mt_early_init(&r->early, (int)cfg->early_stop, cfg->min_delta);
}

/* A layer-list model (mt_net): the same steps as setup_model below, on the
 * net's trainer and a thread pool instead of the MLP engine. */
static mt_status setup_net(run *r, mt_err *err)
{
    const app_config *cfg = r->cfg;
    mt_status st;
    mt_net_opts o = { .dropout = (float)cfg->dropout };
    o.n_hidden = mt_mlp_parse_hidden(cfg->hidden, o.hidden, 8);
    if (o.n_hidden < 0)
        return mt_errf(err, MT_EARG, "--hidden: expected comma-separated sizes from 1 to 65536 (at most 8), got '%.60s'",
                       cfg->hidden);
    if (cfg->clip_grad > 0 || cfg->aug_shift > 0 || cfg->aug_rotate > 0 || cfg->aug_scale > 0)
        return mt_errf(err, MT_EARG, "--clip-grad and --aug-* work with the plain mlp only (--model %.60s%s)",
                       cfg->model, cfg->dropout > 0 ? " --dropout" : "");
    if ((st = mt_net_build(&r->net, cfg->model, &o, 1, (int)r->train.rows, (int)r->train.cols, r->train.n_classes,
                           err)))
        return mt_errf(err, st, "--model: %.400s", err->msg);
    mt_rng init_rng;
    mt_rng_seed(&init_rng, (uint64_t)cfg->seed);
    mt_net_init(&r->net, &init_rng);
    r->threads = app_opt_threads(cfg);
    if ((st = mt_optim_init(&r->opt, (mt_opt_kind)mt_optim_parse(cfg->optimizer), r->net.n_params, err)) ||
        (st = mt_pool_create(&r->pool, r->threads, err)) ||
        (st = mt_net_trainer_init(&r->ntr, &r->net, &r->opt, r->k, r->pool, r->train.n, (int)cfg->batch_size,
                                  (uint64_t)cfg->seed ^ 0x53485546464c45ULL, /* the MLP's shuffling stream */
                                  (uint64_t)cfg->seed ^ 0x44524f504f5554ULL, err)))
        return st;
    setup_optimizer(r);
    r->ntr.shuffle = cfg->shuffle;
    r->ntr.max_steps = cfg->max_steps;
    mt_norm_affine(&r->ntr.scale, &r->ntr.shift, cfg->mean, cfg->std);
    if (cfg->init[0]) {
        mt_st f = { 0 };
        if ((st = mt_st_load(cfg->init, &f, err)) || (st = mt_net_load(&r->net, &f, err))) {
            mt_st_free(&f);
            return st;
        }
        mt_st_free(&f);
        app_log_info(&r->log, "initial weights from %s", cfg->init);
    }
    if (cfg->resume[0]) {
        if ((st = mt_net_restore_state(&r->resume.st, &r->ntr, &r->epochs_done, err)))
            return st;
        const char *sch = mt_ckpt_meta(&r->resume, "schedule");
        if (sch && *sch) {
            if (mt_sched_state_parse(sch, &r->sched, &r->early))
                return mt_errf(err, MT_EDATA, "%s: malformed 'schedule' metadata", cfg->resume);
        }
        app_log_info(&r->log, "resuming from %s: %lld epoch%s done%s, step %lld", cfg->resume, r->epochs_done,
                     plural(r->epochs_done), r->ntr.in_epoch ? " and part of the next" : "", r->opt.step);
    }
    r->opt.lr = (float)mt_sched_lr(&r->sched);
    if (cfg->restore_best && !(r->best = malloc(r->net.n_params * sizeof *r->best)))
        return mt_errf(err, MT_ENOMEM, "out of memory");
    return MT_OK;
}

/* The model, its optimizer and schedule, its first weights (initialised,
 * --init, or --resume's with the whole training state) and the engine. */
static mt_status setup_model(run *r, mt_err *err)
{
    const app_config *cfg = r->cfg;
    mt_status st;
    if (r->use_net)
        return setup_net(r, err);
    int hidden[MT_MAX_LAYERS], dims[MT_MAX_LAYERS + 1];
    int n_hidden = mt_mlp_parse_hidden(cfg->hidden, hidden, MT_MAX_LAYERS - 1);
    if (n_hidden < 0)
        return mt_errf(err, MT_EARG, "--hidden: expected comma-separated sizes from 1 to 65536 (at most %d), got '%.60s'",
                       MT_MAX_LAYERS - 1, cfg->hidden);
    dims[0] = (int)(r->train.rows * r->train.cols);
    for (int i = 0; i < n_hidden; i++)
        dims[1 + i] = hidden[i];
    dims[n_hidden + 1] = r->train.n_classes;
    mt_rng init_rng;
    mt_rng_seed(&init_rng, (uint64_t)cfg->seed);
    if ((st = mt_mlp_init(&r->model, dims, n_hidden + 1, &init_rng, err)) ||
        (st = mt_optim_init(&r->opt, (mt_opt_kind)mt_optim_parse(cfg->optimizer), r->model.n_params, err)) ||
        (st = mt_trainer_init(&r->tr, &r->model, &r->opt, r->k, r->train.n, (int)cfg->batch_size,
                              /* its own stream: changing the model never changes the order */
                              (uint64_t)cfg->seed ^ 0x53485546464c45ULL, err)))
        return st;
    setup_optimizer(r);
    r->tr.shuffle = cfg->shuffle;
    r->tr.max_steps = cfg->max_steps;
    mt_norm_affine(&r->tr.scale, &r->tr.shift, cfg->mean, cfg->std);
    if (cfg->init[0] && (st = app_ckpt_init_weights(&r->log, cfg->init, &r->model, err)))
        return st;
    if (cfg->resume[0]) {
        if ((st = mt_ckpt_restore(&r->resume, &r->model, &r->opt, &r->tr, &r->epochs_done, err)))
            return st;
        const char *sch = mt_ckpt_meta(&r->resume, "schedule");
        if (sch && *sch) {
            if (mt_sched_state_parse(sch, &r->sched, &r->early))
                return mt_errf(err, MT_EDATA, "%s: malformed 'schedule' metadata", cfg->resume);
            r->opt.lr = (float)r->sched.lr;
        }
        app_log_info(&r->log, "resuming from %s: %lld epoch%s done%s, step %lld", cfg->resume, r->epochs_done,
                     plural(r->epochs_done), r->tr.in_epoch ? " and part of the next" : "", r->opt.step);
    }
    if (mt_sched_per_batch(&r->sched)) /* one-cycle: the first batch's rate (a resumed run's next) */
        r->opt.lr = (float)mt_sched_lr(&r->sched);
    if (cfg->restore_best && !(r->best = malloc(r->model.n_params * sizeof *r->best)))
        return mt_errf(err, MT_ENOMEM, "out of memory");
    r->threads = app_opt_threads(cfg);
    if ((st = mt_engine_create(&r->eng, &r->model, r->k, r->threads, (mt_path)mt_path_parse(cfg->first_layer),
                               (int)cfg->batch_size, err)))
        return st;
    r->tr.engine = r->eng;
    mt_engine_set_clip(r->eng, (float)cfg->clip_grad);
    mt_augment aug = { (float)cfg->aug_shift, (float)cfg->aug_rotate, (float)cfg->aug_scale };
    if (mt_augment_active(&aug)) {
        /* its own stream, derived from the seed; a resumed run continues it at its step */
        if ((st = mt_engine_set_augment(r->eng, &aug, (int)r->train.rows, (int)r->train.cols,
                                        (uint64_t)cfg->seed ^ 0x4155474d454e54ULL, err)))
            return st;
        mt_engine_set_augment_step(r->eng, (uint64_t)r->opt.step);
    }
    return MT_OK;
}

static void announce(run *r)
{
    const app_config *cfg = r->cfg;
    char arch[1100];
    size_t n_params = r->use_net ? r->net.n_params : r->model.n_params;
    if (r->use_net)
        snprintf(arch, sizeof arch, "%s", r->net.model);
    else
        mt_ckpt_arch(arch, sizeof arch, r->model.dims, r->model.n_layers);
    app_log_info(&r->log, "mnist-train %s: %u train / %u test images (%ux%u, %d classes) from %s", APP_VERSION,
                 (unsigned)r->train.n, (unsigned)r->test.n, (unsigned)r->train.rows, (unsigned)r->train.cols,
                 r->train.n_classes, r->dir.path);
    app_log_info(&r->log, "model %s (%zu parameters), %s lr %g, batch %lld, %lld epoch%s, kernels %s, "
                 "first layer %s, %d thread%s, seed %lld",
                 arch, n_params, cfg->optimizer, cfg->lr, cfg->batch_size, cfg->epochs, plural(cfg->epochs),
                 r->k->name, cfg->first_layer, r->threads, plural(r->threads), cfg->seed);
    app_ev *e = app_ev_new("start");
    app_ev_str(e, "version", APP_VERSION);
    app_ev_str(e, "data", r->dir.path);
    app_ev_int(e, "train_samples", r->train.n);
    app_ev_int(e, "test_samples", r->test.n);
    app_ev_str(e, "model", arch);
    app_ev_int(e, "parameters", (long long)n_params);
    if (r->use_net)
        app_ev_str(e, "model_spec", r->net.spec);
    app_ev_str(e, "isa", r->k->name);
    app_ev_str(e, "first_layer", cfg->first_layer);
    app_ev_int(e, "threads", r->threads);
    app_ev_emit(&r->log, e);
}

/* ------------------------------------------------------------- training -- */

static mt_status save_state(run *r, mt_err *err)
{
    char text[256];
    mt_sched_state_text(text, sizeof text, &r->sched, &r->early);
    mt_status st = r->use_net ? app_ckpt_save_net_state(&r->log, r->cfg, &r->ntr, r->epochs_done, text, err)
                              : app_ckpt_save_state(&r->log, r->cfg, &r->model, &r->opt, &r->tr, r->epochs_done,
                                                    text, err);
    if (!st)
        r->saved_step = r->opt.step;
    return st;
}

/* An epoch's line and event: its loss, speed, the evaluations after it,
 * and the learning rate the next epoch will use when the schedule changed it. */
static void report_epoch(run *r, int ep, double avg, double secs, long long seen, double lr_used, double lr_next,
                         const mt_eval *vev, const mt_eval *tev)
{
    char more[256] = "";
    int len = 0;
    if (vev)
        len += snprintf(more + len, sizeof more - (size_t)len, ", Val Loss: %.4f, Val Accuracy: %.2f%%", vev->loss,
                        vev->total ? 100.0 * vev->correct / vev->total : 0.0);
    if (tev)
        len += snprintf(more + len, sizeof more - (size_t)len, ", Test Loss: %.4f, Test Accuracy: %.2f%%", tev->loss,
                        tev->total ? 100.0 * tev->correct / tev->total : 0.0);
    if (lr_next != lr_used)
        snprintf(more + len, sizeof more - (size_t)len, "; learning rate %.4g -> %.4g", lr_used, lr_next);
    app_log_bar_clear(&r->log);
    app_log_info(&r->log, "Epoch %d finished. Average Loss: %.4f (%.2f s, %.0f samples/s)%s", ep, avg, secs,
                 secs > 0 ? seen / secs : 0.0, more);
    app_ev *e = app_ev_new("epoch");
    app_ev_int(e, "epoch", ep);
    app_ev_int(e, "epochs", r->epochs);
    app_ev_num(e, "train_loss", avg);
    app_ev_num(e, "seconds", secs);
    app_ev_num(e, "samples_per_sec", secs > 0 ? seen / secs : 0.0);
    app_ev_int(e, "steps", r->opt.step);
    app_ev_num(e, "lr", lr_used);
    if (lr_next != lr_used)
        app_ev_num(e, "next_lr", lr_next);
    if (vev) {
        app_ev_num(e, "val_loss", vev->loss);
        app_ev_num(e, "val_accuracy", vev->total ? (double)vev->correct / vev->total : 0.0);
    }
    if (r->eng) {
        long long n_dense, n_sparse;
        mt_engine_path_counts(r->eng, &n_dense, &n_sparse);
        app_ev_int(e, "dense_batches", n_dense);
        app_ev_int(e, "sparse_batches", n_sparse);
        app_ev_int(e, "single_thread_steps", mt_engine_single_steps(r->eng));
    }
    if (tev) {
        app_ev_num(e, "test_loss", tev->loss);
        app_ev_num(e, "test_accuracy", tev->total ? (double)tev->correct / tev->total : 0.0);
    }
    app_ev_emit(&r->log, e);
}

static void report_early_stop(run *r, int ep, int on_val)
{
    app_log_info(&r->log, "Early stopping after epoch %d: no improvement of the %s loss for %lld epoch%s "
                 "(best %.4f at epoch %d)", ep, on_val ? "validation" : "training", r->cfg->early_stop,
                 plural(r->cfg->early_stop), r->early.best, r->early.best_epoch);
    app_ev *es = app_ev_new("early_stop");
    app_ev_int(es, "epoch", ep);
    app_ev_int(es, "best_epoch", r->early.best_epoch);
    app_ev_num(es, "best_loss", r->early.best);
    app_ev_str(es, "monitor", on_val ? "val_loss" : "train_loss");
    app_ev_emit(&r->log, es);
}

/* Ctrl-C: the state when --save-state asks for it, else a hint that it would
 * have kept the run. */
static mt_status interrupted(run *r, int ep, mt_err *err)
{
    mt_err e2 = { 0 };
    app_log_bar_clear(&r->log);
    if (!r->cfg->save_state[0]) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        return mt_errf(err, MT_EINTR, "%s; nothing saved (--save-state FILE keeps a run that --resume FILE "
                       "continues)", msg);
    }
    r->epochs_done = ep - 1;
    if (save_state(r, &e2))
        app_log_error(&r->log, "%s", e2.msg);
    return MT_EINTR;
}

/* Evaluation of ds on either model (the engine's threaded forward, or the
 * net's). */
static mt_status evaluate(run *r, const mt_dataset *ds, mt_eval *ev, uint8_t *preds, float *probs,
                          uint32_t *confusion, mt_err *err)
{
    const app_config *cfg = r->cfg;
    if (r->use_net)
        return mt_net_evaluate(&r->net, r->ntr.work, r->pool, r->k, ds, (int)cfg->batch_size, r->ntr.scale,
                               r->ntr.shift, ev, preds, probs, confusion, err);
    return mt_evaluate_engine(r->eng, &r->model, r->k, ds, (int)cfg->test_batch_size, r->tr.scale, r->tr.shift, ev,
                              preds, probs, confusion, err);
}

static float *params_of(run *r, size_t *n)
{
    *n = r->use_net ? r->net.n_params : r->model.n_params;
    return r->use_net ? r->net.params : r->model.params;
}

static int in_epoch(const run *r)
{
    return r->use_net ? r->ntr.in_epoch : r->tr.in_epoch;
}

static mt_status train_epochs(run *r, mt_err *err)
{
    const app_config *cfg = r->cfg;
    mt_status st;
    double t_train = app_now();
    for (int ep = (int)r->epochs_done + 1; ep <= r->epochs; ep++) {
        double avg, t0 = app_now(), lr_used = r->opt.lr;
        int done;
        if (cfg->max_steps > 0 && r->opt.step >= cfg->max_steps)
            break; /* before the epoch draws its order, so a saved state stays exact */
        st = r->use_net ? mt_net_train_epoch(&r->ntr, &r->train, ep, on_batch, r, &app_stop_signal, &avg, &done, err)
                        : mt_train_epoch(&r->tr, &r->train, ep, on_batch, r, &app_stop_signal, &avg, &done, err);
        if (st == MT_EINTR)
            return interrupted(r, ep, err);
        if (st == MT_EDIVERGED) {
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg);
            return mt_errf(err, st, "%s (try a lower --lr, or --clip-grad)", msg);
        }
        if (st)
            return st;
        double secs = app_now() - t0;
        r->last_epoch = ep;
        mt_eval tev, vev; /* the test set (--curves) and the validation set, after this epoch */
        int have_tev = app_viz_eval_each_epoch(cfg), have_vev = r->val.n > 0;
        if ((have_tev && (st = evaluate(r, &r->test, &tev, NULL, NULL, NULL, err))) ||
            (have_vev && (st = evaluate(r, &r->val, &vev, NULL, NULL, NULL, err))))
            return st;
        app_viz_record_epoch(&r->viz, ep, avg, have_tev ? &tev : NULL);
        t_train += app_now() - t0 - secs; /* train_seconds leaves these evaluations out */
        long long seen = done == 0 ? 0
                         : (long long)(done - 1) * cfg->batch_size +
                               ((long long)r->train.n - (long long)(done - 1) * cfg->batch_size < cfg->batch_size
                                    ? (long long)r->train.n - (long long)(done - 1) * cfg->batch_size
                                    : cfg->batch_size);
        r->epochs_done = in_epoch(r) ? ep - 1 : ep;
        int stop_early = 0;
        double lr_next = lr_used;
        double monitored = have_vev ? vev.loss : avg;
        if (!in_epoch(r)) { /* a whole epoch: step the schedule and the early stopper */
            lr_next = mt_sched_epoch_end(&r->sched, monitored);
            if (cfg->early_stop > 0) {
                if (mt_early_update(&r->early, ep, monitored) && r->best) {
                    size_t np;
                    const float *p = params_of(r, &np);
                    memcpy(r->best, p, np * sizeof *r->best);
                    r->best_epoch = ep;
                }
                stop_early = mt_early_should_stop(&r->early) && ep < r->epochs;
            }
        }
        int last = ep == r->epochs || stop_early || (cfg->max_steps > 0 && r->opt.step >= cfg->max_steps);
        /* the schedule's next rate is news only for an epoch still to come */
        report_epoch(r, ep, avg, secs, seen, lr_used, last ? lr_used : (double)(float)lr_next,
                     have_vev ? &vev : NULL, have_tev ? &tev : NULL);
        if (!mt_sched_per_batch(&r->sched))
            r->opt.lr = (float)lr_next;
        if (cfg->save_state[0] && cfg->save_every > 0 && ep % cfg->save_every == 0 && (st = save_state(r, err)))
            return st;
        if (stop_early)
            report_early_stop(r, ep, have_vev);
        if (last)
            break;
    }
    if (cfg->save_state[0] && r->saved_step != r->opt.step && (st = save_state(r, err)))
        return st;
    r->train_secs = app_now() - t_train;
    return MT_OK;
}

/* ------------------------------------------------------ test and report -- */

/* The final test, on the last epoch's weights or, with --restore-best, the
 * best epoch's. */
static mt_status test(run *r, mt_err *err)
{
    const app_config *cfg = r->cfg;
    char which[160] = "";
    if (r->best_epoch > 0 && r->best_epoch != r->last_epoch) {
        size_t np;
        float *p = params_of(r, &np);
        memcpy(p, r->best, np * sizeof *r->best);
        if (r->eng)
            mt_engine_sync(r->eng, NULL);
        snprintf(which, sizeof which, " [weights of epoch %d, the best]", r->best_epoch);
    } else if (cfg->early_stop > 0 && r->early.best_epoch > 0 && r->early.best_epoch != r->last_epoch &&
               !cfg->restore_best) {
        snprintf(which, sizeof which, " [weights of the last epoch, %d; the best was epoch %d: --restore-best "
                 "tests and saves those]", r->last_epoch, r->early.best_epoch);
    }
    double t0 = app_now();
    mt_status st = evaluate(r, &r->test, &r->ev, r->viz.preds, r->viz.probs, r->viz.confusion, err);
    if (st)
        return st;
    r->test_secs = app_now() - t0;
    const mt_eval *ev = &r->ev;
    double acc = ev->total ? (double)ev->correct / ev->total : 0.0;
    app_log_info(&r->log, "Test Loss: %.4f, Test Accuracy: %.2f%% (%u/%u)%s", ev->loss, 100.0 * acc,
                 (unsigned)ev->correct, (unsigned)ev->total, which);
    app_ev *e = app_ev_new("test");
    app_ev_num(e, "loss", ev->loss);
    app_ev_num(e, "accuracy", acc);
    app_ev_int(e, "correct", ev->correct);
    app_ev_int(e, "total", ev->total);
    app_ev_num(e, "seconds", r->test_secs);
    app_ev_num(e, "train_seconds", r->train_secs);
    if (cfg->early_stop > 0)
        app_ev_int(e, "weights_epoch", r->best_epoch > 0 ? r->best_epoch : r->last_epoch);
    app_ev_emit(&r->log, e);
    return MT_OK;
}

static mt_status save_model(run *r, mt_err *err)
{
    if (!r->cfg->save[0])
        return MT_OK;
    double acc = r->ev.total ? (double)r->ev.correct / r->ev.total : 0.0;
    if (r->use_net)
        return app_ckpt_save_net_model(&r->log, r->cfg, &r->net, acc, r->ev.loss, r->opt.step, err);
    return app_ckpt_save_model(&r->log, r->cfg, &r->model, (int)r->train.rows, (int)r->train.cols, acc, r->ev.loss,
                               r->opt.step, err);
}

static void run_free(run *r)
{
    app_viz_free(&r->viz);
    mt_engine_free(r->eng);
    mt_trainer_free(&r->tr);
    mt_net_trainer_free(&r->ntr);
    mt_net_free(&r->net);
    mt_pool_free(r->pool);
    mt_optim_free(&r->opt);
    mt_mlp_free(&r->model);
    mt_dataset_free(&r->train);
    mt_dataset_free(&r->test);
    mt_ckpt_free(&r->resume);
    free(r->best);
}

/* ---------------------------------------------------------------- command -- */

static mt_status parse(run *r, int argc, char **argv, mt_err *err)
{
    mt_status st = app_opt_parse(&r->a, APP_CMD_TRAIN, argc, argv, NULL, err);
    if (!st && r->a.cfg.resume[0] && !r->a.help && !r->a.version)
        st = app_ckpt_resume_args(&r->a, argc, argv, &r->resume, &r->epochs_done, err);
    if (!st && r->a.n_pos > 0)
        st = mt_errf(err, MT_EARG, "unexpected argument '%.100s'", r->a.pos[0]);
    return st;
}

int app_cmd_train(int argc, char **argv)
{
    static run r; /* large (paths); one per process */
    mt_err err = { 0 };
    mt_status st, viz_st = MT_OK;

    memset(&r, 0, sizeof r);
    r.saved_step = -1;
    r.cfg = &r.a.cfg;
    app_log_init(&r.log, app_opt_wants_json(argc, argv), "off");
    if ((st = parse(&r, argc, argv, &err)))
        goto done;
    if (r.a.help) {
        app_opt_help(stdout, APP_CMD_TRAIN, "mnist-train [train] [OPTIONS]",
                     "Train a model (the MLP unless --model says otherwise) on an IDX data set (MNIST by default, downloaded when missing), then\n"
                     "test it.");
        goto done;
    }
    if (r.a.version) {
        print_version();
        goto done;
    }
    if (r.a.print_config) {
        st = app_opt_print_config(r.cfg, &err);
        goto done;
    }
    const app_config *cfg = r.cfg;
    r.epochs = (int)cfg->epochs;
    r.use_net = strcmp(cfg->model, "mlp") != 0 || cfg->dropout > 0;
    app_log_init(&r.log, cfg->json, cfg->progress);
    char *js = app_config_to_json(cfg, 0);
    app_ev *e = app_ev_new("config");
    app_ev_raw(e, "config", js ? js : "null");
    app_ev_emit(&r.log, e);
    free(js);

    if ((st = app_opt_kernels(cfg, &r.k, &err)) || (st = setup_data(&r, &err)) || (st = setup_model(&r, &err)) ||
        (st = app_viz_init(&r.viz, cfg, &r.test, &err)))
        goto done;
    announce(&r);
    if ((st = train_epochs(&r, &err)) || (st = test(&r, &err)) || (st = save_model(&r, &err)))
        goto done;
    viz_st = app_viz_report(&r.viz, &r.log, cfg, &r.test, &r.ev); /* reports its own errors */
done:
    run_free(&r);
    return st ? app_fail(&r.log, &err, NULL) : app_exit_code(viz_st);
}
