/* app_ckpt: checkpoints for the commands: the metadata written with each
 * file (the effective config, version, data set, test accuracy), the log
 * lines and events about them, the --resume recipe, and opening a model for
 * eval / predict with the context it was trained in. */
#ifndef APP_CKPT_H
#define APP_CKPT_H

#include "app_config.h"
#include "app_log.h"
#include "app_opt.h"
#include "mt_ckpt.h"
#include "mt_net.h"
#include "mt_nettrain.h"

/* --resume: loads a->cfg.resume into *ck (caller frees with mt_ckpt_free) and
 * re-parses argv on top of the recipe stored in it (its data, model, training
 * and optimizer groups; outputs and checkpoint paths are this run's, and the
 * state keeps being saved to the resumed file unless --save-state says
 * otherwise).  --resume with --init, or --epochs below the epochs the state
 * has done -> MT_EARG; a bad file -> MT_EDATA. */
mt_status app_ckpt_resume_args(app_args *a, int argc, char **argv, mt_ckpt *ck, long long *epochs_done,
                               mt_err *err);

/* --init FILE: copies the weights of either kind of file into m (shapes must
 * match the configured model). */
mt_status app_ckpt_init_weights(app_log *lg, const char *path, mt_mlp *m, mt_err *err);

/* Writes cfg->save_state with the effective config and, when not NULL, the
 * schedule / early-stopping state (mt_sched_state_text) as metadata
 * "schedule"; logs it. */
mt_status app_ckpt_save_state(app_log *lg, const app_config *cfg, const mt_mlp *m, const mt_optim *o,
                              const mt_trainer *t, long long epochs_done, const char *schedule, mt_err *err);

/* Writes cfg->save (the model) with its provenance; acc < 0 = not tested. */
mt_status app_ckpt_save_model(app_log *lg, const app_config *cfg, const mt_mlp *m, int rows, int cols,
                              double acc, double loss, long long steps, mt_err *err);

/* Writes m, or net when not NULL (a layer-list model, mt_onnx_export_net:
 * input [N,C,H,W] of its own), as ONNX to path (mt_onnx_export_mlp: input [N,1,rows,cols] raw
 * pixels in [0,1], or [N,C] when rows = 0; normalization mean/std inside the
 * graph; output logits) and logs it with an "onnx" event.  MT_EIO when it
 * cannot be written. */
mt_status app_ckpt_save_onnx(app_log *lg, const char *path, const mt_mlp *m, const mt_net *net, int rows,
                             int cols, double mean, double std, mt_err *err);
/* Layer-list models (mt_net: --model other than the plain mlp): their files
 * hold the state_dict and the metadata of app_ckpt_save_model plus "model"
 * (the name or layer list), "model_spec" (the equivalent layer list) and
 * "classes".  app_ckpt_is_net tells such a file; app_ckpt_net_build builds
 * its model and loads the weights (MT_EDATA naming what is wrong). */
int app_ckpt_is_net(const mt_ckpt *ck);
mt_status app_ckpt_net_build(const mt_ckpt *ck, mt_net *net, mt_err *err);
mt_status app_ckpt_save_net_model(app_log *lg, const app_config *cfg, const mt_net *n, double acc, double loss,
                                  long long steps, mt_err *err);
mt_status app_ckpt_save_net_state(app_log *lg, const app_config *cfg, const mt_net_trainer *t,
                                  long long epochs_done, const char *schedule, mt_err *err);

/* A model opened for eval / predict, with what its metadata says about the
 * data it was trained on. */
typedef struct app_model {
    mt_ckpt ck;               /* the file (its path, normalization, input shape) */
    mt_mlp m;                 /* the network (an MLP file) */
    int is_net;               /* a layer-list model's file: net, not m */
    mt_net net;
    char dataset[32];         /* the data set it was trained on; "" when unknown */
    char class_names[2048];   /* the run's --class-names; "" for the data set's own */
} app_model;

/* Loads a model from path (either kind of checkpoint).  A file of another
 * kind (a PNG, an IDX file, a config) -> MT_EDATA saying what it looks like.
 * Free with app_model_free (safe on a zeroed struct). */
mt_status app_model_open(app_model *md, const char *path, mt_err *err);
void app_model_free(app_model *md);

/* The data set a command reads for md: md->dataset, or --dataset when given
 * and the same (a different one -> MT_EARG: the checkpoint's classes mean
 * another set's).  dataset_given says whether the option was on the command
 * line; out gets the name. */
mt_status app_model_dataset(const app_model *md, const char *cfg_dataset, int dataset_given, char *out,
                            size_t cap, mt_err *err);

/* The model's class names: --class-names when given, else the run's, else
 * the data set's; NULL when none fits the class count. */
const char *const *app_model_class_names(const app_model *md, const char *cli_names, const char *dataset);

/* The model's classes, architecture text ("784-128-64-10", or the model
 * name / layer list) and parameter count, for either kind. */
int app_model_classes(const app_model *md);
void app_model_arch(char *buf, size_t cap, const app_model *md);
size_t app_model_params(const app_model *md);

#endif
