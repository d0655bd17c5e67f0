/* app_fetch: the `fetch` command and the automatic download before training
 * (issue 6).  It turns mt_fetch's callbacks into a progress bar, plain lines
 * or `download` events; it never decides what is valid (mt_fetch does) and
 * never downloads a file the folder already has in some spelling. */
#include "app_fetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "app_cli.h"
#include "mt_data.h"
#include "mt_fetch.h"

static mt_status g_init = MT_OK;
static char g_init_msg[512];

void app_fetch_init(void)
{
    mt_err err = { 0 };
    g_init = mt_fetch_global_init(&err);
    if (g_init)
        snprintf(g_init_msg, sizeof g_init_msg, "%s", err.msg);
}

void app_fetch_cleanup(void)
{
    if (g_init == MT_OK)
        mt_fetch_global_cleanup();
}

/* Split and kind of each file of a built-in spec, for mt_dataset_find. */
static const char *const split_of[MT_FETCH_N_FILES] = { "train", "train", "t10k", "t10k" };
static const char *const kind_of[MT_FETCH_N_FILES] = { "images", "labels", "images", "labels" };

/* ------------------------------------------------------------ data sets -- */

const char *app_fetch_system_dir(const char *dataset)
{
    if (strcmp(dataset, "fashion-mnist") == 0)
        return "/usr/share/datasets/fashion-mnist"; /* Debian 12: dataset-fashion-mnist */
    return NULL;
}

int app_fetch_have_files(const char *dir)
{
    char path[MT_PATH_MAX];
    for (int i = 0; i < MT_FETCH_N_FILES; i++)
        if (mt_dataset_find(path, sizeof path, dir, split_of[i], kind_of[i], NULL) != MT_OK)
            return 0;
    return 1;
}

const char *const *app_class_names(const mt_config *cfg, int *n)
{
    static char buf[sizeof cfg->class_names];
    static const char *names[256];
    *n = 0;
    if (cfg->class_names[0]) {
        memcpy(buf, cfg->class_names, sizeof buf);
        for (char *p = buf; *p && *n < 256;) {
            char *end = strchr(p, ',');
            if (end)
                *end = '\0';
            while (*p == ' ')
                p++;
            for (char *q = p + strlen(p); q > p && q[-1] == ' ';)
                *--q = '\0';
            names[(*n)++] = p;
            if (!end)
                break;
            p = end + 1;
        }
        return *n ? names : NULL;
    }
    const mt_fetch_spec *spec;
    if (mt_fetch_spec_find(&spec, cfg->dataset, NULL) != MT_OK || !spec->class_names)
        return NULL;
    *n = spec->n_classes;
    return spec->class_names;
}

/* The built-in spec of cfg->dataset, with sizes and CRCs replaced by the file
 * MNIST_TRAIN_TEST_SPEC names when it is set: four lines "NAME BYTES CRC32HEX"
 * in the built-in order.  That hook exists so tests/test_fetch_cli.sh can serve
 * small generated files; nobody needs it otherwise (README "Tests"). */
typedef struct dspec {
    mt_fetch_spec spec;
    mt_fetch_file files[MT_FETCH_N_FILES];
} dspec;

static mt_status load_spec(dspec *out, const mt_config *cfg, mt_err *err)
{
    const mt_fetch_spec *b;
    mt_status st = mt_fetch_spec_find(&b, cfg->dataset, err);
    if (st)
        return st;
    if (b->n_files != MT_FETCH_N_FILES)
        return mt_errf(err, MT_EARG, "data set '%s' has %d files, expected %d", b->name, b->n_files,
                       MT_FETCH_N_FILES);
    out->spec = *b;
    memcpy(out->files, b->files, sizeof out->files);
    out->spec.files = out->files;
    const char *path = getenv("MNIST_TRAIN_TEST_SPEC");
    if (!path || !*path)
        return MT_OK;
    FILE *f = fopen(path, "r");
    if (!f)
        return mt_errf(err, MT_EARG, "MNIST_TRAIN_TEST_SPEC: cannot open %s", path);
    for (int i = 0; i < MT_FETCH_N_FILES; i++) {
        char name[128];
        unsigned long long size;
        unsigned crc;
        if (fscanf(f, "%127s %llu %x", name, &size, &crc) != 3 || strcmp(name, b->files[i].name) != 0) {
            fclose(f);
            return mt_errf(err, MT_EARG, "MNIST_TRAIN_TEST_SPEC: %s: line %d must be '%s BYTES CRC32HEX'", path,
                           i + 1, b->files[i].name);
        }
        out->files[i].size = size;
        out->files[i].crc32 = crc;
    }
    fclose(f);
    return MT_OK;
}

