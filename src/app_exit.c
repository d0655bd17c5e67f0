/* app_exit: exit codes, stop signals and the error reporter.  The library
 * returns statuses and knows nothing of this contract. */
#include "app_exit.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

volatile sig_atomic_t app_stop_signal = 0;

static void on_signal(int sig)
{
    if (app_stop_signal) /* second ^C: give up at once */
        signal(sig, SIG_DFL), raise(sig);
    app_stop_signal = sig;
}

void app_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGXFSZ, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
}

int app_exit_finish(int rc)
{
    int bad = fflush(stdout) != 0 || ferror(stdout);
    int e = errno;
    if (!bad)
        return rc;
    if (e == EPIPE)
        return APP_EXIT_PIPE;
    if (rc == APP_EXIT_OK) {
        fprintf(stderr, "mnist-train: cannot write to standard output: %s\n", strerror(e));
        return APP_EXIT_OUTPUT;
    }
    return rc;
}

int app_exit_code(mt_status st)
{
    switch (st) {
    case MT_OK:        return APP_EXIT_OK;
    case MT_EARG:      return APP_EXIT_USAGE;
    case MT_EDATA:     return APP_EXIT_DATA;
    case MT_EIO:       return APP_EXIT_OUTPUT;
    case MT_ENET:      return APP_EXIT_NET;
    case MT_EDIVERGED: return APP_EXIT_DIVERGED;
    case MT_EINTR:     return app_stop_signal == SIGTERM ? APP_EXIT_SIGTERM : APP_EXIT_SIGINT;
    case MT_ENOMEM:    return APP_EXIT_INTERNAL;
    }
    return APP_EXIT_INTERNAL;
}

int app_fail(app_log *lg, const mt_err *err, const char *cmd)
{
    app_log_error(lg, "%s", err->msg);
    if (err->code == MT_EARG)
        fprintf(stderr, "Try 'mnist-train %s%s--help' for more information.\n", cmd ? cmd : "", cmd ? " " : "");
    int code = app_exit_code(err->code);
    app_ev *e = app_ev_new("error");
    app_ev_str(e, "kind", mt_status_name(err->code));
    app_ev_str(e, "message", err->msg);
    app_ev_int(e, "exit_code", code);
    app_ev_emit(lg, e);
    return code;
}
