/* app_opt: argv parsing by hand over app_config's table (getopt_long would
 * take any unambiguous prefix, so a typo like --epoch would silently work and
 * later break when an option is added). */
#include "app_opt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mt_pool.h"

static const struct {
    unsigned bit;
    const char *name;
} cmd_names[] = {
    { APP_CMD_TRAIN, "train" }, { APP_CMD_EVAL, "eval" }, { APP_CMD_PREDICT, "predict" },
    { APP_CMD_INFO, "info" },   { APP_CMD_FETCH, "fetch" }, { APP_CMD_EXPORT, "export" },
};
#define N_CMDS ((int)(sizeof cmd_names / sizeof *cmd_names))

const char *app_opt_cmd_name(unsigned cmd)
{
    for (int i = 0; i < N_CMDS; i++)
        if (cmd_names[i].bit == cmd)
            return cmd_names[i].name;
    return "?";
}

/* Options every parse knows besides the table; *cmds says which commands. */
enum { SP_CONFIG, SP_PRINT_CONFIG, SP_HELP, SP_VERSION, N_SPECIAL };
static const struct {
    const char *name;
    unsigned cmds;
    const char *left, *help;
} special[N_SPECIAL] = {
    { "config", APP_CMD_TRAIN, "--config FILE|NAME",
      "read options from a JSON config file (a bare NAME: configs/NAME.json; command line wins)" },
    { "print-config", APP_CMD_TRAIN, "--print-config", "print the effective configuration as JSON and exit" },
    { "help", APP_CMD_ALL, "-h, --help", "show this help and exit" },
    { "version", APP_CMD_TRAIN, "-V, --version", "show version, kernels and libraries, and exit" },
};

static mt_status unknown(unsigned cmd, const char *arg, const char *name, mt_err *err)
{
    int n;
    const app_optdef *t = app_config_options(&n);
    const char *cands[256];
    int nc = 0;
    for (int i = 0; i < N_SPECIAL; i++)
        if (special[i].cmds & cmd)
            cands[nc++] = special[i].name;
    for (int i = 0; i < n && nc < 256; i++)
        if (t[i].cmds & cmd)
            cands[nc++] = t[i].name;
    const char *near = app_nearest(name, cands, nc);
    char e[MT_ESC_CAP];
    if (near)
        return mt_errf(err, MT_EARG, "unknown option '%s' (did you mean '--%s'?)", mt_esc(e, arg), near);
    return mt_errf(err, MT_EARG, "unknown option '%s'", mt_esc(e, arg));
}

static mt_status foreign(unsigned cmd, const char *name, unsigned cmds, mt_err *err)
{
    char whose[64] = "";
    size_t len = 0;
    for (int i = 0; i < N_CMDS; i++)
        if (cmds & cmd_names[i].bit)
            len += (size_t)snprintf(whose + len, sizeof whose - len, "%s%s", len ? ", " : "", cmd_names[i].name);
    return mt_errf(err, MT_EARG, "'--%s' is not an option of '%s' (it belongs to: %s)", name,
                   app_opt_cmd_name(cmd), whose);
}

/* Options whose default depends on the optimizer: torch.optim.Adadelta's
 * lr 1.0 and eps 1e-6 differ from Adam's (the table's).  They start as NaN
 * (no config file or command line can set that), and what is still NaN
 * after both takes the chosen optimizer's default. */
static const struct {
    const char *name, *adadelta;
} opt_defaults[] = { { "lr", "1.0" }, { "eps", "1e-06" } };

static void unset_optimizer_defaults(app_config *c)
{
    for (size_t i = 0; i < sizeof opt_defaults / sizeof *opt_defaults; i++)
        *(double *)((char *)c + app_config_find(opt_defaults[i].name)->offset) = NAN;
}

static void resolve_optimizer_defaults(app_config *c)
{
    int adadelta = strcmp(c->optimizer, "adadelta") == 0;
    for (size_t i = 0; i < sizeof opt_defaults / sizeof *opt_defaults; i++) {
        const app_optdef *d = app_config_find(opt_defaults[i].name);
        if (isnan(*(double *)((char *)c + d->offset))) {
            mt_status st = app_config_set(c, d, adadelta ? opt_defaults[i].adadelta : d->def, d->name, NULL);
            (void)st; /* valid by construction (tested) */
        }
    }
}

