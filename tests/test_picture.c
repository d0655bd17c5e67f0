/* mt_image + mt_prep_picture: the pictures people give predict -- drawing-app
 * exports with the ink in alpha, JPEG, pen on (grey, shadowed, specked) paper,
 * a digit inside a drawn frame, chalk on a dark board -- must come out as the
 * same 28x28 input as the clean white-on-black drawing of the same digit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jpeglib.h>

#include "mt_image.h"
#include "mt_prep.h"
#include "test_util.h"

#define W 160
#define H 180

/* Ink coverage 0..1 of a "7" drawn in a box of side s at (x0, y0): a top bar
 * and a slanted stem, 0.12 s wide. */
static float seven(int x, int y, int x0, int y0, int s)
{
    float u = (x + 0.5f - x0) / s, v = (y + 0.5f - y0) / s;
    if (u >= 0.2f && u <= 0.8f && v >= 0.1f && v <= 0.22f)
        return 1.f;
    float cx = 0.8f - 0.4f * (v - 0.1f) / 0.8f;
    return v >= 0.1f && v <= 0.9f && fabsf(u - cx) <= 0.06f ? 1.f : 0.f;
}

/* (H, W) gray: paper level bg, ink level fg, digit at (x0, y0) size s */
static uint8_t *draw(float bg, float fg, int x0, int y0, int s)
{
    uint8_t *g = malloc(W * H);
    assert_non_null(g);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            float c = seven(x, y, x0, y0, s);
            g[y * W + x] = (uint8_t)lrintf(bg + (fg - bg) * c);
        }
    return g;
}

/* The reference input: the clean drawing, white on black. */
static void reference(uint8_t *out)
{
    uint8_t *g = draw(0, 255, 30, 30, 110);
    mt_prep_info info;
    assert_int_equal(mt_prep_picture(out, 28, 28, g, NULL, W, H, &info, NULL), MT_OK);
    assert_int_equal(info.inverted, 0);
    assert_int_equal(info.ambiguous, 0);
    free(g);
}

static double mean_abs_diff(const uint8_t *a, const uint8_t *b)
{
    double d = 0;
    for (int i = 0; i < 784; i++)
        d += abs(a[i] - b[i]);
    return d / 784;
}

/* mean_abs_diff with b shifted by up to one pixel each way, the best: the
 * centre of mass is rounded to whole pixels, so half a pixel of difference in
 * the source can move the whole digit by one. */
static double shifted_diff(const uint8_t *a, const uint8_t *b)
{
    double best = 1e9;
    for (int dy = -1; dy <= 1; dy++)
        for (int dx = -1; dx <= 1; dx++) {
            double d = 0;
            for (int y = 0; y < 28; y++)
                for (int x = 0; x < 28; x++) {
                    int X = x + dx, Y = y + dy;
                    int v = X >= 0 && X < 28 && Y >= 0 && Y < 28 ? b[Y * 28 + X] : 0;
                    d += abs(a[y * 28 + x] - v);
                }
            best = d / 784 < best ? d / 784 : best;
        }
    return best;
}

/* Inputs of the same digit agree to within this mean absolute difference
 * (0..255); a misplaced or mis-scaled digit or a frame left in is 25+. */
#define SAME 8.0

static void expect_same(const uint8_t *gray, const uint8_t *alpha, int w, int h, mt_prep_info *info)
{
    uint8_t ref[784], out[784];
    reference(ref);
    mt_err err = { 0 };
    assert_int_equal(mt_prep_picture(out, 28, 28, gray, alpha, w, h, info, &err), MT_OK);
    double d = shifted_diff(ref, out);
    if (d > SAME)
        fail_msg("28x28 input differs from the clean drawing's by %.1f on average", d);
}

static void test_picture_dark_ink_on_white_and_light_on_dark_agree(void **state)
{
    (void)state;
    mt_prep_info info;
    uint8_t *g = draw(250, 20, 30, 30, 110);
    expect_same(g, NULL, W, H, &info);
    assert_int_equal(info.inverted, 1);
    free(g);
    g = draw(40, 230, 20, 40, 110); /* chalk on a board, elsewhere on it */
    expect_same(g, NULL, W, H, &info);
    assert_int_equal(info.inverted, 0);
    free(g);
}

static void test_picture_reads_white_ink_on_transparent_from_alpha(void **state)
{
    (void)state;
    uint8_t *g = malloc(W * H), *a = draw(0, 255, 30, 30, 110);
    memset(g, 255, W * H); /* white strokes: the colour channels say nothing */
    mt_prep_info info;
    expect_same(g, a, W, H, &info);
    assert_int_equal(info.from_alpha, 1);
    /* the same file composited over white, as before, has no ink at all */
    uint8_t out[784];
    mt_err err = { 0 };
    assert_int_equal(mt_prep_digit(out, 28, 28, g, W, H, NULL, &err), MT_EDATA);
    memset(g, 0, W * H); /* black strokes on transparent: alpha too */
    expect_same(g, a, W, H, &info);
    assert_int_equal(info.from_alpha, 1);
    free(g);
    free(a);
}

