/* mt_fetch: data set specs, .gz verification (zlib gz* + crc32) and a libcurl
 * downloader that writes FILE.part, verifies it, fsyncs and renames it.
 * It deliberately does not parse IDX (mt_idx does) nor print anything.
 * References: the MNIST page (yann.lecun.com/exdb/mnist), Fashion-MNIST's
 * README (github.com/zalandoresearch/fashion-mnist), RFC 1952 (gzip). */
#include "mt_fetch.h"
#include "mt_file.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <zlib.h>

/* ================================================================ specs == */

static const mt_fetch_file mnist_files[MT_FETCH_N_FILES] = {
    {"train-images-idx3-ubyte.gz", 47040016, 0xe9f4d8b3u},
    {"train-labels-idx1-ubyte.gz", 60008, 0xe0cb4ad2u},
    {"t10k-images-idx3-ubyte.gz", 7840016, 0x91373bdfu},
    {"t10k-labels-idx1-ubyte.gz", 10008, 0x4ab9eff9u},
};
static const char *const mnist_mirrors[] = {
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
};
static const char *const mnist_classes[10] = {
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9",
};

static const mt_fetch_file fashion_files[MT_FETCH_N_FILES] = {
    {"train-images-idx3-ubyte.gz", 47040016, 0xb4f29f28u},
    {"train-labels-idx1-ubyte.gz", 60008, 0x741a4657u},
    {"t10k-images-idx3-ubyte.gz", 7840016, 0x678fe0b1u},
    {"t10k-labels-idx1-ubyte.gz", 10008, 0x80142c1fu},
};
static const char *const fashion_mirrors[] = {
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
};
static const char *const fashion_classes[10] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
};

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const mt_fetch_spec specs[] = {
    {"mnist", mnist_files, MT_FETCH_N_FILES, mnist_mirrors, COUNT(mnist_mirrors),
     mnist_classes, COUNT(mnist_classes), NULL, "MNIST_DATA", "MNIST_MIRROR"},
    /* Debian 12's dataset-fashion-mnist installs the four files here */
    {"fashion-mnist", fashion_files, MT_FETCH_N_FILES, fashion_mirrors,
     COUNT(fashion_mirrors), fashion_classes, COUNT(fashion_classes), "/usr/share/datasets/fashion-mnist",
     NULL, NULL},
};

const mt_fetch_spec *mt_fetch_spec_at(int i)
{
    return (i >= 0 && i < COUNT(specs)) ? &specs[i] : NULL;
}

mt_status mt_fetch_spec_find(const mt_fetch_spec **out, const char *name, mt_err *err)
{
    if (!out || !name)
        return mt_errf(err, MT_EARG, "no data set name given (known: mnist, fashion-mnist)");
    for (int i = 0; i < COUNT(specs); i++) {
        if (strcmp(specs[i].name, name) == 0) {
            *out = &specs[i];
            return MT_OK;
        }
    }
    return mt_errf(err, MT_EARG, "unknown data set '%s' (known: mnist, fashion-mnist)", name);
}

/* ============================================================== mirrors == */

static int prefix_nocase(const char *s, const char *prefix)
{
    for (; *prefix; s++, prefix++)
        if (tolower((unsigned char)*s) != *prefix)
            return 0;
    return 1;
}

/* Only http(s): a mirror list comes from the command line or the environment,
 * and file://, ftp:// etc. would turn a typo into reading arbitrary places. */
static int is_http_url(const char *u)
{
    return (prefix_nocase(u, "http://") && u[7]) || (prefix_nocase(u, "https://") && u[8]);
}

mt_status mt_fetch_mirrors_add(mt_fetch_mirrors *m, const char *url, mt_err *err)
{
    if (!m || !url)
        return mt_errf(err, MT_EARG, "mt_fetch_mirrors_add: NULL argument");
    if (!is_http_url(url))
        return mt_errf(err, MT_EARG, "mirror '%s': only http:// and https:// URLs are supported", url);
    const char **urls = realloc(m->urls, (size_t)(m->n + 1) * sizeof *urls);
    if (!urls)
        return mt_errf(err, MT_ENOMEM, "out of memory adding mirror '%s'", url);
    m->urls = urls;
    size_t len = strlen(url) + 1;
    char *copy = malloc(len);
    if (!copy)
        return mt_errf(err, MT_ENOMEM, "out of memory adding mirror '%s'", url);
    memcpy(copy, url, len);
    m->urls[m->n++] = copy;
    return MT_OK;
}

