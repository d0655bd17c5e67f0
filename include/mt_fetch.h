/* mt_fetch: getting the data.  Built-in specs for MNIST and Fashion-MNIST
 * (file names, decompressed sizes, CRC-32s, default mirrors, class names,
 * where a system copy lives): the one place that knows each data set's facts,
 * verification of .gz files against those values, and a downloader that only
 * ever creates a file under its final name after it has been verified.
 *
 * libcurl is confined to src/mt_fetch.c.  The library never prints: progress
 * and per-file results are reported through callbacks (mt_fetch_opts), and
 * every failure is an mt_status plus a one-line message in mt_err.
 *
 * Typical use (main):
 *     mt_fetch_global_init(&err);                      // once, at startup
 *     const mt_fetch_spec *spec;
 *     mt_fetch_spec_find(&spec, "mnist", &err);
 *     mt_fetch_opts o = {0};                           // zero = defaults
 *     o.progress = draw_bar; o.event = print_line; o.user = ui; o.stop = &g_stop;
 *     st = mt_fetch_dataset("data/mnist", spec, &o, &err);
 *     mt_fetch_global_cleanup();                       // once, at exit
 */
#ifndef MT_FETCH_H
#define MT_FETCH_H

#include <signal.h>
#include <stdint.h>

#include "mt_err.h"

/* ---------------------------------------------------------------- specs -- */

/* Index of each file in the files[] of the built-in specs. */
enum {
    MT_FETCH_TRAIN_IMAGES = 0, /* train-images-idx3-ubyte.gz */
    MT_FETCH_TRAIN_LABELS = 1, /* train-labels-idx1-ubyte.gz */
    MT_FETCH_TEST_IMAGES  = 2, /* t10k-images-idx3-ubyte.gz  */
    MT_FETCH_TEST_LABELS  = 3, /* t10k-labels-idx1-ubyte.gz  */
    MT_FETCH_N_FILES      = 4
};

typedef struct mt_fetch_file {
    const char *name; /* file name on the mirror and on disk, e.g. "t10k-labels-idx1-ubyte.gz" */
    uint64_t size;    /* size in bytes AFTER gunzip */
    uint32_t crc32;   /* zlib crc32() of the decompressed bytes */
} mt_fetch_file;

/* A data set: what to download, from where, and what it must contain.
 * The struct is public so tests (or a caller with a private mirror of other
 * IDX data) can build their own spec with their own names/sizes/CRCs. */
typedef struct mt_fetch_spec {
    const char *name;                /* "mnist", "fashion-mnist" */
    const mt_fetch_file *files;      /* (n_files); built-in order: MT_FETCH_TRAIN_IMAGES.. */
    int n_files;                     /* 4 for the built-in sets */
    const char *const *mirrors;      /* (n_mirrors) default base URLs, tried in order */
    int n_mirrors;
    const char *const *class_names;  /* (n_classes) label i -> name, e.g. "Ankle boot" */
    int n_classes;                   /* 10 */
    const char *system_dir;          /* a read-only copy a distribution installs, or NULL */
    const char *env_dir;             /* the environment variable naming its folder, or NULL */
    const char *env_mirror;          /* the environment variable naming its mirrors, or NULL */
} mt_fetch_spec;

/* *out = the built-in spec called name ("mnist", "fashion-mnist"); the spec is
 * static, never freed.  Unknown name -> MT_EARG, message lists the known ones. */
mt_status mt_fetch_spec_find(const mt_fetch_spec **out, const char *name, mt_err *err);

/* The i-th built-in spec (0, 1, ...), or NULL past the end: for help texts. */
const mt_fetch_spec *mt_fetch_spec_at(int i);

/* -------------------------------------------------------------- mirrors -- */

/* An owned list of mirror base URLs (http:// or https://).  A base URL is
 * joined with a file name, adding a '/' in between when it has none. */
typedef struct mt_fetch_mirrors {
    const char **urls; /* (n) owned copies */
    int n;
} mt_fetch_mirrors;

