/* mt_file: the one way readers open inputs (regular files only, checked
 * before a blocking open) and the sweeping of stale temp files of atomic
 * saves.  POSIX only; nothing here knows a file format. */
#define _DEFAULT_SOURCE /* dirfd, DT_* */
#include "mt_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *mt_file_kind(mode_t mode)
{
    if (S_ISREG(mode))  return "a regular file";
    if (S_ISDIR(mode))  return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
    if (S_ISCHR(mode))  return "a character device";
    if (S_ISBLK(mode))  return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    return "a special file";
}

static mt_status open_error(const char *path, const char *what, mt_status code, int e, mt_err *err)
{
    if (e == EINTR)
        return mt_errf(err, MT_EINTR, "%s: interrupted while opening", path);
    if (e == ENOMEM)
        return mt_errf(err, MT_ENOMEM, "%s: cannot open: %s", path, strerror(e));
    return mt_errf(err, code, "%s: cannot open%s%s: %s", path, what ? " " : "", what ? what : "", strerror(e));
}

static mt_status kind_error(const char *path, mode_t mode, mt_status code, mt_err *err)
{
    return mt_errf(err, code, "%s: is %s, not a regular file", path, mt_file_kind(mode));
}

mt_status mt_file_check(const char *path, const char *what, mt_status code, mt_err *err)
{
    struct stat sb;
    if (!path)
        return mt_errf(err, MT_EARG, "(null): no file name");
    if (stat(path, &sb) != 0)
        return open_error(path, what, code, errno, err);
    if (!S_ISREG(sb.st_mode))
        return kind_error(path, sb.st_mode, code, err);
    return MT_OK;
}

mt_status mt_file_open(const char *path, const char *what, mt_status code, int *fd, mt_err *err)
{
    mt_status st = mt_file_check(path, what, code, err);
    if (st)
        return st;
    int f;
    do
        f = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    while (f < 0 && errno == EINTR);
    if (f < 0)
        return open_error(path, what, code, errno, err);
    struct stat sb;
    if (fstat(f, &sb) != 0) {
        st = open_error(path, what, code, errno, err);
        goto fail;
    }
    if (!S_ISREG(sb.st_mode)) { /* replaced between stat and open */
        st = kind_error(path, sb.st_mode, code, err);
        goto fail;
    }
    int fl = fcntl(f, F_GETFL);
    if (fl < 0 || fcntl(f, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        st = open_error(path, what, code, errno, err);
        goto fail;
    }
    *fd = f;
    return MT_OK;
fail:
    close(f);
    return st;
}

mt_status mt_file_fopen(const char *path, const char *what, mt_status code, FILE **fp, mt_err *err)
{
    int fd;
    mt_status st = mt_file_open(path, what, code, &fd, err);
    if (st)
        return st;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        int e = errno;
        close(fd);
        return open_error(path, what, code, e, err);
    }
    *fp = f;
    return MT_OK;
}

ssize_t mt_file_read(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

mt_status mt_file_read_all(const char *path, const char *what, mt_status code, size_t max,
                           char **buf, size_t *n, mt_err *err)
{
    int fd;
    mt_status st = mt_file_open(path, what, code, &fd, err);
    if (st)
        return st;
    char *b = NULL;
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        st = mt_errf(err, code, "%s: cannot read: %s", path, strerror(errno));
        goto fail;
    }
    if (sb.st_size < 0 || (unsigned long long)sb.st_size > max) {
        st = mt_errf(err, code, "%s: larger than %zu bytes", path, max);
        goto fail;
    }
    /* one byte more than the size: a file that grew is caught, not cut */
    size_t size = (size_t)sb.st_size;
    if (!(b = malloc(size + 2))) {
        st = mt_errf(err, MT_ENOMEM, "%s: out of memory for %zu bytes", path, size);
        goto fail;
    }
    ssize_t r = mt_file_read(fd, b, size + 1);
    if (r < 0) {
        st = mt_errf(err, code, "%s: cannot read: %s", path, strerror(errno));
        goto fail;
    }
    if ((size_t)r != size) {
        st = mt_errf(err, code, "%s: cannot read: the file changed size while being read", path);
        goto fail;
    }
    b[size] = '\0';
    close(fd);
    *buf = b;
    *n = size;
    return MT_OK;
fail:
    free(b);
    close(fd);
    return st;
}

mt_status mt_file_check_target(const char *path, mt_err *err)
{
    struct stat sb;
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
        return mt_errf(err, MT_EIO, "%s: is %s, not a regular file: not replaced", path, mt_file_kind(sb.st_mode));
    return MT_OK;
}

/* s is n mkstemp letters (A-Z a-z 0-9). */
static int mkstemp_suffix(const char *s, size_t n)
{
    if (strlen(s) != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            return 0;
    }
    return 1;
}

int mt_file_sweep_tmp(const char *path, double min_age)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t blen = strlen(base), dlen = slash ? (size_t)(slash - path) : 0;
    char *dir = malloc(dlen + 2);
    if (!dir || !blen) {
        free(dir);
        return 0;
    }
    if (!slash)
        strcpy(dir, ".");
    else if (dlen == 0)
        strcpy(dir, "/");
    else {
        memcpy(dir, path, dlen);
        dir[dlen] = '\0';
    }
    int removed = 0;
    DIR *d = opendir(dir);
    time_t now = time(NULL);
    for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
        const char *name = e->d_name;
        int ours = (strncmp(name, base, blen) == 0 && strncmp(name + blen, ".tmp", 4) == 0 &&
                    mkstemp_suffix(name + blen + 4, 6)) ||
                   (name[0] == '.' && strncmp(name + 1, base, blen) == 0 && name[blen + 1] == '.' &&
                    mkstemp_suffix(name + blen + 2, 6));
        struct stat sb;
        if (ours && fstatat(dirfd(d), name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode) &&
            sb.st_uid == geteuid() && difftime(now, sb.st_mtime) >= min_age &&
            unlinkat(dirfd(d), name, 0) == 0)
            removed++;
    }
    if (d)
        closedir(d);
    free(dir);
    return removed;
}

/* ------------------------------------------------------------------------- */
/* Atomic whole-file writes                                                  */
/* ------------------------------------------------------------------------- */

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
    mt_file_sweep_tmp(path, MT_FILE_STALE_S);
done:
    if (fd >= 0)
        close(fd);
    if (created)
        unlink(tmp);
    free(tmp);
    return st;
}
