/* Tests for mt_png: atomic writes (failure never damages the target), and
 * reading every PNG colour type / bit depth / interlace as 8-bit gray or RGB.
 * Fixture PNGs are written here with libpng directly, into a mkdtemp directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <png.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "mt_png.h"
#include "test_util.h"

/* Whole file into memory; *n its size. Caller frees. */
static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *buf = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 4096;
            uint8_t *nb = realloc(buf, cap);
            assert_non_null(nb);
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    fclose(f);
    *n = len;
    return buf;
}

static void spit(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* Number of directory entries starting with '.' other than . and .. (leftover temp files). */
static int count_hidden(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] == '.' && strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static void run_pngcheck(const char *path)
{
    if (system("command -v pngcheck >/dev/null 2>&1") != 0) {
        printf("skipped: pngcheck is not on PATH (Debian: pngcheck), no external PNG validity check\n");
        skip();
    }
    char cmd[512];
    snprintf(cmd, sizeof cmd, "pngcheck -q '%s'", path);
    assert_int_equal(system(cmd), 0);
}

static uint8_t *pattern_rgb(int w, int h)
{
    uint8_t *rgb = malloc((size_t)w * h * 3);
    assert_non_null(rgb);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = rgb + ((size_t)y * w + x) * 3;
            p[0] = (uint8_t)(x * 37);
            p[1] = (uint8_t)(y * 53);
            p[2] = (uint8_t)(x * y + 7);
        }
    return rgb;
}

/* ------------------------------------------------------------------------- */
/* Fixture writer: any colour type / depth via libpng                        */
/* ------------------------------------------------------------------------- */

typedef struct {
    int w, h, color_type, bit_depth, interlace;
    const uint8_t *rows;       /* packed rows, rowbytes each */
    const png_color *palette;  /* PALETTE only */
    int n_palette;
    const uint8_t *trans;      /* palette alpha (n_trans entries) or NULL */
    int n_trans;
    const png_color_16 *trans_color; /* gray/RGB tRNS colour or NULL */
} fixture;

static void write_fixture(const char *path, const fixture *fx)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    assert_non_null(info);
    if (setjmp(png_jmpbuf(png)))
        fail_msg("libpng failed writing fixture %s", path);
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)fx->w, (png_uint_32)fx->h, fx->bit_depth, fx->color_type,
                 fx->interlace, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (fx->palette)
        png_set_PLTE(png, info, fx->palette, fx->n_palette);
    if (fx->trans || fx->trans_color)
        png_set_tRNS(png, info, fx->trans, fx->n_trans, fx->trans_color);
    png_write_info(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    png_bytep *rows = malloc((size_t)fx->h * sizeof *rows);
    assert_non_null(rows);
    for (int y = 0; y < fx->h; y++)
        rows[y] = (png_bytep)(fx->rows + (size_t)y * rowbytes);
    png_write_image(png, rows); /* handles the interlace passes itself */
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    assert_int_equal(fclose(f), 0);
}

/* Reads path as gray and compares with want (w*h values) within tol. */
static void expect_gray(const char *path, const uint8_t *want, int w, int h, int tol)
{
    mt_err err = {0};
    uint8_t *g = NULL;
    int gw = 0, gh = 0;
    mt_status st = mt_png_read_gray(path, &g, &gw, &gh, &err);
    if (st != MT_OK)
        fail_msg("read_gray(%s): %s", path, err.msg);
    assert_int_equal(gw, w);
    assert_int_equal(gh, h);
    for (int i = 0; i < w * h; i++)
        if (abs((int)g[i] - (int)want[i]) > tol)
            fail_msg("%s: pixel %d is %d, want %d", path, i, g[i], want[i]);
    free(g);
}

/* ------------------------------------------------------------------------- */
/* Writing                                                                   */
/* ------------------------------------------------------------------------- */

static void test_png_write_then_read_rgb_is_identical(void **state)
{
    (void)state;
    const int w = 13, h = 7;
    uint8_t *rgb = pattern_rgb(w, h);
    mt_err err = {0};
    const char *p = tu_tmp("round.png");
    assert_int_equal(mt_png_write_rgb(p, rgb, w, h, &err), MT_OK);

    uint8_t *back = NULL;
    int bw = 0, bh = 0;
    assert_int_equal(mt_png_read_rgb(p, &back, &bw, &bh, &err), MT_OK);
    assert_int_equal(bw, w);
    assert_int_equal(bh, h);
    assert_memory_equal(back, rgb, (size_t)w * h * 3);
    assert_int_equal(count_hidden(tu_group_dir), 0);
    free(back);
    free(rgb);
}

