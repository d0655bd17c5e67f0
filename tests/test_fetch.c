/* test_fetch: mt_fetch against a local HTTP server (tests/fetch_server.py on
 * 127.0.0.1, port chosen by the server), never the internet.  Fixtures are
 * small .gz files written here, with their real sizes/CRCs injected through a
 * test-built mt_fetch_spec.  With MNIST_DATA set, the real MNIST files are
 * served too and checked against the built-in values end to end. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include "mt_fetch.h"

/* ------------------------------------------------------------ fixtures -- */

typedef struct {
    pid_t pid;
    int port;
} server;

static char g_base[256];      /* temp dir of this run */
static char g_root[300];      /* fixture .gz files the server serves */
static char g_log[300];       /* server request log */
static server g_srv;
static mt_fetch_file g_files[MT_FETCH_N_FILES];
static mt_fetch_spec g_spec;
static int g_dead_port;       /* a port with nothing listening */
static int g_counter;

static const char *const fixture_names[MT_FETCH_N_FILES] = {
    "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
};
/* The first file is big and incompressible, so the slow server needs
 * seconds for it: long enough to kill or abort a download midway. */
static const size_t fixture_sizes[MT_FETCH_N_FILES] = {200000, 6008, 30016, 1008};

static char *path_in(const char *dir, const char *name, const char *suffix)
{
    static char buf[4][512];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s%s", dir, name, suffix);
    return p;
}

static int exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

static long file_size(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 ? (long)sb.st_size : -1;
}

static void write_bytes(const char *p, const void *data, size_t n)
{
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* Writes n bytes of deterministic content gzipped to p; returns its crc32. */
static uint32_t write_gz(const char *p, size_t n, uint32_t seed, int random)
{
    unsigned char *b = malloc(n ? n : 1);
    assert_non_null(b);
    uint32_t s = seed;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        b[i] = random ? (unsigned char)(s >> 24) : (unsigned char)(i % 7 == 0 ? s >> 24 : 0);
    }
    gzFile g = gzopen(p, "wb");
    assert_non_null(g);
    assert_int_equal(gzwrite(g, b, (unsigned)n), (int)n);
    assert_int_equal(gzclose(g), Z_OK);
    uint32_t c = (uint32_t)crc32(crc32(0L, Z_NULL, 0), b, (uInt)n);
    free(b);
    return c;
}

static const char *server_script(void)
{
    const char *d = getenv("MT_TESTS_DIR");
    static char p[512];
    snprintf(p, sizeof p, "%s/fetch_server.py", d ? d : "tests");
    return p;
}

/* Starts fetch_server.py serving root; waits for its "PORT n" line. */
static int server_start(server *s, const char *root)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl("/usr/bin/python3", "python3", server_script(), "--root", root, "--log", g_log,
              (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char line[64];
    size_t n = 0;
    struct pollfd pf = {fds[0], POLLIN, 0};
    while (n < sizeof line - 1 && poll(&pf, 1, 10000) == 1) {
        ssize_t r = read(fds[0], line + n, 1);
        if (r <= 0)
            break;
        if (line[n++] == '\n')
            break;
    }
    line[n] = '\0';
    close(fds[0]);
    s->pid = pid;
    if (sscanf(line, "PORT %d", &s->port) != 1) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        s->pid = 0;
        return -1;
    }
    return 0;
}

static void server_stop(server *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
    }
    s->pid = 0;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        return 9; /* discard port: nothing listens there either */
    close(fd);
    return ntohs(a.sin_port);
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(g_base, sizeof g_base, "/tmp/mt_fetch_test.XXXXXX");
    if (!mkdtemp(g_base))
        return -1;
    snprintf(g_root, sizeof g_root, "%s/root", g_base);
    snprintf(g_log, sizeof g_log, "%s/server.log", g_base);
    if (mkdir(g_root, 0777) != 0)
        return -1;
    for (int i = 0; i < MT_FETCH_N_FILES; i++) {
        g_files[i].name = fixture_names[i];
        g_files[i].size = fixture_sizes[i];
        g_files[i].crc32 = write_gz(path_in(g_root, fixture_names[i], ""), fixture_sizes[i],
                                    (uint32_t)i + 1, i == 0);
    }
    g_spec.name = "test";
    g_spec.files = g_files;
    g_spec.n_files = MT_FETCH_N_FILES;
    /* libcurl honours http_proxy: never send 127.0.0.1 traffic to a proxy */
    setenv("no_proxy", "127.0.0.1,localhost", 1);
    setenv("NO_PROXY", "127.0.0.1,localhost", 1);
    if (mt_fetch_global_init(NULL) != MT_OK)
        return -1;
    if (server_start(&g_srv, g_root) != 0)
        return -1;
    g_dead_port = free_port();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    server_stop(&g_srv);
    mt_fetch_global_cleanup();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_base);
    return system(cmd) == 0 ? 0 : -1;
}

