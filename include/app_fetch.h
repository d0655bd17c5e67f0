/* app_fetch: getting the data for the commands (owned by main; issue 6).
 * The `fetch` command, the "make sure the data is there" step that train (and
 * eval) run before loading, the choice of mirrors (--mirror, MNIST_MIRROR),
 * the system-wide copy of a data set (Debian's dataset-fashion-mnist), and
 * the class names of a data set.  The downloading itself is mt_fetch's. */
#ifndef APP_FETCH_H
#define APP_FETCH_H

#include "app_log.h"
#include "mt_config.h"
#include "mt_err.h"

/* Once in main, at startup before any thread exists (curl_global_init), and
 * once at exit.  A failed init is remembered: only downloading then fails. */
void app_fetch_init(void);
void app_fetch_cleanup(void);

/* `mnist-train fetch [--dataset NAME] [--data DIR] [--mirror URL]... [--verify]
 * [--json]`: downloads and verifies the data set into its folder, or with
 * --verify only checks what is there (exit 3 if anything is missing or bad). */
int app_cmd_fetch(int argc, char **argv);

/* Makes sure the four files of cfg->dataset are in dir before a command loads
 * them.  Every file present in dir in any spelling mt_dataset_find accepts is
 * left alone (the loader validates it); only missing ones are downloaded, with
 * progress and `download` events on lg, unless cfg->download is 0.
 *   MT_OK     nothing missing, or the missing files are now in place, verified
 *   MT_EDATA  a file is missing and --no-download is set (message names it)
 *   MT_ENET   a file could not be obtained from any mirror (one line listing
 *             the mirrors tried and how to place the files by hand)
 *   MT_EARG   a bad --mirror / MNIST_MIRROR / MNIST_TRAIN_TEST_SPEC
 *   MT_EINTR, MT_EIO, MT_ENOMEM as mt_fetch_dataset */
mt_status app_fetch_ensure(const mt_config *cfg, const char *dir, app_log *lg, mt_err *err);

/* The system-wide read-only copy of a data set that is used instead of
 * ./data/<dataset> when that folder is incomplete ("/usr/share/datasets/
 * fashion-mnist" for fashion-mnist), or NULL when there is none. */
const char *app_fetch_system_dir(const char *dataset);

/* 1 when dir holds all four files (train/t10k images/labels, any spelling). */
int app_fetch_have_files(const char *dir);

/* Class names for labels 0..*n-1: cfg->class_names (a comma-separated list)
 * when set, else the built-in names of cfg->dataset ("T-shirt/top", ... for
 * fashion-mnist; "0".."9" for mnist).  NULL and *n = 0 when there are none.
 * Use them only when *n equals the model's class count (a custom data set
 * read with --data may have more classes).  The strings live in static
 * storage until the next call (main's thread only). */
const char *const *app_class_names(const mt_config *cfg, int *n);

#endif
