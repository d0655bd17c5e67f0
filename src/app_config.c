/* app_config: one table describes every option; command line, JSON config
 * files and --print-config all go through it, so they cannot drift apart.
 * cJSON stays inside this file; every tree is freed where it was parsed. */
#include "app_config.h"
#include "mt_file.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define F(field) offsetof(app_config, field), sizeof(((app_config *)0)->field)
#define BIG 1e15

static const app_optdef options[] = {
    { "data", "data.dir", APP_T_STR, F(data_dir), 0, 0, "", "DIR",
      "folder with the IDX files (default: $MNIST_DATA, else ./data/<dataset>)", NULL, 0, APP_CMD_TRAIN | APP_CMD_EVAL | APP_CMD_FETCH },
    { "dataset", "data.dataset", APP_T_STR, F(dataset), 0, 0, "mnist", "NAME",
      "data set name", "mnist|fashion-mnist", 0, APP_CMD_TRAIN | APP_CMD_EVAL | APP_CMD_PREDICT | APP_CMD_FETCH },
    { "train-limit", "data.train_limit", APP_T_INT, F(train_limit), 0, BIG, "0", "N",
      "use only the first N training samples (0 = all)", NULL, 0, APP_CMD_TRAIN },
    { "test-limit", "data.test_limit", APP_T_INT, F(test_limit), 0, BIG, "0", "N",
      "use only the first N test samples (0 = all)", NULL, 0, APP_CMD_TRAIN | APP_CMD_EVAL },
    { "mean", "data.mean", APP_T_DOUBLE, F(mean), -1e6, 1e6, "0.1307", "X",
      "normalization mean of pixels in [0,1]", NULL, 0, APP_CMD_TRAIN },
    { "std", "data.std", APP_T_DOUBLE, F(std), 1e-6, 1e6, "0.3081", "X",
      "normalization standard deviation", NULL, 0, APP_CMD_TRAIN },
    { "classes", "data.classes", APP_T_INT, F(classes), 0, 256, "0", "N",
      "number of classes (0 = from the labels; 10 for MNIST)", NULL, 0, APP_CMD_TRAIN },
    { "hidden", "model.hidden", APP_T_STR, F(hidden), 0, 0, "128,64", "LIST",
      "hidden layer sizes, comma-separated", NULL, APP_OPTF_LIST, APP_CMD_TRAIN },
    { "model", "model.name", APP_T_STR, F(model), 0, 0, "mlp", "NAME|SPEC",
      "model: mlp, cnn (pytorch/examples' mnist Net), fastcnn, or a layer list such as "
      "conv:32:3,relu,maxpool,flatten,linear:10 (items conv:OC:K[:same], maxpool, relu, dropout:P, flatten, "
      "linear:OC, bn)", NULL, APP_OPTF_LIST, APP_CMD_TRAIN },
    { "dropout", "model.dropout", APP_T_DOUBLE, F(dropout), 0, 0.999999, "0", "P",
      "mlp: dropout probability after each hidden ReLU (training only)", NULL, 0, APP_CMD_TRAIN },
    { "epochs", "training.epochs", APP_T_INT, F(epochs), 1, 100000, "5", "N",
      "training epochs", NULL, 0, APP_CMD_TRAIN },
    { "batch-size", "training.batch_size", APP_T_INT, F(batch_size), 1, 65536, "64", "N",
      "training batch size", NULL, 0, APP_CMD_TRAIN },
    { "test-batch-size", "training.test_batch_size", APP_T_INT, F(test_batch_size), 1, 65536, "1000", "N",
      "evaluation batch size", NULL, 0, APP_CMD_TRAIN | APP_CMD_EVAL },
    { "lr", "optimizer.lr", APP_T_DOUBLE, F(lr), 1e-12, 100, "0.001", "X",
      "learning rate (adadelta: 1.0 unless given); onecycle: the peak rate", NULL, 0, APP_CMD_TRAIN },
    { "seed", "training.seed", APP_T_INT, F(seed), 0, 9007199254740991.0, "1", "N",
      "random seed (initialization and shuffling)", NULL, 0, APP_CMD_TRAIN },
    { "seeds", "training.seeds", APP_T_STR, F(seeds), 0, 0, "", "LIST",
      "run once per seed of LIST (N,M,... or A-B), side by side when each run's --threads leaves CPUs free, "
      "and summarise test accuracy and loss (mean, std, min, max); pictures and --save for the first seed",
      NULL, APP_OPTF_LIST, APP_CMD_TRAIN },
    { "log-interval", "training.log_interval", APP_T_INT, F(log_interval), 0, BIG, "100", "N",
      "log the loss every N batches (0 = never)", NULL, 0, APP_CMD_TRAIN },
    { "no-shuffle", "training.shuffle", APP_T_BOOL, F(shuffle), 0, 1, "true", NULL,
      "keep batches in file order (no reshuffling)", NULL, APP_OPTF_NEGATE, APP_CMD_TRAIN },
    { "max-steps", "training.max_steps", APP_T_INT, F(max_steps), 0, BIG, "0", "N",
      "stop after N optimizer steps, then test (0 = no limit)", NULL, 0, APP_CMD_TRAIN },
    { "optimizer", "optimizer.name", APP_T_STR, F(optimizer), 0, 0, "adam", "NAME",
      "optimizer", "adam|adamw|sgd|adadelta", 0, APP_CMD_TRAIN },
    { "beta1", "optimizer.beta1", APP_T_DOUBLE, F(beta1), 0, 0.999999, "0.9", "X",
      "Adam first-moment decay", NULL, 0, APP_CMD_TRAIN },
    { "beta2", "optimizer.beta2", APP_T_DOUBLE, F(beta2), 0, 0.99999999, "0.999", "X",
      "Adam second-moment decay", NULL, 0, APP_CMD_TRAIN },
    { "eps", "optimizer.eps", APP_T_DOUBLE, F(eps), 0, 1, "1e-08", "X",
      "Adam / Adadelta epsilon (adadelta: 1e-06 unless given)", NULL, 0, APP_CMD_TRAIN },
    { "rho", "optimizer.rho", APP_T_DOUBLE, F(rho), 0, 1, "0.9", "X",
      "Adadelta running-average decay", NULL, 0, APP_CMD_TRAIN },
    { "weight-decay", "optimizer.weight_decay", APP_T_DOUBLE, F(weight_decay), 0, 10, "0", "X",
      "weight decay (L2 for adam/sgd/adadelta, decoupled for adamw)", NULL, 0, APP_CMD_TRAIN },
    { "momentum", "optimizer.momentum", APP_T_DOUBLE, F(momentum), 0, 0.999999, "0", "X",
      "SGD momentum", NULL, 0, APP_CMD_TRAIN },
    { "nesterov", "optimizer.nesterov", APP_T_BOOL, F(nesterov), 0, 1, "false", NULL,
      "SGD with Nesterov momentum (needs --momentum > 0)", NULL, 0, APP_CMD_TRAIN },
    { "label-smoothing", "training.label_smoothing", APP_T_DOUBLE, F(label_smoothing), 0, 1, "0", "X",
      "training loss with label smoothing X (CrossEntropyLoss's: targets (1-X) on the label + X/classes); "
      "evaluation losses are never smoothed", NULL, 0, APP_CMD_TRAIN },
    { "val-split", "data.val_split", APP_T_INT, F(val_split), 0, BIG, "0", "N",
      "hold out the last N training samples as a validation set, evaluated every epoch", NULL, 0, APP_CMD_TRAIN },
    { "scheduler", "scheduler.name", APP_T_STR, F(scheduler), 0, 0, "none", "NAME",
      "learning-rate schedule: step, cosine (over --epochs) and plateau (on the validation loss, else the "
      "training loss) change it once per epoch; onecycle every batch (PyTorch's OneCycleLR: up from --lr/25 "
      "to --lr over the first 30 % of all batches, then down to --lr/25e4, cosine)",
      "none|step|cosine|plateau|onecycle", 0, APP_CMD_TRAIN },
    { "step-size", "scheduler.step_size", APP_T_INT, F(step_size), 1, 100000, "1", "N",
      "step: multiply the rate by --gamma every N epochs", NULL, 0, APP_CMD_TRAIN },
    { "gamma", "scheduler.gamma", APP_T_DOUBLE, F(gamma), 1e-9, 1, "0.1", "X",
      "step / plateau: factor for each cut", NULL, 0, APP_CMD_TRAIN },
    { "min-lr", "scheduler.min_lr", APP_T_DOUBLE, F(min_lr), 0, 100, "0", "X",
      "cosine / plateau: lowest learning rate", NULL, 0, APP_CMD_TRAIN },
    { "lr-patience", "scheduler.patience", APP_T_INT, F(lr_patience), 0, 100000, "10", "N",
      "plateau: epochs without improvement before a cut", NULL, 0, APP_CMD_TRAIN },
    { "early-stop", "training.early_stop", APP_T_INT, F(early_stop), 0, 100000, "0", "N",
      "stop after N epochs without improvement of the validation (else training) loss; 0 = off", NULL, 0, APP_CMD_TRAIN },
    { "min-delta", "training.min_delta", APP_T_DOUBLE, F(min_delta), 0, 1e6, "0", "X",
      "early stopping: smallest loss decrease that counts as an improvement", NULL, 0, APP_CMD_TRAIN },
    { "restore-best", "training.restore_best", APP_T_BOOL, F(restore_best), 0, 1, "false", NULL,
      "test and save the weights of the epoch with the lowest validation (else training) loss, not the last", NULL, 0, APP_CMD_TRAIN },
    { "clip-grad", "optimizer.clip_grad", APP_T_DOUBLE, F(clip_grad), 0, 1e9, "0", "X",
      "clip gradients to global L2 norm X before each step (clip_grad_norm_); 0 = off", NULL, 0, APP_CMD_TRAIN },
    { "augment-shift", "augment.shift", APP_T_DOUBLE, F(aug_shift), 0, 64, "0", "PX",
      "augmentation: shift training images by up to PX pixels (0 = off)", NULL, 0, APP_CMD_TRAIN },
    { "augment-rotate", "augment.rotate", APP_T_DOUBLE, F(aug_rotate), 0, 180, "0", "DEG",
      "augmentation: rotate training images by up to DEG degrees", NULL, 0, APP_CMD_TRAIN },
    { "augment-scale", "augment.scale", APP_T_DOUBLE, F(aug_scale), 0, 0.9, "0", "X",
      "augmentation: zoom training images by a factor in [1-X, 1+X]", NULL, 0, APP_CMD_TRAIN },
    { "isa", "runtime.isa", APP_T_STR, F(isa), 0, 0, "auto", "ISA",
      "kernel instruction set", "auto|scalar|avx2|avx512|neon", 0, APP_CMD_TRAIN | APP_CMD_EVAL | APP_CMD_PREDICT },
    { "threads", "runtime.threads", APP_T_INT, F(threads), 0, 256, "0", "N",
      "worker threads (0 = online CPUs)", NULL, 0, APP_CMD_TRAIN | APP_CMD_EVAL },
    { "first-layer", "runtime.first_layer", APP_T_STR, F(first_layer), 0, 0, "auto", "PATH",
      "first layer on raw pixels (sparse) or floats (dense); auto picks by batch density",
      "auto|dense|sparse", 0, APP_CMD_TRAIN },
    { "max-memory", "runtime.max_memory", APP_T_STR, F(max_memory), 0, 0, "", "SIZE",
      "refuse to train when the run would need more memory than SIZE (e.g. 512M, 4G; default: what is available)",
      NULL, 0, APP_CMD_TRAIN },
    { "json", "output.json", APP_T_BOOL, F(json), 0, 1, "false", NULL,
      "write JSON Lines events to stdout", NULL, 0,
      APP_CMD_TRAIN | APP_CMD_EVAL | APP_CMD_PREDICT | APP_CMD_INFO | APP_CMD_FETCH | APP_CMD_EXPORT },
    { "progress", "output.progress", APP_T_STR, F(progress), 0, 0, "auto", "WHEN",
      "progress bar on stderr (auto = when stderr is a terminal)", "auto|on|off", 0, APP_CMD_TRAIN | APP_CMD_EVAL | APP_CMD_FETCH },
    /* pictures */
    { "grid", "pictures.grid", APP_T_STR, F(grid), 0, 0, "predictions.png", "FILE",
      "PNG grid of test images with true and predicted class (\"\" = none)", NULL, 0, APP_CMD_TRAIN | APP_CMD_EVAL },
    { "no-grid", "pictures.grid_enabled", APP_T_BOOL, F(grid_enabled), 0, 1, "true", NULL,
      "write no prediction grid", NULL, APP_OPTF_NEGATE, APP_CMD_TRAIN },
    { "grid-count", "pictures.grid_count", APP_T_INT, F(grid_count), 1, 1000000, "64", "N",
      "images in each grid (at most the test set)", NULL, 0, APP_CMD_TRAIN | APP_CMD_EVAL },
    { "grid-cols", "pictures.grid_cols", APP_T_INT, F(grid_cols), 0, 10000, "0", "N",
      "grid columns (0 = about square)", NULL, 0, APP_CMD_TRAIN | APP_CMD_EVAL },
    { "grid-scale", "pictures.grid_scale", APP_T_INT, F(grid_scale), 1, 64, "4", "N",
      "pixels per image pixel in the grids (lowered for huge grids)", NULL, 0, APP_CMD_TRAIN | APP_CMD_EVAL },
    { "mistakes", "pictures.mistakes", APP_T_STR, F(mistakes), 0, 0, "", "FILE",
      "PNG grid of misclassified test images, most confident first", NULL, 0, APP_CMD_TRAIN | APP_CMD_EVAL },
    { "confusion", "pictures.confusion", APP_T_STR, F(confusion), 0, 0, "", "FILE",
      "PNG heatmap of the test confusion matrix", NULL, 0, APP_CMD_TRAIN | APP_CMD_EVAL },
    { "curves", "pictures.curves", APP_T_STR, F(curves), 0, 0, "", "FILE",
      "PNG plot of per-epoch losses and test accuracy (tests after every epoch)", NULL, 0, APP_CMD_TRAIN },
    /* checkpoints */
    { "save", "checkpoint.save", APP_T_STR, F(save), 0, 0, "", "FILE",
      "write the trained model to FILE (safetensors, PyTorch state_dict names)", NULL, 0, APP_CMD_TRAIN },
    { "save-state", "checkpoint.save_state", APP_T_STR, F(save_state), 0, 0, "", "FILE",
      "write the training state (weights, optimizer, progress) to FILE", NULL, 0, APP_CMD_TRAIN },
    { "save-every", "checkpoint.save_every", APP_T_INT, F(save_every), 0, BIG, "1", "N",
      "write the state every N epochs (0 = only at the end and when interrupted)", NULL, 0, APP_CMD_TRAIN },
    { "resume", "checkpoint.resume", APP_T_STR, F(resume), 0, 0, "", "FILE",
      "continue training exactly from a --save-state file (and keep saving the state there)", NULL, 0, APP_CMD_TRAIN },
    { "init", "checkpoint.init", APP_T_STR, F(init), 0, 0, "", "FILE",
      "start from the weights of a checkpoint (either kind), fresh optimizer", NULL, 0, APP_CMD_TRAIN },
    { "checkpoint", "checkpoint.file", APP_T_STR, F(checkpoint), 0, 0, "", "FILE",
      "the model file (either kind of checkpoint)", NULL, 0, APP_CMD_EVAL | APP_CMD_PREDICT | APP_CMD_EXPORT },
    { "save-onnx", "checkpoint.save_onnx", APP_T_STR, F(save_onnx), 0, 0, "", "FILE",
      "also write the trained model as ONNX (input [N,1,H,W] pixels in [0,1], output logits)", NULL, 0,
      APP_CMD_TRAIN },
    { "onnx", "export.onnx", APP_T_STR, F(onnx), 0, 0, "", "FILE",
      "the ONNX file to write (input [N,1,H,W] pixels in [0,1], normalization inside, output logits)", NULL, 0,
      APP_CMD_EXPORT },
    { "report", "output.report", APP_T_STR, F(report), 0, 0, "", "FILE",
      "write one self-contained HTML page of the run: configuration, curves, confusion matrix, per-class "
      "metrics, mistakes, timing", NULL, 0, APP_CMD_TRAIN | APP_CMD_EVAL },
    { "show-input", "predict.show_input", APP_T_STR, F(show_input), 0, 0, "", "FILE|DIR",
      "write the 28x28 image the model saw, scaled up, as PNG (a folder: one file per picture)", NULL, 0,
      APP_CMD_PREDICT },
    { "min-confidence", "predict.min_confidence", APP_T_DOUBLE, F(min_confidence), 0, 1, "0.7", "P",
      "flag answers whose top probability is below P as not sure", NULL, 0, APP_CMD_PREDICT },
    { "verify", "data.verify", APP_T_BOOL, F(verify), 0, 1, "false", NULL,
      "only check the files that are there (exit 3 if any is missing or bad)", NULL, 0, APP_CMD_FETCH },
    /* data sets */
    { "no-download", "data.download", APP_T_BOOL, F(download), 0, 1, "true", NULL,
      "never download missing data files (exit 3 instead)", NULL, APP_OPTF_NEGATE, APP_CMD_TRAIN | APP_CMD_EVAL },
    { "mirror", "data.mirrors", APP_T_STR, F(mirrors), 0, 0, "", "URL",
      "download base URL; repeat for more, tried in order (default: $MNIST_MIRROR for mnist, else built-in)",
      NULL, APP_OPTF_LIST | APP_OPTF_REPEAT, APP_CMD_TRAIN | APP_CMD_EVAL | APP_CMD_FETCH },
    { "class-names", "data.class_names", APP_T_STR, F(class_names), 0, 0, "", "LIST",
      "comma-separated class names for pictures and predictions (default: the checkpoint's, else the data set's own)", NULL, APP_OPTF_LIST,
      APP_CMD_TRAIN | APP_CMD_EVAL | APP_CMD_PREDICT },
};
#define N_OPTIONS ((int)(sizeof options / sizeof *options))

