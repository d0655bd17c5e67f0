/* mt_err: formatting of one-line error messages and the names of statuses.
 * Deliberately holds no global "last error": every caller passes its own mt_err. */
#include "mt_err.h"

#include <stdarg.h>
#include <stdio.h>

mt_status mt_errf(mt_err *err, mt_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

const char *mt_status_name(mt_status s)
{
    switch (s) {
    case MT_OK:        return "ok";
    case MT_EARG:      return "usage error";
    case MT_EDATA:     return "data error";
    case MT_EIO:       return "output error";
    case MT_ENET:      return "network error";
    case MT_EDIVERGED: return "training diverged";
    case MT_EINTR:     return "interrupted";
    case MT_ENOMEM:    return "out of memory";
    }
    return "unknown error";
}