mt_status app_opt_parse(app_args *a, unsigned cmd, int argc, char **argv, const app_config *base, mt_err *err)
{
    int n;
    const app_optdef *t = app_config_options(&n);
    int *which = calloc((size_t)argc + 1, sizeof *which);
    const char **vals = calloc((size_t)argc + 1, sizeof *vals);
    int n_set = 0, n_pos = 0;
    char config_name[APP_PATH_MAX] = "";
    mt_status st = MT_OK;
    memset(a, 0, sizeof *a);
    a->cmd = cmd;
    if (!which || !vals) {
        st = mt_errf(err, MT_ENOMEM, "out of memory parsing arguments");
        goto done;
    }
    /* positionals are moved to the front of argv[1..], in order */
    for (int i = 1; i < argc; i++) {
        char *arg = argv[i];
        if (strcmp(arg, "--") == 0) {
            while (++i < argc)
                argv[1 + n_pos++] = argv[i];
            break;
        }
        if (strcmp(arg, "-h") == 0) {
            a->help = 1;
            continue;
        }
        if (strcmp(arg, "-V") == 0 && (cmd & APP_CMD_TRAIN)) {
            a->version = 1;
            continue;
        }
        if (arg[0] != '-' || strcmp(arg, "-") == 0) {
            argv[1 + n_pos++] = arg;
            continue;
        }
        if (arg[1] != '-') {
            char e[MT_ESC_CAP];
            st = mt_errf(err, MT_EARG, "unknown option '%s' (options are spelled --name)", mt_esc(e, arg));
            goto done;
        }
        char name[64];
        const char *eq = strchr(arg + 2, '=');
        size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        if (len >= sizeof name) {
            st = unknown(cmd, arg, "", err);
            goto done;
        }
        memcpy(name, arg + 2, len);
        name[len] = '\0';
        int sp = -1;
        for (int s = 0; s < N_SPECIAL; s++)
            if (strcmp(name, special[s].name) == 0)
                sp = s;
        const app_optdef *d = sp < 0 ? app_config_find(name) : NULL;
        if (sp < 0 && !d) {
            st = unknown(cmd, arg, name, err);
            goto done;
        }
        unsigned cmds = sp >= 0 ? special[sp].cmds : d->cmds;
        if (!(cmds & cmd)) {
            st = foreign(cmd, name, cmds, err);
            goto done;
        }
        int takes = sp == SP_CONFIG || (d && d->type != APP_T_BOOL);
        if (!takes && eq) {
            st = mt_errf(err, MT_EARG, "option '--%s' takes no value", name);
            goto done;
        }
        const char *val = NULL;
        if (takes) {
            if (eq)
                val = eq + 1;
            else if (i + 1 < argc)
                val = argv[++i];
            else {
                st = mt_errf(err, MT_EARG, "option '--%s' needs a value", name);
                goto done;
            }
        }
        switch (sp) {
        case SP_CONFIG: snprintf(config_name, sizeof config_name, "%s", val); break;
        case SP_PRINT_CONFIG: a->print_config = 1; break;
        case SP_HELP: a->help = 1; break;
        case SP_VERSION: a->version = 1; break;
        default:
            which[n_set] = (int)(d - t);
            vals[n_set++] = val;
            break;
        }
    }
    a->pos = argv + 1;
    a->n_pos = n_pos;
    if (base) {
        a->cfg = *base;
    } else {
        app_config_defaults(&a->cfg);
        unset_optimizer_defaults(&a->cfg);
    }
    if (config_name[0] && ((st = app_config_locate(a->config_path, sizeof a->config_path, config_name, err)) ||
                           (st = app_config_load(&a->cfg, a->config_path, err))))
        goto done;
    for (int i = 0; i < n_set; i++) {
        const app_optdef *d = &t[which[i]];
        char origin[80];
        snprintf(origin, sizeof origin, "--%s", d->name);
        if (which[i] < (int)sizeof a->given)
            a->given[which[i]] = 1;
        if (d->type == APP_T_BOOL) {
            st = app_config_set(&a->cfg, d, d->flags & APP_OPTF_NEGATE ? "false" : "true", origin, err);
        } else if (d->flags & APP_OPTF_REPEAT) {
            /* the second and later --mirror append to the list the first began */
            int before = 0;
            for (int j = 0; j < i; j++)
                before |= which[j] == which[i];
            char list[4096];
            const char *cur = (const char *)&a->cfg + d->offset;
            int len = snprintf(list, sizeof list, "%s%s%s", before ? cur : "", before ? "," : "", vals[i]);
            st = len < 0 || (size_t)len >= sizeof list || (size_t)len >= d->size
                     ? mt_errf(err, MT_EARG, "%s: the values are longer than %zu characters in all", origin,
                               d->size - 1)
                     : app_config_set(&a->cfg, d, list, origin, err);
        } else {
            st = app_config_set(&a->cfg, d, vals[i], origin, err);
        }
        if (st)
            goto done;
    }
done:
    if (!base)
        resolve_optimizer_defaults(&a->cfg);
    free(which);
    free(vals);
    return st;
}

