/* app_train: the `train` command, the seed's program step by step: set up
 * the data, the model and its optimizer; train the epochs (a loss line every
 * log-interval batches, an average per epoch); test; report; save. */
#include "app_cmd.h"

#include <math.h>
#include <pthread.h>
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
#include "app_report.h"
#include "app_viz.h"
#include "mt_augment.h"
#include "mt_budget.h"
#include "mt_engine.h"
#include "mt_kern.h"
#include "mt_labels.h"
#include "mt_mlp.h"
#include "mt_net.h"
#include "mt_nettrain.h"
#include "mt_optim.h"
#include "mt_pool.h"
#include "mt_sched.h"
#include "mt_sweep.h"
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
    int no_pictures;         /* a --seeds run after the first: nothing to draw */
    double load_secs;        /* finding and loading the data set */
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
    /* every schedule counts batches (its state); onecycle sets each one's rate */
    double lr = mt_sched_batch_end(&r->sched);
    if (mt_sched_per_batch(&r->sched))
        r->opt.lr = (float)lr;
    long long li = cfg->log_interval;
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
    double t0 = app_now();
    app_data_locate(&r->dir, cfg);
    if ((st = app_data_ensure(cfg, &r->dir, &r->log, err)) ||
        (st = app_data_load_train_test(&r->train, &r->test, cfg, &r->dir, (int)cfg->classes,
                                       (uint32_t)cfg->train_limit, (uint32_t)cfg->test_limit, err)))
        return st;
    r->load_secs = app_now() - t0;
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

static mt_status setup_optimizer(run *r, mt_err *err)
{
    const app_config *cfg = r->cfg;
    mt_err e2 = { 0 };
    if (cfg->nesterov && (strcmp(cfg->optimizer, "sgd") != 0 || !(cfg->momentum > 0)))
        return mt_errf(err, MT_EARG, "--nesterov needs --optimizer sgd with --momentum > 0 (got %s, momentum %g)",
                       cfg->optimizer, cfg->momentum);
    r->opt.lr = (float)cfg->lr;
    r->opt.beta1 = (float)cfg->beta1;
    r->opt.beta2 = (float)cfg->beta2;
    r->opt.eps = (float)cfg->eps;
    r->opt.rho = (float)cfg->rho;
    r->opt.weight_decay = (float)cfg->weight_decay;
    r->opt.momentum = (float)cfg->momentum;
    r->opt.nesterov = cfg->nesterov;
    if (mt_optim_check(&r->opt, &e2))
        return mt_errf(err, MT_EARG, "%s", e2.msg);
    mt_sched_init(&r->sched, (mt_sched_kind)mt_sched_parse(cfg->scheduler), cfg->lr);
    r->sched.step_size = (int)cfg->step_size;
    r->sched.gamma = cfg->gamma;
    r->sched.min_lr = cfg->min_lr;
    r->sched.patience = (int)cfg->lr_patience;
    r->sched.t_max = (int)cfg->epochs;
    /* onecycle spans every batch of the run (OneCycleLR's total_steps) */
    r->sched.total_steps = cfg->epochs * (((long long)r->train.n + cfg->batch_size - 1) / cfg->batch_size);
    r->opt.lr = (float)mt_sched_lr(&r->sched);
    mt_early_init(&r->early, (int)cfg->early_stop, cfg->min_delta);
    r->tr.label_smoothing = (float)cfg->label_smoothing;
    return MT_OK;
}

/* Classes the training labels never use: a warning naming them (a stray
 * label 200 in a 10-class file otherwise makes 191 classes in silence).
 * With --classes N a label >= N is already a data error (mt_dataset_load). */
