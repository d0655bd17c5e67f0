/* mt_file (regular files only, refused before a blocking open; reasons in
 * every message; stale temp files swept), mt_esc, and the savers' behaviour
 * when a write fails with EFBIG (file-size limit). */
#define _DEFAULT_SOURCE /* utimes */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "mt_file.h"
#include "mt_png.h"
#include "mt_st.h"
#include "test_util.h"

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_fifo_is_refused_without_blocking(void **state)
{
    (void)state;
    const char *d = tu_mkdtemp();
    const char *p = tu_in(d, "fifo");
    assert_int_equal(mkfifo(p, 0600), 0);
    mt_err err = { 0 };
    int fd = -1;
    alarm(10); /* a blocking open would hang: fail loudly instead */
    assert_int_equal(mt_file_open(p, NULL, MT_EDATA, &fd, &err), MT_EDATA);
    alarm(0);
    assert_int_equal(fd, -1);
    assert_non_null(strstr(err.msg, "fifo: is a FIFO (named pipe), not a regular file"));
    /* the readers built on it */
    mt_st st = { 0 };
    assert_int_equal(mt_st_load(p, &st, &err), MT_EDATA);
    assert_non_null(strstr(err.msg, "is a FIFO"));
    uint8_t *px = NULL;
    int w, h;
    assert_int_equal(mt_png_read_gray(p, &px, &w, &h, &err), MT_EDATA);
    assert_non_null(strstr(err.msg, "is a FIFO"));
    tu_rmrf(d);
}

static void test_directory_and_devices_are_named(void **state)
{
    (void)state;
    mt_err err = { 0 };
    int fd = -1;
    assert_int_equal(mt_file_open("/tmp", "config", MT_EARG, &fd, &err), MT_EARG);
    assert_string_equal(err.msg, "/tmp: is a directory, not a regular file");
    assert_int_equal(mt_file_open("/dev/null", NULL, MT_EDATA, &fd, &err), MT_EDATA);
    assert_string_equal(err.msg, "/dev/null: is a character device, not a regular file");
    assert_int_equal(mt_file_check("/nonexistent/x", "config", MT_EARG, &err), MT_EARG);
    assert_string_equal(err.msg, "/nonexistent/x: cannot open config: No such file or directory");
    assert_int_equal(fd, -1);
}

static void test_unreadable_file_gives_the_reason(void **state)
{
    (void)state;
    if (geteuid() == 0)
        skip(); /* root reads anything */
    const char *d = tu_mkdtemp();
    const char *p = tu_in(d, "secret");
    write_file(p, "x");
    chmod(p, 0);
    mt_err err = { 0 };
    int fd;
    assert_int_equal(mt_file_open(p, NULL, MT_EDATA, &fd, &err), MT_EDATA);
    assert_non_null(strstr(err.msg, "cannot open: Permission denied"));
    tu_rmrf(d);
}

static void test_read_all_reads_and_limits(void **state)
{
    (void)state;
    const char *d = tu_mkdtemp();
    const char *p = tu_in(d, "f");
    write_file(p, "hello");
    char *buf = NULL;
    size_t n = 0;
    mt_err err = { 0 };
    assert_int_equal(mt_file_read_all(p, NULL, MT_EDATA, 100, &buf, &n, &err), MT_OK);
    assert_int_equal(n, 5);
    assert_string_equal(buf, "hello");
    free(buf);
    buf = NULL;
    assert_int_equal(mt_file_read_all(p, NULL, MT_EARG, 4, &buf, &n, &err), MT_EARG);
    assert_non_null(strstr(err.msg, "larger than 4 bytes"));
    assert_null(buf);
    tu_rmrf(d);
}

