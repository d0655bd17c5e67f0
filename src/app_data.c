/* app_data: data set location, the automatic download before loading, and
 * class names.  It turns mt_fetch's callbacks into a progress bar, plain
 * lines or `download` events; it never decides what is valid (mt_fetch and
 * mt_data do) and never downloads a file the folder already has in some
 * spelling. */
#include "app_data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "app_exit.h"
#include "mt_fetch.h"

/* Split and kind of each file of a built-in spec, for mt_dataset_find. */
static const char *const split_of[MT_FETCH_N_FILES] = { "train", "train", "t10k", "t10k" };
static const char *const kind_of[MT_FETCH_N_FILES] = { "images", "labels", "images", "labels" };

/* libcurl's global state, set up at the first download (no other thread
 * exists then: the engine's start after the data is loaded). */
static int g_curl = 0; /* 0 not yet, 1 ready, -1 failed */
static char g_curl_msg[512];

static void curl_done(void)
{
    mt_fetch_global_cleanup();
}

static mt_status curl_ready(mt_err *err)
{
    if (g_curl == 0) {
        mt_err e = { 0 };
        if (mt_fetch_global_init(&e)) {
            g_curl = -1;
            snprintf(g_curl_msg, sizeof g_curl_msg, "%s", e.msg);
        } else {
            g_curl = 1;
            atexit(curl_done);
        }
    }
    return g_curl > 0 ? MT_OK : mt_errf(err, MT_ENET, "cannot download: %s", g_curl_msg);
}

/* ------------------------------------------------------------ location -- */

static int have_files(const char *dir)
{
    char path[APP_PATH_MAX];
    for (int i = 0; i < MT_FETCH_N_FILES; i++)
        if (mt_dataset_find(path, sizeof path, dir, split_of[i], kind_of[i], NULL) != MT_OK)
            return 0;
    return 1;
}

void app_data_locate(app_data_dir *d, const app_config *cfg)
{
    const mt_fetch_spec *spec = NULL;
    mt_fetch_spec_find(&spec, cfg->dataset, NULL);
    const char *env = spec && spec->env_dir ? getenv(spec->env_dir) : NULL;
    if (cfg->data_dir[0]) {
        snprintf(d->path, sizeof d->path, "%s", cfg->data_dir);
        d->from = "--data";
    } else if (env && *env) {
        snprintf(d->path, sizeof d->path, "%s", env);
        d->from = spec->env_dir;
    } else {
        snprintf(d->path, sizeof d->path, "data/%s", cfg->dataset);
        d->from = "default";
        if (spec && spec->system_dir && !have_files(d->path) && have_files(spec->system_dir)) {
            snprintf(d->path, sizeof d->path, "%s", spec->system_dir);
            d->from = "system";
        }
    }
}

/* ------------------------------------------------------------ the spec -- */

/* The built-in spec of cfg->dataset, with sizes and CRCs replaced by the file
 * MNIST_TRAIN_TEST_SPEC names when it is set: four lines "NAME BYTES CRC32HEX"
 * in the built-in order.  That hook exists so tests/test_fetch_cli.sh can serve
 * small generated files; nobody needs it otherwise (docs/data.md). */
typedef struct dspec {
    mt_fetch_spec spec;
    mt_fetch_file files[MT_FETCH_N_FILES];
} dspec;

static mt_status load_spec(dspec *out, const app_config *cfg, mt_err *err)
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

/* --mirror / data.mirrors, else the set's variable (MNIST_MIRROR for mnist),
 * else nothing (the spec's own list).  *from names the source for messages. */
static mt_status load_mirrors(mt_fetch_mirrors *m, const char **from, const app_config *cfg,
                              const mt_fetch_spec *spec, mt_err *err)
{
    const char *env = spec->env_mirror ? getenv(spec->env_mirror) : NULL;
    const char *list = NULL;
    *from = "built-in";
    if (cfg->mirrors[0])
        list = cfg->mirrors, *from = "--mirror";
    else if (env && *env)
        list = env, *from = spec->env_mirror;
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

/* -------------------------------------------------------------- fetching -- */

static mt_status run_fetch(const app_data_dir *d, const mt_fetch_spec *spec, const app_config *cfg, ui *u,
                           mt_err *err)
{
    mt_fetch_mirrors m;
    const char *from;
    mt_status st;
    if ((st = curl_ready(err)) || (st = load_mirrors(&m, &from, cfg, spec, err)))
        return st;
    mt_fetch_opts o = { 0 };
    o.mirrors = m.urls;
    o.n_mirrors = m.n;
    o.stop = &app_stop_signal;
    o.progress = on_progress;
    o.event = on_event;
    o.user = u;
    st = mt_fetch_dataset(d->path, spec, &o, err);
    app_log_bar_clear(u->lg);
    mt_fetch_mirrors_free(&m);
    if (st == MT_ENET) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        const mt_fetch_spec *b = NULL;
        mt_fetch_spec_find(&b, cfg->dataset, NULL);
        mt_errf(err, MT_ENET, "%s; check the network (or --mirror URL), or put the %s files from %s into %s, or "
                "point --data%s%s at a folder that has them", msg, cfg->dataset,
                b && b->n_mirrors ? b->mirrors[0] : "a mirror", d->path, b && b->env_dir ? " or " : "",
                b && b->env_dir ? b->env_dir : "");
    }
    return st;
}

