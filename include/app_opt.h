/* app_opt: the command line of every command, from app_config's table.
 * Each command accepts only the options whose table entry names it; names
 * are exact (no prefixes), a near miss gets a "did you mean", an option of
 * another command says whose it is.  --help text comes from the same table. */
#ifndef APP_OPT_H
#define APP_OPT_H

#include <stdio.h>

#include "app_config.h"
#include "mt_err.h"
#include "mt_kern.h"

#define APP_VERSION "0.2.0"

typedef struct app_args {
    app_config cfg;           /* effective configuration */
    unsigned cmd;             /* APP_CMD_* of the command parsed for */
    int print_config;         /* --print-config (train) */
    int help, version;        /* --help / -h, --version / -V (train) */
    int n_pos;                /* positional arguments */
    char **pos;               /* (n_pos) borrowed from argv */
    char config_path[APP_PATH_MAX]; /* --config, as located (train) */
    unsigned char given[128]; /* given[i]: table option i was on the command line */
} app_args;

/* The name of a command bit ("train", ...). */
const char *app_opt_cmd_name(unsigned cmd);

/* Parses argv (argv[0] is the command's name) for command cmd, on top of
 * *base (NULL: the defaults), then --config FILE (train), then the command
 * line.  Unknown or foreign option, missing or bad value, unreadable config
 * -> MT_EARG with a one-line message. */
mt_status app_opt_parse(app_args *a, unsigned cmd, int argc, char **argv, const app_config *base, mt_err *err);

/* Whether option `name` (without "--") was given on the command line. */
int app_opt_given(const app_args *a, const char *name);

/* Whether argv asks for --json (before "--"): errors found while parsing are
 * then still reported as an "error" event. */
int app_opt_wants_json(int argc, char **argv);

/* "Usage: USAGE", the paragraph ABOUT, then every option of cmd with its
 * default, in table order. */
void app_opt_help(FILE *f, unsigned cmd, const char *usage, const char *about);

/* --print-config: the effective configuration as JSON on stdout, indented or
 * (with --json) on one line; MT_ENOMEM. */
mt_status app_opt_print_config(const app_config *cfg, int pretty, mt_err *err);

/* The worker threads: cfg.threads, else (0) the online CPUs. */
int app_opt_threads(const app_config *cfg);

/* The kernels cfg.isa asks for (mt_kern_select); MT_EARG naming --isa. */
mt_status app_opt_kernels(const app_config *cfg, const mt_kern **k, mt_err *err);

#endif