void mt_fetch_mirrors_free(mt_fetch_mirrors *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n; i++)
        free((void *)m->urls[i]);
    free(m->urls);
    m->urls = NULL;
    m->n = 0;
}

mt_status mt_fetch_mirrors_parse(mt_fetch_mirrors *out, const char *list, mt_err *err)
{
    mt_fetch_mirrors m = {0};
    char *copy = NULL;
    mt_status st = MT_OK;

    if (!out || !list)
        return mt_errf(err, MT_EARG, "mt_fetch_mirrors_parse: NULL argument");
    out->urls = NULL;
    out->n = 0;
    size_t len = strlen(list) + 1;
    copy = malloc(len);
    if (!copy) {
        st = mt_errf(err, MT_ENOMEM, "out of memory parsing the mirror list");
        goto fail;
    }
    memcpy(copy, list, len);
    for (char *p = copy; *p;) {
        p += strspn(p, ", \t\r\n");
        if (!*p)
            break;
        size_t n = strcspn(p, ", \t\r\n");
        char save = p[n];
        p[n] = '\0';
        st = mt_fetch_mirrors_add(&m, p, err);
        if (st != MT_OK)
            goto fail;
        p[n] = save;
        p += n;
    }
    if (m.n == 0) {
        st = mt_errf(err, MT_EARG, "empty mirror list");
        goto fail;
    }
    free(copy);
    *out = m;
    return MT_OK;
fail:
    free(copy);
    mt_fetch_mirrors_free(&m);
    return st;
}

/* ========================================================= verification == */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int stopped(volatile sig_atomic_t *stop)
{
    return stop && *stop;
}

/* Describes the first bytes of a file that is not gzip, e.g. "starts with
 * '<html'": the classic failure is an HTML error page saved under .gz. */
static void describe_start(char *out, size_t n, const unsigned char *b, size_t len)
{
    char txt[17];
    size_t k = 0;
    while (k < len && k < 16 && b[k] >= 0x20 && b[k] < 0x7f && b[k] != '\'') {
        txt[k] = (char)b[k];
        k++;
    }
    txt[k] = '\0';
    if (k >= 2)
        snprintf(out, n, "starts with '%s'", txt);
    else if (len >= 2)
        snprintf(out, n, "starts with bytes 0x%02x 0x%02x", b[0], b[1]);
    else
        snprintf(out, n, "%zu byte%s long", len, len == 1 ? "" : "s");
}

/* gzerror's message without the "path: " zlib puts in front of it. */
static const char *gz_reason(gzFile g, const char *path, int *zerr)
{
    const char *m = gzerror(g, zerr);
    size_t n = strlen(path);
    if (strncmp(m, path, n) == 0 && m[n] == ':' && m[n + 1] == ' ')
        m += n + 2;
    return m;
}

/* The check behind every verify: why receives the reason without a file-name
 * prefix.  Returns MT_OK, MT_EDATA, MT_EINTR (stop set) or MT_ENOMEM. */
