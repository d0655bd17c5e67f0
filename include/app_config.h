/* app_config: every run setting in one struct, described once in a table that
 * drives command-line parsing (app_opt), JSON config files (cJSON), every
 * command's --help, the man page test and --print-config.  Each option names
 * the commands that accept it.  Precedence is the caller's: defaults, then a
 * config file, then the command line, each overwriting the last. */
#ifndef APP_CONFIG_H
#define APP_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "mt_err.h"

#define APP_PATH_MAX 4096

typedef struct app_config {
    /* data */
    char data_dir[APP_PATH_MAX]; /* "" = $MNIST_DATA, else ./data/<dataset> */
    char dataset[32];           /* "mnist", "fashion-mnist" */
    long long train_limit;      /* 0 = all */
    long long test_limit;       /* 0 = all */
    double mean, std;           /* normalization of pixels in [0,1] */
    long long classes;          /* 0 = from the labels */
    /* model */
    char hidden[64];            /* hidden layer sizes, "128,64" */
    char model[1024];           /* "mlp", "cnn", "fastcnn" or a layer list (mt_net.h's SPEC) */
    double dropout;             /* mlp: dropout after each hidden ReLU (0 = none) */
    /* training */
    long long epochs;
    long long batch_size;
    long long test_batch_size;
    double lr;
    long long seed;
    char seeds[256];            /* "" = one run with seed; else a list ("1-10", "1,4,9"):
                                   one run per seed and a summary */
    long long log_interval;     /* batches between loss lines; 0 = none */
    int shuffle;                /* reshuffle every epoch */
    long long max_steps;        /* 0 = no limit */
    char optimizer[16];         /* "adam", "adamw", "sgd", "adadelta" */
    double beta1, beta2, eps, weight_decay, momentum;
    double rho;                 /* adadelta: running-average decay */
    int nesterov;               /* sgd: Nesterov momentum */
    double label_smoothing;     /* training loss: CrossEntropyLoss label_smoothing; 0 = off */
    long long val_split;        /* last N training samples held out for validation */
    char scheduler[16];         /* "none", "step", "cosine", "plateau", "onecycle" */
    long long step_size;        /* step: epochs between decays */
    double gamma;               /* step / plateau: decay factor */
    double min_lr;              /* cosine / plateau: floor */
    long long lr_patience;      /* plateau: epochs without improvement */
    long long early_stop;       /* stop after N epochs without improvement; 0 = off */
    int restore_best;           /* early stopping: test and save the best epoch's weights */
    double min_delta;           /* early stopping: smallest improvement that counts */
    double clip_grad;           /* clip gradients to this global L2 norm; 0 = off */
    double aug_shift;           /* augmentation: max shift in pixels; 0 = off */
    double aug_rotate;          /* augmentation: max rotation in degrees */
    double aug_scale;           /* augmentation: max relative zoom */
    /* runtime */
    char isa[16];               /* "auto", "scalar", "avx2", "avx512", "neon" */
    long long threads;          /* 0 = online CPUs */
    char first_layer[16];       /* "auto", "dense", "sparse" */
    char max_memory[32];        /* memory a training run may use ("4G"); "" = what is available */
    /* output */
    int json;                   /* JSON Lines events on stdout */
    char progress[8];           /* "auto", "on", "off" */
    /* pictures */
    char grid[APP_PATH_MAX];      /* prediction grid PNG; "" = none */
    int grid_enabled;            /* 0 after --no-grid (wins over --grid) */
    long long grid_count;        /* cells per grid; clamped to the test set */
    long long grid_cols;         /* 0 = about square */
    long long grid_scale;        /* integer upscaling of each image */
    char mistakes[APP_PATH_MAX];  /* most confident mistakes PNG; "" = none */
    char confusion[APP_PATH_MAX]; /* confusion heatmap PNG; "" = none */
    char curves[APP_PATH_MAX];    /* learning curves PNG; "" = none (else the test
                                    set is also evaluated after every epoch) */
    /* checkpoints */
    char save[APP_PATH_MAX];       /* --save: model file written after the test; "" = none */
    char save_state[APP_PATH_MAX]; /* --save-state: training state file; "" = none */
    long long save_every;         /* write the state every N epochs (0 = end and interrupt only) */
    char resume[APP_PATH_MAX];     /* --resume: continue exactly from a state file */
    char init[APP_PATH_MAX];       /* --init: start from the weights of either kind of file */
    char checkpoint[APP_PATH_MAX]; /* --checkpoint: the model eval and predict use */
    int verify;                   /* fetch --verify: only check the files */
    /* data fetching and data sets */
    int download;               /* fetch missing data files before loading (--no-download clears it) */
    char mirrors[2048];         /* comma-separated mirror base URLs; "" = $MNIST_MIRROR (mnist), else built-in */
    char class_names[2048];     /* comma-separated names of labels 0.. ; "" = the data set's own */
    /* predict */
    char show_input[APP_PATH_MAX]; /* PNG of the 28x28 input the model saw (a folder: one per picture); "" = none */
    double min_confidence;      /* answers with a lower top probability are flagged "not sure" */
    /* export and report */
    char onnx[APP_PATH_MAX];    /* export --onnx: the ONNX file to write */
    char save_onnx[APP_PATH_MAX]; /* train --save-onnx: the trained model as ONNX too; "" = none */
    char report[APP_PATH_MAX];  /* --report: one self-contained HTML page of the run; "" = none */
} app_config;