const app_optdef *app_config_options(int *n)
{
    *n = N_OPTIONS;
    return options;
}

const app_optdef *app_config_find(const char *name)
{
    for (int i = 0; i < N_OPTIONS; i++)
        if (strcmp(options[i].name, name) == 0)
            return &options[i];
    return NULL;
}

static const app_optdef *find_key(const char *key)
{
    for (int i = 0; i < N_OPTIONS; i++)
        if (strcmp(options[i].key, key) == 0)
            return &options[i];
    return NULL;
}

static int in_choices(const char *choices, const char *s)
{
    size_t n = strlen(s);
    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, s, n) == 0)
            return 1;
        if (!bar)
            break;
        p = bar + 1;
    }
    return 0;
}

/* ------------------------------------------------------- value parsing */

static mt_status range_error(const app_optdef *d, const char *origin, const char *got, mt_err *err)
{
    if (d->type == APP_T_INT)
        return mt_errf(err, MT_EARG, "%s: expected an integer from %.0f to %.0f, got %s",
                       origin, d->min, d->max, got);
    return mt_errf(err, MT_EARG, "%s: expected a number from %g to %g, got %s", origin, d->min, d->max, got);
}

/* "'text'" escaped and cut (mt_esc) for messages. */
static const char *quoted(char *buf, size_t cap, const char *text)
{
    char e[MT_ESC_CAP];
    snprintf(buf, cap, "'%s'", mt_esc(e, text));
    return buf;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* An optional sign and decimal digits, nothing else: "12", "-3", "+7";
 * never "1e3", "0x10", " 5", "5 ", "" (strtoll would take some of these). */
static int int_syntax(const char *s)
{
    if (*s == '+' || *s == '-')
        s++;
    if (!is_digit(*s))
        return 0;
    while (is_digit(*s))
        s++;
    return *s == '\0';
}

/* A decimal number: [sign] digits [. digits] [e [sign] digits], with digits on
 * at least one side of the point; no spaces, hex, "inf" or "nan". */
static int double_syntax(const char *s)
{
    int digits = 0;
    if (*s == '+' || *s == '-')
        s++;
    for (; is_digit(*s); s++)
        digits++;
    if (*s == '.')
        for (s++; is_digit(*s); s++)
            digits++;
    if (!digits)
        return 0;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!is_digit(*s))
            return 0;
        while (is_digit(*s))
            s++;
    }
    return *s == '\0';
}