static void make_old(const char *path)
{
    struct timeval tv[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
    assert_int_equal(utimes(path, tv), 0);
}

static void test_sweep_removes_only_our_stale_temps(void **state)
{
    (void)state;
    const char *d = tu_mkdtemp();
    char target[320], p[8][320];
    snprintf(target, sizeof target, "%s/m.safetensors", d);
    const char *names[8] = { "m.safetensors.tmpAb12Z9", ".m.safetensors.x1Y2z3", /* stale: go */
                             "m.safetensors.tmpAb12Z", "m.safetensors.tmp-b12Z9", /* not mkstemp's */
                             "other.tmpAb12Z9", "m.safetensors.bak",           /* other files */
                             "m.safetensors.tmpQQQQQQ", /* fresh: a save in progress */
                             "m.safetensors.tmpDIRxyz" };
    for (int i = 0; i < 8; i++) {
        snprintf(p[i], sizeof p[i], "%s/%s", d, names[i]);
        if (i == 7)
            assert_int_equal(mkdir(p[i], 0700), 0);
        else
            write_file(p[i], "partial");
        if (i != 6)
            make_old(p[i]);
    }
    assert_int_equal(mt_file_sweep_tmp(target, MT_FILE_STALE_S), 2);
    for (int i = 0; i < 8; i++)
        assert_int_equal(access(p[i], F_OK) == 0, i >= 2);
    tu_rmrf(d);
}

static void test_saves_sweep_stale_temps(void **state)
{
    (void)state;
    const char *d = tu_mkdtemp();
    char target[320], stale[320], pt[320], pstale[320];
    snprintf(target, sizeof target, "%s/m.safetensors", d);
    snprintf(stale, sizeof stale, "%s/m.safetensors.tmpK1ll3d", d);
    snprintf(pt, sizeof pt, "%s/g.png", d);
    snprintf(pstale, sizeof pstale, "%s/.g.png.Abc123", d);
    write_file(stale, "killed save");
    write_file(pstale, "killed save");
    make_old(stale);
    make_old(pstale);
    float x[4] = { 1, 2, 3, 4 };
    mt_st_tensor t = { .name = "x", .dtype = MT_ST_F32, .ndim = 1, .shape = { 4 }, .data = x };
    mt_err err = { 0 };
    assert_int_equal(mt_st_write(target, &t, 1, NULL, 0, &err), MT_OK);
    assert_int_equal(access(stale, F_OK), -1);
    uint8_t rgb[3 * 4] = { 0 };
    assert_int_equal(mt_png_write_rgb(pt, rgb, 2, 2, &err), MT_OK);
    assert_int_equal(access(pstale, F_OK), -1);
    tu_rmrf(d);
}

/* Count of entries in d (besides . and ..). */
static int n_entries(const char *d)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 0", d);
    return system(cmd) == 0 ? 0 : 1;
}

static void test_file_size_limit_fails_cleanly(void **state)
{
    (void)state;
    const char *d = tu_mkdtemp();
    char target[320];
    snprintf(target, sizeof target, "%s/big.safetensors", d);
    static float big[1 << 16];
    mt_st_tensor t = { .name = "w", .dtype = MT_ST_F32, .ndim = 1, .shape = { 1 << 16 }, .data = big };
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 16384; /* bytes: the 256 KiB file cannot be written */
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN); /* as main does: EFBIG instead of death */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    mt_err err = { 0 };
    mt_status st = mt_st_write(target, &t, 1, NULL, 0, &err);
    uint8_t *rgb = calloc(3, 512 * 512);
    assert_non_null(rgb);
    uint64_t x = 88172645463325252ull; /* xorshift64: noise no PNG filter can predict */
    for (size_t i = 0; i < 3u * 512 * 512; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        rgb[i] = (uint8_t)(x >> 56);
    }
    mt_err err2 = { 0 };
    char png[320];
    snprintf(png, sizeof png, "%s/big.png", d);
    mt_status st2 = mt_png_write_rgb(png, rgb, 512, 512, &err2);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, prev);
    free(rgb);
    assert_int_equal(st, MT_EIO);
    assert_non_null(strstr(err.msg, "big.safetensors"));
    assert_non_null(strstr(err.msg, strerror(EFBIG)));
    assert_int_equal(st2, MT_EIO);
    assert_non_null(strstr(err2.msg, "big.png"));
    assert_non_null(strstr(err2.msg, strerror(EFBIG)));
    assert_int_equal(n_entries(d), 0); /* no temp file left, no target */
    tu_rmrf(d);
}

