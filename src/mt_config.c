/* mt_config: one table describes every option; command line, JSON config
 * files and --print-config all go through it, so they cannot drift apart.
 * cJSON stays inside this file; every tree is freed where it was parsed. */
#include "mt_config.h"
#include "mt_file.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define F(field) offsetof(mt_config, field), sizeof(((mt_config *)0)->field)
#define BIG 1e15

static const mt_optdef options[] = {
    { "data", "data.dir", MT_T_STR, F(data_dir), 0, 0, "", "DIR",
      "folder with the IDX files (default: $MNIST_DATA, else ./data/<dataset>)", NULL, 0 },
    { "dataset", "data.dataset", MT_T_STR, F(dataset), 0, 0, "mnist", "NAME",
      "data set name", "mnist|fashion-mnist", 0 },
    { "train-limit", "data.train_limit", MT_T_INT, F(train_limit), 0, BIG, "0", "N",
      "use only the first N training samples (0 = all)", NULL, 0 },
    { "test-limit", "data.test_limit", MT_T_INT, F(test_limit), 0, BIG, "0", "N",
      "use only the first N test samples (0 = all)", NULL, 0 },
    { "mean", "data.mean", MT_T_DOUBLE, F(mean), -1e6, 1e6, "0.1307", "X",
      "normalization mean of pixels in [0,1]", NULL, 0 },
    { "std", "data.std", MT_T_DOUBLE, F(std), 1e-6, 1e6, "0.3081", "X",
      "normalization standard deviation", NULL, 0 },
    { "classes", "data.classes", MT_T_INT, F(classes), 0, 256, "0", "N",
      "number of classes (0 = from the labels; 10 for MNIST)", NULL, 0 },
    { "hidden", "model.hidden", MT_T_STR, F(hidden), 0, 0, "128,64", "LIST",
      "hidden layer sizes, comma-separated", NULL, 0 },
    { "epochs", "training.epochs", MT_T_INT, F(epochs), 1, 100000, "5", "N",
      "training epochs", NULL, 0 },
    { "batch-size", "training.batch_size", MT_T_INT, F(batch_size), 1, 65536, "64", "N",
      "training batch size", NULL, 0 },
    { "test-batch-size", "training.test_batch_size", MT_T_INT, F(test_batch_size), 1, 65536, "1000", "N",
      "evaluation batch size", NULL, 0 },
    { "lr", "optimizer.lr", MT_T_DOUBLE, F(lr), 1e-12, 100, "0.001", "X",
      "learning rate", NULL, 0 },
    { "seed", "training.seed", MT_T_INT, F(seed), 0, 9007199254740991.0, "1", "N",
      "random seed (initialization and shuffling)", NULL, 0 },
    { "log-interval", "training.log_interval", MT_T_INT, F(log_interval), 0, BIG, "100", "N",
      "log the loss every N batches (0 = never)", NULL, 0 },
    { "no-shuffle", "training.shuffle", MT_T_BOOL, F(shuffle), 0, 1, "true", NULL,
      "keep batches in file order (no reshuffling)", NULL, MT_OPTF_NEGATE },
    { "max-steps", "training.max_steps", MT_T_INT, F(max_steps), 0, BIG, "0", "N",
      "stop after N optimizer steps, then test (0 = no limit)", NULL, 0 },
    { "optimizer", "optimizer.name", MT_T_STR, F(optimizer), 0, 0, "adam", "NAME",
      "optimizer", "adam|adamw|sgd", 0 },
    { "beta1", "optimizer.beta1", MT_T_DOUBLE, F(beta1), 0, 0.999999, "0.9", "X",
      "Adam first-moment decay", NULL, 0 },
    { "beta2", "optimizer.beta2", MT_T_DOUBLE, F(beta2), 0, 0.99999999, "0.999", "X",
      "Adam second-moment decay", NULL, 0 },
    { "eps", "optimizer.eps", MT_T_DOUBLE, F(eps), 0, 1, "1e-08", "X",
      "Adam epsilon", NULL, 0 },
    { "weight-decay", "optimizer.weight_decay", MT_T_DOUBLE, F(weight_decay), 0, 10, "0", "X",
      "weight decay (L2 for adam/sgd, decoupled for adamw)", NULL, 0 },
    { "momentum", "optimizer.momentum", MT_T_DOUBLE, F(momentum), 0, 0.999999, "0", "X",
      "SGD momentum", NULL, 0 },
    { "val-split", "data.val_split", MT_T_INT, F(val_split), 0, BIG, "0", "N",
      "hold out the last N training samples as a validation set, evaluated every epoch", NULL, 0 },
    { "scheduler", "scheduler.name", MT_T_STR, F(scheduler), 0, 0, "none", "NAME",
      "learning-rate schedule, stepped once per epoch (cosine: over --epochs; plateau: on the "
      "validation loss, else the training loss)", "none|step|cosine|plateau", 0 },
    { "step-size", "scheduler.step_size", MT_T_INT, F(step_size), 1, 100000, "1", "N",
      "step: multiply the rate by --gamma every N epochs", NULL, 0 },
    { "gamma", "scheduler.gamma", MT_T_DOUBLE, F(gamma), 1e-9, 1, "0.1", "X",
      "step / plateau: factor for each cut", NULL, 0 },
    { "min-lr", "scheduler.min_lr", MT_T_DOUBLE, F(min_lr), 0, 100, "0", "X",
      "cosine / plateau: lowest learning rate", NULL, 0 },
    { "lr-patience", "scheduler.patience", MT_T_INT, F(lr_patience), 0, 100000, "10", "N",
      "plateau: epochs without improvement before a cut", NULL, 0 },
    { "early-stop", "training.early_stop", MT_T_INT, F(early_stop), 0, 100000, "0", "N",
      "stop after N epochs without improvement of the validation (else training) loss; 0 = off", NULL, 0 },
    { "min-delta", "training.min_delta", MT_T_DOUBLE, F(min_delta), 0, 1e6, "0", "X",
      "early stopping: smallest loss decrease that counts as an improvement", NULL, 0 },
    { "clip-grad", "optimizer.clip_grad", MT_T_DOUBLE, F(clip_grad), 0, 1e9, "0", "X",
      "clip gradients to global L2 norm X before each step (clip_grad_norm_); 0 = off", NULL, 0 },
    { "augment-shift", "augment.shift", MT_T_DOUBLE, F(aug_shift), 0, 64, "0", "PX",
      "augmentation: shift training images by up to PX pixels (0 = off)", NULL, 0 },
    { "augment-rotate", "augment.rotate", MT_T_DOUBLE, F(aug_rotate), 0, 180, "0", "DEG",
      "augmentation: rotate training images by up to DEG degrees", NULL, 0 },
    { "augment-scale", "augment.scale", MT_T_DOUBLE, F(aug_scale), 0, 0.9, "0", "X",
      "augmentation: zoom training images by a factor in [1-X, 1+X]", NULL, 0 },
    { "isa", "runtime.isa", MT_T_STR, F(isa), 0, 0, "auto", "ISA",
      "kernel instruction set", "auto|scalar|avx2|avx512|neon", 0 },
    { "threads", "runtime.threads", MT_T_INT, F(threads), 0, 256, "0", "N",
      "worker threads (0 = online CPUs)", NULL, 0 },
    { "first-layer", "runtime.first_layer", MT_T_STR, F(first_layer), 0, 0, "auto", "PATH",
      "first layer on raw pixels (sparse) or floats (dense); auto picks by batch density",
      "auto|dense|sparse", 0 },
    { "json", "output.json", MT_T_BOOL, F(json), 0, 1, "false", NULL,
      "write JSON Lines events to stdout", NULL, 0 },
    { "progress", "output.progress", MT_T_STR, F(progress), 0, 0, "auto", "WHEN",
      "progress bar on stderr (auto = when stderr is a terminal)", "auto|on|off", 0 },
    /* -- pictures (issue 4) -- */
    { "grid", "pictures.grid", MT_T_STR, F(grid), 0, 0, "predictions.png", "FILE",
      "PNG grid of test images with true and predicted class (\"\" = none)", NULL, 0 },
    { "no-grid", "pictures.grid_enabled", MT_T_BOOL, F(grid_enabled), 0, 1, "true", NULL,
      "write no prediction grid", NULL, MT_OPTF_NEGATE },
    { "grid-count", "pictures.grid_count", MT_T_INT, F(grid_count), 1, 1000000, "64", "N",
      "images in each grid (at most the test set)", NULL, 0 },
    { "grid-cols", "pictures.grid_cols", MT_T_INT, F(grid_cols), 0, 10000, "0", "N",
      "grid columns (0 = about square)", NULL, 0 },
    { "grid-scale", "pictures.grid_scale", MT_T_INT, F(grid_scale), 1, 64, "4", "N",
      "pixels per image pixel in the grids (lowered for huge grids)", NULL, 0 },
    { "mistakes", "pictures.mistakes", MT_T_STR, F(mistakes), 0, 0, "", "FILE",
      "PNG grid of misclassified test images, most confident first", NULL, 0 },
    { "confusion", "pictures.confusion", MT_T_STR, F(confusion), 0, 0, "", "FILE",
      "PNG heatmap of the test confusion matrix", NULL, 0 },
    { "curves", "pictures.curves", MT_T_STR, F(curves), 0, 0, "", "FILE",
      "PNG plot of per-epoch losses and test accuracy (tests after every epoch)", NULL, 0 },
    /* -- checkpoints and subcommands (issue 5) -- */
    { "save", "checkpoint.save", MT_T_STR, F(save), 0, 0, "", "FILE",
      "write the trained model to FILE (safetensors, PyTorch state_dict names)", NULL, 0 },
    { "save-state", "checkpoint.save_state", MT_T_STR, F(save_state), 0, 0, "", "FILE",
      "write the training state (weights, optimizer, progress) to FILE", NULL, 0 },
    { "save-every", "checkpoint.save_every", MT_T_INT, F(save_every), 0, BIG, "1", "N",
      "write the state every N epochs (0 = only at the end and when interrupted)", NULL, 0 },
    { "resume", "checkpoint.resume", MT_T_STR, F(resume), 0, 0, "", "FILE",
      "continue training exactly from a --save-state file", NULL, 0 },
    { "init", "checkpoint.init", MT_T_STR, F(init), 0, 0, "", "FILE",
      "start from the weights of a checkpoint (either kind), fresh optimizer", NULL, 0 },
    { "checkpoint", "checkpoint.file", MT_T_STR, F(checkpoint), 0, 0, "", "FILE",
      "the model file for eval and predict (either kind)", NULL, 0 },
    /* -- data fetching and data sets (issue 6) -- */
    { "no-download", "data.download", MT_T_BOOL, F(download), 0, 1, "true", NULL,
      "never download missing data files (exit 3 instead)", NULL, MT_OPTF_NEGATE },
    { "mirror", "data.mirrors", MT_T_STR, F(mirrors), 0, 0, "", "URL",
      "download base URL; repeat for more, tried in order (default: $MNIST_MIRROR for mnist, else built-in)",
      NULL, 0 },
    { "class-names", "data.class_names", MT_T_STR, F(class_names), 0, 0, "", "LIST",
      "comma-separated class names for pictures and predictions (default: the data set's own)", NULL, 0 },
};
#define N_OPTIONS ((int)(sizeof options / sizeof *options))