/* --mirror / data.mirrors, else MNIST_MIRROR (mnist only, like MNIST_DATA),
 * else nothing (the spec's own list).  *from names the source for messages. */
static mt_status load_mirrors(mt_fetch_mirrors *m, const char **from, const mt_config *cfg, mt_err *err)
{
    const char *env = getenv("MNIST_MIRROR");
    const char *list = NULL;
    *from = "built-in";
    if (cfg->mirrors[0])
        list = cfg->mirrors, *from = "--mirror";
    else if (env && *env && strcmp(cfg->dataset, "mnist") == 0)
        list = env, *from = "MNIST_MIRROR";
    memset(m, 0, sizeof *m);
    if (!list)
        return MT_OK;
    mt_err e = { 0 };
    mt_status st = mt_fetch_mirrors_parse(m, list, &e);
    if (st)
        return mt_errf(err, st, "%s: %s", *from, e.msg);
    return MT_OK;
}

/* ------------------------------------------------------ progress output -- */

typedef struct ui {
    app_log *lg;
    const char *dataset, *dir;
    int n_downloaded, n_present;
} ui;

static void fmt_mb(char *out, size_t cap, double bytes)
{
    if (bytes >= 1e6)
        snprintf(out, cap, "%.1f MB", bytes / 1e6);
    else if (bytes >= 1e3)
        snprintf(out, cap, "%.0f kB", bytes / 1e3);
    else
        snprintf(out, cap, "%.0f B", bytes);
}

static void on_progress(void *user, const char *file, uint64_t done, uint64_t total, double seconds)
{
    ui *u = user;
    if (!u->lg->bar)
        return;
    char text[96], rate_s[32];
    double rate = seconds > 0 ? (double)done / seconds : 0;
    fmt_mb(rate_s, sizeof rate_s, rate);
    if (total > 0 && done <= total) {
        double eta = rate > 0 ? (double)(total - done) / rate : 0;
        snprintf(text, sizeof text, "kB  %s/s  ETA %.0fs", rate_s, eta);
    } else {
        total = done;
        snprintf(text, sizeof text, "kB  %s/s  (size unknown)", rate_s);
    }
    app_log_bar(u->lg, file, (long)(done / 1000), (long)(total / 1000), text, done == total);
}

static void on_event(void *user, const mt_fetch_event *ev)
{
    ui *u = user;
    app_log *lg = u->lg;
    char size[32];
    switch (ev->kind) {
    case MT_FETCH_EV_START:
        break;
    case MT_FETCH_EV_INVALID:
        app_log_info(lg, "%s: present but invalid (%s): downloading it again", ev->file, ev->detail);
        break;
    case MT_FETCH_EV_ATTEMPT:
        if (ev->resume_from)
            app_log_info(lg, "%s: resuming %s at byte %llu", ev->file, ev->url,
                         (unsigned long long)ev->resume_from);
        else if (ev->attempt == 1) /* retries are announced by their RETRY line */
            app_log_info(lg, "%s: downloading %s", ev->file, ev->url);
        break;
    case MT_FETCH_EV_RETRY:
        app_log_info(lg, "%s: attempt %d failed: %s", ev->file, ev->attempt, ev->detail);
        break;
    case MT_FETCH_EV_DONE: {
        int downloaded = strcmp(ev->status, "downloaded") == 0;
        fmt_mb(size, sizeof size, (double)ev->bytes);
        if (downloaded) {
            char rate[32];
            fmt_mb(rate, sizeof rate, ev->seconds > 0 ? (double)ev->bytes / ev->seconds : 0);
            app_log_info(lg, "%s: %s in %.1f s (%s/s), verified", ev->file, size, ev->seconds, rate);
            u->n_downloaded++;
        } else {
            app_log_info(lg, "%s: present, verified", ev->file);
            u->n_present++;
        }
        app_ev *e = app_ev_new("download");
        app_ev_str(e, "dataset", u->dataset);
        app_ev_str(e, "file", ev->file);
        app_ev_str(e, "status", ev->status);
        app_ev_int(e, "bytes", (long long)ev->bytes);
        app_ev_num(e, "seconds", ev->seconds);
        if (ev->url)
            app_ev_str(e, "url", ev->url);
        app_ev_str(e, "dir", u->dir);
        app_ev_emit(lg, e);
        break;
    }
    }
}

