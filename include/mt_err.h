/* mt_err: status codes and error messages shared by every module.
 * A function that can fail returns mt_status and fills an mt_err with a
 * one-line message that names the file and the problem; the command layer
 * alone prints it and turns the status into an exit code. */
#ifndef MT_ERR_H
#define MT_ERR_H

#include <stddef.h>

typedef enum {
    MT_OK = 0,
    MT_EARG,      /* bad argument, usage or config */
    MT_EDATA,     /* bad data set or checkpoint */
    MT_EIO,       /* output could not be written */
    MT_ENET,      /* network / download failure */
    MT_EDIVERGED, /* training produced NaN/inf */
    MT_EINTR,     /* interrupted (the caller's stop flag, or EINTR) */
    MT_ENOMEM     /* out of memory */
} mt_status;

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

/* Short human name of a status, e.g. "data error". */
const char *mt_status_name(mt_status s);

#endif
