/* app_train: the `train` command — the seed's whole program: load MNIST, build
 * the MLP, train for N epochs with a loss line every log-interval batches and
 * an average per epoch, then test loss and accuracy. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include <png.h>
#include <zlib.h>

#include "app.h"
#include "app_ckpt.h"
#include "app_cli.h"
#include "app_fetch.h"
#include "app_log.h"
#include "app_viz.h"
#include "mt_config.h"
#include "mt_data.h"
#include "mt_engine.h"
#include "mt_kern.h"
#include "mt_pool.h"
#include "mt_mlp.h"
#include "mt_optim.h"
#include "mt_sched.h"
#include "mt_augment.h"
#include "mt_train.h"

typedef struct run {
    app_log log;
    const mt_config *cfg;
    int epochs;
    double epoch_t0;
    long long samples_total;
} run;

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

static void on_batch(void *user, const mt_batch_info *b)
{
    run *r = user;
    const mt_config *cfg = r->cfg;
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
        double eta = rate > 0 ? (double)(b->n_batches - b->batch - 1) * cfg->batch_size / rate : 0;
        snprintf(label, sizeof label, "epoch %d/%d", b->epoch, r->epochs);
        snprintf(text, sizeof text, "loss %.4f  %.0f samples/s  ETA %.1fs", b->running / (b->batch + 1), rate, eta);
        app_log_bar(&r->log, label, b->batch + 1, b->n_batches, text, b->batch + 1 == b->n_batches);
    }
}

static void emit_error(app_log *lg, const mt_err *err)
{
    app_log_error(lg, "%s", err->msg);
    if (err->code == MT_EARG)
        fprintf(stderr, "Try 'mnist-train --help' for more information.\n");
    app_ev *e = app_ev_new("error");
    app_ev_str(e, "kind", mt_status_name(err->code));
    app_ev_str(e, "message", err->msg);
    app_ev_int(e, "exit_code", app_exit_code(err->code));
    app_ev_emit(lg, e);
}

int app_cmd_train(int argc, char **argv)
{
    app_args a;
    mt_err err = { 0 };
    mt_status st;
    run r = { 0 };
    mt_dataset train = { 0 }, test = { 0 }, val = { 0 };
    mt_sched sched;
    mt_early early;
    char sched_text[256];
    mt_mlp model = { 0 };
    mt_optim opt = { 0 };
    mt_trainer tr = { 0 };
    app_viz viz = { 0 };
    mt_status viz_st = MT_OK;
    char dir[MT_PATH_MAX];
    const mt_kern *k = NULL;
    mt_ckpt ck = { 0 }; /* --resume */
    long long epochs_done = 0, saved_step = -1;
    mt_engine *eng = NULL;
    int threads = 1;

    if ((st = app_cli_parse(&a, argc, argv, &err))) {
        fprintf(stderr, "mnist-train: %s\nTry 'mnist-train --help' for more information.\n", err.msg);
        return app_exit_code(st);
    }
    if (!a.help && !a.version && a.cfg.resume[0] && (st = app_ckpt_resume_args(&a, argc, argv, &ck, &err))) {
        app_log_init(&r.log, a.cfg.json, "off");
        mt_ckpt_free(&ck);
        return app_ckpt_fail(&r.log, &err, NULL);
    }
    if (a.help) {
        printf("Usage: mnist-train [train] [OPTIONS]\n\nTrain the MLP on an IDX data set, then test it.\n\n");
        app_cli_print_options(stdout);
        return MT_EXIT_OK;
    }
    if (a.version) {
        print_version();
        return MT_EXIT_OK;
    }
    if (a.n_pos > 0 || a.print_config)
        mt_ckpt_free(&ck); /* only training uses it */
    if (a.n_pos > 0) {
        fprintf(stderr, "mnist-train: unexpected argument '%s'\nTry 'mnist-train --help' for more information.\n",
                a.pos[0]);
        return MT_EXIT_USAGE;
    }
    const mt_config *cfg = &a.cfg;
    if (a.print_config)
        return app_cli_print_config(cfg);
    r.cfg = cfg;
    r.epochs = (int)cfg->epochs;
    app_log_init(&r.log, cfg->json, cfg->progress);
    {
        char *s = mt_config_to_json(cfg, 0);
        app_ev *e = app_ev_new("config");
        app_ev_raw(e, "config", s);
        app_ev_emit(&r.log, e);
        free(s);
    }

    int hidden[MT_MAX_LAYERS], dims[MT_MAX_LAYERS + 1];
    int n_hidden = mt_mlp_parse_hidden(cfg->hidden, hidden, MT_MAX_LAYERS - 1);
    if (n_hidden < 0) {
        st = mt_errf(&err, MT_EARG, "--hidden: expected comma-separated sizes from 1 to 65536 (at most %d), got '%s'",
                     MT_MAX_LAYERS - 1, cfg->hidden);
        goto fail;
    }
    if ((st = mt_kern_select(&k, (mt_isa)mt_isa_parse(cfg->isa), &err)))
        goto fail;

    app_cli_data_dir(dir, sizeof dir, cfg);
    if ((st = app_fetch_ensure(cfg, dir, &r.log, &err)))
        goto fail;
    int classes = (int)cfg->classes;
    /* a folder given with --data may hold any IDX data set: classes from its labels */
    if (classes == 0 && !cfg->data_dir[0] &&
        (strcmp(cfg->dataset, "mnist") == 0 || strcmp(cfg->dataset, "fashion-mnist") == 0))
        classes = 10;
    if ((st = mt_dataset_load(&train, dir, "train", classes, (uint32_t)cfg->train_limit, &err)) ||
        (st = mt_dataset_load(&test, dir, "t10k", train.n_classes, (uint32_t)cfg->test_limit, &err)))
        goto fail;
    if (test.rows != train.rows || test.cols != train.cols) {
        st = mt_errf(&err, MT_EDATA, "%s: images are %ux%u but the training images are %ux%u", test.img_path,
                     (unsigned)test.rows, (unsigned)test.cols, (unsigned)train.rows, (unsigned)train.cols);
        goto fail;
    }
    if (cfg->val_split > 0) {
        /* the last N training samples become the validation set (a view) */
        if ((unsigned long long)cfg->val_split >= train.n) {
            st = mt_errf(&err, MT_EARG, "--val-split %lld: must be smaller than the %u training samples",
                         cfg->val_split, (unsigned)train.n);
            goto fail;
        }
        val = mt_dataset_slice(&train, train.n - (uint32_t)cfg->val_split, (uint32_t)cfg->val_split);
        train.n -= (uint32_t)cfg->val_split;
    }

    dims[0] = (int)(train.rows * train.cols);
    for (int i = 0; i < n_hidden; i++)
        dims[1 + i] = hidden[i];
    dims[n_hidden + 1] = train.n_classes;
    mt_rng init_rng;
    mt_rng_seed(&init_rng, (uint64_t)cfg->seed);
    if ((st = mt_mlp_init(&model, dims, n_hidden + 1, &init_rng, &err)) ||
        (st = mt_optim_init(&opt, (mt_opt_kind)mt_optim_parse(cfg->optimizer), model.n_params, &err)) ||
        (st = mt_trainer_init(&tr, &model, &opt, k, train.n, (int)cfg->batch_size,
                                  /* its own stream: changing the model never changes the order */
                                  (uint64_t)cfg->seed ^ 0x53485546464c45ULL, &err)))
        goto fail;
    opt.lr = (float)cfg->lr;
    opt.beta1 = (float)cfg->beta1;
    opt.beta2 = (float)cfg->beta2;
    opt.eps = (float)cfg->eps;
    opt.weight_decay = (float)cfg->weight_decay;
    opt.momentum = (float)cfg->momentum;
    mt_sched_init(&sched, (mt_sched_kind)mt_sched_parse(cfg->scheduler), cfg->lr);
    sched.step_size = (int)cfg->step_size;
    sched.gamma = cfg->gamma;
    sched.min_lr = cfg->min_lr;
    sched.patience = (int)cfg->lr_patience;
    sched.t_max = (int)cfg->epochs;
    mt_early_init(&early, (int)cfg->early_stop, cfg->min_delta);
    if ((st = app_viz_init(&viz, cfg, &test, &err)))
        goto fail;
    tr.shuffle = cfg->shuffle;
    tr.max_steps = cfg->max_steps;
    mt_norm_affine(&tr.scale, &tr.shift, cfg->mean, cfg->std);
    if ((cfg->init[0] && (st = app_ckpt_init_weights(&r.log, cfg->init, &model, &err))) ||
        (cfg->resume[0] && (st = mt_ckpt_restore(&ck, &model, &opt, &tr, &epochs_done, &err))))
        goto fail;
    if (cfg->resume[0]) {
        const char *sch = mt_ckpt_meta(&ck, "schedule");
        if (sch && *sch) {
            if (mt_sched_state_parse(sch, &sched, &early)) {
                st = mt_errf(&err, MT_EDATA, "%s: malformed 'schedule' metadata", cfg->resume);
                goto fail;
            }
            opt.lr = (float)sched.lr;
        }
    }
    if (cfg->resume[0])
        app_log_info(&r.log, "resuming from %s: %lld epochs done%s, step %lld", cfg->resume, epochs_done,
                     tr.in_epoch ? " and part of the next" : "", opt.step);
    threads = app_cli_threads(cfg);
    if ((st = mt_engine_create(&eng, &model, k, threads, (mt_path)mt_path_parse(cfg->first_layer),
                               (int)cfg->batch_size, &err)))
        goto fail;
    tr.engine = eng;
    mt_engine_set_clip(eng, (float)cfg->clip_grad);
    {
        mt_augment aug = { (float)cfg->aug_shift, (float)cfg->aug_rotate, (float)cfg->aug_scale };
        if (mt_augment_active(&aug)) {
            /* its own stream, derived from the seed; a resumed run continues it at its step */
            if ((st = mt_engine_set_augment(eng, &aug, (int)train.rows, (int)train.cols,
                                            (uint64_t)cfg->seed ^ 0x4155474d454e54ULL, &err)))
                goto fail;
            mt_engine_set_augment_step(eng, (uint64_t)opt.step);
        }
    }

    {
        char arch[128];
        int len = 0;
        for (int l = 0; l <= model.n_layers; l++)
            len += snprintf(arch + len, sizeof arch - (size_t)len, "%s%d", l ? "-" : "", model.dims[l]);
        app_log_info(&r.log, "mnist-train %s: %u train / %u test images (%ux%u, %d classes) from %s", APP_VERSION,
                     (unsigned)train.n, (unsigned)test.n, (unsigned)train.rows, (unsigned)train.cols,
                     train.n_classes, dir);
        app_log_info(&r.log, "model %s (%zu parameters), %s lr %g, batch %lld, %lld epochs, kernels %s, "
                     "first layer %s, %d threads, seed %lld",
                     arch, model.n_params, cfg->optimizer, cfg->lr, cfg->batch_size, cfg->epochs, k->name,
                     cfg->first_layer, threads, cfg->seed);
        app_ev *e = app_ev_new("start");
        app_ev_str(e, "version", APP_VERSION);
        app_ev_str(e, "data", dir);
        app_ev_int(e, "train_samples", train.n);
        app_ev_int(e, "test_samples", test.n);
        app_ev_str(e, "model", arch);
        app_ev_int(e, "parameters", (long long)model.n_params);
        app_ev_str(e, "isa", k->name);
        app_ev_str(e, "first_layer", cfg->first_layer);
        app_ev_int(e, "threads", threads);
        app_ev_emit(&r.log, e);
    }

    double t_train = app_now();
    for (int ep = (int)epochs_done + 1; ep <= r.epochs; ep++) {
        double avg, t0 = app_now(), lr_used = opt.lr;
        int done;
        if (cfg->max_steps > 0 && opt.step >= cfg->max_steps)
            break; /* before the epoch draws its order, so a saved state stays exact */
        st = mt_train_epoch(&tr, &train, ep, on_batch, &r, &app_stop_signal, &avg, &done, &err);
        if (st == MT_EINTR && cfg->save_state[0]) {
            mt_err e2 = { 0 };
            app_log_bar_clear(&r.log);
            mt_sched_state_text(sched_text, sizeof sched_text, &sched, &early);
            if (app_ckpt_save_state(&r.log, cfg, &model, &opt, &tr, ep - 1, sched_text, &e2))
                app_log_error(&r.log, "%s", e2.msg);
        }
        if (st)
            goto fail;
        double secs = app_now() - t0;
        mt_eval tev; /* the test set after this epoch, for --curves */
        int have_tev = app_viz_eval_each_epoch(cfg);
        if (have_tev && (st = mt_evaluate_engine(eng, &model, k, &test, (int)cfg->test_batch_size, tr.scale,
                                                 tr.shift, &tev, NULL, NULL, NULL, &err)))
            goto fail;
        mt_eval vev; /* the validation set, every epoch */
        int have_vev = val.n > 0;
        if (have_vev && (st = mt_evaluate_engine(eng, &model, k, &val, (int)cfg->test_batch_size, tr.scale,
                                                 tr.shift, &vev, NULL, NULL, NULL, &err)))
            goto fail;
        app_viz_record_epoch(&viz, ep, avg, have_tev ? &tev : NULL);
        t_train += app_now() - t0 - secs; /* train_seconds leaves these evaluations out */
        long long seen = done == 0 ? 0 : (long long)(done - 1) * cfg->batch_size +
                         ((long long)train.n - (long long)(done - 1) * cfg->batch_size < cfg->batch_size
                              ? (long long)train.n - (long long)(done - 1) * cfg->batch_size : cfg->batch_size);
        app_log_bar_clear(&r.log);
        char test_text[192] = "";
        int tl = 0;
        if (have_vev)
            tl += snprintf(test_text, sizeof test_text, ", Val Loss: %.4f, Val Accuracy: %.2f%%", vev.loss,
                           vev.total ? 100.0 * vev.correct / vev.total : 0.0);
        if (have_tev)
            snprintf(test_text + tl, sizeof test_text - (size_t)tl, ", Test Loss: %.4f, Test Accuracy: %.2f%%",
                     tev.loss, tev.total ? 100.0 * tev.correct / tev.total : 0.0);
        app_log_info(&r.log, "Epoch %d finished. Average Loss: %.4f (%.2f s, %.0f samples/s)%s", ep, avg, secs,
                     secs > 0 ? seen / secs : 0.0, test_text);
        app_ev *e = app_ev_new("epoch");
        app_ev_int(e, "epoch", ep);
        app_ev_int(e, "epochs", r.epochs);
        app_ev_num(e, "train_loss", avg);
        app_ev_num(e, "seconds", secs);
        app_ev_num(e, "samples_per_sec", secs > 0 ? seen / secs : 0.0);
        app_ev_int(e, "steps", opt.step);
        app_ev_num(e, "lr", lr_used);
        if (have_vev) {
            app_ev_num(e, "val_loss", vev.loss);
            app_ev_num(e, "val_accuracy", vev.total ? (double)vev.correct / vev.total : 0.0);
        }
        long long n_dense, n_sparse;
        mt_engine_path_counts(eng, &n_dense, &n_sparse);
        app_ev_int(e, "dense_batches", n_dense);
        app_ev_int(e, "sparse_batches", n_sparse);
        app_ev_int(e, "single_thread_steps", mt_engine_single_steps(eng));
        if (have_tev) {
            app_ev_num(e, "test_loss", tev.loss);
            app_ev_num(e, "test_accuracy", tev.total ? (double)tev.correct / tev.total : 0.0);
        }
        app_ev_emit(&r.log, e);
        epochs_done = tr.in_epoch ? ep - 1 : ep;
        int stop_early = 0;
        if (!tr.in_epoch) { /* a whole epoch: step the schedule and the early stopper */
            double monitored = have_vev ? vev.loss : avg;
            double lr = mt_sched_epoch_end(&sched, monitored);
            if ((float)lr != opt.lr) {
                app_log_info(&r.log, "learning rate %g -> %g", (double)opt.lr, lr);
                opt.lr = (float)lr;
            }
            if (cfg->early_stop > 0) {
                mt_early_update(&early, ep, monitored);
                stop_early = mt_early_should_stop(&early) && ep < r.epochs;
            }
        }
        mt_sched_state_text(sched_text, sizeof sched_text, &sched, &early);
        if (cfg->save_state[0] && cfg->save_every > 0 && ep % cfg->save_every == 0) {
            if ((st = app_ckpt_save_state(&r.log, cfg, &model, &opt, &tr, epochs_done, sched_text, &err)))
                goto fail;
            saved_step = opt.step;
        }
        if (stop_early) {
            app_log_info(&r.log, "Early stopping after epoch %d: no improvement of the %s loss for %lld epochs "
                         "(best %.4f at epoch %d)", ep, have_vev ? "validation" : "training", cfg->early_stop,
                         early.best, early.best_epoch);
            app_ev *es = app_ev_new("early_stop");
            app_ev_int(es, "epoch", ep);
            app_ev_int(es, "best_epoch", early.best_epoch);
            app_ev_num(es, "best_loss", early.best);
            app_ev_str(es, "monitor", have_vev ? "val_loss" : "train_loss");
            app_ev_emit(&r.log, es);
            break;
        }
        if (cfg->max_steps > 0 && opt.step >= cfg->max_steps)
            break;
    }
    if (cfg->save_state[0] && saved_step != opt.step &&
        (st = app_ckpt_save_state(&r.log, cfg, &model, &opt, &tr, epochs_done,
                                  (mt_sched_state_text(sched_text, sizeof sched_text, &sched, &early), sched_text),
                                  &err)))
        goto fail;
    double train_secs = app_now() - t_train;

    mt_eval ev;
    double t0 = app_now();
    if ((st = mt_evaluate_engine(eng, &model, k, &test, (int)cfg->test_batch_size, tr.scale, tr.shift, &ev,
                                 viz.preds, viz.probs, viz.confusion, &err)))
        goto fail;
    double eval_secs = app_now() - t0;
    double acc = ev.total ? (double)ev.correct / ev.total : 0.0;
    app_log_info(&r.log, "Test Loss: %.4f, Test Accuracy: %.2f%% (%u/%u)", ev.loss, 100.0 * acc,
                 (unsigned)ev.correct, (unsigned)ev.total);
    {
        app_ev *e = app_ev_new("test");
        app_ev_num(e, "loss", ev.loss);
        app_ev_num(e, "accuracy", acc);
        app_ev_int(e, "correct", ev.correct);
        app_ev_int(e, "total", ev.total);
        app_ev_num(e, "seconds", eval_secs);
        app_ev_num(e, "train_seconds", train_secs);
        app_ev_emit(&r.log, e);
    }
    if (cfg->save[0] && (st = app_ckpt_save_model(&r.log, cfg, &model, (int)train.rows, (int)train.cols, acc,
                                                  ev.loss, opt.step, &err)))
        goto fail;
    viz_st = app_viz_report(&viz, &r.log, cfg, &test, &ev); /* reports its own errors */
fail:
    if (st)
        emit_error(&r.log, &err);
    app_viz_free(&viz);
    mt_engine_free(eng);
    mt_trainer_free(&tr);
    mt_optim_free(&opt);
    mt_mlp_free(&model);
    mt_dataset_free(&train);
    mt_dataset_free(&test);
    mt_ckpt_free(&ck);
    return app_exit_code(st ? st : viz_st);
}
