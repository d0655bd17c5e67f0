/* app_cli: argv parsing for every subcommand (owned by main).  Options come
 * from mt_config's table; precedence defaults < --config FILE < command line. */
#ifndef APP_CLI_H
#define APP_CLI_H

#include <stdio.h>

#include "mt_config.h"
#include "mt_err.h"

#define APP_VERSION "0.1.0"

typedef struct app_args {
    mt_config cfg;            /* effective configuration */
    int print_config;         /* --print-config */
    int help, version;        /* --help, --version */
    int n_pos;                /* positional arguments */
    char **pos;               /* borrowed from argv */
    char config_path[MT_PATH_MAX];
} app_args;

/* Parses argv (argv[0] is the program or subcommand name).  Unknown option,
 * bad value, unreadable config -> MT_EARG with a one-line message. */
mt_status app_cli_parse(app_args *a, int argc, char **argv, mt_err *err);
/* Same, starting from *base instead of the defaults (--resume: the stored
 * recipe, then --config FILE, then the command line). */
mt_status app_cli_parse_base(app_args *a, int argc, char **argv, const mt_config *base, mt_err *err);

/* Prints the option list with defaults (for --help). */
void app_cli_print_options(FILE *f);
/* Prints the help line of one table option (by name); nothing if unknown. */
void app_cli_print_option(FILE *f, const char *name);

/* --print-config: the effective configuration as JSON on stdout; returns the
 * exit code (0, or 1 when out of memory). */
int app_cli_print_config(const mt_config *cfg);

/* The data folder: cfg.data_dir, else $MNIST_DATA, else ./data/<dataset>. */
void app_cli_data_dir(char *out, size_t cap, const mt_config *cfg);

/* The worker threads: cfg.threads, else (0) the online CPUs. */
int app_cli_threads(const mt_config *cfg);

#endif