static void test_png_written_file_passes_pngcheck(void **state)
{
    (void)state;
    uint8_t *rgb = pattern_rgb(40, 30);
    mt_err err = {0};
    const char *p = tu_tmp("check.png");
    assert_int_equal(mt_png_write_rgb(p, rgb, 40, 30, &err), MT_OK);
    free(rgb);
    run_pngcheck(p);
}

static void test_png_written_file_mode_follows_umask(void **state)
{
    (void)state;
    uint8_t rgb[3] = {1, 2, 3};
    mt_err err = {0};
    mode_t old = umask(027);
    mt_status st = mt_png_write_rgb(tu_tmp("mode.png"), rgb, 1, 1, &err);
    umask(old);
    assert_int_equal(st, MT_OK);
    struct stat sb;
    assert_int_equal(stat(tu_tmp("mode.png"), &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0640);
}

static void test_png_write_to_missing_dir_is_eio_naming_path(void **state)
{
    (void)state;
    uint8_t rgb[12] = {0};
    mt_err err = {0};
    const char *p = tu_tmp("no/such/dir/x.png");
    assert_int_equal(mt_png_write_rgb(p, rgb, 2, 2, &err), MT_EIO);
    assert_int_equal(err.code, MT_EIO);
    assert_non_null(strstr(err.msg, p));
    assert_non_null(strstr(err.msg, "cannot create"));
    assert_non_null(strstr(err.msg, "No such file or directory"));
    assert_null(strchr(err.msg, '\n'));
}

static void test_png_write_under_regular_file_is_eio(void **state)
{
    (void)state;
    spit(tu_tmp("plainfile"), "x", 1);
    uint8_t rgb[12] = {0};
    mt_err err = {0};
    const char *p = tu_tmp("plainfile/x.png");
    assert_int_equal(mt_png_write_rgb(p, rgb, 2, 2, &err), MT_EIO);
    assert_non_null(strstr(err.msg, p));
    assert_non_null(strstr(err.msg, "Not a directory"));
}

static void test_png_write_over_directory_fails_and_cleans_up(void **state)
{
    (void)state;
    char sub[256];
    snprintf(sub, sizeof sub, "%s/sub", tu_group_dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    char target[300];
    snprintf(target, sizeof target, "%s/adir", sub);
    assert_int_equal(mkdir(target, 0755), 0);
    uint8_t rgb[12] = {0};
    mt_err err = {0};
    assert_int_equal(mt_png_write_rgb(target, rgb, 2, 2, &err), MT_EIO);
    assert_non_null(strstr(err.msg, target));
    assert_non_null(strstr(err.msg, "is a directory, not a regular file: not replaced"));
    assert_int_equal(count_hidden(sub), 0); /* the temp file was removed */
}

static void test_png_write_bad_size_is_earg_and_keeps_old_file(void **state)
{
    (void)state;
    const char *p = tu_tmp("keep1.png");
    uint8_t *rgb = pattern_rgb(8, 8);
    mt_err err = {0};
    assert_int_equal(mt_png_write_rgb(p, rgb, 8, 8, &err), MT_OK);
    size_t n0 = 0, n1 = 0;
    uint8_t *before = slurp(p, &n0);
    assert_non_null(before);

    assert_int_equal(mt_png_write_rgb(p, rgb, 0, 8, &err), MT_EARG);
    assert_non_null(strstr(err.msg, p));
    assert_int_equal(mt_png_write_rgb(p, rgb, 8, -1, &err), MT_EARG);
    assert_int_equal(mt_png_write_rgb(p, rgb, MT_PNG_MAX_WRITE_SIDE + 1, 1, &err), MT_EARG);

    uint8_t *after = slurp(p, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    free(before);
    free(after);
    free(rgb);
}

/* A write that fails half-way (the file-size limit is hit while libpng is
 * writing) must return MT_EIO, leave the previous file byte-identical and
 * leave no temporary file behind. Done in a child so the limit can't leak. */
static void test_png_write_failing_midway_keeps_old_file(void **state)
{
    (void)state;
    char sub[256];
    snprintf(sub, sizeof sub, "%s/midway", tu_group_dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    char p[300];
    snprintf(p, sizeof p, "%s/model.png", sub);

    uint8_t *small = pattern_rgb(8, 8);
    mt_err err = {0};
    assert_int_equal(mt_png_write_rgb(p, small, 8, 8, &err), MT_OK);
    size_t n0 = 0, n1 = 0;
    uint8_t *before = slurp(p, &n0);
    assert_non_null(before);

    /* 256x256 pseudo-random pixels: ~200 KB that zlib can't shrink below the limit. */
    const int w = 256, h = 256;
    uint8_t *noise = malloc((size_t)w * h * 3);
    assert_non_null(noise);
    uint32_t s = 12345;
    for (size_t i = 0; i < (size_t)w * h * 3; i++) {
        s = s * 1664525u + 1013904223u;
        noise[i] = (uint8_t)(s >> 24);
    }

    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        signal(SIGXFSZ, SIG_IGN); /* get EFBIG from write() instead of a signal */
        struct rlimit rl;
        getrlimit(RLIMIT_FSIZE, &rl);
        rl.rlim_cur = 4096;
        setrlimit(RLIMIT_FSIZE, &rl);
        mt_err cerr = {0};
        mt_status st = mt_png_write_rgb(p, noise, w, h, &cerr);
        ssize_t wr = write(pfd[1], cerr.msg, strlen(cerr.msg) + 1);
        (void)wr;
        _exit((int)st);
    }
    close(pfd[1]);
    char msg[600] = {0};
    size_t got = 0;
    ssize_t r;
    while ((r = read(pfd[0], msg + got, sizeof msg - 1 - got)) > 0)
        got += (size_t)r;
    close(pfd[0]);
    int wst = 0;
    assert_int_equal(waitpid(pid, &wst, 0), pid);
    assert_true(WIFEXITED(wst));
    assert_int_equal(WEXITSTATUS(wst), MT_EIO);
    assert_non_null(strstr(msg, p));
    assert_non_null(strstr(msg, "File too large"));

    uint8_t *after = slurp(p, &n1);
    assert_non_null(after);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    assert_int_equal(count_hidden(sub), 0);

    /* Without the limit the same write succeeds and replaces the file. */
    assert_int_equal(mt_png_write_rgb(p, noise, w, h, &err), MT_OK);
    uint8_t *back = NULL;
    int bw = 0, bh = 0;
    assert_int_equal(mt_png_read_rgb(p, &back, &bw, &bh, &err), MT_OK);
    assert_int_equal(bw, w);
    assert_memory_equal(back, noise, (size_t)w * h * 3);
    free(back);
    free(before);
    free(after);
    free(noise);
    free(small);
}

/* ------------------------------------------------------------------------- */
/* Reading: every format                                                     */
/* ------------------------------------------------------------------------- */

static void test_png_read_gray8_exact(void **state)
{
    (void)state;
    const uint8_t px[6] = {0, 17, 128, 255, 1, 254};
    fixture fx = {.w = 3, .h = 2, .color_type = PNG_COLOR_TYPE_GRAY, .bit_depth = 8, .rows = px};
    write_fixture(tu_tmp("g8.png"), &fx);
    expect_gray(tu_tmp("g8.png"), px, 3, 2, 0);
}

static void test_png_read_gray16_scales_with_rounding(void **state)
{
    (void)state;
    /* big-endian 16-bit samples */
    const uint8_t px[8] = {0x00, 0x00, 0x80, 0x80, 0xFF, 0xFF, 0x12, 0x34};
    const uint8_t want[4] = {0, 128, 255, 18}; /* 0x1234*255/65535 = 18.13 */
    fixture fx = {.w = 4, .h = 1, .color_type = PNG_COLOR_TYPE_GRAY, .bit_depth = 16, .rows = px};
    write_fixture(tu_tmp("g16.png"), &fx);
    expect_gray(tu_tmp("g16.png"), want, 4, 1, 0);
}

static void test_png_read_gray_low_bit_depths(void **state)
{
    (void)state;
    const uint8_t px1[2] = {0xB0, 0x80}; /* 1-bit, w=4, h=2: 1011 / 1000 */
    const uint8_t want1[8] = {255, 0, 255, 255, 255, 0, 0, 0};
    fixture f1 = {.w = 4, .h = 2, .color_type = PNG_COLOR_TYPE_GRAY, .bit_depth = 1, .rows = px1};
    write_fixture(tu_tmp("g1.png"), &f1);
    expect_gray(tu_tmp("g1.png"), want1, 4, 2, 0);

    const uint8_t px2[1] = {0x1B}; /* 2-bit: 0 1 2 3 */
    const uint8_t want2[4] = {0, 85, 170, 255};
    fixture f2 = {.w = 4, .h = 1, .color_type = PNG_COLOR_TYPE_GRAY, .bit_depth = 2, .rows = px2};
    write_fixture(tu_tmp("g2.png"), &f2);
    expect_gray(tu_tmp("g2.png"), want2, 4, 1, 0);

    const uint8_t px4[2] = {0x0F, 0x7A}; /* 4-bit: 0 15 7 10 */
    const uint8_t want4[4] = {0, 255, 119, 170};
    fixture f4 = {.w = 4, .h = 1, .color_type = PNG_COLOR_TYPE_GRAY, .bit_depth = 4, .rows = px4};
    write_fixture(tu_tmp("g4.png"), &f4);
    expect_gray(tu_tmp("g4.png"), want4, 4, 1, 0);
}

static void test_png_read_gray_alpha_composites_over_white(void **state)
{
    (void)state;
    const uint8_t px[8] = {0, 255, 0, 0, 100, 128, 200, 255}; /* (v, a) pairs */
    /* (100*128 + 255*127 + 127) / 255 = 177 */
    const uint8_t want[4] = {0, 255, 177, 200};
    fixture fx = {.w = 4, .h = 1, .color_type = PNG_COLOR_TYPE_GRAY_ALPHA, .bit_depth = 8, .rows = px};
    write_fixture(tu_tmp("ga.png"), &fx);
    expect_gray(tu_tmp("ga.png"), want, 4, 1, 0);
}

static void test_png_read_gray_trns_color_is_transparent(void **state)
{
    (void)state;
    const uint8_t px[3] = {50, 51, 0};
    const png_color_16 key = {.gray = 50};
    const uint8_t want[3] = {255, 51, 0};
    fixture fx = {.w = 3, .h = 1, .color_type = PNG_COLOR_TYPE_GRAY, .bit_depth = 8, .rows = px,
                  .trans_color = &key};
    write_fixture(tu_tmp("gt.png"), &fx);
    expect_gray(tu_tmp("gt.png"), want, 3, 1, 0);
}

static void test_png_read_rgb_uses_rec709_weights(void **state)
{
    (void)state;
    const uint8_t px[15] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 10, 10, 255, 255, 255};
    const uint8_t want[5] = {54, 182, 18, 10, 255};
    fixture fx = {.w = 5, .h = 1, .color_type = PNG_COLOR_TYPE_RGB, .bit_depth = 8, .rows = px};
    write_fixture(tu_tmp("rgb8.png"), &fx);
    expect_gray(tu_tmp("rgb8.png"), want, 5, 1, 0);

    const uint8_t px16[6] = {0xFF, 0xFF, 0, 0, 0, 0}; /* RGB16 pure red */
    const uint8_t want16[1] = {54};
    fixture f16 = {.w = 1, .h = 1, .color_type = PNG_COLOR_TYPE_RGB, .bit_depth = 16, .rows = px16};
    write_fixture(tu_tmp("rgb16.png"), &f16);
    expect_gray(tu_tmp("rgb16.png"), want16, 1, 1, 0);
}

static void test_png_read_rgba_composites_over_white(void **state)
{
    (void)state;
    const uint8_t px[12] = {0, 0, 0, 0, 0, 0, 0, 255, 255, 0, 0, 255};
    const uint8_t want[3] = {255, 0, 54};
    fixture fx = {.w = 3, .h = 1, .color_type = PNG_COLOR_TYPE_RGBA, .bit_depth = 8, .rows = px};
    write_fixture(tu_tmp("rgba.png"), &fx);
    expect_gray(tu_tmp("rgba.png"), want, 3, 1, 0);

    /* read_rgb composites per channel: half-transparent black -> mid gray */
    const uint8_t half[4] = {0, 0, 0, 128};
    fixture fh = {.w = 1, .h = 1, .color_type = PNG_COLOR_TYPE_RGBA, .bit_depth = 8, .rows = half};
    write_fixture(tu_tmp("half.png"), &fh);
    mt_err err = {0};
    uint8_t *rgb = NULL;
    int w = 0, h = 0;
    assert_int_equal(mt_png_read_rgb(tu_tmp("half.png"), &rgb, &w, &h, &err), MT_OK);
    assert_int_equal(rgb[0], 127); /* (255*127 + 127)/255 */
    assert_int_equal(rgb[1], 127);
    assert_int_equal(rgb[2], 127);
    free(rgb);
}

static void test_png_read_palette_with_and_without_trns(void **state)
{
    (void)state;
    const png_color pal[4] = {{0, 0, 0}, {255, 255, 255}, {255, 0, 0}, {60, 60, 60}};
    const uint8_t px8[4] = {0, 1, 2, 3};
    const uint8_t want[4] = {0, 255, 54, 60};
    fixture f8 = {.w = 4, .h = 1, .color_type = PNG_COLOR_TYPE_PALETTE, .bit_depth = 8, .rows = px8,
                  .palette = pal, .n_palette = 4};
    write_fixture(tu_tmp("p8.png"), &f8);
    expect_gray(tu_tmp("p8.png"), want, 4, 1, 0);

    const uint8_t px2[1] = {0x1B}; /* 2-bit indices 0 1 2 3 */
    const uint8_t trans[3] = {255, 255, 0}; /* index 2 (red) fully transparent */
    const uint8_t want_t[4] = {0, 255, 255, 60};
    fixture f2 = {.w = 4, .h = 1, .color_type = PNG_COLOR_TYPE_PALETTE, .bit_depth = 2, .rows = px2,
                  .palette = pal, .n_palette = 4, .trans = trans, .n_trans = 3};
    write_fixture(tu_tmp("p2t.png"), &f2);
    expect_gray(tu_tmp("p2t.png"), want_t, 4, 1, 0);
}

static void test_png_read_interlaced(void **state)
{
    (void)state;
    enum { W = 11, H = 9 };
    uint8_t px[W * H];
    for (int i = 0; i < W * H; i++)
        px[i] = (uint8_t)(i * 7 + 3);
    fixture fx = {.w = W, .h = H, .color_type = PNG_COLOR_TYPE_GRAY, .bit_depth = 8, .rows = px,
                  .interlace = PNG_INTERLACE_ADAM7};
    write_fixture(tu_tmp("adam7.png"), &fx);
    expect_gray(tu_tmp("adam7.png"), px, W, H, 0);

    uint8_t rgb[W * H * 3];
    for (int i = 0; i < W * H; i++)
        rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = px[i];
    fixture fc = {.w = W, .h = H, .color_type = PNG_COLOR_TYPE_RGB, .bit_depth = 8, .rows = rgb,
                  .interlace = PNG_INTERLACE_ADAM7};
    write_fixture(tu_tmp("adam7rgb.png"), &fc);
    expect_gray(tu_tmp("adam7rgb.png"), px, W, H, 0);
}

/* ------------------------------------------------------------------------- */
/* Reading: bad input                                                        */
/* ------------------------------------------------------------------------- */

static void expect_edata(const char *path, const char *needle)
{
    mt_err err = {0};
    uint8_t *g = (uint8_t *)&err; /* must stay untouched on failure */
    int w = -7, h = -7;
    mt_status st = mt_png_read_gray(path, &g, &w, &h, &err);
    if (st != MT_EDATA)
        fail_msg("%s: status %d, want MT_EDATA (%s)", path, (int)st, err.msg);
    assert_true(g == (uint8_t *)&err);
    assert_int_equal(w, -7);
    assert_non_null(strstr(err.msg, path));
    assert_null(strchr(err.msg, '\n'));
    if (needle && !strstr(err.msg, needle))
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, needle);
}

static void test_png_read_missing_empty_garbage_are_edata(void **state)
{
    (void)state;
    expect_edata(tu_tmp("does-not-exist.png"), "cannot open");
    spit(tu_tmp("empty.png"), "", 0);
    expect_edata(tu_tmp("empty.png"), "not a PNG");
    spit(tu_tmp("garbage.png"), "GIF89a this is not a png at all", 31);
    expect_edata(tu_tmp("garbage.png"), "not a PNG");
    spit(tu_tmp("short.png"), "\x89PNG", 4);
    expect_edata(tu_tmp("short.png"), "not a PNG");
}

static void test_png_read_every_truncation_is_edata(void **state)
{
    (void)state;
    uint8_t *rgb = pattern_rgb(16, 16);
    mt_err err = {0};
    assert_int_equal(mt_png_write_rgb(tu_tmp("full.png"), rgb, 16, 16, &err), MT_OK);
    free(rgb);
    size_t n = 0;
    uint8_t *data = slurp(tu_tmp("full.png"), &n);
    assert_non_null(data);
    assert_true(n > 60);
    for (size_t len = 0; len < n; len++) {
        spit(tu_tmp("trunc.png"), data, len);
        expect_edata(tu_tmp("trunc.png"), NULL);
    }
    free(data);
}

static void test_png_read_corrupt_data_is_edata(void **state)
{
    (void)state;
    uint8_t *rgb = pattern_rgb(16, 16);
    mt_err err = {0};
    assert_int_equal(mt_png_write_rgb(tu_tmp("full2.png"), rgb, 16, 16, &err), MT_OK);
    free(rgb);
    size_t n = 0;
    uint8_t *data = slurp(tu_tmp("full2.png"), &n);
    assert_non_null(data);
    data[n / 2] ^= 0x55; /* inside IDAT: its CRC no longer matches */
    spit(tu_tmp("corrupt.png"), data, n);
    expect_edata(tu_tmp("corrupt.png"), "bad PNG");
    free(data);
}

static void put_chunk(FILE *f, const char *type, const uint8_t *data, uint32_t len)
{
    uint8_t be[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len};
    fwrite(be, 1, 4, f);
    fwrite(type, 1, 4, f);
    if (len)
        fwrite(data, 1, len, f);
    uLong crc = crc32(0, (const Bytef *)type, 4);
    if (len)
        crc = crc32(crc, data, len);
    uint8_t c[4] = {(uint8_t)(crc >> 24), (uint8_t)(crc >> 16), (uint8_t)(crc >> 8), (uint8_t)crc};
    fwrite(c, 1, 4, f);
}

/* A valid header claiming w x h gray pixels, followed by a token IDAT. */
static void write_header_only(const char *path, uint32_t w, uint32_t h)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    fwrite(sig, 1, 8, f);
    uint8_t ihdr[13] = {(uint8_t)(w >> 24), (uint8_t)(w >> 16), (uint8_t)(w >> 8), (uint8_t)w,
                        (uint8_t)(h >> 24), (uint8_t)(h >> 16), (uint8_t)(h >> 8), (uint8_t)h,
                        8, 0, 0, 0, 0};
    put_chunk(f, "IHDR", ihdr, 13);
    const uint8_t idat[2] = {0x78, 0x9c};
    put_chunk(f, "IDAT", idat, 2);
    put_chunk(f, "IEND", NULL, 0);
    assert_int_equal(fclose(f), 0);
}

