/* mt_err: formatting of one-line error messages and the names of statuses.
 * Deliberately holds no global "last error": every caller passes its own mt_err. */
#include "mt_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

mt_status mt_errf(mt_err *err, mt_status code, const char *fmt, ...)
{
    if (err) {
        /* formatted aside first: callers may wrap the previous message
         * ("%s: %s", path, err->msg), which vsnprintf must not overwrite
         * while reading it */
        char msg[sizeof err->msg];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        memcpy(err->msg, msg, sizeof msg);
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

/* Length of the valid UTF-8 sequence at s (n bytes left) that is not a C1
 * control character, else 0.  Overlong forms and surrogates are invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : 2;
    if (s[0] < 0xc2 || s[0] > 0xf4 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
        (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f) ||
        (s[0] == 0xc2 && s[1] < 0xa0)) /* U+0080..U+009F: C1 controls */
        return 0;
    return len;
}

const char *mt_escn(char buf[MT_ESC_CAP], const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0, i = 0;
    for (int shown = 0; i < n && shown < MT_ESC_MAX; shown++) {
        unsigned char c = p[i];
        size_t u;
        if (c == '\\' || c == '\n' || c == '\r' || c == '\t') {
            buf[o++] = '\\';
            buf[o++] = c == '\n' ? 'n' : c == '\r' ? 'r' : c == '\t' ? 't' : '\\';
            i++;
        } else if (c >= 0x20 && c < 0x7f) {
            buf[o++] = (char)c;
            i++;
        } else if (c >= 0x80 && (u = utf8_len(p + i, n - i)) > 0) {
            memcpy(buf + o, p + i, u);
            o += u;
            i += u;
        } else {
            snprintf(buf + o, 5, "\\x%02x", c);
            o += 4;
            i++;
        }
    }
    if (i < n) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

const char *mt_esc(char buf[MT_ESC_CAP], const char *s)
{
    return s ? mt_escn(buf, s, strlen(s)) : strcpy(buf, "(null)");
}
