/* app_cmd: the commands main dispatches to.  Each parses its own options,
 * reports every failure through app_fail, and returns an exit code of the
 * contract in app_exit.h. */
#ifndef APP_CMD_H
#define APP_CMD_H

int app_cmd_train(int argc, char **argv);
int app_cmd_eval(int argc, char **argv);
int app_cmd_predict(int argc, char **argv);
int app_cmd_info(int argc, char **argv);
int app_cmd_fetch(int argc, char **argv);
int app_cmd_export(int argc, char **argv);

#endif