static mt_status verify_gz(const char *path, uint64_t size, uint32_t crc,
                           volatile sig_atomic_t *stop, char *why, size_t why_n)
{
    enum { BUF = 1 << 16 };
    unsigned char head[16];
    unsigned char *buf = NULL;
    gzFile g = NULL;
    int fd = -1;
    mt_status st = MT_EDATA;

    struct stat sb;
    mt_err oe;
    if (stat(path, &sb) != 0 && errno == ENOENT) {
        snprintf(why, why_n, "missing");
        goto fail;
    }
    if ((st = mt_file_open(path, NULL, MT_EDATA, &fd, &oe))) {
        /* the reason without the "PATH: " prefix, which the caller adds */
        const char *m = strncmp(oe.msg, path, strlen(path)) == 0 ? oe.msg + strlen(path) : oe.msg;
        snprintf(why, why_n, "%.200s", m[0] == ':' && m[1] == ' ' ? m + 2 : m);
        goto fail;
    }
    st = MT_EDATA;
    ssize_t rh = mt_file_read(fd, head, sizeof head);
    if (rh < 0 || lseek(fd, 0, SEEK_SET) != 0) {
        snprintf(why, why_n, "read error: %s", strerror(errno));
        goto fail;
    }
    size_t nh = (size_t)rh;
    /* gzread passes non-gzip input through unchanged, so check the magic. */
    if (nh < 2 || head[0] != 0x1f || head[1] != 0x8b) {
        char d[64];
        describe_start(d, sizeof d, head, nh);
        snprintf(why, why_n, "not a gzip file (%s)", d);
        goto fail;
    }
    buf = malloc(BUF);
    if (!buf) {
        st = MT_ENOMEM;
        snprintf(why, why_n, "out of memory");
        goto fail;
    }
    g = gzdopen(fd, "rb");
    if (!g) {
        snprintf(why, why_n, "cannot open: %s", errno ? strerror(errno) : "out of memory");
        goto fail;
    }
    fd = -1; /* now owned by g */
    gzbuffer(g, 1u << 17);
    uint64_t total = 0;
    uLong c = crc32(0L, Z_NULL, 0);
    for (;;) {
        if (stopped(stop)) {
            st = MT_EINTR;
            snprintf(why, why_n, "interrupted");
            goto fail;
        }
        int n = gzread(g, buf, BUF);
        if (n < 0) {
            int zerr = 0;
            const char *m = gz_reason(g, path, &zerr);
            snprintf(why, why_n, "corrupt gzip data (%s)", zerr == Z_ERRNO ? strerror(errno) : m);
            goto fail;
        }
        if (n == 0)
            break;
        total += (uint64_t)n;
        if (total > size) {
            snprintf(why, why_n, "decompressed size is more than the expected %" PRIu64 " bytes", size);
            goto fail;
        }
        c = crc32(c, buf, (uInt)n);
    }
    /* gzread reports a truncated stream only as Z_BUF_ERROR in gzerror. */
    int zerr = 0;
    const char *zmsg = gz_reason(g, path, &zerr);
    if (zerr != Z_OK) {
        snprintf(why, why_n, "corrupt gzip data (%s)", zmsg);
        goto fail;
    }
    int rc = gzclose_r(g);
    g = NULL;
    if (rc != Z_OK) {
        snprintf(why, why_n, "corrupt gzip data (%s)",
                 rc == Z_BUF_ERROR ? "unexpected end of file" : "gzclose failed");
        goto fail;
    }
    if (total != size) {
        snprintf(why, why_n, "decompressed size %" PRIu64 " bytes, expected %" PRIu64, total, size);
        goto fail;
    }
    if ((uint32_t)c != crc) {
        snprintf(why, why_n, "CRC-32 %08" PRIx32 ", expected %08" PRIx32, (uint32_t)c, crc);
        goto fail;
    }
    free(buf);
    return MT_OK;
fail:
    if (fd >= 0)
        close(fd);
    if (g)
        gzclose_r(g);
    free(buf);
    return st;
}

mt_status mt_fetch_verify_file(const char *path, uint64_t expected_size,
                               uint32_t expected_crc, mt_err *err)
{
    char why[256];
    if (!path)
        return mt_errf(err, MT_EARG, "mt_fetch_verify_file: NULL path");
    mt_status st = verify_gz(path, expected_size, expected_crc, NULL, why, sizeof why);
    if (st != MT_OK)
        return mt_errf(err, st, "%s: %s", path, why);
    return MT_OK;
}

