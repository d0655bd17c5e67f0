/* mt_err: status codes and error messages shared by every module.
 * A function that can fail returns mt_status and fills an mt_err with a
 * one-line message that names the file or option and the problem; only main
 * turns it into an exit code (mt_exit_code) and prints it. */
#ifndef MT_ERR_H
#define MT_ERR_H

#include <stddef.h>

typedef enum {
    MT_OK = 0,
    MT_EARG,      /* usage or config error             -> exit 2 */
    MT_EDATA,     /* bad data set or checkpoint        -> exit 3 */
    MT_EIO,       /* output could not be written       -> exit 4 */
    MT_ENET,      /* network / download failure        -> exit 5 */
    MT_EDIVERGED, /* training produced NaN/inf         -> exit 6 */
    MT_EINTR,     /* interrupted by SIGINT / SIGTERM   -> exit 130 / 143 */
    MT_ENOMEM     /* out of memory                     -> exit 1 */
} mt_status;

/* Exit codes of the command-line contract (README "Exit codes"). */
enum {
    MT_EXIT_OK = 0, MT_EXIT_INTERNAL = 1, MT_EXIT_USAGE = 2, MT_EXIT_DATA = 3,
    MT_EXIT_OUTPUT = 4, MT_EXIT_NET = 5, MT_EXIT_DIVERGED = 6,
    MT_EXIT_SIGINT = 130, MT_EXIT_SIGTERM = 143
};

typedef struct {
    mt_status code;
    char msg[512]; /* one line, no trailing newline, no program-name prefix */
} mt_err;

/* Fills err (may be NULL) with code and a printf-style message; returns code. */
mt_status mt_errf(mt_err *err, mt_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* User text shown inside a message (a config key or value, an argument),
 * made safe for a one-line terminal message: \n \r \t as such, other
 * control bytes, DEL and bytes that are not valid UTF-8 as \xNN, a backslash
 * as \\; valid UTF-8 passes.  At most MT_ESC_MAX characters of s are shown,
 * then "...".  Writes into buf (MT_ESC_CAP bytes) and returns it. */
#define MT_ESC_MAX 60
#define MT_ESC_CAP (4 * MT_ESC_MAX + 8)
const char *mt_esc(char buf[MT_ESC_CAP], const char *s);
/* Same for n bytes that may include NUL bytes (shown as \x00). */
const char *mt_escn(char buf[MT_ESC_CAP], const char *s, size_t n);

/* The exit code for a status (MT_EINTR maps to 130; main picks 143 for SIGTERM). */
int mt_exit_code(mt_status s);

/* Short human name of a status, e.g. "data error". */
const char *mt_status_name(mt_status s);

#endif