/* Parses a comma- and/or whitespace-separated list, as found in the
 * MNIST_MIRROR environment variable, into *out (zeroed first; on failure *out
 * stays empty).  An empty list or a URL that is not http(s) -> MT_EARG.
 * Caller frees with mt_fetch_mirrors_free. */
mt_status mt_fetch_mirrors_parse(mt_fetch_mirrors *out, const char *list, mt_err *err);

/* Appends a copy of url (one `--mirror URL`) to m, which must be zeroed or
 * filled by earlier calls.  Not http(s) -> MT_EARG; m unchanged on failure. */
mt_status mt_fetch_mirrors_add(mt_fetch_mirrors *m, const char *url, mt_err *err);

/* Frees the list and zeroes *m.  NULL and a zeroed struct are fine. */
void mt_fetch_mirrors_free(mt_fetch_mirrors *m);

/* --------------------------------------------------------- verification -- */

/* Checks that path is a gzip file whose decompressed contents are exactly
 * expected_size bytes with zlib crc32 expected_crc.
 *   MT_OK    valid
 *   MT_EDATA missing/unreadable, not gzip ("X: not a gzip file (starts with
 *            '<html')"), truncated/corrupt gzip, or size/CRC mismatch (the
 *            message gives expected and found values).  path is used as given
 *            in the message. */
mt_status mt_fetch_verify_file(const char *path, uint64_t expected_size,
                               uint32_t expected_crc, mt_err *err);

/* Called once per file by mt_fetch_verify_dir: st is MT_OK or the
 * mt_fetch_verify_file status, msg is "ok" or its error message. */
typedef void (*mt_fetch_report_fn)(void *user, const mt_fetch_file *file,
                                   mt_status st, const char *msg);

/* Verifies every file of spec in dir (for `fetch --verify`).  report may be
 * NULL.  All valid -> MT_OK; otherwise MT_EDATA naming how many failed and the
 * first failure.  NULL/empty dir or spec -> MT_EARG. */
mt_status mt_fetch_verify_dir(const char *dir, const mt_fetch_spec *spec,
                              mt_fetch_report_fn report, void *user, mt_err *err);

/* ------------------------------------------------------------- download -- */

typedef enum {
    MT_FETCH_EV_START,    /* about to look at this file (bytes = expected decompressed size) */
    MT_FETCH_EV_INVALID,  /* a file with the final name exists but failed verification
                             (detail says why); it will be replaced by a verified download */
    MT_FETCH_EV_ATTEMPT,  /* a download attempt begins: url, resume_from (0 = from scratch) */
    MT_FETCH_EV_RETRY,    /* that attempt failed (detail says why); a retry, the next
                             mirror, or the final MT_ENET follows */
    MT_FETCH_EV_DONE      /* the file is in place and verified: status, bytes, seconds, url */
} mt_fetch_event_kind;

typedef struct mt_fetch_event {
    mt_fetch_event_kind kind;
    const char *file;     /* file name, e.g. "train-labels-idx1-ubyte.gz" */
    const char *status;   /* DONE: "downloaded" or "present"; otherwise NULL */
    const char *url;      /* ATTEMPT/RETRY/DONE(downloaded): full URL; otherwise NULL */
    const char *detail;   /* INVALID/RETRY: one-line reason; otherwise NULL */
    uint64_t bytes;       /* DONE: size of the .gz on disk; START: expected decompressed size */
    uint64_t resume_from; /* ATTEMPT: bytes already in FILE.part that are kept (Range request) */
    double seconds;       /* DONE/RETRY: wall time spent on this file so far */
    int attempt;          /* ATTEMPT/RETRY: 1-based attempt number on this mirror */
} mt_fetch_event;