static void test_picture_drops_a_drawn_frame(void **state)
{
    (void)state;
    uint8_t *g = draw(245, 30, 30, 30, 110), out[784], ref[784];
    for (int y = 15; y < 160; y++)
        for (int x = 15; x < 150; x++)
            if (x < 19 || x >= 146 || y < 19 || y >= 156)
                g[y * W + x] = 30;
    mt_prep_info info;
    expect_same(g, NULL, W, H, &info);
    assert_int_equal(info.ambiguous, 0);
    /* MNIST's plain preparation keeps the frame: the test can tell */
    reference(ref);
    assert_int_equal(mt_prep_digit(out, 28, 28, g, W, H, NULL, NULL), MT_OK);
    assert_true(shifted_diff(ref, out) > 3 * SAME);
    free(g);
}

static void test_picture_ignores_grey_paper_with_a_shadow_band(void **state)
{
    (void)state;
    uint8_t *g = draw(185, 35, 30, 30, 110), out[784], ref[784];
    /* a diagonal band of shadow over the left part, sharp edge, through the digit */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            if (x + y / 3 < 90)
                g[y * W + x] = (uint8_t)(g[y * W + x] * 0.55f);
    mt_prep_info info;
    expect_same(g, NULL, W, H, &info);
    reference(ref);
    assert_int_equal(mt_prep_digit(out, 28, 28, g, W, H, NULL, NULL), MT_OK);
    assert_true(shifted_diff(ref, out) > 3 * SAME);
    free(g);
}

static void test_picture_drops_noise_specks(void **state)
{
    (void)state;
    uint8_t *g = draw(235, 25, 30, 30, 110);
    unsigned r = 7;
    for (int k = 0; k < 40; k++) {
        r = r * 1103515245u + 12345u;
        int x = (int)(r >> 8) % (W - 2), y = (int)(r >> 20) % (H - 2);
        if (seven(x, y, 30, 30, 110) == 0.f && seven(x + 1, y + 1, 30, 30, 110) == 0.f)
            g[y * W + x] = g[y * W + x + 1] = g[(y + 1) * W + x] = g[(y + 1) * W + x + 1] = 40;
    }
    mt_prep_info info;
    expect_same(g, NULL, W, H, &info);
    assert_int_equal(info.n_used, 1);
    free(g);
}

static void test_picture_flags_two_digits_as_ambiguous(void **state)
{
    (void)state;
    uint8_t *g = malloc(W * H), out[784];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            g[y * W + x] = (seven(x, y, 0, 40, 70) + seven(x, y, 85, 40, 70)) > 0 ? 255 : 0;
    mt_prep_info info;
    assert_int_equal(mt_prep_picture(out, 28, 28, g, NULL, W, H, &info, NULL), MT_OK);
    assert_int_equal(info.ambiguous, 1);
    assert_int_equal(mt_prep_unsure(&info, 0.99, MT_PREP_MIN_PROB), MT_PREP_UNSURE_COMPONENTS);
    assert_int_equal(mt_prep_unsure(NULL, 0.5, MT_PREP_MIN_PROB), MT_PREP_UNSURE_PROB);
    assert_int_equal(mt_prep_unsure(NULL, 0.95, MT_PREP_MIN_PROB), 0);
    free(g);
}

/* An MNIST-style 28x28 input (white on black, 20-pixel box, anti-aliased)
 * comes out as MNIST's plain preparation makes it: no fringe in the box. */
static void test_picture_keeps_mnist_style_inputs_as_the_plain_preparation(void **state)
{
    (void)state;
    uint8_t g[28 * 28], a[784], b[784];
    for (int y = 0; y < 28; y++)
        for (int x = 0; x < 28; x++) {
            float c = 0; /* 4x4 supersampled coverage of a 7 in a 20-pixel box at (4, 4) */
            for (int sy = 0; sy < 4; sy++)
                for (int sx = 0; sx < 4; sx++)
                    c += seven(x * 4 + sx, y * 4 + sy, 16, 16, 80) / 16.f;
            g[y * 28 + x] = (uint8_t)lrintf(255 * c);
        }
    mt_prep_info ia, ib;
    assert_int_equal(mt_prep_picture(a, 28, 28, g, NULL, 28, 28, &ia, NULL), MT_OK);
    assert_int_equal(mt_prep_digit(b, 28, 28, g, 28, 28, &ib, NULL), MT_OK);
    assert_int_equal(ia.box_w, ib.box_w);
    assert_int_equal(ia.box_h, ib.box_h);
    assert_true(mean_abs_diff(a, b) < 2.0);
}