/* "dir/name", malloc'd; NULL when out of memory. */
static char *join(const char *dir, const char *name, const char *suffix)
{
    size_t nd = strlen(dir), nn = strlen(name), ns = strlen(suffix);
    int slash = nd > 0 && dir[nd - 1] != '/';
    char *p = malloc(nd + (size_t)slash + nn + ns + 1);
    if (!p)
        return NULL;
    memcpy(p, dir, nd);
    if (slash)
        p[nd] = '/';
    memcpy(p + nd + slash, name, nn);
    memcpy(p + nd + slash + nn, suffix, ns + 1);
    return p;
}

mt_status mt_fetch_verify_dir(const char *dir, const mt_fetch_spec *spec,
                              mt_fetch_report_fn report, void *user, mt_err *err)
{
    char first[384] = "";
    int n_bad = 0;

    if (!dir || !*dir || !spec || !spec->files || spec->n_files <= 0)
        return mt_errf(err, MT_EARG, "mt_fetch_verify_dir: no directory or spec given");
    for (int i = 0; i < spec->n_files; i++) {
        const mt_fetch_file *f = &spec->files[i];
        char why[256];
        char *path = join(dir, f->name, "");
        if (!path)
            return mt_errf(err, MT_ENOMEM, "out of memory verifying %s", dir);
        mt_status st = verify_gz(path, f->size, f->crc32, NULL, why, sizeof why);
        free(path);
        if (st == MT_ENOMEM)
            return mt_errf(err, MT_ENOMEM, "out of memory verifying %s", f->name);
        if (report)
            report(user, f, st, st == MT_OK ? "ok" : why);
        if (st != MT_OK && n_bad++ == 0)
            snprintf(first, sizeof first, "%s: %s", f->name, why);
    }
    if (n_bad)
        return mt_errf(err, MT_EDATA, "%d of %d files in %s failed verification (first: %s)",
                       n_bad, spec->n_files, dir, first);
    return MT_OK;
}

/* ============================================================ download === */

mt_status mt_fetch_global_init(mt_err *err)
{
    CURLcode c = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (c != CURLE_OK)
        return mt_errf(err, MT_ENET, "cannot initialise libcurl: %s", curl_easy_strerror(c));
    return MT_OK;
}

void mt_fetch_global_cleanup(void)
{
    curl_global_cleanup();
}

/* mkdir -p: every missing component is created with mode 0777 & ~umask. */
static mt_status mkdir_p(const char *dir, mt_err *err)
{
    size_t n = strlen(dir);
    char *p = malloc(n + 1);
    struct stat sb;
    if (!p)
        return mt_errf(err, MT_ENOMEM, "out of memory creating %s", dir);
    memcpy(p, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char save = p[i];
        p[i] = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            int e = errno;
            mt_status st = mt_errf(err, MT_EIO, "cannot create directory %s: %s", p, strerror(e));
            free(p);
            return st;
        }
        p[i] = save;
    }
    free(p);
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return mt_errf(err, MT_EIO, "%s exists and is not a directory", dir);
    return MT_OK;
}

/* State shared with the libcurl callbacks during one attempt. */
typedef struct {
    CURL *h;
    int fd;                 /* FILE.part, positioned at its end */
    uint64_t offset;        /* bytes kept from before this attempt (Range start) */
    uint64_t written;       /* bytes written by this attempt */
    uint64_t cap;           /* largest plausible .gz size */
    long bad_code;          /* unexpected HTTP status seen on the first body byte */
    int io_errno;           /* write() failure */
    int too_big;
    int interrupted;
    const mt_fetch_opts *o;
    const char *file;
    double t0;              /* START of this file */
} xfer;

static size_t on_write(char *data, size_t size, size_t nmemb, void *userp)
{
    xfer *x = userp;
    size_t n = size * nmemb;
    if (x->written == 0) {
        /* Only the body of a 200 (fresh) or 206 (resumed) response is the file;
         * e.g. the body of a 416 must not be appended (curl issue #1163). */
        long code = 0;
        curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &code);
        if (code != (x->offset ? 206 : 200) && !(code == 0 && x->offset == 0)) {
            x->bad_code = code;
            return 0;
        }
    }
    if (x->offset + x->written + n > x->cap) {
        x->too_big = 1;
        return 0;
    }
    for (size_t done = 0; done < n;) {
        ssize_t w = write(x->fd, data + done, n - done);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            x->io_errno = errno;
            return 0;
        }
        done += (size_t)w;
    }
    x->written += n;
    return n;
}

