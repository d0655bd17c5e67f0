/* mnist-train: entry point.  Picks the subcommand (training is the default),
 * installs the signal handlers, and leaves everything else to app_cmd_*. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "app_cli.h"
#include "app_fetch.h"

volatile sig_atomic_t app_stop_signal = 0;

static void on_signal(int sig)
{
    if (app_stop_signal) /* second ^C: give up at once */
        signal(sig, SIG_DFL), raise(sig);
    app_stop_signal = sig;
}

int app_exit_code(mt_status st)
{
    if (st == MT_EINTR)
        return app_stop_signal == SIGTERM ? MT_EXIT_SIGTERM : MT_EXIT_SIGINT;
    return mt_exit_code(st);
}

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    { "train", app_cmd_train, "train a model (the default when no command is given)" },
    { "fetch", app_cmd_fetch, "download and verify a data set (mnist, fashion-mnist)" },
    { "eval", app_cmd_eval, "test a checkpoint: loss, accuracy, confusion table" },
    { "predict", app_cmd_predict, "classify digit pictures (PNG) with a checkpoint" },
    { "info", app_cmd_info, "describe a checkpoint or an IDX file" },
};

static void usage(FILE *f)
{
    fprintf(f, "Usage: mnist-train [COMMAND] [OPTIONS]\n\nCommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n'mnist-train COMMAND --help' shows a command's options.\n\n"
               "Training options (mnist-train [train] ...):\n");
    app_cli_print_options(f);
    fprintf(f, "\nExit codes: 0 ok, 2 usage or config, 3 bad data or checkpoint, 4 output not written,\n"
               "5 network, 6 training diverged, 130/143 interrupted (SIGINT/SIGTERM).\n");
}

int main(int argc, char **argv)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    if (argc > 1 && argv[1][0] != '-') {
        for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
            if (strcmp(argv[1], commands[i].name) == 0) {
                app_fetch_init();
                int rc = commands[i].fn(argc - 1, argv + 1);
                app_fetch_cleanup();
                return rc;
            }
        fprintf(stderr, "mnist-train: unknown command '%s'\nTry 'mnist-train --help' for more information.\n",
                argv[1]);
        return MT_EXIT_USAGE;
    }
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return MT_EXIT_OK;
    }
    app_fetch_init();
    int rc = app_cmd_train(argc, argv);
    app_fetch_cleanup();
    return rc;
}