static void test_png_read_refuses_huge_dimensions(void **state)
{
    (void)state;
    write_header_only(tu_tmp("wide.png"), 20000, 1);
    expect_edata(tu_tmp("wide.png"), "limit");
    write_header_only(tu_tmp("many.png"), 10000, 10000); /* sides ok, 100 Mpixel too many */
    expect_edata(tu_tmp("many.png"), "limit");
    write_header_only(tu_tmp("absurd.png"), 0x7fffffff, 0x7fffffff);
    expect_edata(tu_tmp("absurd.png"), NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_png_write_then_read_rgb_is_identical),
        cmocka_unit_test(test_png_written_file_passes_pngcheck),
        cmocka_unit_test(test_png_written_file_mode_follows_umask),
        cmocka_unit_test(test_png_write_to_missing_dir_is_eio_naming_path),
        cmocka_unit_test(test_png_write_under_regular_file_is_eio),
        cmocka_unit_test(test_png_write_over_directory_fails_and_cleans_up),
        cmocka_unit_test(test_png_write_bad_size_is_earg_and_keeps_old_file),
        cmocka_unit_test(test_png_write_failing_midway_keeps_old_file),
        cmocka_unit_test(test_png_read_gray8_exact),
        cmocka_unit_test(test_png_read_gray16_scales_with_rounding),
        cmocka_unit_test(test_png_read_gray_low_bit_depths),
        cmocka_unit_test(test_png_read_gray_alpha_composites_over_white),
        cmocka_unit_test(test_png_read_gray_trns_color_is_transparent),
        cmocka_unit_test(test_png_read_rgb_uses_rec709_weights),
        cmocka_unit_test(test_png_read_rgba_composites_over_white),
        cmocka_unit_test(test_png_read_palette_with_and_without_trns),
        cmocka_unit_test(test_png_read_interlaced),
        cmocka_unit_test(test_png_read_missing_empty_garbage_are_edata),
        cmocka_unit_test(test_png_read_every_truncation_is_edata),
        cmocka_unit_test(test_png_read_corrupt_data_is_edata),
        cmocka_unit_test(test_png_read_refuses_huge_dimensions),
    };
    return cmocka_run_group_tests(tests, tu_group_setup, tu_group_teardown);
}
