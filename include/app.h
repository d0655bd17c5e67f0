/* app: the subcommands of mnist-train (owned by main). Each returns an exit
 * code of the contract in README.md. */
#ifndef APP_H
#define APP_H

#include <signal.h>

#include "mt_err.h"

/* Set by SIGINT (2) or SIGTERM (15); commands stop at the next safe point. */
extern volatile sig_atomic_t app_stop_signal;

/* Exit code for a status, taking the signal into account (130 / 143). */
int app_exit_code(mt_status st);

int app_cmd_train(int argc, char **argv);
int app_cmd_eval(int argc, char **argv);    /* checkpoints and subcommands (issue 5) */
int app_cmd_predict(int argc, char **argv);
int app_cmd_info(int argc, char **argv);

#endif