int app_opt_given(const app_args *a, const char *name)
{
    int n;
    const app_optdef *t = app_config_options(&n);
    const app_optdef *d = app_config_find(name);
    return d && (d - t) < (int)sizeof a->given && a->given[d - t];
}

int app_opt_wants_json(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--json") == 0)
            return 1;
    return 0;
}

static void print_line(FILE *f, const char *left, const char *help)
{
    if (strlen(left) > 22)
        fprintf(f, "  %s\n  %-22s %s\n", left, "", help);
    else
        fprintf(f, "  %-22s %s\n", left, help);
}

void app_opt_help(FILE *f, unsigned cmd, const char *usage, const char *about)
{
    int n;
    const app_optdef *t = app_config_options(&n);
    fprintf(f, "Usage: %s\n\n%s\n\nOptions:\n", usage, about);
    for (int i = 0; i < n; i++) {
        const app_optdef *d = &t[i];
        if (!(d->cmds & cmd))
            continue;
        char left[64], help[512];
        snprintf(left, sizeof left, "--%s%s%s", d->name, d->metavar ? " " : "", d->metavar ? d->metavar : "");
        int len = snprintf(help, sizeof help, "%s", d->help);
        if (d->choices)
            len += snprintf(help + len, sizeof help - (size_t)len, " (%s)", d->choices);
        /* eval writes pictures only when asked: no default grid there */
        int show_def = d->type != APP_T_BOOL && *d->def && !(cmd == APP_CMD_EVAL && strcmp(d->name, "grid") == 0);
        if (show_def)
            snprintf(help + len, sizeof help - (size_t)len, " [default: %s]", d->def);
        print_line(f, left, help);
    }
    for (int s = 0; s < N_SPECIAL; s++)
        if (special[s].cmds & cmd)
            print_line(f, special[s].left, special[s].help);
}

mt_status app_opt_print_config(const app_config *cfg, int pretty, mt_err *err)
{
    char *s = app_config_to_json(cfg, pretty);
    if (!s)
        return mt_errf(err, MT_ENOMEM, "out of memory");
    puts(s);
    free(s);
    return MT_OK;
}

int app_opt_threads(const app_config *cfg)
{
    return cfg->threads > 0 ? (int)cfg->threads : mt_pool_online_cpus();
}

mt_status app_opt_kernels(const app_config *cfg, const mt_kern **k, mt_err *err)
{
    mt_err e = { 0 };
    mt_status st = mt_kern_select(k, (mt_isa)mt_isa_parse(cfg->isa), &e);
    return st ? mt_errf(err, st, "--isa %s", e.msg + (strncmp(e.msg, "kernels ", 8) == 0 ? 8 : 0)) : MT_OK;
}