static int on_progress(void *userp, curl_off_t dltotal, curl_off_t dlnow,
                       curl_off_t ultotal, curl_off_t ulnow)
{
    xfer *x = userp;
    (void)ultotal;
    (void)ulnow;
    if (stopped(x->o->stop)) {
        x->interrupted = 1;
        return 1;
    }
    if (x->o->progress) {
        uint64_t done = x->offset + (uint64_t)(dlnow > 0 ? dlnow : 0);
        uint64_t total = dltotal > 0 ? x->offset + (uint64_t)dltotal : 0;
        x->o->progress(x->o->user, x->file, done, total, now_s() - x->t0);
    }
    return 0;
}

/* What one attempt leads to. */
typedef enum {
    ATT_OK,      /* transfer complete: verify FILE.part next */
    ATT_RETRY,   /* transient: same mirror again after a backoff */
    ATT_NEXT,    /* this mirror will not work: next mirror */
    ATT_RESTART, /* resuming failed: discard FILE.part, start over at once */
    ATT_INTR,    /* stop flag */
    ATT_IO,      /* local write error: give up (MT_EIO) */
} attempt_result;

typedef struct {
    long connect_timeout_s, low_speed_bytes, low_speed_time_s;
} net_limits;

static attempt_result attempt(xfer *x, const char *url, const net_limits *lim,
                              char *why, size_t why_n)
{
    char ebuf[CURL_ERROR_SIZE] = "";
    CURL *h = x->h;
    int bad = 0;

    curl_easy_reset(h);
    bad |= curl_easy_setopt(h, CURLOPT_URL, url) != CURLE_OK;
#if LIBCURL_VERSION_NUM >= 0x075500
    bad |= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK;
#else
    bad |= curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) != CURLE_OK;
#endif
    bad |= curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, lim->connect_timeout_s) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, lim->low_speed_bytes) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, lim->low_speed_time_s) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_USERAGENT, "mnist-train (libcurl)") != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_WRITEDATA, x) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_XFERINFODATA, x) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)x->offset) != CURLE_OK;
    /* No CURLOPT_ACCEPT_ENCODING: the .gz must arrive as stored, not decoded. */
    if (bad) {
        snprintf(why, why_n, "libcurl rejected an option");
        return ATT_NEXT;
    }

    CURLcode c = curl_easy_perform(h);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);

    if (x->interrupted || stopped(x->o->stop)) {
        snprintf(why, why_n, "interrupted");
        return ATT_INTR;
    }
    if (x->io_errno) {
        snprintf(why, why_n, "cannot write: %s", strerror(x->io_errno));
        return ATT_IO;
    }
    if (x->too_big) {
        snprintf(why, why_n, "response larger than %" PRIu64 " bytes", x->cap);
        return ATT_NEXT;
    }
    if (x->bad_code) {
        snprintf(why, why_n, "unexpected HTTP %ld", x->bad_code);
        return x->offset ? ATT_RESTART : ATT_NEXT;
    }
    switch (c) {
    case CURLE_OK:
        return ATT_OK;
    case CURLE_HTTP_RETURNED_ERROR:
        snprintf(why, why_n, "HTTP %ld", code);
        if (x->offset && code == 416)
            return ATT_RESTART;
        return (code == 408 || code == 429 || code >= 500) ? ATT_RETRY : ATT_NEXT;
    case CURLE_RANGE_ERROR:
        snprintf(why, why_n, "server cannot resume");
        return x->offset ? ATT_RESTART : ATT_NEXT;
    case CURLE_OPERATION_TIMEDOUT:
        if (strncmp(ebuf, "Operation too slow", 18) == 0)
            snprintf(why, why_n, "too slow (< %ld B/s for %ld s)", lim->low_speed_bytes,
                     lim->low_speed_time_s);
        else
            snprintf(why, why_n, "timed out");
        return ATT_RETRY;
    /* a name that does not resolve now will not a second later: no retries
     * (offline, every mirror fails at once instead of after 9 s of waits) */
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_TOO_MANY_REDIRECTS:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
        snprintf(why, why_n, "%s", curl_easy_strerror(c));
        return ATT_NEXT;
    default:
        snprintf(why, why_n, "%s", curl_easy_strerror(c));
        return ATT_RETRY;
    }
}

