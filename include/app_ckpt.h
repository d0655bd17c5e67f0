/* app_ckpt: the command-line side of checkpoints (owned by main): the
 * metadata written with each file, the log lines and events about them, the
 * --resume recipe, and what eval / predict / info share. */
#ifndef APP_CKPT_H
#define APP_CKPT_H

#include <stdio.h>

#include "app_cli.h"
#include "app_log.h"
#include "mt_ckpt.h"
#include "mt_config.h"

/* --resume: loads a->cfg.resume into *ck (caller frees with mt_ckpt_free) and
 * re-parses argv on top of the recipe stored in it (its data, model, training
 * and optimizer groups; outputs and checkpoint paths are this run's).
 * --resume with --init -> MT_EARG; a bad file -> MT_EDATA. */
mt_status app_ckpt_resume_args(app_args *a, int argc, char **argv, mt_ckpt *ck, mt_err *err);

/* --init FILE: copies the weights of either kind of file into m (shapes must
 * match the configured model). */
mt_status app_ckpt_init_weights(app_log *lg, const char *path, mt_mlp *m, mt_err *err);

/* Writes cfg->save_state with the effective config and, when not NULL, the
 * schedule / early-stopping state (mt_sched_state_text) as metadata
 * "schedule"; logs it. */
mt_status app_ckpt_save_state(app_log *lg, const mt_config *cfg, const mt_mlp *m, const mt_optim *o,
                              const mt_trainer *t, long long epochs_done,
                              const char *schedule, mt_err *err);

/* Writes cfg->save (the model) with its provenance; acc < 0 = not tested. */
mt_status app_ckpt_save_model(app_log *lg, const mt_config *cfg, const mt_mlp *m, int rows, int cols,
                              double acc, double loss, long long steps, mt_err *err);

/* One-line error on stderr (+ usage hint for MT_EARG) and an "error" event;
 * returns the exit code. */
int app_ckpt_fail(app_log *lg, const mt_err *err, const char *cmd);

/* "Usage: ...", a paragraph, then the help lines of the named options
 * (NULL-terminated), plus --config/--help. */
void app_ckpt_help(FILE *f, const char *usage, const char *about, const char *const *opts);

/* Loads --checkpoint (or the single positional argument when pos_ok) as a
 * model: *ck and *m (free both); MT_EARG when none is given. */
mt_status app_ckpt_open_model(const app_args *a, int pos_ok, mt_ckpt *ck, mt_mlp *m, mt_err *err);

#endif