static int is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

mt_status app_data_ensure(const app_config *cfg, const app_data_dir *d, app_log *lg, mt_err *err)
{
    dspec ds;
    mt_fetch_file missing[MT_FETCH_N_FILES];
    int idx[MT_FETCH_N_FILES];
    char path[APP_PATH_MAX];
    mt_err first = { 0 };
    int n_missing = 0;
    mt_status st;

    for (int i = 0; i < MT_FETCH_N_FILES; i++) {
        mt_err e = { 0 };
        if (mt_dataset_find(path, sizeof path, d->path, split_of[i], kind_of[i], &e) == MT_OK)
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
    /* a folder the user named and that does not exist is likelier a typo
     * than a wish to download 55 MB into a new folder */
    if (strcmp(d->from, "default") != 0 && !is_dir(d->path))
        return mt_errf(err, MT_EDATA, "%s %s: no such folder; to download %s there, run 'mnist-train fetch "
                       "--dataset %s --data %s'", d->from, d->path, cfg->dataset, cfg->dataset, d->path);
    if ((st = load_spec(&ds, cfg, err)))
        return st;
    for (int k = 0; k < n_missing; k++)
        missing[k] = ds.files[idx[k]];
    ds.spec.files = missing;
    ds.spec.n_files = n_missing;
    app_log_info(lg, "%d of the %d %s files %s missing in %s: downloading (--no-download turns this off)",
                 n_missing, MT_FETCH_N_FILES, cfg->dataset, n_missing == 1 ? "is" : "are", d->path);
    ui u = { lg, cfg->dataset, d->path, 0, 0 };
    return run_fetch(d, &ds.spec, cfg, &u, err);
}

mt_status app_data_fetch(const app_config *cfg, const app_data_dir *d, int verify, app_log *lg,
                         int *n_files, int *n_downloaded, int *n_present, mt_err *err)
{
    dspec ds;
    ui u = { lg, cfg->dataset, d->path, 0, 0 };
    mt_status st = load_spec(&ds, cfg, err);
    if (st)
        return st;
    *n_files = ds.spec.n_files;
    if (verify) {
        app_log_info(lg, "Verifying %s in %s", cfg->dataset, d->path);
        st = mt_fetch_verify_dir(d->path, &ds.spec, on_verify, &u, err);
    } else {
        app_log_info(lg, "Fetching %s into %s", cfg->dataset, d->path);
        st = run_fetch(d, &ds.spec, cfg, &u, err);
    }
    *n_downloaded = u.n_downloaded;
    *n_present = u.n_present;
    return st;
}

/* n_classes, or 0: the set's own count for a built-in set read from its own folder */
static int classes_of(const app_config *cfg, const app_data_dir *d, int n_classes)
{
    const mt_fetch_spec *spec = NULL;
    /* a folder given with --data may hold any IDX data set: classes from its labels */
    if (n_classes == 0 && strcmp(d->from, "--data") != 0 && mt_fetch_spec_find(&spec, cfg->dataset, NULL) == MT_OK)
        n_classes = spec->n_classes;
    return n_classes;
}

mt_status app_data_load(mt_dataset *out, const app_config *cfg, const app_data_dir *d, const char *split,
                        int n_classes, uint32_t limit, mt_err *err)
{
    return mt_dataset_load(out, d->path, split, classes_of(cfg, d, n_classes), limit, err);
}

mt_status app_data_load_train_test(mt_dataset *train, mt_dataset *test, const app_config *cfg,
                                   const app_data_dir *d, int n_classes, uint32_t train_limit,
                                   uint32_t test_limit, mt_err *err)
{
    static const char *const splits[2] = { "train", "t10k" };
    const uint32_t limits[2] = { train_limit, test_limit };
    mt_dataset two[2];
    mt_status st = mt_dataset_load_splits(two, d->path, splits, limits, 2, classes_of(cfg, d, n_classes), err);
    if (st)
        return st;
    *train = two[0];
    *test = two[1];
    return MT_OK;
}

const char *const *app_data_class_names(const char *list, const char *dataset, int *n)
{
    static char buf[4096];
    static const char *names[256];
    *n = 0;
    if (list && *list) {
        snprintf(buf, sizeof buf, "%s", list);
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
    if (!dataset || mt_fetch_spec_find(&spec, dataset, NULL) != MT_OK || !spec->class_names)
        return NULL;
    *n = spec->n_classes;
    return spec->class_names;
}
