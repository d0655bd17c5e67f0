/* app_exit: the base of the command layer's contract with scripts: exit
 * codes, the stop signals, and the one error reporter every failure of every
 * command goes through (a line on stderr, an "error" event with --json).
 * Only this file maps a library status to an exit code. */
#ifndef APP_EXIT_H
#define APP_EXIT_H

#include <signal.h>

#include "app_log.h"
#include "mt_err.h"

/* The exit codes of the command-line contract (README "Scripting"). */
enum {
    APP_EXIT_OK = 0, APP_EXIT_INTERNAL = 1, APP_EXIT_USAGE = 2, APP_EXIT_DATA = 3,
    APP_EXIT_OUTPUT = 4, APP_EXIT_NET = 5, APP_EXIT_DIVERGED = 6,
    APP_EXIT_SIGINT = 130, APP_EXIT_SIGTERM = 143,
    APP_EXIT_PIPE = 141 /* stdout closed by its reader (`| head`): a quiet exit, as SIGPIPE's */
};

/* Set by SIGINT (2) or SIGTERM (15); commands stop at the next safe point.
 * A second signal ends the process at once. */
extern volatile sig_atomic_t app_stop_signal;

/* Installs the handlers for SIGINT and SIGTERM (once, in main), and ignores
 * SIGXFSZ (a file-size limit makes the write fail with EFBIG: the save
 * removes its temp file and the run ends with exit 4 and a line) and SIGPIPE
 * (a closed stdout is seen as EPIPE: app_log_stdout_check). */
void app_signals_install(void);

/* main's last word on a command's exit code rc: flushes stdout; a reader that
 * went away gives APP_EXIT_PIPE without a message, another write error a
 * line and APP_EXIT_OUTPUT (when rc was 0). */
int app_exit_finish(int rc);

/* The exit code for a status: MT_EINTR gives 130 or 143 by the signal seen. */
int app_exit_code(mt_status st);

/* The one error reporter: "mnist-train: MESSAGE" on stderr, for a usage
 * error a "Try 'mnist-train CMD --help'" hint, and with --json an "error"
 * event {kind, message, exit_code}.  cmd is the command name or NULL.
 * Returns the exit code. */
int app_fail(app_log *lg, const mt_err *err, const char *cmd);

#endif