static void emit(const mt_fetch_opts *o, mt_fetch_event *ev)
{
    if (o->event)
        o->event(o->user, ev);
}

/* Waits seconds, in slices, returning 1 early when the stop flag is set. */
static int sleep_or_stop(double seconds, volatile sig_atomic_t *stop)
{
    double end = now_s() + seconds;
    for (;;) {
        if (stopped(stop))
            return 1;
        double left = end - now_s();
        if (left <= 0)
            return 0;
        if (left > 0.05)
            left = 0.05;
        struct timespec ts = {0, (long)(left * 1e9)};
        nanosleep(&ts, NULL);
    }
}

static mt_status truncate_part(int fd, const char *part, mt_err *err)
{
    if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0)
        return mt_errf(err, MT_EIO, "cannot truncate %s: %s", part, strerror(errno));
    return MT_OK;
}

/* Directory entries (the rename) are only durable once the directory is
 * fsynced; some file systems refuse fsync on a directory, which is harmless. */
static void fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

typedef struct {
    const char *dir;
    const char *const *mirrors;
    int n_mirrors;
    int retries;
    double backoff_s;
    net_limits lim;
    const mt_fetch_opts *o;
    CURL *h;
} fetch_ctx;

/* Downloads one file into dir/FILE.part, verifies it and renames it. */
static mt_status fetch_file(const fetch_ctx *fc, const mt_fetch_file *f,
                            double t0, mt_err *err)
{
    enum { WHY = 160 };
    char *path = NULL, *part = NULL, *url = NULL, *tried = NULL;
    char why[WHY] = "";
    int fd = -1, locked = 0;
    mt_status st = MT_OK;
    const mt_fetch_opts *o = fc->o;

    path = join(fc->dir, f->name, "");
    part = join(fc->dir, f->name, ".part");
    size_t tried_n = 1;
    for (int m = 0; m < fc->n_mirrors; m++)
        tried_n += strlen(fc->mirrors[m]) + WHY + 8;
    tried = malloc(tried_n);
    if (!path || !part || !tried) {
        st = mt_errf(err, MT_ENOMEM, "out of memory downloading %s", f->name);
        goto fail;
    }
    tried[0] = '\0';

    fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) {
        st = mt_errf(err, MT_EIO, "cannot create %s: %s", part, strerror(errno));
        goto fail;
    }
    /* A POSIX record lock keeps a second mnist-train from writing the same
     * .part; it disappears with the process, so a killed run leaves none. */
    struct flock lk = {0};
    lk.l_type = F_WRLCK;
    lk.l_whence = SEEK_SET;
    if (fcntl(fd, F_SETLK, &lk) != 0) {
        st = mt_errf(err, MT_EIO, "%s is locked: another mnist-train seems to be downloading it", part);
        goto fail;
    }
    locked = 1;

    for (int m = 0; m < fc->n_mirrors; m++) {
        const char *base = fc->mirrors[m];
        size_t nb = strlen(base);
        free(url);
        url = malloc(nb + 1 + strlen(f->name) + 1);
        if (!url) {
            st = mt_errf(err, MT_ENOMEM, "out of memory downloading %s", f->name);
            goto fail;
        }
        snprintf(url, nb + 1 + strlen(f->name) + 1, "%s%s%s", base,
                 (nb && base[nb - 1] == '/') ? "" : "/", f->name);

        /* A .part left by a killed run is resumed on the first mirror only:
         * mirrors may hold differently compressed bytes of the same data. */
        if (m > 0 && (st = truncate_part(fd, part, err)) != MT_OK)
            goto fail;
        int restarted = 0;
        double delay = fc->backoff_s;
        for (int a = 1; a <= fc->retries; a++) {
            struct stat sb;
            if (fstat(fd, &sb) != 0 || lseek(fd, 0, SEEK_END) < 0) {
                st = mt_errf(err, MT_EIO, "cannot read %s: %s", part, strerror(errno));
                goto fail;
            }
            xfer x = {0};
            x.h = fc->h;
            x.fd = fd;
            x.offset = (uint64_t)sb.st_size;
            x.cap = f->size + f->size / 16 + 65536;
            x.o = o;
            x.file = f->name;
            x.t0 = t0;
            mt_fetch_event ev = {0};
            ev.kind = MT_FETCH_EV_ATTEMPT;
            ev.file = f->name;
            ev.url = url;
            ev.resume_from = x.offset;
            ev.attempt = a;
            emit(o, &ev);

            attempt_result r = attempt(&x, url, &fc->lim, why, sizeof why);
            if (r == ATT_OK) {
                mt_status v = verify_gz(part, f->size, f->crc32, o->stop, why, sizeof why);
                if (v == MT_OK) {
                    if (fsync(fd) != 0) {
                        st = mt_errf(err, MT_EIO, "cannot sync %s: %s", part, strerror(errno));
                        goto fail;
                    }
                    if (rename(part, path) != 0) {
                        st = mt_errf(err, MT_EIO, "cannot rename %s to %s: %s", part, path,
                                     strerror(errno));
                        goto fail;
                    }
                    close(fd); /* releases the lock */
                    fd = -1;
                    fsync_dir(fc->dir);
                    mt_fetch_event done = {0};
                    done.kind = MT_FETCH_EV_DONE;
                    done.file = f->name;
                    done.status = "downloaded";
                    done.url = url;
                    done.bytes = x.offset + x.written;
                    done.seconds = now_s() - t0;
                    emit(o, &done);
                    goto out;
                }
                if (v == MT_EINTR)
                    r = ATT_INTR;
                else if (v == MT_ENOMEM) {
                    st = mt_errf(err, MT_ENOMEM, "out of memory verifying %s", f->name);
                    goto fail;
                } else
                    r = x.offset ? ATT_RESTART : ATT_NEXT;
            }
            if (r == ATT_INTR) {
                st = mt_errf(err, MT_EINTR, "interrupted while downloading %s (partial file removed)",
                             f->name);
                goto fail;
            }
            if (r == ATT_IO) {
                st = mt_errf(err, MT_EIO, "%s: %s", part, why);
                goto fail;
            }
            mt_fetch_event rev = {0};
            rev.kind = MT_FETCH_EV_RETRY;
            rev.file = f->name;
            rev.url = url;
            rev.detail = why;
            rev.seconds = now_s() - t0;
            rev.attempt = a;
            emit(o, &rev);
            if (r == ATT_NEXT)
                break;
            if (r == ATT_RESTART) {
                if ((st = truncate_part(fd, part, err)) != MT_OK)
                    goto fail;
                if (!restarted) { /* a stale .part costs no attempt, once */
                    restarted = 1;
                    a--;
                }
                continue;
            }
            /* ATT_RETRY: keep what arrived; the next attempt resumes it. */
            if (a < fc->retries) {
                if (sleep_or_stop(delay, o->stop)) {
                    st = mt_errf(err, MT_EINTR, "interrupted while downloading %s (partial file removed)",
                                 f->name);
                    goto fail;
                }
                delay = delay * 2 > 30 ? 30 : delay * 2;
            }
        }
        size_t len = strlen(tried);
        snprintf(tried + len, tried_n - len, "%s%s (%s)", len ? ", " : "", base, why);
    }

    st = mt_errf(err, MT_ENET, "cannot download %s: tried %s", f->name, tried);
    goto fail;