static void check_classes(run *r)
{
    mt_class_report rep;
    mt_labels_report(&rep, r->train.labels, (size_t)r->train.n + r->val.n, r->train.n_classes);
    if (rep.n_empty == 0)
        return;
    app_log_info(&r->log, "warning: %s: %d of the %d classes have no training samples (%s)%s", r->train.lbl_path,
                 rep.n_empty, rep.n_classes, rep.ranges,
                 r->cfg->classes ? "" : "; a stray label? --classes N makes a label >= N an error");
    app_ev *e = app_ev_new("warning");
    app_ev_str(e, "kind", "empty_classes");
    app_ev_str(e, "file", r->train.lbl_path);
    app_ev_int(e, "classes", rep.n_classes);
    app_ev_int(e, "empty", rep.n_empty);
    app_ev_str(e, "empty_ranges", rep.ranges);
    app_ev_emit(&r->log, e);
}

/* dims[0..*n_layers]: the data's inputs, --hidden, the classes. */
static mt_status model_dims(const run *r, int *dims, int *n_layers, mt_err *err)
{
    int hidden[MT_MAX_LAYERS];
    int n_hidden = mt_mlp_parse_hidden(r->cfg->hidden, hidden, MT_MAX_LAYERS - 1);
    char e[MT_ESC_CAP];
    if (n_hidden < 0)
        return mt_errf(err, MT_EARG, "--hidden: expected comma-separated sizes from 1 to 65536 (at most %d), got '%s'",
                       MT_MAX_LAYERS - 1, mt_esc(e, r->cfg->hidden));
    dims[0] = (int)(r->train.rows * r->train.cols);
    for (int i = 0; i < n_hidden; i++)
        dims[1 + i] = hidden[i];
    dims[n_hidden + 1] = r->train.n_classes;
    *n_layers = n_hidden + 1;
    return MT_OK;
}

/* The memory a run will need against --max-memory and against what the
 * machine (or cgroup) has available, so a run too large for it ends with a
 * line, not the OOM killer.  The line says what to change: for_model when
 * the model and its optimizer state take the most, for_engine when the
 * batch buffers do. */
static mt_status check_budget(run *r, const mt_budget_in *in, const char *for_model, const char *for_engine,
                              mt_err *err)
{
    const app_config *cfg = r->cfg;
    uint64_t allowed = 0;
    mt_status st;
    if (cfg->max_memory[0] && mt_size_parse(cfg->max_memory, &allowed) != 0) {
        char e[MT_ESC_CAP];
        return mt_errf(err, MT_EARG, "--max-memory: expected a size such as 512M or 4G, got '%s'",
                       mt_esc(e, cfg->max_memory));
    }
    mt_budget b;
    if ((st = mt_budget_compute(&b, in, err)))
        return st;
    mt_budget_part big = mt_budget_largest(&b);
    const char *change = big == MT_BUDGET_DATA ? "lower --train-limit" : big == MT_BUDGET_ENGINE ? for_engine : for_model;
    if (allowed && (st = mt_budget_check(&b, allowed, "allowed by --max-memory", err)) == MT_OK)
        return MT_OK; /* the user's limit decides */
    if (!allowed) {
        /* the data sets are loaded already: count them as available */
        uint64_t avail = mt_mem_available();
        if (!avail || (st = mt_budget_check(&b, avail + b.part[MT_BUDGET_DATA], "available", err)) == MT_OK)
            return MT_OK;
    }
    size_t n = strlen(err->msg);
    snprintf(err->msg + n, sizeof err->msg - n, "; %s%s", change, allowed ? " or raise --max-memory" : "");
    return st;
}

static mt_budget_in budget_in(const run *r, const int *dims, int n_layers)
{
    const app_config *cfg = r->cfg;
    int opt = mt_optim_parse(cfg->optimizer);
    return (mt_budget_in){ dims, n_layers, opt < 0 ? MT_OPT_ADAM : (mt_opt_kind)opt, (int)cfg->batch_size,
                           (int)cfg->test_batch_size, app_opt_threads(cfg), (uint64_t)r->train.n + r->val.n,
                           r->test.n, 0, 0, 0 };
}