/* A solid shape wider than the background window (a bold blob, a
 * Fashion-MNIST silhouette) is the object, not background shading. */
static void test_picture_keeps_solid_shapes_wider_than_a_stroke(void **state)
{
    (void)state;
    uint8_t g[28 * 28], a[784], b[784];
    for (int y = 0; y < 28; y++)
        for (int x = 0; x < 28; x++)
            g[y * 28 + x] = 8 < x && x < 20 && 4 < y && y < 24 ? 255 : 0;
    mt_prep_info ia, ib;
    mt_err err = { 0 };
    if (mt_prep_picture(a, 28, 28, g, NULL, 28, 28, &ia, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(mt_prep_digit(b, 28, 28, g, 28, 28, &ib, NULL), MT_OK);
    assert_int_equal(ia.box_h, 20);
    assert_true(mean_abs_diff(a, b) < 2.0);
    /* the same, dark on light paper, large */
    uint8_t *p = malloc(W * H);
    assert_non_null(p);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            p[y * W + x] = 40 < x && x < 110 && 30 < y && y < 150 ? 30 : 235;
    if (mt_prep_picture(a, 28, 28, p, NULL, W, H, &ia, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(ia.inverted, 1);
    assert_int_equal(ia.box_h, 20);
    free(p);
}

static void test_picture_refuses_blank_and_bad_sizes(void **state)
{
    (void)state;
    uint8_t g[40 * 40], out[784];
    mt_err err = { 0 };
    memset(g, 200, sizeof g);
    assert_int_equal(mt_prep_picture(out, 28, 28, g, NULL, 40, 40, NULL, &err), MT_EDATA);
    assert_non_null(strstr(err.msg, "blank image"));
    assert_int_equal(mt_prep_picture(out, 28, 28, g, NULL, 0, 40, NULL, &err), MT_EARG);
}

/* ---- file decoding ---- */

static unsigned char *encode_png_rgba(const uint8_t *rgba, int w, int h, size_t *n)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    im.width = (png_uint_32)w;
    im.height = (png_uint_32)h;
    im.format = PNG_FORMAT_RGBA;
    png_alloc_size_t len = 0;
    assert_true(png_image_write_to_memory(&im, NULL, &len, 0, rgba, 0, NULL));
    unsigned char *buf = malloc(len);
    assert_non_null(buf);
    assert_true(png_image_write_to_memory(&im, buf, &len, 0, rgba, 0, NULL));
    *n = len;
    return buf;
}

static unsigned char *encode_jpeg_gray(const uint8_t *g, int w, int h, int q, size_t *n)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr je;
    unsigned char *buf = NULL;
    unsigned long len = 0;
    c.err = jpeg_std_error(&je);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &buf, &len);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = 1;
    c.in_color_space = JCS_GRAYSCALE;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, q, TRUE);
    jpeg_start_compress(&c, TRUE);
    for (int y = 0; y < h; y++) {
        JSAMPROW row = (JSAMPROW)(g + (size_t)y * w);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    *n = len;
    return buf;
}

static void test_image_decodes_png_alpha_without_compositing(void **state)
{
    (void)state;
    uint8_t *a = draw(0, 255, 30, 30, 110), *rgba = malloc(W * H * 4);
    for (int i = 0; i < W * H; i++) {
        memset(rgba + 4 * i, 255, 3);
        rgba[4 * i + 3] = a[i];
    }
    size_t n;
    unsigned char *png = encode_png_rgba(rgba, W, H, &n);
    mt_image im = { 0 };
    assert_int_equal(mt_image_sniff(png, n), MT_IMAGE_PNG);
    assert_int_equal(mt_image_decode(png, n, "x.png", &im, NULL), MT_OK);
    assert_int_equal(im.kind, MT_IMAGE_PNG);
    assert_int_equal(im.w, W);
    assert_int_equal(im.h, H);
    assert_non_null(im.alpha);
    assert_memory_equal(im.alpha, a, W * H);
    assert_int_equal(im.gray[0], 255);
    mt_prep_info info;
    expect_same(im.gray, im.alpha, im.w, im.h, &info);
    assert_int_equal(info.from_alpha, 1);
    mt_image_free(&im);
    free(png);
    free(rgba);
    free(a);
}

static void test_image_decodes_jpeg_by_content_not_name(void **state)
{
    (void)state;
    uint8_t *g = draw(230, 30, 30, 30, 110);
    size_t n;
    unsigned char *jpg = encode_jpeg_gray(g, W, H, 70, &n);
    const char *dir = tu_mkdtemp();
    const char *path = tu_in(dir, "photo.png"); /* misnamed on purpose */
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(jpg, 1, n, fp), n);
    fclose(fp);
    mt_image im = { 0 };
    mt_err err = { 0 };
    assert_int_equal(mt_image_read(path, &im, &err), MT_OK);
    assert_int_equal(im.kind, MT_IMAGE_JPEG);
    assert_null(im.alpha);
    int maxd = 0;
    for (int i = 0; i < W * H; i++)
        maxd = abs(im.gray[i] - g[i]) > maxd ? abs(im.gray[i] - g[i]) : maxd;
    assert_true(maxd < 80); /* lossy, but the same picture */
    mt_prep_info info;
    expect_same(im.gray, NULL, im.w, im.h, &info);
    mt_image_free(&im);
    /* the same bytes from a stream (stdin) */
    fp = fopen(path, "rb");
    assert_int_equal(mt_image_read_fp(fp, "-", &im, &err), MT_OK);
    fclose(fp);
    assert_int_equal(im.kind, MT_IMAGE_JPEG);
    mt_image_free(&im);
    /* truncated JPEG and a text file are data errors naming the file */
    fp = fopen(path, "wb");
    assert_int_equal(fwrite(jpg, 1, n / 3, fp), n / 3);
    fclose(fp);
    mt_status st = mt_image_read(path, &im, &err);
    if (st == MT_OK) /* libjpeg pads a short file with gray and warns; that is fine */
        mt_image_free(&im);
    else
        assert_int_equal(st, MT_EDATA);
    assert_int_equal(mt_image_decode((const uint8_t *)"hello", 5, "t.txt", &im, &err), MT_EDATA);
    assert_non_null(strstr(err.msg, "t.txt: not a PNG or JPEG file"));
    assert_int_equal(mt_image_decode((const uint8_t *)"\xff\xd8\xff\xe0", 4, "b.jpg", &im, &err), MT_EDATA);
    assert_non_null(strstr(err.msg, "b.jpg: bad JPEG"));
    free(jpg);
    free(g);
    tu_rmrf(dir);
}

