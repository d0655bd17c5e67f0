/* mt_file: whole files written atomically, for outputs built in memory
 * (ONNX models, HTML reports). */
#ifndef MT_FILE_H
#define MT_FILE_H

#include <stddef.h>

#include "mt_err.h"

/* Writes data (n bytes) to path through a temporary file next to it
 * ("<path>.tmpXXXXXX"), flushed and fsync'ed, then rename()d over path: path
 * is either untouched or the complete new file.  The mode is that of the file
 * replaced, else 0644.  Returns MT_OK; MT_EARG for a NULL path; MT_EIO
 * "<path>: <what failed>: <reason>" (the temporary file is removed);
 * MT_ENOMEM. */
mt_status mt_file_write_atomic(const char *path, const void *data, size_t n, mt_err *err);

#endif