/* Before the MLP and its engine are allocated (a layer-list model is
 * checked in setup_net, once built: it sizes its own buffers). */
static mt_status check_memory(run *r, mt_err *err)
{
    int dims[MT_MAX_LAYERS + 1], L;
    if (r->use_net)
        return MT_OK;
    mt_status st = model_dims(r, dims, &L, err);
    if (st)
        return st;
    mt_budget_in in = budget_in(r, dims, L);
    return check_budget(r, &in, "lower --hidden", "lower --hidden, --batch-size or --threads", err);
}

static mt_status check_net_memory(run *r, mt_err *err)
{
    int dims[2] = { (int)(r->train.rows * r->train.cols), r->train.n_classes };
    mt_budget_in in = budget_in(r, dims, 1);
    mt_status st = mt_net_work_bytes(&r->net, (int)r->cfg->batch_size, app_opt_threads(r->cfg), &in.net_work, err);
    if (st)
        return st;
    in.net_params = r->net.n_params;
    in.net_buffers = r->net.n_buffers;
    return check_budget(r, &in, "use a smaller --model", "lower --batch-size or --threads, or use a smaller --model", err);
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
    if ((st = check_net_memory(r, err)))
        return st;
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
    if ((st = setup_optimizer(r, err)))
        return st;
    mt_net_work_set_label_smoothing(r->ntr.work, (float)cfg->label_smoothing);
    r->ntr.ep.shuffle = cfg->shuffle;
    r->ntr.ep.max_steps = cfg->max_steps;
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
                     plural(r->epochs_done), r->ntr.ep.in_epoch ? " and part of the next" : "", r->opt.step);
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
    int dims[MT_MAX_LAYERS + 1], n_layers;
    if ((st = model_dims(r, dims, &n_layers, err)))
        return st;
    mt_rng init_rng;
    mt_rng_seed(&init_rng, (uint64_t)cfg->seed);
    if ((st = mt_mlp_init(&r->model, dims, n_layers, &init_rng, err)) ||
        (st = mt_optim_init(&r->opt, (mt_opt_kind)mt_optim_parse(cfg->optimizer), r->model.n_params, err)) ||
        (st = mt_trainer_init(&r->tr, &r->model, &r->opt, r->k, r->train.n, (int)cfg->batch_size,
                              /* its own stream: changing the model never changes the order */
                              (uint64_t)cfg->seed ^ 0x53485546464c45ULL, err)) ||
        (st = setup_optimizer(r, err)))
        return st;
    r->tr.ep.shuffle = cfg->shuffle;
    r->tr.ep.max_steps = cfg->max_steps;
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
            r->opt.lr = (float)mt_sched_lr(&r->sched);
        }
        app_log_info(&r->log, "resuming from %s: %lld epoch%s done%s, step %lld", cfg->resume, r->epochs_done,
                     plural(r->epochs_done), r->tr.ep.in_epoch ? " and part of the next" : "", r->opt.step);
    }
    if (cfg->restore_best && !(r->best = malloc(r->model.n_params * sizeof *r->best)))
        return mt_errf(err, MT_ENOMEM, "out of memory");
    r->threads = app_opt_threads(cfg);
    if ((st = mt_engine_create(&r->eng, &r->model, r->k, r->threads, (mt_path)mt_path_parse(cfg->first_layer),
                               (int)cfg->batch_size, err)))
        return st;
    r->tr.engine = r->eng;
    mt_engine_set_clip(r->eng, (float)cfg->clip_grad);
    mt_engine_set_label_smoothing(r->eng, (float)cfg->label_smoothing);
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
    app_ev_num(e, "load_seconds", r->load_secs);
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
    return r->use_net ? r->ntr.ep.in_epoch : r->tr.ep.in_epoch;
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
            return mt_errf(err, st, "%s (try a lower --lr%s)", msg, r->use_net ? "" : ", or --clip-grad");
        }
        if (st)
            return st;
        double secs = app_now() - t0;
        r->last_epoch = ep;
        mt_eval tev, vev; /* the test set (--curves) and the validation set, after this epoch */
        int have_tev = !r->no_pictures && app_viz_eval_each_epoch(cfg), have_vev = r->val.n > 0;
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
        /* a per-batch schedule has moved on during the epoch, whole or not */
        double lr_next = mt_sched_per_batch(&r->sched) ? mt_sched_lr(&r->sched) : lr_used;
        double monitored = have_vev ? vev.loss : avg;
        if (!in_epoch(r)) { /* a whole epoch: step the schedule and the early stopper */
            lr_next = mt_sched_epoch_end(&r->sched, monitored);
            if (cfg->early_stop > 0 || cfg->restore_best) {
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
    } else if (r->early.best_epoch > 0 && r->early.best_epoch != r->last_epoch && !cfg->restore_best &&
               cfg->early_stop > 0) {
        snprintf(which, sizeof which, " [weights of the last epoch, %d; the best was epoch %d: --restore-best "
                 "tests and saves those]", r->last_epoch, r->early.best_epoch);
    } else if (cfg->restore_best && r->early.best_epoch > 0 && r->best_epoch == 0 &&
               r->early.best_epoch != r->last_epoch) {
        /* the best epoch came before a --resume: its weights were not kept */
        snprintf(which, sizeof which, " [weights of the last epoch, %d: the best, epoch %d, came before the resume "
                 "and its weights are not in the state]", r->last_epoch, r->early.best_epoch);
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
    if (cfg->early_stop > 0 || cfg->restore_best)
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

/* --report: the run as one HTML page. */
static mt_status report(run *r, mt_err *err)
{
    const app_config *cfg = r->cfg;
    if (!cfg->report[0])
        return MT_OK;
    char arch[160], params[32], epochs[32], steps[32], kern[96], tsec[32], esec[32], per[32];
    if (r->use_net)
        snprintf(arch, sizeof arch, "%.150s", r->net.model);
    else
        mt_ckpt_arch(arch, sizeof arch, r->model.dims, r->model.n_layers);
    snprintf(params, sizeof params, "%zu", r->use_net ? r->net.n_params : r->model.n_params);
    snprintf(epochs, sizeof epochs, "%d", r->last_epoch);
    snprintf(steps, sizeof steps, "%lld", (long long)r->opt.step);
    snprintf(kern, sizeof kern, "%s, %d thread%s", r->k->name, r->threads, plural(r->threads));
    snprintf(tsec, sizeof tsec, "%.2f s", r->train_secs);
    snprintf(per, sizeof per, "%.2f s", r->last_epoch > 0 ? r->train_secs / r->last_epoch : 0.0);
    snprintf(esec, sizeof esec, "%.2f s", r->test_secs);
    const mt_report_kv summary[] = { { "Data set", cfg->dataset }, { "Model", arch }, { "Parameters", params },
                                     { "Epochs", epochs }, { "Optimizer steps", steps } };
    const mt_report_kv timing[] = { { "Training", tsec }, { "Per epoch", per }, { "Final test", esec },
                                    { "Kernels", kern } };
    return app_report_write(&r->log, cfg, &r->viz, &r->test, &r->ev, "mnist-train: training run", summary,
                            (int)(sizeof summary / sizeof *summary), timing, (int)(sizeof timing / sizeof *timing),
                            err);
}

/* --save-onnx: the tested model as ONNX too. */
static mt_status save_onnx(run *r, mt_err *err)
{
    if (!r->cfg->save_onnx[0])
        return MT_OK;
    return app_ckpt_save_onnx(&r->log, r->cfg->save_onnx, r->use_net ? NULL : &r->model,
                              r->use_net ? &r->net : NULL, (int)r->train.rows, (int)r->train.cols, r->cfg->mean,
                              r->cfg->std, err);
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

/* ---------------------------------------------------------------- seeds -- */

/* --seeds: the recipe once per seed.  Each seed is a whole run of the steps
 * above on its own model, optimizer and engine, with the data set shared
 * read-only; the engine's results do not depend on its thread count, so a
 * seed's result equals `--seed N`'s whatever runs beside it.  The runs are
 * quiet; each seed's line and `test` event (with its seed) print in seed
 * order as soon as the seeds before it are done, then a summary. */
typedef struct {
    mt_status st;
    mt_err err;
    mt_eval ev;
    double train_secs;
    int done;
} seed_result;

typedef struct {
    run *r0;                /* the first seed's run: the data, the pictures, --save */
    app_log out;            /* where the seeds' lines go (r0's own log is quiet meanwhile) */
    const uint64_t *seeds;  /* (n) */
    seed_result *res;       /* (n) */
    int n, next_print;
    pthread_mutex_t mu;
} seed_sweep;

/* s := a run of seed over r0's data (views), config and kernels. */
static void seed_run_init(run *s, const run *r0, uint64_t seed)
{
    s->a = r0->a;
    s->cfg = &s->a.cfg;
    s->a.cfg.seed = (long long)seed;
    s->log = r0->log;
    s->log.quiet = 1;
    s->dir = r0->dir;
    s->train = mt_dataset_slice(&r0->train, 0, r0->train.n);
    s->test = mt_dataset_slice(&r0->test, 0, r0->test.n);
    s->val = r0->val;
    s->k = r0->k;
    s->use_net = r0->use_net; /* the model the recipe names, not the plain MLP */
    s->epochs = r0->epochs;
    s->saved_step = -1;
    s->no_pictures = 1;
}

static void print_seed(seed_sweep *sw, int i)
{
    const seed_result *o = &sw->res[i];
    const unsigned long long seed = (unsigned long long)sw->seeds[i];
    if (o->st) {
        app_log_info(&sw->out, "Seed %llu: %s", seed, o->err.msg);
        return;
    }
    double acc = o->ev.total ? (double)o->ev.correct / o->ev.total : 0.0;
    app_log_info(&sw->out, "Seed %llu: Test Loss: %.4f, Test Accuracy: %.2f%% (%u/%u), %.2f s training", seed,
                 o->ev.loss, 100.0 * acc, (unsigned)o->ev.correct, (unsigned)o->ev.total, o->train_secs);
    app_ev *e = app_ev_new("test");
    app_ev_int(e, "seed", (long long)seed);
    app_ev_num(e, "loss", o->ev.loss);
    app_ev_num(e, "accuracy", acc);
    app_ev_int(e, "correct", o->ev.correct);
    app_ev_int(e, "total", o->ev.total);
    app_ev_num(e, "train_seconds", o->train_secs);
    app_ev_emit(&sw->out, e);
}

static void seed_job(void *user, int i)
{
    seed_sweep *sw = user;
    seed_result *o = &sw->res[i];
    run *s = sw->r0; /* set up by train_seeds */
    if (i > 0 && !(s = calloc(1, sizeof *s)))
        o->st = mt_errf(&o->err, MT_ENOMEM, "out of memory");
    if (i > 0 && s) {
        seed_run_init(s, sw->r0, sw->seeds[i]);
        o->st = setup_model(s, &o->err);
    }
    if (!o->st && !(o->st = train_epochs(s, &o->err)))
        o->st = test(s, &o->err);
    if (s) {
        o->ev = s->ev;
        o->train_secs = s->train_secs;
    }
    if (i > 0 && s) {
        run_free(s); /* the views own nothing */
        free(s);
    }
    pthread_mutex_lock(&sw->mu);
    o->done = 1;
    while (sw->next_print < sw->n && sw->res[sw->next_print].done)
        print_seed(sw, sw->next_print++);
    pthread_mutex_unlock(&sw->mu);
}

/* "mean ± std" statistics as a JSON object. */
static void stats_json(char *buf, size_t cap, const mt_stats *st)
{
    snprintf(buf, cap, "{\"mean\":%.6g,\"std\":%.6g,\"min\":%.6g,\"max\":%.6g}", st->mean, st->std, st->min, st->max);
}

static void report_seeds(run *r, const seed_sweep *sw, int par, int threads, double secs)
{
    const int n = sw->n;
    double *acc = malloc((size_t)n * sizeof *acc), *loss = malloc((size_t)n * sizeof *loss),
           *tsec = malloc((size_t)n * sizeof *tsec);
    long long *ids = malloc((size_t)n * sizeof *ids);
    if (acc && loss && tsec && ids) {
        for (int i = 0; i < n; i++) {
            const mt_eval *ev = &sw->res[i].ev;
            acc[i] = ev->total ? 100.0 * ev->correct / ev->total : 0.0;
            loss[i] = ev->loss;
            tsec[i] = sw->res[i].train_secs;
            ids[i] = (long long)sw->seeds[i];
        }
        mt_stats sa, sl, st;
        mt_stats_of(&sa, acc, n);
        mt_stats_of(&sl, loss, n);
        mt_stats_of(&st, tsec, n);
        app_log_info(&r->log, "%d seed%s: Test Accuracy: %.2f ± %.2f%% (min %.2f, max %.2f), Test Loss: %.4f ± "
                     "%.4f (min %.4f, max %.4f); %.2f s (%d at a time, %d thread%s each)", n, plural(n), sa.mean,
                     sa.std, sa.min, sa.max, sl.mean, sl.std, sl.min, sl.max, secs, par, threads, plural(threads));
        char a[160], l[160], t[160];
        app_ev *e = app_ev_new("seeds");
        app_ev_ints(e, "seeds", ids, n);
        stats_json(a, sizeof a, &(mt_stats){ sa.mean / 100, sa.std / 100, sa.min / 100, sa.max / 100, n });
        stats_json(l, sizeof l, &sl);
        stats_json(t, sizeof t, &st);
        app_ev_raw(e, "accuracy", a);
        app_ev_raw(e, "loss", l);
        app_ev_raw(e, "train_seconds", t);
        app_ev_num(e, "seconds", secs);
        app_ev_int(e, "parallel", par);
        app_ev_int(e, "threads", threads);
        app_ev_emit(&r->log, e);
    }
    free(acc);
    free(loss);
    free(tsec);
    free(ids);
}

/* The recipe once per seed of --seeds; leaves r as the first seed's run
 * (its model for --save, its test for the pictures). */
static mt_status train_seeds(run *r, mt_err *err)
{
    mt_status st;
    seed_sweep sw = { 0 };
    uint64_t *seeds = malloc(MT_SWEEP_MAX * sizeof *seeds);
    int n = 0;
    if (!seeds)
        return mt_errf(err, MT_ENOMEM, "out of memory");
    if ((st = mt_seeds_parse(seeds, MT_SWEEP_MAX, &n, r->cfg->seeds, err))) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        st = mt_errf(err, MT_EARG, "--seeds: %s", msg);
        goto out;
    }
    if (r->cfg->resume[0] || r->cfg->save_state[0]) {
        st = mt_errf(err, MT_EARG, "--seeds runs every seed from the start: not with --resume or --save-state");
        goto out;
    }
    /* unless --threads says otherwise, the CPUs are shared out between the
     * runs (one thread each when there are as many seeds as CPUs): runs side
     * by side share nothing, where one run's threads exchange every step */
    const int cpus = mt_pool_online_cpus();
    const int threads = r->cfg->threads > 0 ? (int)r->cfg->threads : cpus / n > 1 ? cpus / n : 1;
    const int par = mt_sweep_parallel(n, threads, cpus);
    r->a.cfg.threads = threads;
    r->a.cfg.seed = (long long)seeds[0];
    if ((st = setup_data(r, err)))
        goto out;
    check_classes(r);
    /* one run's figure: runs side by side (par) each need about as much */
    if ((st = check_memory(r, err)) || (st = setup_model(r, err)) || (st = app_viz_init(&r->viz, r->cfg, &r->test, err)))
        goto out;
    announce(r);
    app_log_info(&r->log, "%d seed%s (%s), %d at a time", n, plural(n), r->cfg->seeds, par);
    sw.r0 = r;
    sw.out = r->log;
    sw.seeds = seeds;
    sw.n = n;
    if (!(sw.res = calloc((size_t)n, sizeof *sw.res))) {
        st = mt_errf(err, MT_ENOMEM, "out of memory");
        goto out;
    }
    pthread_mutex_init(&sw.mu, NULL);
    double t0 = app_now();
    r->log.quiet = 1;
    mt_sweep_run(n, par, seed_job, &sw, NULL); /* without threads it runs them one by one: fine */
    r->log.quiet = 0;
    pthread_mutex_destroy(&sw.mu);
    for (int i = 0; i < n; i++)
        if (sw.res[i].st) { /* the first failure in seed order is the command's */
            *err = sw.res[i].err;
            st = sw.res[i].st;
            goto out;
        }
    report_seeds(r, &sw, par, threads, app_now() - t0);
out:
    free(sw.res);
    free(seeds);
    return st;
}

/* ---------------------------------------------------------------- command -- */

static mt_status parse(run *r, int argc, char **argv, mt_err *err)
{
    mt_status st = app_opt_parse(&r->a, APP_CMD_TRAIN, argc, argv, NULL, err);
    if (!st && r->a.cfg.resume[0] && !r->a.help && !r->a.version)
        st = app_ckpt_resume_args(&r->a, argc, argv, &r->resume, &r->epochs_done, err);
    char e[MT_ESC_CAP];
    if (!st && r->a.n_pos > 0) {
        const char *p = r->a.pos[0];
        int is_cmd = !strcmp(p, "eval") || !strcmp(p, "predict") || !strcmp(p, "info") || !strcmp(p, "fetch") ||
                     !strcmp(p, "train");
        st = mt_errf(err, MT_EARG, "unexpected argument '%s'%s", mt_esc(e, p),
                     is_cmd ? " (the command comes first: mnist-train COMMAND [OPTIONS])" : "");
    }
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
        st = app_opt_print_config(r.cfg, !r.cfg->json, &err);
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

    if (cfg->seeds[0]) { /* one run per seed, a summary; the first seed's pictures and model */
        if ((st = app_opt_kernels(cfg, &r.k, &err)) || (st = train_seeds(&r, &err)) || (st = save_model(&r, &err)) ||
            (st = save_onnx(&r, &err)))
            goto done;
        viz_st = app_viz_report(&r.viz, &r.log, cfg, &r.test, &r.ev);
        goto done;
    }
    if ((st = app_opt_kernels(cfg, &r.k, &err)) || (st = setup_data(&r, &err)))
        goto done;
    check_classes(&r);
    if ((st = check_memory(&r, &err)) || (st = setup_model(&r, &err)) ||
        (st = app_viz_init(&r.viz, cfg, &r.test, &err)))
        goto done;
    announce(&r);
    if ((st = train_epochs(&r, &err)) || (st = test(&r, &err)) || (st = save_model(&r, &err)) ||
        (st = save_onnx(&r, &err)))
        goto done;
    viz_st = app_viz_report(&r.viz, &r.log, cfg, &r.test, &r.ev); /* reports its own errors */
    mt_status rep_st = report(&r, &err);
    if (rep_st) {
        app_fail(&r.log, &err, NULL);
        viz_st = viz_st ? viz_st : rep_st;
    }
done:
    run_free(&r);
    return st ? app_fail(&r.log, &err, NULL) : app_exit_code(viz_st);
}