static void test_image_lists_a_folder_sorted_pictures_only(void **state)
{
    (void)state;
    uint8_t *g = draw(230, 30, 30, 30, 110);
    size_t n;
    unsigned char *jpg = encode_jpeg_gray(g, W, H, 90, &n);
    const char *dir = tu_mkdtemp();
    const char *names[] = { "b.jpg", "a.png", "c.txt", "B.jpeg" };
    for (int i = 0; i < 4; i++) {
        FILE *fp = fopen(tu_in(dir, names[i]), "wb");
        assert_non_null(fp);
        if (i == 2)
            fputs("not a picture\n", fp);
        else
            assert_int_equal(fwrite(jpg, 1, n, fp), n);
        fclose(fp);
    }
    assert_int_equal(mkdir(tu_in(dir, "sub.png"), 0700), 0);
    char **paths = NULL;
    int cnt = -1;
    assert_int_equal(mt_image_list_dir(dir, &paths, &cnt, NULL), MT_OK);
    assert_int_equal(cnt, 3);
    assert_string_equal(paths[0], tu_in(dir, "B.jpeg"));
    assert_string_equal(paths[1], tu_in(dir, "a.png"));
    assert_string_equal(paths[2], tu_in(dir, "b.jpg"));
    mt_image_paths_free(paths, cnt);
    mt_err err = { 0 };
    assert_int_equal(mt_image_list_dir(tu_in(dir, "nope"), &paths, &cnt, &err), MT_EDATA);
    assert_non_null(strstr(err.msg, "cannot open folder"));
    free(jpg);
    free(g);
    tu_rmrf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_picture_dark_ink_on_white_and_light_on_dark_agree),
        cmocka_unit_test(test_picture_reads_white_ink_on_transparent_from_alpha),
        cmocka_unit_test(test_picture_drops_a_drawn_frame),
        cmocka_unit_test(test_picture_ignores_grey_paper_with_a_shadow_band),
        cmocka_unit_test(test_picture_drops_noise_specks),
        cmocka_unit_test(test_picture_flags_two_digits_as_ambiguous),
        cmocka_unit_test(test_picture_keeps_mnist_style_inputs_as_the_plain_preparation),
        cmocka_unit_test(test_picture_keeps_solid_shapes_wider_than_a_stroke),
        cmocka_unit_test(test_picture_refuses_blank_and_bad_sizes),
        cmocka_unit_test(test_image_decodes_png_alpha_without_compositing),
        cmocka_unit_test(test_image_decodes_jpeg_by_content_not_name),
        cmocka_unit_test(test_image_lists_a_folder_sorted_pictures_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
