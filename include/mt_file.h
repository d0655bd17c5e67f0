/* mt_file: how every reader opens its input, whole files written atomically
 * (outputs built in memory: ONNX models, HTML reports), and the housekeeping
 * of atomic saves.  An input must be a regular file: a FIFO, directory, socket or
 * device is refused before any open() that could block (a FIFO with no
 * writer blocks forever) or have side effects (devices).  Every "cannot open"
 * gives strerror's reason; EINTR is retried, never reported as bad data. */
#ifndef MT_FILE_H
#define MT_FILE_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "mt_err.h"

/* "a directory", "a FIFO (named pipe)", "a character device", "a block
 * device", "a socket", "a regular file" or "a special file" for st_mode. */
const char *mt_file_kind(mode_t mode);

/* Checks that path names a regular file (following symlinks) without opening
 * it.  On failure returns code with one line naming the file:
 *   "PATH: cannot open: No such file or directory"
 *   "PATH: is a FIFO (named pipe), not a regular file"
 * what (may be NULL) names the role in the message: "PATH: cannot open
 * config: ...". */
mt_status mt_file_check(const char *path, const char *what, mt_status code, mt_err *err);

/* Opens path for reading as a regular file: stat, then open with O_NONBLOCK
 * (cannot block even if the file was swapped for a FIFO in between), fstat
 * on the descriptor, and O_NONBLOCK cleared.  *fd is written only on
 * success (caller closes).  Errors as mt_file_check; an interrupted open is
 * retried. */
mt_status mt_file_open(const char *path, const char *what, mt_status code, int *fd, mt_err *err);

/* mt_file_open as a stdio stream ("rb"); caller fcloses. */
mt_status mt_file_fopen(const char *path, const char *what, mt_status code, FILE **fp, mt_err *err);

/* Reads up to n bytes from fd, retrying EINTR and short reads; returns the
 * bytes read (< n only at end of file) or -1 with errno set. */
ssize_t mt_file_read(int fd, void *buf, size_t n);

/* Reads the whole regular file at path into a new buffer with a NUL after
 * the data (*buf, caller frees; *n bytes without the NUL).  A file larger
 * than max bytes is refused with code ("PATH: larger than MAX bytes").
 * Read errors -> code with strerror's reason; no memory -> MT_ENOMEM. */
mt_status mt_file_read_all(const char *path, const char *what, mt_status code, size_t max,
                           char **buf, size_t *n, mt_err *err);

/* For savers, before they create a temp file beside path: MT_EIO when
 * something other than a regular file (after symlinks) is at path ("PATH: is
 * a character device, not a regular file: not replaced"): renaming over it
 * would replace a device, FIFO or socket with a file.  MT_OK when nothing is
 * there or a regular file is. */
mt_status mt_file_check_target(const char *path, mt_err *err);

/* Removes temporary files that an interrupted save to path left beside it:
 * "BASE.tmpXXXXXX" (mt_st_write) and ".BASE.XXXXXX" (mt_png_write_rgb), X
 * being mkstemp's letters and digits, regular files owned by this user, not
 * modified for at least min_age seconds (so a save in progress in another
 * process keeps its file).  Best effort: returns how many were removed.
 * Called after a save to path succeeded. */
int mt_file_sweep_tmp(const char *path, double min_age);

/* min_age used by the savers: a temp file untouched for this long is stale. */
#define MT_FILE_STALE_S 60.0

/* Writes data (n bytes) to path through a temporary file next to it
 * ("<path>.tmpXXXXXX"), fsync'ed, then rename()d over path: path is either
 * untouched or the complete new file; stale temporary files of earlier
 * interrupted saves are swept afterwards (mt_file_sweep_tmp).  The mode is
 * that of the file replaced, else 0644.  Returns MT_OK; MT_EARG for a NULL
 * path; MT_EIO "<path>: <what failed>: <reason>" (the temporary file is
 * removed); MT_ENOMEM. */
mt_status mt_file_write_atomic(const char *path, const void *data, size_t n, mt_err *err);

#endif