static mt_status run_fetch(const char *dir, const mt_fetch_spec *spec, const mt_config *cfg, ui *u,
                           mt_err *err)
{
    mt_fetch_mirrors m;
    const char *from;
    mt_status st;
    if (g_init)
        return mt_errf(err, MT_ENET, "cannot download: %s", g_init_msg);
    if ((st = load_mirrors(&m, &from, cfg, err)))
        return st;
    mt_fetch_opts o = { 0 };
    o.mirrors = m.urls;
    o.n_mirrors = m.n;
    o.stop = &app_stop_signal;
    o.progress = on_progress;
    o.event = on_event;
    o.user = u;
    st = mt_fetch_dataset(dir, spec, &o, err);
    app_log_bar_clear(u->lg);
    mt_fetch_mirrors_free(&m);
    return st;
}

mt_status app_fetch_ensure(const mt_config *cfg, const char *dir, app_log *lg, mt_err *err)
{
    dspec ds;
    mt_fetch_file missing[MT_FETCH_N_FILES];
    int idx[MT_FETCH_N_FILES];
    char path[MT_PATH_MAX];
    mt_err first = { 0 };
    int n_missing = 0;
    mt_status st;

    for (int i = 0; i < MT_FETCH_N_FILES; i++) {
        mt_err e = { 0 };
        if (mt_dataset_find(path, sizeof path, dir, split_of[i], kind_of[i], &e) == MT_OK)
            continue;
        if (!n_missing)
            first = e;
        idx[n_missing++] = i;
    }
    if (!n_missing)
        return MT_OK;
    if (!cfg->download)
        return mt_errf(err, MT_EDATA, "%s; not downloading (--no-download): run 'mnist-train fetch' or put the "
                       "files there yourself", first.msg);
    if ((st = load_spec(&ds, cfg, err)))
        return st;
    for (int k = 0; k < n_missing; k++)
        missing[k] = ds.files[idx[k]];
    ds.spec.files = missing;
    ds.spec.n_files = n_missing;
    app_log_info(lg, "%d of the %d %s files %s missing in %s: downloading (--no-download turns this off)",
                 n_missing, MT_FETCH_N_FILES, cfg->dataset, n_missing == 1 ? "is" : "are", dir);
    ui u = { lg, cfg->dataset, dir, 0, 0 };
    return run_fetch(dir, &ds.spec, cfg, &u, err);
}

/* -------------------------------------------------------------- command -- */

static void emit_error(app_log *lg, const mt_err *err)
{
    app_log_error(lg, "%s", err->msg);
    if (err->code == MT_EARG)
        fprintf(stderr, "Try 'mnist-train fetch --help' for more information.\n");
    app_ev *e = app_ev_new("error");
    app_ev_str(e, "kind", mt_status_name(err->code));
    app_ev_str(e, "message", err->msg);
    app_ev_int(e, "exit_code", app_exit_code(err->code));
    app_ev_emit(lg, e);
}

static void on_verify(void *user, const mt_fetch_file *file, mt_status st, const char *msg)
{
    ui *u = user;
    app_log_info(u->lg, "%s: %s", file->name, st ? msg : "ok (size and CRC-32 match)");
    app_ev *e = app_ev_new("verify");
    app_ev_str(e, "dataset", u->dataset);
    app_ev_str(e, "file", file->name);
    app_ev_bool(e, "ok", st == MT_OK);
    app_ev_str(e, "message", st ? msg : "ok");
    app_ev_str(e, "dir", u->dir);
    app_ev_emit(u->lg, e);
}

