/* mt_file: atomic whole-file writes (temporary file in the same directory,
 * fsync, rename, then fsync of the directory so the rename survives a crash).
 * It does not create directories. */
#include "mt_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void sync_dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else
        snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

mt_status mt_file_write_atomic(const char *path, const void *data, size_t n, mt_err *err)
{
    if (!path || (!data && n))
        return mt_errf(err, MT_EARG, "mt_file_write_atomic: path or data is NULL");
    mt_status st = MT_OK;
    size_t plen = strlen(path);
    char *tmp = malloc(plen + sizeof ".tmpXXXXXX");
    int fd = -1, created = 0;
    if (!tmp)
        return mt_errf(err, MT_ENOMEM, "%s: out of memory", path);
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmpXXXXXX", sizeof ".tmpXXXXXX");
    if ((fd = mkstemp(tmp)) < 0) {
        st = mt_errf(err, MT_EIO, "%s: cannot create a temporary file next to it: %s", path, strerror(errno));
        goto done;
    }
    created = 1;
    struct stat sb;
    mode_t mode = (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) ? (sb.st_mode & 0777) : 0644;
    if (fchmod(fd, mode) != 0) {
        st = mt_errf(err, MT_EIO, "%s: cannot prepare temporary file %s: %s", path, tmp, strerror(errno));
        goto done;
    }
    for (size_t off = 0; off < n;) {
        ssize_t w = write(fd, (const char *)data + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            st = mt_errf(err, MT_EIO, "%s: cannot write temporary file %s: %s", path, tmp,
                         w < 0 ? strerror(errno) : "short write");
            goto done;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0) {
        st = mt_errf(err, MT_EIO, "%s: cannot write temporary file %s: %s", path, tmp, strerror(errno));
        goto done;
    }
    int rc = close(fd);
    fd = -1;
    if (rc != 0) {
        st = mt_errf(err, MT_EIO, "%s: cannot close temporary file %s: %s", path, tmp, strerror(errno));
        goto done;
    }
    if (rename(tmp, path) != 0) {
        st = mt_errf(err, MT_EIO, "%s: cannot rename temporary file over it: %s", path, strerror(errno));
        goto done;
    }
    created = 0;
    sync_dir_of(path);
done:
    if (fd >= 0)
        close(fd);
    if (created)
        unlink(tmp);
    free(tmp);
    return st;
}