/* Stores a number after checking type and range; got is the text for messages. */
static mt_status set_number(app_config *c, const app_optdef *d, double v, const char *origin,
                            const char *got, mt_err *err)
{
    if (!isfinite(v) || v < d->min || v > d->max)
        return range_error(d, origin, got, err);
    if (d->type == APP_T_INT) {
        if (v != floor(v))
            return range_error(d, origin, got, err);
        *(long long *)((char *)c + d->offset) = (long long)v;
    } else {
        *(double *)((char *)c + d->offset) = v;
    }
    return MT_OK;
}

static mt_status set_string(app_config *c, const app_optdef *d, const char *s, const char *origin,
                            mt_err *err)
{
    char got[MT_ESC_CAP + 4];
    if (d->choices && !in_choices(d->choices, s))
        return mt_errf(err, MT_EARG, "%s: expected one of %s, got %s", origin, d->choices,
                       quoted(got, sizeof got, s));
    if (strlen(s) >= d->size)
        return mt_errf(err, MT_EARG, "%s: value longer than %zu characters", origin, d->size - 1);
    memcpy((char *)c + d->offset, s, strlen(s) + 1);
    return MT_OK;
}

mt_status app_config_set(app_config *c, const app_optdef *d, const char *text,
                        const char *origin, mt_err *err)
{
    char got[MT_ESC_CAP + 4];
    switch (d->type) {
    case APP_T_STR:
        return set_string(c, d, text, origin, err);
    case APP_T_BOOL:
        if (strcmp(text, "true") == 0 || strcmp(text, "1") == 0)
            *(int *)((char *)c + d->offset) = 1;
        else if (strcmp(text, "false") == 0 || strcmp(text, "0") == 0)
            *(int *)((char *)c + d->offset) = 0;
        else
            return mt_errf(err, MT_EARG, "%s: expected true or false, got %s", origin,
                           quoted(got, sizeof got, text));
        return MT_OK;
    case APP_T_INT: {
        quoted(got, sizeof got, text);
        if (!int_syntax(text))
            return range_error(d, origin, got, err);
        errno = 0;
        long long v = strtoll(text, NULL, 10);
        if (errno == ERANGE || (double)v < d->min || (double)v > d->max)
            return range_error(d, origin, got, err);
        *(long long *)((char *)c + d->offset) = v;
        return MT_OK;
    }
    case APP_T_DOUBLE: {
        quoted(got, sizeof got, text);
        if (!double_syntax(text))
            return range_error(d, origin, got, err);
        errno = 0;
        double v = strtod(text, NULL);
        if (errno == ERANGE && fabs(v) > 1.0) /* overflow; underflow to 0 or a denormal is a value */
            return range_error(d, origin, got, err);
        return set_number(c, d, v, origin, got, err);
    }
    }
    return mt_errf(err, MT_EARG, "%s: unsupported option type", origin);
}