static void fetch_usage(void)
{
    printf("Usage: mnist-train fetch [--dataset mnist|fashion-mnist] [--data DIR] [--mirror URL]... [--verify]\n"
           "                         [--json] [--progress WHEN]\n\n"
           "Download the data set into its folder (default: $MNIST_DATA for mnist, else ./data/<dataset>;\n"
           "fashion-mnist also uses /usr/share/datasets/fashion-mnist when that has the files), checking\n"
           "every file's size and CRC-32.  Files already there and valid are kept.\n\n"
           "  --verify               only check the files that are there (exit 3 if any is missing or bad)\n"
           "  --mirror URL           base URL to download from; repeat for more, tried in order\n"
           "                         (replaces the built-in list; default: $MNIST_MIRROR for mnist)\n"
           "  --dataset NAME         mnist or fashion-mnist [default: mnist]\n"
           "  --data DIR             the folder to fill\n"
           "  --json                 JSON Lines events (download, verify, fetch, error) on stdout\n"
           "  --progress WHEN        progress bar on stderr: auto, on, off [default: auto]\n");
}

int app_cmd_fetch(int argc, char **argv)
{
    app_args a;
    mt_err err = { 0 };
    mt_status st;
    app_log lg;
    dspec ds;
    char dir[MT_PATH_MAX];
    int verify = 0;

    /* --verify is fetch's own flag, not a config option: take it out before
     * the shared parser sees argv (stopping at "--" like getopt). */
    char **av = calloc((size_t)argc + 1, sizeof *av);
    if (!av)
        return MT_EXIT_INTERNAL;
    int ac = 0, dashdash = 0;
    for (int i = 0; i < argc; i++) {
        if (i > 0 && !dashdash && strcmp(argv[i], "--verify") == 0) {
            verify = 1;
            continue;
        }
        dashdash |= i > 0 && strcmp(argv[i], "--") == 0;
        av[ac++] = argv[i];
    }
    st = app_cli_parse(&a, ac, av, &err);
    free(av);
    if (st) {
        fprintf(stderr, "mnist-train: %s\nTry 'mnist-train fetch --help' for more information.\n", err.msg);
        return app_exit_code(st);
    }
    if (a.help) {
        fetch_usage();
        return MT_EXIT_OK;
    }
    if (a.version) {
        printf("mnist-train %s\n", APP_VERSION);
        return MT_EXIT_OK;
    }
    if (a.n_pos > 0) {
        fprintf(stderr, "mnist-train: unexpected argument '%s'\nTry 'mnist-train fetch --help' for more information.\n",
                a.pos[0]);
        return MT_EXIT_USAGE;
    }
    const mt_config *cfg = &a.cfg;
    if (a.print_config)
        return app_cli_print_config(cfg);
    app_log_init(&lg, cfg->json, cfg->progress);
    app_cli_data_dir(dir, sizeof dir, cfg);
    ui u = { &lg, cfg->dataset, dir, 0, 0 };
    if ((st = load_spec(&ds, cfg, &err)))
        goto fail;
    if (verify) {
        app_log_info(&lg, "Verifying %s in %s", cfg->dataset, dir);
        if ((st = mt_fetch_verify_dir(dir, &ds.spec, on_verify, &u, &err)))
            goto fail;
    } else {
        app_log_info(&lg, "Fetching %s into %s", cfg->dataset, dir);
        if ((st = run_fetch(dir, &ds.spec, cfg, &u, &err)))
            goto fail;
    }
    app_log_info(&lg, "%s: all %d files in %s are valid%s", cfg->dataset, ds.spec.n_files, dir,
                 verify ? "" : u.n_downloaded ? "" : " (nothing to download)");
    app_ev *e = app_ev_new("fetch");
    app_ev_str(e, "dataset", cfg->dataset);
    app_ev_str(e, "dir", dir);
    app_ev_int(e, "files", ds.spec.n_files);
    if (!verify) {
        app_ev_int(e, "downloaded", u.n_downloaded);
        app_ev_int(e, "present", u.n_present);
    }
    app_ev_emit(&lg, e);
fail:
    if (st)
        emit_error(&lg, &err);
    return app_exit_code(st);
}
