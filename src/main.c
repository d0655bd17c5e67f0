/* mnist-train: entry point.  Picks the command (training is the default) and
 * leaves everything else to it. */
#include <stdio.h>
#include <string.h>

#include "app_cmd.h"
#include "app_config.h"
#include "app_exit.h"
#include "app_opt.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    { "train", app_cmd_train, "train a model (the default when no command is given)" },
    { "eval", app_cmd_eval, "test a checkpoint: loss, accuracy, confusion table" },
    { "predict", app_cmd_predict, "classify digit pictures (PNG, JPEG) with a checkpoint" },
    { "info", app_cmd_info, "describe a checkpoint or an IDX file" },
    { "fetch", app_cmd_fetch, "download and verify a data set (mnist, fashion-mnist)" },
    { "export", app_cmd_export, "write a checkpoint as an ONNX model" },
};
#define N_COMMANDS ((int)(sizeof commands / sizeof *commands))

/* `mnist-train --help`: the commands, then the default command's options */
static void usage(void)
{
    char about[1024];
    int len = snprintf(about, sizeof about, "Commands:\n");
    for (int i = 0; i < N_COMMANDS; i++)
        len += snprintf(about + len, sizeof about - (size_t)len, "  %-10s %s\n", commands[i].name, commands[i].help);
    snprintf(about + len, sizeof about - (size_t)len,
             "\n'mnist-train COMMAND --help' shows a command's options; training's follow.\n\n"
             "Exit codes: 0 ok, 2 usage or config, 3 bad data or checkpoint, 4 output not written,\n"
             "5 network, 6 training diverged, 130/143 interrupted (SIGINT/SIGTERM).");
    app_opt_help(stdout, APP_CMD_TRAIN, "mnist-train [COMMAND] [OPTIONS]", about);
}

int main(int argc, char **argv)
{
    app_signals_install();
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage();
        return app_exit_finish(APP_EXIT_OK);
    }
    if (argc > 1 && argv[1][0] != '-') {
        const char *names[N_COMMANDS];
        for (int i = 0; i < N_COMMANDS; i++) {
            if (strcmp(argv[1], commands[i].name) == 0)
                return app_exit_finish(commands[i].fn(argc - 1, argv + 1));
            names[i] = commands[i].name;
        }
        const char *near = app_nearest(argv[1], names, N_COMMANDS);
        app_log lg;
        mt_err err;
        char e[MT_ESC_CAP];
        app_log_init(&lg, app_opt_wants_json(argc, argv), "off");
        mt_errf(&err, MT_EARG, "unknown command '%s'%s%s%s", mt_esc(e, argv[1]), near ? " (did you mean '" : "",
                near ? near : "", near ? "'?)" : "");
        return app_fail(&lg, &err, NULL);
    }
    return app_exit_finish(app_cmd_train(argc, argv));
}