const mt_optdef *mt_config_options(int *n)
{
    *n = N_OPTIONS;
    return options;
}

const mt_optdef *mt_config_find(const char *name)
{
    for (int i = 0; i < N_OPTIONS; i++)
        if (strcmp(options[i].name, name) == 0)
            return &options[i];
    return NULL;
}

static const mt_optdef *find_key(const char *key)
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

static mt_status range_error(const mt_optdef *d, const char *origin, const char *got, mt_err *err)
{
    if (d->type == MT_T_INT)
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
static mt_status set_number(mt_config *c, const mt_optdef *d, double v, const char *origin,
                            const char *got, mt_err *err)
{
    if (!isfinite(v) || v < d->min || v > d->max)
        return range_error(d, origin, got, err);
    if (d->type == MT_T_INT) {
        if (v != floor(v))
            return range_error(d, origin, got, err);
        *(long long *)((char *)c + d->offset) = (long long)v;
    } else {
        *(double *)((char *)c + d->offset) = v;
    }
    return MT_OK;
}

static mt_status set_string(mt_config *c, const mt_optdef *d, const char *s, const char *origin,
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

mt_status mt_config_set(mt_config *c, const mt_optdef *d, const char *text,
                        const char *origin, mt_err *err)
{
    char got[MT_ESC_CAP + 4];
    switch (d->type) {
    case MT_T_STR:
        return set_string(c, d, text, origin, err);
    case MT_T_BOOL:
        if (strcmp(text, "true") == 0 || strcmp(text, "1") == 0)
            *(int *)((char *)c + d->offset) = 1;
        else if (strcmp(text, "false") == 0 || strcmp(text, "0") == 0)
            *(int *)((char *)c + d->offset) = 0;
        else
            return mt_errf(err, MT_EARG, "%s: expected true or false, got %s", origin,
                           quoted(got, sizeof got, text));
        return MT_OK;
    case MT_T_INT: {
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
    case MT_T_DOUBLE: {
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

void mt_config_defaults(mt_config *c)
{
    memset(c, 0, sizeof *c);
    for (int i = 0; i < N_OPTIONS; i++) {
        mt_status st = mt_config_set(c, &options[i], options[i].def, options[i].name, NULL);
        (void)st; /* the table's defaults are valid by construction (tested) */
    }
}

/* ---------------------------------------------------------------- JSON in */

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

static mt_status apply_object(mt_config *c, const cJSON *obj, const char *prefix,
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
        const mt_optdef *d = find_key(key);
        if (!d)
            return mt_errf(err, MT_EARG, "%s: unknown key", where);
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
        case MT_T_STR:
            st = cJSON_IsString(it) ? set_string(c, d, it->valuestring, where, err)
                                    : mt_errf(err, MT_EARG, "%s: expected a string, got %s", where, got);
            break;
        case MT_T_BOOL:
            if (cJSON_IsBool(it))
                *(int *)((char *)c + d->offset) = cJSON_IsTrue(it);
            else
                st = mt_errf(err, MT_EARG, "%s: expected true or false, got %s", where, got);
            break;
        case MT_T_INT:
        case MT_T_DOUBLE:
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

mt_status mt_config_parse(mt_config *c, const char *json, const char *path, mt_err *err)
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
        mt_config tmp = *c; /* all or nothing */
        st = apply_object(&tmp, root, "", path, err);
        if (!st)
            *c = tmp;
    }
    cJSON_Delete(root);
    return st;
}

mt_status mt_config_load(mt_config *c, const char *path, mt_err *err)
{
    char *buf = NULL;
    size_t len = 0;
    mt_status st = mt_file_read_all(path, "config", MT_EARG, (size_t)64 << 20, &buf, &len, err);
    if (st)
        return st;
    if (strlen(buf) != len)
        st = mt_errf(err, MT_EARG, "%s: config contains a NUL byte", path);
    else
        st = mt_config_parse(c, buf, path, err);
    free(buf);
    return st;
}

/* --------------------------------------------------------------- JSON out */

char *mt_config_to_json(const mt_config *c, int pretty)
{
    char *out = NULL;
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    for (int i = 0; i < N_OPTIONS; i++) {
        const mt_optdef *d = &options[i];
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
        case MT_T_STR:    v = cJSON_AddStringToObject(g, field, p); break;
        case MT_T_BOOL:   v = cJSON_AddBoolToObject(g, field, *(const int *)p); break;
        case MT_T_INT:    v = cJSON_AddNumberToObject(g, field, (double)*(const long long *)p); break;
        case MT_T_DOUBLE: v = cJSON_AddNumberToObject(g, field, *(const double *)p); break;
        }
        if (!v)
            goto done;
    }
    out = pretty ? cJSON_Print(root) : cJSON_PrintUnformatted(root);
done:
    cJSON_Delete(root);
    return out;
}