void app_config_defaults(app_config *c)
{
    memset(c, 0, sizeof *c);
    for (int i = 0; i < N_OPTIONS; i++) {
        mt_status st = app_config_set(c, &options[i], options[i].def, options[i].name, NULL);
        (void)st; /* the table's defaults are valid by construction (tested) */
    }
}

/* ---------------------------------------------------------------- JSON in */

/* A JSON array for a list option ("hidden": [256, 128], "mirrors": [...]):
 * its items joined with commas, numbers as integers. */
static mt_status set_list(app_config *c, const app_optdef *d, const cJSON *arr, const char *where, mt_err *err)
{
    char buf[4096];
    size_t len = 0;
    buf[0] = '\0';
    for (const cJSON *x = arr->child; x; x = x->next) {
        char item[2048];
        if (cJSON_IsString(x) && !strchr(x->valuestring, ','))
            snprintf(item, sizeof item, "%s", x->valuestring);
        else if (cJSON_IsNumber(x) && x->valuedouble == floor(x->valuedouble) && fabs(x->valuedouble) < 1e15)
            snprintf(item, sizeof item, "%.0f", x->valuedouble);
        else
            return mt_errf(err, MT_EARG, "%s: list items must be integers or strings without commas", where);
        int n = snprintf(buf + len, sizeof buf - len, "%s%s", len ? "," : "", item);
        if (n < 0 || (size_t)n >= sizeof buf - len)
            return mt_errf(err, MT_EARG, "%s: list longer than %zu characters", where, sizeof buf - 1);
        len += (size_t)n;
    }
    if (!arr->child)
        return mt_errf(err, MT_EARG, "%s: empty list", where);
    return set_string(c, d, buf, where, err);
}