typedef enum { APP_T_INT, APP_T_DOUBLE, APP_T_STR, APP_T_BOOL } app_opt_type;

enum {
    APP_OPTF_NEGATE = 1, /* a CLI flag that sets the boolean to false */
    APP_OPTF_LIST = 2,   /* a comma-separated string; a JSON array is joined with commas */
    APP_OPTF_REPEAT = 4  /* repeating the option on a command line appends to the list */
};

/* The commands, as bits of app_optdef.cmds. */
enum {
    APP_CMD_TRAIN = 1, APP_CMD_EVAL = 2, APP_CMD_PREDICT = 4, APP_CMD_INFO = 8, APP_CMD_FETCH = 16,
    APP_CMD_EXPORT = 32, APP_CMD_ALL = 63
};

typedef struct app_optdef {
    const char *name;      /* command-line long option, without "--" */
    const char *key;       /* JSON key path, "training.epochs" */
    app_opt_type type;
    size_t offset;         /* into app_config */
    size_t size;           /* of the field (strings: capacity) */
    double min, max;       /* inclusive range for numbers */
    const char *def;       /* default, as text */
    const char *metavar;   /* "N", "FILE"; NULL for flags */
    const char *help;
    const char *choices;   /* "a|b|c" for strings with a fixed set, else NULL */
    int flags;
    unsigned cmds;         /* APP_CMD_* bits of the commands that accept it */
} app_optdef;

/* The option table and its length. */
const app_optdef *app_config_options(int *n);
const app_optdef *app_config_find(const char *name);

/* Sets every field to its default. */
void app_config_defaults(app_config *c);

/* Parses text for one option; origin names it in errors ("--epochs").
 * Bad value -> MT_EARG, "--epochs: expected an integer from 1 to 1000000, got 'x'". */
mt_status app_config_set(app_config *c, const app_optdef *d, const char *text,
                        const char *origin, mt_err *err);

/* Applies a JSON config file.  Unknown key (with the nearest known one),
 * wrong type, out-of-range value, malformed JSON (with line and column) ->
 * MT_EARG naming path and key path. */
mt_status app_config_load(app_config *c, const char *path, mt_err *err);
/* Same, from a string; path names it in messages. */
mt_status app_config_parse(app_config *c, const char *json, const char *path, mt_err *err);

/* Where `--config NAME` points: NAME itself when it is a file, else, for a
 * bare name, configs/NAME.json here, then beside an installed binary
 * (PREFIX/share/mnist-train/configs/NAME.json).  MT_EARG naming the places
 * looked at when none exists. */
mt_status app_config_locate(char *out, size_t cap, const char *name, mt_err *err);

/* The candidate nearest to word by edit distance, when it is close enough to
 * be a typo of it (at most 2 edits, fewer for short words), else NULL. */
const char *app_nearest(const char *word, const char *const *cands, int n);

/* The effective configuration as JSON (nested groups); pretty != 0 indents.
 * Caller frees with free(); NULL when out of memory. */
char *app_config_to_json(const app_config *c, int pretty);

#endif