static void test_saves_never_replace_special_files(void **state)
{
    (void)state;
    const char *d = tu_mkdtemp();
    char fifo[320];
    snprintf(fifo, sizeof fifo, "%s/out", d);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    float x[1] = { 1 };
    mt_st_tensor t = { .name = "x", .dtype = MT_ST_F32, .ndim = 1, .shape = { 1 }, .data = x };
    mt_err err = { 0 };
    assert_int_equal(mt_st_write(fifo, &t, 1, NULL, 0, &err), MT_EIO);
    assert_non_null(strstr(err.msg, "out: is a FIFO (named pipe), not a regular file: not replaced"));
    uint8_t rgb[3] = { 0 };
    assert_int_equal(mt_png_write_rgb(fifo, rgb, 1, 1, &err), MT_EIO);
    assert_non_null(strstr(err.msg, "is a FIFO"));
    struct stat sb;
    assert_int_equal(stat(fifo, &sb), 0);
    assert_true(S_ISFIFO(sb.st_mode)); /* still the FIFO */
    assert_int_equal(mt_st_write(d, &t, 1, NULL, 0, &err), MT_EIO);
    assert_non_null(strstr(err.msg, "is a directory"));
    tu_rmrf(d);
}

static void test_esc_makes_user_text_one_safe_line(void **state)
{
    (void)state;
    char b[MT_ESC_CAP];
    assert_string_equal(mt_esc(b, "plain text"), "plain text");
    assert_string_equal(mt_esc(b, "a\nb\rc\td\\e"), "a\\nb\\rc\\td\\\\e");
    assert_string_equal(mt_esc(b, "\x1b[31mred"), "\\x1b[31mred");
    assert_string_equal(mt_esc(b, "del\x7f"), "del\\x7f");
    assert_string_equal(mt_esc(b, "caf\xc3\xa9 \xe2\x82\xac"), "caf\xc3\xa9 \xe2\x82\xac"); /* UTF-8 stays */
    assert_string_equal(mt_esc(b, "bad\xc3(\xff"), "bad\\xc3(\\xff");
    assert_string_equal(mt_esc(b, "c1\xc2\x9b"), "c1\\xc2\\x9b"); /* U+009B CSI is a control */
    assert_string_equal(mt_escn(b, "a\0b", 3), "a\\x00b");
    assert_string_equal(mt_esc(b, NULL), "(null)");
    char longs[300];
    memset(longs, '\x01', sizeof longs - 1);
    longs[sizeof longs - 1] = '\0';
    mt_esc(b, longs);
    assert_int_equal(strlen(b), 4 * MT_ESC_MAX + 3);
    assert_string_equal(b + 4 * MT_ESC_MAX, "...");
    memset(longs, 'x', 60);
    longs[60] = '\0';
    assert_string_equal(mt_esc(b, longs), longs); /* exactly MT_ESC_MAX: no "..." */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo_is_refused_without_blocking),
        cmocka_unit_test(test_directory_and_devices_are_named),
        cmocka_unit_test(test_unreadable_file_gives_the_reason),
        cmocka_unit_test(test_read_all_reads_and_limits),
        cmocka_unit_test(test_sweep_removes_only_our_stale_temps),
        cmocka_unit_test(test_saves_sweep_stale_temps),
        cmocka_unit_test(test_file_size_limit_fails_cleanly),
        cmocka_unit_test(test_saves_never_replace_special_files),
        cmocka_unit_test(test_esc_makes_user_text_one_safe_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
