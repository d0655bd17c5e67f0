/* app_data: the data sets, for every command: where a set's files are
 * (--data, the set's environment variable, ./data/<set>, a system copy), the
 * download that fills a missing folder (with a progress bar or `download`
 * events), `fetch --verify`, and class names.  The facts of each set (files,
 * sizes, CRCs, mirrors, class names, system folder) are mt_fetch's specs;
 * the downloading itself is mt_fetch's. */
#ifndef APP_DATA_H
#define APP_DATA_H

#include "app_config.h"
#include "app_log.h"
#include "mt_data.h"
#include "mt_err.h"

/* Where a command reads a data set from, and who chose it. */
typedef struct app_data_dir {
    char path[APP_PATH_MAX];
    const char *from;   /* "--data", "MNIST_DATA" (the set's variable), "system" or "default" */
} app_data_dir;

/* cfg->data_dir, else the set's environment variable (MNIST_DATA for mnist),
 * else ./data/<dataset>, or the set's system copy when that folder is
 * incomplete and the system copy is not. */
void app_data_locate(app_data_dir *d, const app_config *cfg);

/* Makes sure the four files of cfg->dataset are in d->path before a command
 * loads them.  Files present in any spelling mt_dataset_find accepts are left
 * to the loader; missing ones are downloaded (progress, `download` events)
 * unless cfg->download is 0.
 *   MT_OK     nothing missing, or the missing files are now in place, verified
 *   MT_EDATA  a file is missing and --no-download is set; or a folder the user
 *             named (--data, MNIST_DATA) does not exist: no download into a
 *             typo (the message says how to fetch it there)
 *   MT_ENET   a file could not be obtained from any mirror (the message says
 *             where the files come from and how to point at a copy)
 *   MT_EARG   a bad --mirror / MNIST_MIRROR / MNIST_TRAIN_TEST_SPEC
 *   MT_EINTR, MT_EIO, MT_ENOMEM as mt_fetch_dataset */
mt_status app_data_ensure(const app_config *cfg, const app_data_dir *d, app_log *lg, mt_err *err);

/* `fetch`: downloads what is missing or invalid in d->path (creating it), or
 * with verify only checks the files.  *n_files, *n_downloaded and
 * *n_present count them. */
mt_status app_data_fetch(const app_config *cfg, const app_data_dir *d, int verify, app_log *lg,
                         int *n_files, int *n_downloaded, int *n_present, mt_err *err);

/* Loads split ("train", "t10k") from d: n_classes as mt_dataset_load, 0 =
 * the set's own class count for a built-in set read from its own folder,
 * else from the labels. */
mt_status app_data_load(mt_dataset *out, const app_config *cfg, const app_data_dir *d, const char *split,
                        int n_classes, uint32_t limit, mt_err *err);

/* Loads the training and test splits from d at once (their four files read
 * on parallel threads): the training split as app_data_load with
 * n_classes; the test split's labels must be below the training split's
 * number of classes.  Nothing is written on failure. */
mt_status app_data_load_train_test(mt_dataset *train, mt_dataset *test, const app_config *cfg,
                                   const app_data_dir *d, int n_classes, uint32_t train_limit,
                                   uint32_t test_limit, mt_err *err);

/* Class names for labels 0..*n-1: list (a comma-separated list: --class-names,
 * or a checkpoint's) when not empty, else the built-in names of dataset.
 * NULL and *n = 0 when there are none.  Use them only when *n equals the
 * model's class count.  The strings live in static storage until the next
 * call (main's thread only). */
const char *const *app_data_class_names(const char *list, const char *dataset, int *n);

#endif