/* A fresh, not yet existing target directory (mt_fetch creates it). */
static const char *new_dir(void)
{
    static char d[320];
    snprintf(d, sizeof d, "%s/t%d/data", g_base, ++g_counter);
    return d;
}

/* Like new_dir, but created already (for tests that put a .part there first). */
static const char *make_dir(void)
{
    const char *d = new_dir();
    char parent[320];
    snprintf(parent, sizeof parent, "%s/t%d", g_base, g_counter);
    assert_int_equal(mkdir(parent, 0777), 0);
    assert_int_equal(mkdir(d, 0777), 0);
    return d;
}

static const char *mirror(const char *mode)
{
    static char buf[4][128];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, sizeof buf[0], "http://127.0.0.1:%d/%s/", g_srv.port, mode);
    return p;
}

/* Number of lines in the server log containing needle. */
static int log_count(const char *needle)
{
    FILE *f = fopen(g_log, "r");
    char line[512];
    int n = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

/* Records the events of one mt_fetch_dataset call. */
typedef struct {
    int n_start, n_attempt, n_retry, n_done, n_present, n_downloaded, n_invalid;
    uint64_t max_resume;
    char details[2048];   /* RETRY/INVALID details, "; "-separated */
    char last_url[256];
    volatile sig_atomic_t stop;
    uint64_t stop_after;  /* set stop once this many bytes arrived (0 = never) */
    int n_progress;
} recorder;

static void on_event(void *user, const mt_fetch_event *ev)
{
    recorder *r = user;
    switch (ev->kind) {
    case MT_FETCH_EV_START:
        r->n_start++;
        break;
    case MT_FETCH_EV_ATTEMPT:
        r->n_attempt++;
        if (ev->resume_from > r->max_resume)
            r->max_resume = ev->resume_from;
        break;
    case MT_FETCH_EV_RETRY:
    case MT_FETCH_EV_INVALID:
        if (ev->kind == MT_FETCH_EV_RETRY)
            r->n_retry++;
        else
            r->n_invalid++;
        size_t len = strlen(r->details);
        snprintf(r->details + len, sizeof r->details - len, "%s; ", ev->detail);
        break;
    case MT_FETCH_EV_DONE:
        r->n_done++;
        if (strcmp(ev->status, "present") == 0)
            r->n_present++;
        if (strcmp(ev->status, "downloaded") == 0) {
            r->n_downloaded++;
            snprintf(r->last_url, sizeof r->last_url, "%s", ev->url);
        }
        break;
    }
}

static void on_progress(void *user, const char *file, uint64_t done, uint64_t total,
                        double seconds)
{
    recorder *r = user;
    (void)file;
    (void)seconds;
    assert_true(total == 0 || done <= total);
    r->n_progress++;
    if (r->stop_after && done >= r->stop_after)
        r->stop = 1;
}

static mt_fetch_opts test_opts(recorder *r, const char *const *mirrors, int n)
{
    mt_fetch_opts o = {0};
    o.mirrors = mirrors;
    o.n_mirrors = n;
    o.retries = 2;
    o.backoff_s = 0.01;
    o.connect_timeout_s = 5;
    o.event = on_event;
    o.progress = on_progress;
    o.user = r;
    o.stop = &r->stop;
    return o;
}

static void assert_all_valid(const char *dir)
{
    for (int i = 0; i < MT_FETCH_N_FILES; i++) {
        mt_err e = {0};
        assert_int_equal(mt_fetch_verify_file(path_in(dir, g_files[i].name, ""), g_files[i].size,
                                              g_files[i].crc32, &e), MT_OK);
        assert_false(exists(path_in(dir, g_files[i].name, ".part")));
    }
}

static void assert_none(const char *dir)
{
    for (int i = 0; i < MT_FETCH_N_FILES; i++) {
        assert_false(exists(path_in(dir, g_files[i].name, "")));
        assert_false(exists(path_in(dir, g_files[i].name, ".part")));
    }
}

/* --------------------------------------------------------------- specs -- */

static void test_spec_find_knows_mnist_and_fashion(void **state)
{
    (void)state;
    const mt_fetch_spec *s = NULL;
    mt_err e = {0};
    assert_int_equal(mt_fetch_spec_find(&s, "mnist", &e), MT_OK);
    assert_int_equal(s->n_files, 4);
    assert_string_equal(s->files[MT_FETCH_TRAIN_IMAGES].name, "train-images-idx3-ubyte.gz");
    assert_true(s->files[MT_FETCH_TRAIN_IMAGES].size == 47040016u);
    assert_true(s->files[MT_FETCH_TRAIN_IMAGES].crc32 == 0xe9f4d8b3u);
    assert_true(s->files[MT_FETCH_TEST_LABELS].crc32 == 0x4ab9eff9u);
    assert_int_equal(s->n_mirrors, 3);
    assert_string_equal(s->mirrors[0], "https://ossci-datasets.s3.amazonaws.com/mnist/");

    assert_int_equal(mt_fetch_spec_find(&s, "fashion-mnist", &e), MT_OK);
    assert_true(s->files[MT_FETCH_TRAIN_IMAGES].crc32 == 0xb4f29f28u);
    assert_true(s->files[MT_FETCH_TEST_LABELS].size == 10008u);
    assert_int_equal(s->n_classes, 10);
    assert_string_equal(s->class_names[0], "T-shirt/top");
    assert_string_equal(s->class_names[9], "Ankle boot");
    assert_non_null(mt_fetch_spec_at(1));
    assert_null(mt_fetch_spec_at(2));
}

static void test_spec_find_rejects_unknown_name(void **state)
{
    (void)state;
    const mt_fetch_spec *s = NULL;
    mt_err e = {0};
    assert_int_equal(mt_fetch_spec_find(&s, "cifar10", &e), MT_EARG);
    assert_null(s);
    assert_non_null(strstr(e.msg, "cifar10"));
    assert_non_null(strstr(e.msg, "fashion-mnist"));
}

static void test_mirrors_parse_splits_on_commas_and_spaces(void **state)
{
    (void)state;
    mt_fetch_mirrors m = {0};
    mt_err e = {0};
    assert_int_equal(mt_fetch_mirrors_parse(&m, " http://a/x/, https://b/y\thttp://c ,", &e), MT_OK);
    assert_int_equal(m.n, 3);
    assert_string_equal(m.urls[0], "http://a/x/");
    assert_string_equal(m.urls[1], "https://b/y");
    assert_string_equal(m.urls[2], "http://c");
    assert_int_equal(mt_fetch_mirrors_add(&m, "HTTPS://d/", &e), MT_OK);
    assert_int_equal(m.n, 4);
    assert_int_equal(mt_fetch_mirrors_add(&m, "file:///etc/", &e), MT_EARG);
    assert_int_equal(m.n, 4);
    mt_fetch_mirrors_free(&m);
    assert_int_equal(m.n, 0);
    mt_fetch_mirrors_free(&m);
    mt_fetch_mirrors_free(NULL);

    assert_int_equal(mt_fetch_mirrors_parse(&m, "http://ok/ ftp://bad/", &e), MT_EARG);
    assert_non_null(strstr(e.msg, "ftp://bad/"));
    assert_int_equal(m.n, 0);
    assert_null(m.urls);
    assert_int_equal(mt_fetch_mirrors_parse(&m, " , ", &e), MT_EARG);
    assert_int_equal(mt_fetch_mirrors_parse(&m, "http://", &e), MT_EARG);
}

/* -------------------------------------------------------- verification -- */

static void test_verify_file_accepts_valid_and_names_mismatches(void **state)
{
    (void)state;
    mt_err e = {0};
    const char *p = path_in(g_root, g_files[1].name, "");
    assert_int_equal(mt_fetch_verify_file(p, g_files[1].size, g_files[1].crc32, &e), MT_OK);

    assert_int_equal(mt_fetch_verify_file(p, g_files[1].size + 1, g_files[1].crc32, &e), MT_EDATA);
    assert_non_null(strstr(e.msg, "decompressed size 6008 bytes, expected 6009"));
    assert_int_equal(mt_fetch_verify_file(p, g_files[1].size - 1, g_files[1].crc32, &e), MT_EDATA);
    assert_non_null(strstr(e.msg, "more than the expected 6007"));
    assert_int_equal(mt_fetch_verify_file(p, g_files[1].size, g_files[1].crc32 ^ 1u, &e), MT_EDATA);
    assert_non_null(strstr(e.msg, "CRC-32"));
    assert_non_null(strstr(e.msg, "expected"));
    assert_non_null(strstr(e.msg, p));
}

static void test_verify_file_rejects_html_truncated_and_missing(void **state)
{
    (void)state;
    mt_err e = {0};
    char dir[320];
    snprintf(dir, sizeof dir, "%s/verify", g_base);
    assert_int_equal(mkdir(dir, 0777), 0);

    const char *html = path_in(dir, "train-images-idx3-ubyte.gz", "");
    const char page[] = "<html><body>502 Bad Gateway</body></html>\n";
    write_bytes(html, page, sizeof page - 1);
    assert_int_equal(mt_fetch_verify_file(html, 10, 0, &e), MT_EDATA);
    assert_non_null(strstr(e.msg, "train-images-idx3-ubyte.gz: not a gzip file (starts with '<html"));

    /* a gzip file cut in half: the classic interrupted download */
    const char *src = path_in(g_root, g_files[0].name, "");
    long n = file_size(src);
    unsigned char *b = malloc((size_t)n);
    assert_non_null(b);
    FILE *f = fopen(src, "rb");
    assert_non_null(f);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    const char *cut = path_in(dir, "cut.gz", "");
    write_bytes(cut, b, (size_t)n / 2);
    free(b);
    assert_int_equal(mt_fetch_verify_file(cut, g_files[0].size, g_files[0].crc32, &e), MT_EDATA);
    assert_non_null(strstr(e.msg, "corrupt gzip data"));

    const char *empty = path_in(dir, "empty.gz", "");
    write_bytes(empty, "", 0);
    assert_int_equal(mt_fetch_verify_file(empty, 0, 0, &e), MT_EDATA);
    assert_non_null(strstr(e.msg, "not a gzip file"));

    assert_int_equal(mt_fetch_verify_file(path_in(dir, "missing.gz", ""), 1, 0, &e), MT_EDATA);
    assert_non_null(strstr(e.msg, "missing.gz: missing"));
}

typedef struct {
    int n_ok, n_bad;
} verify_count;

static void count_report(void *user, const mt_fetch_file *file, mt_status st, const char *msg)
{
    verify_count *c = user;
    assert_non_null(file);
    assert_non_null(msg);
    if (st == MT_OK)
        c->n_ok++;
    else
        c->n_bad++;
}

static void test_verify_dir_reports_each_file(void **state)
{
    (void)state;
    mt_err e = {0};
    verify_count c = {0};
    assert_int_equal(mt_fetch_verify_dir(g_root, &g_spec, count_report, &c, &e), MT_OK);
    assert_int_equal(c.n_ok, 4);

    mt_fetch_file wrong[MT_FETCH_N_FILES];
    memcpy(wrong, g_files, sizeof wrong);
    wrong[2].crc32 ^= 0x10u;
    wrong[3].name = "absent.gz";
    mt_fetch_spec s = g_spec;
    s.files = wrong;
    memset(&c, 0, sizeof c);
    assert_int_equal(mt_fetch_verify_dir(g_root, &s, count_report, &c, &e), MT_EDATA);
    assert_int_equal(c.n_ok, 2);
    assert_int_equal(c.n_bad, 2);
    assert_non_null(strstr(e.msg, "2 of 4 files"));
    assert_non_null(strstr(e.msg, "t10k-images-idx3-ubyte.gz: CRC-32"));
    print_message("    %s\n", e.msg);
    assert_int_equal(mt_fetch_verify_dir(g_root, NULL, NULL, NULL, &e), MT_EARG);
}

/* ------------------------------------------------------------ download -- */

static void test_fetch_downloads_and_verifies_all_files(void **state)
{
    (void)state;
    recorder r = {0};
    mt_err e = {0};
    const char *m[] = {mirror("ok")};
    mt_fetch_opts o = test_opts(&r, m, 1);
    const char *dir = new_dir();
    assert_int_equal(mt_fetch_dataset(dir, &g_spec, &o, &e), MT_OK);
    assert_int_equal(r.n_start, 4);
    assert_int_equal(r.n_downloaded, 4);
    assert_int_equal(r.n_retry, 0);
    assert_true(r.n_progress > 0);
    assert_non_null(strstr(r.last_url, "/ok/t10k-labels-idx1-ubyte.gz"));
    assert_all_valid(dir);
}

static void test_fetch_keeps_present_files_without_network(void **state)
{
    (void)state;
    recorder r = {0};
    mt_err e = {0};
    const char *ok[] = {mirror("ok")};
    mt_fetch_opts o = test_opts(&r, ok, 1);
    const char *dir = new_dir();
    assert_int_equal(mt_fetch_dataset(dir, &g_spec, &o, &e), MT_OK);

    /* server still up: a second run sends no request at all */
    int before = log_count("GET ");
    memset(&r, 0, sizeof r);
    assert_int_equal(mt_fetch_dataset(dir, &g_spec, &o, &e), MT_OK);
    assert_int_equal(log_count("GET "), before);
    assert_int_equal(r.n_present, 4);
    assert_int_equal(r.n_attempt, 0);

    /* and with only a dead mirror it still succeeds */
    char dead[64];
    snprintf(dead, sizeof dead, "http://127.0.0.1:%d/", g_dead_port);
    const char *dm[] = {dead};
    mt_fetch_opts od = test_opts(&r, dm, 1);
    memset(&r, 0, sizeof r);
    assert_int_equal(mt_fetch_dataset(dir, &g_spec, &od, &e), MT_OK);
    assert_int_equal(r.n_present, 4);
}

static void test_fetch_rejects_corrupt_download(void **state)
{
    (void)state;
    recorder r = {0};
    mt_err e = {0};
    const char *m[] = {mirror("corrupt")};
    mt_fetch_opts o = test_opts(&r, m, 1);
    const char *dir = new_dir();
    assert_int_equal(mt_fetch_dataset(dir, &g_spec, &o, &e), MT_ENET);
    print_message("    corrupt: %s\n", e.msg);
    assert_non_null(strstr(e.msg, "corrupt gzip data"));
    assert_null(strchr(e.msg, '\n'));
    assert_none(dir);
}

static void test_fetch_rejects_html_saved_as_gz(void **state)
{
    (void)state;
    recorder r = {0};
    mt_err e = {0};
    const char *m[] = {mirror("html")};
    mt_fetch_opts o = test_opts(&r, m, 1);
    const char *dir = new_dir();
    assert_int_equal(mt_fetch_dataset(dir, &g_spec, &o, &e), MT_ENET);
    print_message("    html: %s\n", e.msg);
    assert_non_null(strstr(e.msg, "not a gzip file (starts with '<html"));
    assert_non_null(strstr(r.details, "not a gzip file (starts with '<html"));
    /* bad content is not retried on the same mirror */
    assert_int_equal(r.n_attempt, 1);
    assert_none(dir);
}

static void test_fetch_falls_back_to_second_mirror_after_404(void **state)
{
    (void)state;
    recorder r = {0};
    mt_err e = {0};
    const char *m[] = {mirror("404"), mirror("ok")};
    mt_fetch_opts o = test_opts(&r, m, 2);
    const char *dir = new_dir();
    int before = log_count("/404/");
    assert_int_equal(mt_fetch_dataset(dir, &g_spec, &o, &e), MT_OK);
    assert_int_equal(r.n_downloaded, 4);
    assert_int_equal(r.n_retry, 4);
    assert_non_null(strstr(r.details, "HTTP 404"));
    assert_non_null(strstr(r.last_url, "/ok/"));
    /* a 404 is not retried on the same mirror */
    assert_int_equal(log_count("/404/") - before, 4);
    assert_all_valid(dir);
}

static void test_fetch_retries_500_then_uses_next_mirror(void **state)
{
    (void)state;
    recorder r = {0};
    mt_err e = {0};
    const char *m[] = {mirror("500"), mirror("redirect")};
    mt_fetch_opts o = test_opts(&r, m, 2);
    o.retries = 3;
    const char *dir = new_dir();
    int before = log_count("/500/");
    assert_int_equal(mt_fetch_dataset(dir, &g_spec, &o, &e), MT_OK);
    assert_int_equal(log_count("/500/") - before, 4 * 3);
    assert_non_null(strstr(r.details, "HTTP 500"));
    assert_non_null(strstr(r.last_url, "/redirect/"));
    assert_all_valid(dir);
}

static void test_fetch_server_down_lists_tried_mirrors(void **state)
{
    (void)state;
    recorder r = {0};
    mt_err e = {0};
    char a[64], b[64];
    snprintf(a, sizeof a, "http://127.0.0.1:%d/first/", g_dead_port);
    snprintf(b, sizeof b, "http://127.0.0.1:%d/second", g_dead_port);
    const char *m[] = {a, b};
    mt_fetch_opts o = test_opts(&r, m, 2);
    const char *dir = new_dir();
    assert_int_equal(mt_fetch_dataset(dir, &g_spec, &o, &e), MT_ENET);
    print_message("    down: %s\n", e.msg);
    assert_non_null(strstr(e.msg, "train-images-idx3-ubyte.gz"));
    assert_non_null(strstr(e.msg, a));
    assert_non_null(strstr(e.msg, b));
    assert_non_null(strstr(e.msg, "connect"));
    /* the library names no option: the command layer adds the hint */
    assert_null(strstr(e.msg, "--"));
    assert_null(strchr(e.msg, '\n'));
    assert_int_equal(r.n_attempt, 4); /* 2 mirrors x 2 retries, then stop */
    assert_none(dir);
}

static void test_fetch_stalled_transfer_times_out_to_next_mirror(void **state)
{
    (void)state;
    recorder r = {0};
    mt_err e = {0};
    const char *m[] = {mirror("stall"), mirror("ok")};
    mt_fetch_opts o = test_opts(&r, m, 2);
    o.retries = 1;
    /* curl averages the speed over ~5 s: a high limit makes the 4 KiB the
     * server sends before stalling too slow within the 1 s window */
    o.low_speed_bytes = 100000;
    o.low_speed_time_s = 1;
    const char *dir = new_dir();
    assert_int_equal(mt_fetch_dataset(dir, &g_spec, &o, &e), MT_OK);
    assert_non_null(strstr(r.details, "too slow"));
    assert_all_valid(dir);
}

static void test_fetch_abort_flag_returns_eintr_and_removes_part(void **state)
{
    (void)state;
    recorder r = {0};
    mt_err e = {0};
    const char *m[] = {mirror("slow")};
    mt_fetch_opts o = test_opts(&r, m, 1);
    r.stop_after = 6000;
    const char *dir = new_dir();
    assert_int_equal(mt_fetch_dataset(dir, &g_spec, &o, &e), MT_EINTR);
    assert_non_null(strstr(e.msg, "interrupted"));
    assert_none(dir);

    /* a stop flag already set: nothing starts */
    r.stop = 1;
    r.stop_after = 0;
    assert_int_equal(mt_fetch_dataset(dir, &g_spec, &o, &e), MT_EINTR);
    assert_none(dir);
}

static void test_fetch_killed_midway_leaves_no_final_file_and_resumes(void **state)
{
    (void)state;
    const char *dir = new_dir();
    const char *part = path_in(dir, g_files[0].name, ".part");
    const char *m[] = {mirror("slow")};

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        recorder r = {0};
        mt_fetch_opts o = test_opts(&r, m, 1);
        o.event = NULL;
        o.progress = NULL;
        _exit(mt_fetch_dataset(dir, &g_spec, &o, NULL) == MT_OK ? 0 : 1);
    }
    /* wait until some bytes (not all) of the first file are on disk */
    long n = -1;
    for (int i = 0; i < 200 && (n = file_size(part)) < 8192; i++) {
        struct timespec ts = {0, 25 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(WIFSIGNALED(status));
    assert_true(n >= 8192);
    assert_false(exists(path_in(dir, g_files[0].name, "")));
    long kept = file_size(part);
    assert_true(kept >= 8192);

    /* rerun: resumes the .part with a Range request and succeeds */
    recorder r = {0};
    mt_err e = {0};
    const char *ok[] = {mirror("ok")};
    mt_fetch_opts o = test_opts(&r, ok, 1);
    int ranges = log_count("bytes=");
    assert_int_equal(mt_fetch_dataset(dir, &g_spec, &o, &e), MT_OK);
    assert_true(r.max_resume >= 8192);
    assert_int_equal(log_count("bytes=") - ranges, 1);
    assert_int_equal(r.n_retry, 0);
    assert_all_valid(dir);
}

static void test_fetch_discards_part_that_cannot_be_resumed(void **state)
{
    (void)state;
    recorder r = {0};
    mt_err e = {0};
    const char *dir = make_dir();
    const char *ok[] = {mirror("ok")};
    mt_fetch_opts o = test_opts(&r, ok, 1);
    o.retries = 1; /* restarting a stale .part must not cost the only attempt */

    char junk[8000];
    memset(junk, 'x', sizeof junk);
    /* wrong bytes: resumes, fails verification, starts over */
    write_bytes(path_in(dir, g_files[0].name, ".part"), junk, 5000);
    /* longer than the file: 416, starts over */
    write_bytes(path_in(dir, g_files[3].name, ".part"), junk, sizeof junk);
    assert_int_equal(mt_fetch_dataset(dir, &g_spec, &o, &e), MT_OK);
    assert_int_equal(r.n_retry, 2);
    assert_all_valid(dir);

    /* a server that ignores Range: the .part is discarded, not appended to */
    const char *dir2 = make_dir();
    write_bytes(path_in(dir2, g_files[1].name, ".part"), junk, 100);
    const char *nr[] = {mirror("norange")};
    mt_fetch_opts o2 = test_opts(&r, nr, 1);
    o2.retries = 1;
    memset(&r, 0, sizeof r);
    assert_int_equal(mt_fetch_dataset(dir2, &g_spec, &o2, &e), MT_OK);
    assert_int_equal(r.n_retry, 1);
    assert_all_valid(dir2);
}

static void test_fetch_replaces_invalid_present_file(void **state)
{
    (void)state;
    recorder r = {0};
    mt_err e = {0};
    const char *ok[] = {mirror("ok")};
    mt_fetch_opts o = test_opts(&r, ok, 1);
    const char *dir = new_dir();
    assert_int_equal(mt_fetch_dataset(dir, &g_spec, &o, &e), MT_OK);
    write_bytes(path_in(dir, g_files[2].name, ""), "<html>", 6);
    memset(&r, 0, sizeof r);
    assert_int_equal(mt_fetch_dataset(dir, &g_spec, &o, &e), MT_OK);
    assert_int_equal(r.n_invalid, 1);
    assert_int_equal(r.n_present, 3);
    assert_int_equal(r.n_downloaded, 1);
    assert_all_valid(dir);
}

static void test_fetch_part_locked_by_another_process_is_left_alone(void **state)
{
    (void)state;
    const char *dir = make_dir();
    const char *part = path_in(dir, g_files[0].name, ".part");
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(part, O_RDWR | O_CREAT, 0666);
        struct flock lk = {0};
        lk.l_type = F_WRLCK;
        lk.l_whence = SEEK_SET;
        if (fd < 0 || fcntl(fd, F_SETLK, &lk) != 0)
            _exit(1);
        if (write(fds[1], "x", 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    close(fds[1]);
    char c;
    ssize_t got = read(fds[0], &c, 1);
    close(fds[0]);
    recorder r = {0};
    mt_err e = {0};
    const char *ok[] = {mirror("ok")};
    mt_fetch_opts o = test_opts(&r, ok, 1);
    mt_status st = mt_fetch_dataset(dir, &g_spec, &o, &e);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    assert_int_equal(got, 1);
    assert_int_equal(st, MT_EIO);
    assert_non_null(strstr(e.msg, "another mnist-train"));
    assert_true(exists(part));
}

static void test_fetch_rejects_bad_arguments(void **state)
{
    (void)state;
    mt_err e = {0};
    const char *m[] = {"ftp://example.org/"};
    mt_fetch_opts o = {0};
    o.mirrors = m;
    o.n_mirrors = 1;
    assert_int_equal(mt_fetch_dataset(NULL, &g_spec, NULL, &e), MT_EARG);
    assert_int_equal(mt_fetch_dataset("x", NULL, NULL, &e), MT_EARG);
    assert_int_equal(mt_fetch_dataset(new_dir(), &g_spec, NULL, &e), MT_EARG); /* no mirrors */
    assert_int_equal(mt_fetch_dataset(new_dir(), &g_spec, &o, &e), MT_EARG);
    assert_non_null(strstr(e.msg, "ftp://example.org/"));
}

/* The real MNIST files, served locally, against the built-in known values. */
static void test_fetch_real_mnist_end_to_end(void **state)
{
    (void)state;
    const char *data = getenv("MNIST_DATA");
    if (!data || !*data) {
        print_message("    skipped: MNIST_DATA is not set (e.g. MNIST_DATA=../shared/data/mnist)\n");
        skip();
    }
    const mt_fetch_spec *mnist = NULL;
    mt_err e = {0};
    assert_int_equal(mt_fetch_spec_find(&mnist, "mnist", &e), MT_OK);
    verify_count c = {0};
    assert_int_equal(mt_fetch_verify_dir(data, mnist, count_report, &c, &e), MT_OK);
    assert_int_equal(c.n_ok, 4);

    server s = {0};
    assert_int_equal(server_start(&s, data), 0);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/ok/", s.port);
    const char *m[] = {url};
    recorder r = {0};
    mt_fetch_opts o = test_opts(&r, m, 1);
    const char *dir = new_dir();
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    mt_status st = mt_fetch_dataset(dir, mnist, &o, &e);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    server_stop(&s);
    if (st != MT_OK)
        print_message("    %s\n", e.msg);
    assert_int_equal(st, MT_OK);
    assert_int_equal(r.n_downloaded, 4);
    print_message("    real MNIST: downloaded and verified 4 files in %.2f s\n",
                  (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    memset(&c, 0, sizeof c);
    assert_int_equal(mt_fetch_verify_dir(dir, mnist, count_report, &c, &e), MT_OK);
    assert_int_equal(c.n_ok, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_find_knows_mnist_and_fashion),
        cmocka_unit_test(test_spec_find_rejects_unknown_name),
        cmocka_unit_test(test_mirrors_parse_splits_on_commas_and_spaces),
        cmocka_unit_test(test_verify_file_accepts_valid_and_names_mismatches),
        cmocka_unit_test(test_verify_file_rejects_html_truncated_and_missing),
        cmocka_unit_test(test_verify_dir_reports_each_file),
        cmocka_unit_test(test_fetch_downloads_and_verifies_all_files),
        cmocka_unit_test(test_fetch_keeps_present_files_without_network),
        cmocka_unit_test(test_fetch_rejects_corrupt_download),
        cmocka_unit_test(test_fetch_rejects_html_saved_as_gz),
        cmocka_unit_test(test_fetch_falls_back_to_second_mirror_after_404),
        cmocka_unit_test(test_fetch_retries_500_then_uses_next_mirror),
        cmocka_unit_test(test_fetch_server_down_lists_tried_mirrors),
        cmocka_unit_test(test_fetch_stalled_transfer_times_out_to_next_mirror),
        cmocka_unit_test(test_fetch_abort_flag_returns_eintr_and_removes_part),
        cmocka_unit_test(test_fetch_killed_midway_leaves_no_final_file_and_resumes),
        cmocka_unit_test(test_fetch_discards_part_that_cannot_be_resumed),
        cmocka_unit_test(test_fetch_replaces_invalid_present_file),
        cmocka_unit_test(test_fetch_part_locked_by_another_process_is_left_alone),
        cmocka_unit_test(test_fetch_rejects_bad_arguments),
        cmocka_unit_test(test_fetch_real_mnist_end_to_end),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
