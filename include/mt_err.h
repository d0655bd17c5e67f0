/* mt_err: status codes and error messages shared by every module.
 * A function that can fail returns mt_status and fills an mt_err with a
 * one-line message that names the file and the problem; the command layer
 * alone prints it and turns the status into an exit code. */
#ifndef MT_ERR_H
#define MT_ERR_H

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

/* Short human name of a status, e.g. "data error". */
const char *mt_status_name(mt_status s);

#endif