static void line_col(const char *text, const char *at, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (const char *p = text; p < at && *p; p++) {
        if (*p == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static mt_status apply_object(app_config *c, const cJSON *obj, const char *prefix,
                              const char *path, mt_err *err)
{
    for (const cJSON *it = obj->child; it; it = it->next) {
        char key[256], where[512], ekey[MT_ESC_CAP];
        snprintf(key, sizeof key, "%s%s%s", prefix, *prefix ? "." : "", it->string);
        snprintf(where, sizeof where, "%s: %s", path, mt_esc(ekey, key));
        if (cJSON_IsObject(it)) {
            mt_status st = apply_object(c, it, key, path, err);
            if (st)
                return st;
            continue;
        }
        const app_optdef *d = find_key(key);
        if (!d) {
            const char *keys[N_OPTIONS];
            for (int i = 0; i < N_OPTIONS; i++)
                keys[i] = options[i].key;
            const char *near = app_nearest(key, keys, N_OPTIONS);
            if (near)
                return mt_errf(err, MT_EARG, "%s: unknown key (did you mean '%s'?)", where, near);
            return mt_errf(err, MT_EARG, "%s: unknown key", where);
        }
        for (const cJSON *dup = it->next; dup; dup = dup->next)
            if (dup->string && strcmp(dup->string, it->string) == 0)
                return mt_errf(err, MT_EARG, "%s: key appears twice", where);
        mt_status st = MT_OK;
        char got[MT_ESC_CAP], *text = NULL;
        if (cJSON_IsNumber(it) && !isfinite(it->valuedouble)) /* cJSON would print "null" */
            snprintf(got, sizeof got, "%s", it->valuedouble > 0 ? "inf" : "-inf");
        else if ((text = cJSON_PrintUnformatted(it)) != NULL)
            mt_esc(got, text);
        else
            snprintf(got, sizeof got, "?");
        switch (d->type) {
        case APP_T_STR:
            if (cJSON_IsString(it))
                st = set_string(c, d, it->valuestring, where, err);
            else if (cJSON_IsArray(it) && (d->flags & APP_OPTF_LIST))
                st = set_list(c, d, it, where, err);
            else
                st = mt_errf(err, MT_EARG, "%s: expected %s, got %s", where,
                             d->flags & APP_OPTF_LIST ? "a list or a comma-separated string" : "a string",
                             got);
            break;
        case APP_T_BOOL:
            if (cJSON_IsBool(it))
                *(int *)((char *)c + d->offset) = cJSON_IsTrue(it);
            else
                st = mt_errf(err, MT_EARG, "%s: expected true or false, got %s", where, got);
            break;
        case APP_T_INT:
        case APP_T_DOUBLE:
            st = cJSON_IsNumber(it) ? set_number(c, d, it->valuedouble, where, got, err)
                                    : mt_errf(err, MT_EARG, "%s: expected a number, got %s", where, got);
            break;
        }
        free(text);
        if (st)
            return st;
    }
    return MT_OK;
}

/* The first "\u0000" escape inside a JSON string, or NULL: cJSON would cut
 * the string there without a word. */
static const char *find_nul_escape(const char *json)
{
    int in_str = 0;
    for (const char *p = json; *p; p++) {
        if (!in_str) {
            in_str = *p == '"';
        } else if (*p == '"') {
            in_str = 0;
        } else if (*p == '\\') {
            if (p[1] == 'u' && strncmp(p + 2, "0000", 4) == 0)
                return p;
            if (p[1])
                p++; /* the escaped character */
        }
    }
    return NULL;
}

mt_status app_config_parse(app_config *c, const char *json, const char *path, mt_err *err)
{
    const char *end = NULL, *nul = find_nul_escape(json);
    if (nul) {
        int line, col;
        line_col(json, nul, &line, &col);
        return mt_errf(err, MT_EARG, "%s: line %d, column %d: a string holds \\u0000 (a NUL character)",
                       path, line, col);
    }
    cJSON *root = cJSON_ParseWithOpts(json, &end, 1);
    if (!root) {
        int line, col;
        const char *at = cJSON_GetErrorPtr();
        line_col(json, at ? at : json, &line, &col);
        return mt_errf(err, MT_EARG, "%s: line %d, column %d: malformed JSON", path, line, col);
    }
    mt_status st;
    if (!cJSON_IsObject(root))
        st = mt_errf(err, MT_EARG, "%s: expected a JSON object at the top level", path);
    else {
        app_config tmp = *c; /* all or nothing */
        st = apply_object(&tmp, root, "", path, err);
        if (!st)
            *c = tmp;
    }
    cJSON_Delete(root);
    return st;
}

mt_status app_config_load(app_config *c, const char *path, mt_err *err)
{
    char *buf = NULL;
    size_t len = 0;
    mt_status st = mt_file_read_all(path, "config", MT_EARG, (size_t)64 << 20, &buf, &len, err);
    if (st)
        return st;
    if (strlen(buf) != len)
        st = mt_errf(err, MT_EARG, "%s: config contains a NUL byte", path);
    else
        st = app_config_parse(c, buf, path, err);
    free(buf);
    return st;
}

/* --------------------------------------------------------------- JSON out */

char *app_config_to_json(const app_config *c, int pretty)
{
    char *out = NULL;
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    for (int i = 0; i < N_OPTIONS; i++) {
        const app_optdef *d = &options[i];
        char group[64];
        const char *dot = strchr(d->key, '.');
        snprintf(group, sizeof group, "%.*s", (int)(dot - d->key), d->key);
        cJSON *g = cJSON_GetObjectItemCaseSensitive(root, group);
        if (!g && !(g = cJSON_AddObjectToObject(root, group)))
            goto done;
        const char *field = dot + 1;
        const char *p = (const char *)c + d->offset;
        cJSON *v = NULL;
        switch (d->type) {
        case APP_T_STR:    v = cJSON_AddStringToObject(g, field, p); break;
        case APP_T_BOOL:   v = cJSON_AddBoolToObject(g, field, *(const int *)p); break;
        case APP_T_INT:    v = cJSON_AddNumberToObject(g, field, (double)*(const long long *)p); break;
        case APP_T_DOUBLE: v = cJSON_AddNumberToObject(g, field, *(const double *)p); break;
        }
        if (!v)
            goto done;
    }
    out = pretty ? cJSON_Print(root) : cJSON_PrintUnformatted(root);
done:
    cJSON_Delete(root);
    return out;
}

/* ------------------------------------------------------------ helpers -- */

#ifndef APP_DATADIR
#define APP_DATADIR "/usr/local/share/mnist-train"
#endif

static int is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

mt_status app_config_locate(char *out, size_t cap, const char *name, mt_err *err)
{
    struct stat sb;
    /* anything there (a FIFO, a directory) is used as given: its reader says what it is */
    if (stat(name, &sb) == 0 || strchr(name, '/') || !*name) {
        snprintf(out, cap, "%s", name);
        return MT_OK;
    }
    const char *ext = strlen(name) > 5 && strcmp(name + strlen(name) - 5, ".json") == 0 ? "" : ".json";
    char exe[APP_PATH_MAX], where[3][APP_PATH_MAX + 64];
    snprintf(where[0], sizeof where[0], "configs/%s%s", name, ext);
    snprintf(where[1], sizeof where[1], "%s/configs/%s%s", APP_DATADIR, name, ext);
    where[2][0] = '\0';
    /* an installed binary, wherever its prefix: BIN/../share/mnist-train/configs */
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            snprintf(where[2], sizeof where[2], "%s/../share/mnist-train/configs/%s%s", exe, name, ext);
        }
    }
    for (int i = 0; i < 3; i++)
        if (where[i][0] && is_file(where[i])) {
            snprintf(out, cap, "%s", where[i]);
            return MT_OK;
        }
    return mt_errf(err, MT_EARG, "--config %s: no such file (looked for ./%s, %s and %s)", name, name, where[0],
                   where[1]);
}

static int edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return 99;
    int d[65][65];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            /* a swap of two neighbours is one typo */
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[la][lb];
}

const char *app_nearest(const char *word, const char *const *cands, int n)
{
    int max = strlen(word) <= 3 ? 1 : 2, best = max + 1;
    const char *pick = NULL;
    for (int i = 0; i < n; i++) {
        int dist = edit_distance(word, cands[i]);
        if (dist < best)
            best = dist, pick = cands[i];
    }
    return pick;
}