out:
    free(path);
    free(part);
    free(url);
    free(tried);
    return MT_OK;
fail:
    if (fd >= 0) {
        if (locked)
            unlink(part); /* only our own .part: never one another process holds */
        close(fd);
    }
    free(path);
    free(part);
    free(url);
    free(tried);
    return st;
}

mt_status mt_fetch_dataset(const char *dir, const mt_fetch_spec *spec,
                           const mt_fetch_opts *opts, mt_err *err)
{
    static const mt_fetch_opts no_opts = {0};
    const mt_fetch_opts *o = opts ? opts : &no_opts;
    fetch_ctx fc = {0};
    mt_status st = MT_OK;
    char *path = NULL;

    if (!dir || !*dir || !spec || !spec->files || spec->n_files <= 0)
        return mt_errf(err, MT_EARG, "mt_fetch_dataset: no directory or spec given");
    fc.dir = dir;
    fc.o = o;
    if (o->mirrors && o->n_mirrors > 0) {
        fc.mirrors = o->mirrors;
        fc.n_mirrors = o->n_mirrors;
    } else {
        fc.mirrors = spec->mirrors;
        fc.n_mirrors = spec->n_mirrors;
    }
    if (!fc.mirrors || fc.n_mirrors <= 0)
        return mt_errf(err, MT_EARG, "no mirrors for data set '%s'", spec->name ? spec->name : "?");
    for (int m = 0; m < fc.n_mirrors; m++)
        if (!fc.mirrors[m] || !is_http_url(fc.mirrors[m]))
            return mt_errf(err, MT_EARG, "mirror '%s': only http:// and https:// URLs are supported",
                           fc.mirrors[m] ? fc.mirrors[m] : "(null)");
    fc.retries = o->retries > 0 ? o->retries : 3;
    fc.backoff_s = o->backoff_s > 0 ? o->backoff_s : 1.0;
    fc.lim.connect_timeout_s = o->connect_timeout_s > 0 ? o->connect_timeout_s : 20;
    fc.lim.low_speed_bytes = o->low_speed_bytes > 0 ? o->low_speed_bytes : 1024;
    fc.lim.low_speed_time_s = o->low_speed_time_s > 0 ? o->low_speed_time_s : 30;

    if ((st = mkdir_p(dir, err)) != MT_OK)
        return st;

    for (int i = 0; i < spec->n_files; i++) {
        const mt_fetch_file *f = &spec->files[i];
        char why[256];
        double t0 = now_s();
        if (stopped(o->stop)) {
            st = mt_errf(err, MT_EINTR, "interrupted before downloading %s", f->name);
            goto fail;
        }
        mt_fetch_event ev = {0};
        ev.kind = MT_FETCH_EV_START;
        ev.file = f->name;
        ev.bytes = f->size;
        emit(o, &ev);

        free(path);
        path = join(dir, f->name, "");
        if (!path) {
            st = mt_errf(err, MT_ENOMEM, "out of memory downloading %s", f->name);
            goto fail;
        }
        struct stat sb;
        if (stat(path, &sb) == 0) {
            mt_status v = verify_gz(path, f->size, f->crc32, o->stop, why, sizeof why);
            if (v == MT_OK) {
                mt_fetch_event done = {0};
                done.kind = MT_FETCH_EV_DONE;
                done.file = f->name;
                done.status = "present";
                done.bytes = (uint64_t)sb.st_size;
                done.seconds = now_s() - t0;
                emit(o, &done);
                continue;
            }
            if (v == MT_EINTR) {
                st = mt_errf(err, MT_EINTR, "interrupted while verifying %s", f->name);
                goto fail;
            }
            if (v == MT_ENOMEM) {
                st = mt_errf(err, MT_ENOMEM, "out of memory verifying %s", f->name);
                goto fail;
            }
            mt_fetch_event bad = {0};
            bad.kind = MT_FETCH_EV_INVALID;
            bad.file = f->name;
            bad.detail = why;
            emit(o, &bad);
        }
        if (!fc.h) {
            fc.h = curl_easy_init();
            if (!fc.h) {
                st = mt_errf(err, MT_ENOMEM, "cannot create a libcurl handle "
                             "(was mt_fetch_global_init called?)");
                goto fail;
            }
        }
        if ((st = fetch_file(&fc, f, t0, err)) != MT_OK)
            goto fail;
    }
    st = MT_OK;
fail:
    if (fc.h)
        curl_easy_cleanup(fc.h);
    free(path);
    return st;
}