typedef struct mt_fetch_opts {
    /* Mirror base URLs to use instead of spec->mirrors (e.g. mt_fetch_mirrors.urls
     * from --mirror or MNIST_MIRROR); NULL or n_mirrors == 0 -> spec->mirrors. */
    const char *const *mirrors;
    int n_mirrors;

    int retries;            /* attempts per mirror; <= 0 -> 3 */
    double backoff_s;       /* wait before the 2nd attempt on a mirror, doubled after
                               each failure (capped at 30 s); <= 0 -> 1.0 */
    long connect_timeout_s; /* <= 0 -> 20 */
    long low_speed_bytes;   /* abort an attempt slower than this many bytes/s ... */
    long low_speed_time_s;  /* ... for this many seconds; <= 0 -> 1024 B/s, 30 s */

    /* Checked during transfers (at least once a second), between attempts and
     * while waiting; when *stop != 0 the download ends with MT_EINTR and its
     * FILE.part is removed.  Meant to be set by a SIGINT/SIGTERM handler. */
    volatile sig_atomic_t *stop;

    /* Transfer progress of the current file, in compressed bytes: done so far
     * (including resumed bytes), total from Content-Length (0 when unknown),
     * seconds since this file's START.  Called often (on every received chunk
     * and at least once a second), so throttle any drawing.  May be NULL. */
    void (*progress)(void *user, const char *file, uint64_t done, uint64_t total,
                     double seconds);
    /* Per-file events (see mt_fetch_event_kind).  May be NULL.  The event and
     * its strings are only valid during the call. */
    void (*event)(void *user, const mt_fetch_event *ev);
    void *user; /* passed to progress and event */
} mt_fetch_opts;

/* Must be called once by main, before any other thread exists and before
 * mt_fetch_dataset (it calls curl_global_init).  Failure -> MT_ENET. */
mt_status mt_fetch_global_init(mt_err *err);
/* Counterpart of mt_fetch_global_init, once at exit (curl_global_cleanup). */
void mt_fetch_global_cleanup(void);

/* Makes sure every file of spec is in dir (created like mkdir -p), valid.
 * For each file in order: a valid file with the final name is kept (event
 * DONE "present", no network access; checking all of MNIST this way gunzips
 * 55 MB, about 0.4 s); otherwise it is downloaded from each
 * mirror in order, opts->retries attempts per mirror with backoff (an HTTP
 * status >= 400 other than 408/429/5xx, or a file that fails verification,
 * moves on to the next mirror at once), into dir/FILE.part, verified, fsynced
 * and renamed to dir/FILE (then the directory is fsynced).  So a file with the
 * final name only ever appears verified.
 * A FILE.part left behind by a killed run is resumed with an HTTP Range
 * request on the first mirror; if the result fails verification (or the
 * server cannot resume) it is discarded and downloaded again from scratch.
 * A .part is only resumed across attempts on the same mirror, never mixed
 * between mirrors (their compressed bytes may differ).
 * Only http:// and https:// are allowed, also for redirects (an https mirror
 * redirecting to http is followed: the CRC check, not TLS, is what vouches
 * for the data).  libcurl's proxy variables (https_proxy, no_proxy) apply.
 * Use one directory per data set: MNIST and Fashion-MNIST share file names.
 * Two processes fetching into the same dir at once: the second gets MT_EIO.
 * opts may be NULL (defaults, no callbacks, no stop flag).
 * Returns:
 *   MT_OK     all files present and verified
 *   MT_ENET   some file could not be obtained from any mirror; ONE line naming
 *             the file, each mirror tried with its last error, and how to place
 *             the files by hand (--data DIR).  No FILE.part is left.
 *   MT_EINTR  *opts->stop became nonzero; the current FILE.part is removed
 *   MT_EIO    dir or FILE.part cannot be created/written/renamed
 *   MT_EARG   NULL dir/spec, no mirrors, or a mirror that is not http(s)
 *   MT_ENOMEM allocation failure
 * Files finished before a failure stay in place (they are verified). */
mt_status mt_fetch_dataset(const char *dir, const mt_fetch_spec *spec,
                           const mt_fetch_opts *opts, mt_err *err);

#endif
