/* app_cli: getopt_long over the option table of mt_config, plus the options
 * that only make sense on a command line (--config, --print-config, --help,
 * --version). */
#include "app_cli.h"
#include "app_fetch.h"
#include "mt_pool.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

enum { OPT_CONFIG = 1000, OPT_PRINT_CONFIG, OPT_HELP, OPT_VERSION, OPT_TABLE };

void app_cli_print_options(FILE *f)
{
    int n;
    const mt_optdef *t = mt_config_options(&n);
    fprintf(f, "  --config FILE          read options from a JSON config file (command line wins)\n"
               "  --print-config         print the effective configuration as JSON and exit\n"
               "  -h, --help             show this help and exit\n"
               "  -V, --version          show version, kernels and libraries, and exit\n");
    for (int i = 0; i < n; i++)
        app_cli_print_option(f, t[i].name);
}

void app_cli_print_option(FILE *f, const char *name)
{
    const mt_optdef *d = mt_config_find(name);
    if (!d)
        return;
    char left[64];
    snprintf(left, sizeof left, "--%s%s%s", d->name, d->metavar ? " " : "", d->metavar ? d->metavar : "");
    fprintf(f, "  %-22s %s", left, d->help);
    if (d->choices)
        fprintf(f, " (%s)", d->choices);
    if (d->type != MT_T_BOOL && *d->def)
        fprintf(f, " [default: %s]", d->def);
    fputc('\n', f);
}

mt_status app_cli_parse(app_args *a, int argc, char **argv, mt_err *err)
{
    return app_cli_parse_base(a, argc, argv, NULL, err);
}

mt_status app_cli_parse_base(app_args *a, int argc, char **argv, const mt_config *base, mt_err *err)
{
    int n;
    const mt_optdef *t = mt_config_options(&n);
    struct option *lo = calloc((size_t)n + 5, sizeof *lo);
    int *which = calloc((size_t)argc + 1, sizeof *which);
    char **vals = calloc((size_t)argc + 1, sizeof *vals);
    int n_set = 0;
    mt_status st = MT_OK;
    if (!lo || !which || !vals) {
        st = mt_errf(err, MT_ENOMEM, "out of memory parsing arguments");
        goto done;
    }
    memset(a, 0, sizeof *a);
    lo[0] = (struct option){ "config", required_argument, NULL, OPT_CONFIG };
    lo[1] = (struct option){ "print-config", no_argument, NULL, OPT_PRINT_CONFIG };
    lo[2] = (struct option){ "help", no_argument, NULL, OPT_HELP };
    lo[3] = (struct option){ "version", no_argument, NULL, OPT_VERSION };
    for (int i = 0; i < n; i++)
        lo[4 + i] = (struct option){ t[i].name, t[i].type == MT_T_BOOL ? no_argument : required_argument,
                                     NULL, OPT_TABLE + i };
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":hV", lo, NULL)) != -1) {
        const char *arg = argv[optind - 1];
        switch (c) {
        case OPT_CONFIG:
            snprintf(a->config_path, sizeof a->config_path, "%s", optarg);
            break;
        case OPT_PRINT_CONFIG: a->print_config = 1; break;
        case 'h': case OPT_HELP: a->help = 1; break;
        case 'V': case OPT_VERSION: a->version = 1; break;
        case ':':
            st = mt_errf(err, MT_EARG, "option '%s' needs a value", arg);
            goto done;
        case '?':
            if (optopt)
                st = mt_errf(err, MT_EARG, "unknown option '-%c'", optopt);
            else
                st = mt_errf(err, MT_EARG, "unknown option '%s'", arg);
            goto done;
        default:
            which[n_set] = c - OPT_TABLE;
            vals[n_set++] = optarg;
            break;
        }
    }
    a->pos = argv + optind;
    a->n_pos = argc - optind;
    if (base)
        a->cfg = *base;
    else
        mt_config_defaults(&a->cfg);
    if (a->config_path[0] && (st = mt_config_load(&a->cfg, a->config_path, err)))
        goto done;
    int n_mirror = 0;
    for (int i = 0; i < n_set; i++) {
        const mt_optdef *d = &t[which[i]];
        char origin[80];
        snprintf(origin, sizeof origin, "--%s", d->name);
        if (d->type == MT_T_BOOL)
            st = mt_config_set(&a->cfg, d, d->flags & MT_OPTF_NEGATE ? "false" : "true", origin, err);
        else if (strcmp(d->name, "mirror") == 0 && n_mirror++ > 0) {
            /* issue 6: --mirror repeats; the URLs join into data.mirrors */
            char list[sizeof a->cfg.mirrors + 1];
            int len = snprintf(list, sizeof list, "%s,%s", a->cfg.mirrors, vals[i]);
            st = len < 0 || (size_t)len >= sizeof list
                     ? mt_errf(err, MT_EARG, "--mirror: the URLs are longer than %zu characters in all",
                               sizeof a->cfg.mirrors - 1)
                     : mt_config_set(&a->cfg, d, list, origin, err);
        } else
            st = mt_config_set(&a->cfg, d, vals[i], origin, err);
        if (st)
            goto done;
    }
done:
    free(lo);
    free(which);
    free(vals);
    return st;
}

int app_cli_print_config(const mt_config *cfg)
{
    char *s = mt_config_to_json(cfg, 1);
    if (!s)
        return MT_EXIT_INTERNAL;
    puts(s);
    free(s);
    return MT_EXIT_OK;
}

int app_cli_threads(const mt_config *cfg)
{
    return cfg->threads > 0 ? (int)cfg->threads : mt_pool_online_cpus();
}

void app_cli_data_dir(char *out, size_t cap, const mt_config *cfg)
{
    const char *env = getenv("MNIST_DATA");
    if (cfg->data_dir[0])
        snprintf(out, cap, "%s", cfg->data_dir);
    else if (env && *env && strcmp(cfg->dataset, "mnist") == 0)
        snprintf(out, cap, "%s", env);
    else {
        snprintf(out, cap, "data/%s", cfg->dataset);
        /* issue 6: a system-wide copy (Debian's dataset-fashion-mnist) stands in for an incomplete ./data/<dataset> */
        const char *sys = app_fetch_system_dir(cfg->dataset);
        if (sys && !app_fetch_have_files(out) && app_fetch_have_files(sys))
            snprintf(out, cap, "%s", sys);
    }
}
