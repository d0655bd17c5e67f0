/* Tests for mt_viz: each picture is written, decoded again (mt_png_read_rgb, tested
 * on its own in test_png.c) and checked where the layout says things must be:
 * frame colours, caption ink, heatmap shade order, curve pixels, size limits.
 * With MT_VIZ_SAMPLES=<dir> set, test_viz_write_samples also leaves example
 * pictures there for a human to look at. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mt_draw.h"
#include "mt_png.h"
#include "test_util.h"
#include "mt_viz.h"

static const mt_rgb RIGHT = {MT_VIZ_RIGHT_RGB}, WRONG = {MT_VIZ_WRONG_RGB}, INK = {MT_VIZ_INK_RGB};
static const mt_rgb TRAIN = {MT_VIZ_TRAIN_RGB}, TEST = {MT_VIZ_TEST_RGB};

static const char *const FASHION[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

/* A decoded picture. */
typedef struct {
    int w, h;
    uint8_t *rgb;
} pic;

static pic load(const char *path)
{
    pic p = {0};
    mt_err err = {0};
    if (mt_png_read_rgb(path, &p.rgb, &p.w, &p.h, &err) != MT_OK)
        fail_msg("cannot decode %s: %s", path, err.msg);
    return p;
}

static mt_rgb px(const pic *p, int x, int y)
{
    assert_true(x >= 0 && y >= 0 && x < p->w && y < p->h);
    const uint8_t *q = p->rgb + ((size_t)y * p->w + x) * 3;
    return (mt_rgb){q[0], q[1], q[2]};
}

static int same(mt_rgb a, mt_rgb b) { return a.r == b.r && a.g == b.g && a.b == b.b; }

/* Pixels of colour col in the rectangle (x, y, w, h). */
static long count_col(const pic *p, int x, int y, int w, int h, mt_rgb col)
{
    long n = 0;
    for (int yy = y; yy < y + h; yy++)
        for (int xx = x; xx < x + w; xx++)
            n += same(px(p, xx, yy), col);
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

/* n synthetic 28x28 "digits": the font glyph of labels[i] at scale 3, jittered
 * and softened, white on black like MNIST. Caller frees. */
static uint8_t *fake_digits(const uint8_t *labels, int n)
{
    uint8_t *img = calloc((size_t)n * 784, 1);
    assert_non_null(img);
    for (int i = 0; i < n; i++) {
        uint8_t *im = img + (size_t)i * 784;
        int ox = 6 + (i * 7) % 3, oy = 1 + (i * 5) % 3;
        char ch = (char)('0' + labels[i] % 10);
        for (int gy = 0; gy < 8; gy++)
            for (int gx = 0; gx < 5; gx++)
                if (mt_font_pixel(ch, gx, gy))
                    for (int dy = 0; dy < 3; dy++)
                        for (int dx = 0; dx < 3; dx++) {
                            int y = oy + gy * 3 + dy, x = ox + gx * 3 + dx;
                            im[y * 28 + x] = 255;
                            /* soft edge on the right and below */
                            if (x + 1 < 28 && im[y * 28 + x + 1] < 120)
                                im[y * 28 + x + 1] = 120;
                            if (y + 1 < 28 && im[(y + 1) * 28 + x] < 120)
                                im[(y + 1) * 28 + x] = 120;
                        }
    }
    return img;
}

/* ------------------------------------------------------------------------- */
/* Prediction grid                                                           */
/* ------------------------------------------------------------------------- */

static void test_viz_grid_frames_captions_and_pixels(void **state)
{
    (void)state;
    enum { N = 12 };
    uint8_t labels[N], preds[N];
    for (int i = 0; i < N; i++)
        labels[i] = preds[i] = (uint8_t)(i % 10);
    preds[1] = 7;
    preds[5] = 3;
    uint8_t *img = fake_digits(labels, N);
    mt_viz_grid_opts opt = {.n_cols = 5, .title = "Test accuracy 83.33% (10/12)"};
    mt_viz_info info = {0};
    mt_err err = {0};
    const char *p = tu_tmp("grid.png");
    assert_int_equal(mt_viz_grid(p, img, labels, preds, N, 28, 28, &opt, &info, &err), MT_OK);
    assert_int_equal(info.scale, 4);
    assert_int_equal(info.n_cells, N);
    assert_int_equal(info.n_cols, 5);
    assert_int_equal(info.n_rows, 3);

    pic g = load(p);
    assert_int_equal(g.w, info.w);
    assert_int_equal(g.h, info.h);
    for (int i = 0; i < N; i++) {
        int cx = info.x0 + (i % info.n_cols) * info.pitch_x, cy = info.y0 + (i / info.n_cols) * info.pitch_y;
        mt_rgb want = labels[i] == preds[i] ? RIGHT : WRONG;
        /* all four sides of the frame */
        assert_true(same(px(&g, cx + info.frame / 2, cy + info.cell_h / 2), want));
        assert_true(same(px(&g, cx + info.cell_w - 1 - info.frame / 2, cy + info.cell_h / 2), want));
        assert_true(same(px(&g, cx + info.cell_w / 2, cy + info.frame / 2), want));
        assert_true(same(px(&g, cx + info.cell_w / 2, cy + info.cell_h - 1 - info.frame / 2), want));
        /* caption ink inside the caption band */
        long ink = count_col(&g, cx + info.frame, cy + info.caption_y, info.cell_w - 2 * info.frame,
                             info.caption_h, INK);
        assert_true(ink >= 30);
        /* the image is there, pixel for pixel upscaled */
        const uint8_t *im = img + (size_t)i * 784;
        for (int r = 0; r < 28; r += 3)
            for (int c = 0; c < 28; c += 3) {
                uint8_t v = im[r * 28 + c];
                mt_rgb got = px(&g, cx + info.img_x + c * info.scale + info.scale - 1,
                                cy + info.img_y + r * info.scale);
                assert_true(same(got, (mt_rgb){v, v, v}));
            }
    }
    /* title ink above the grid */
    assert_true(count_col(&g, 0, 0, g.w, info.y0, INK) > 100);
    free(g.rgb);
    free(img);
    run_pngcheck(p);
}

static void test_viz_grid_long_class_names_fit_inside_cells(void **state)
{
    (void)state;
    enum { N = 10 };
    uint8_t labels[N], preds[N];
    for (int i = 0; i < N; i++) {
        labels[i] = (uint8_t)i;
        preds[i] = (uint8_t)(i == 3 ? 9 : i);
    }
    uint8_t *img = fake_digits(labels, N);
    for (int scale = 1; scale <= 4; scale++) {
        mt_viz_grid_opts opt = {.n_cols = 5, .scale = scale, .class_names = FASHION, .n_classes = 10};
        mt_viz_info info = {0};
        mt_err err = {0};
        const char *p = tu_tmp("fashion.png");
        assert_int_equal(mt_viz_grid(p, img, labels, preds, N, 28, 28, &opt, &info, &err), MT_OK);
        assert_int_equal(info.scale, scale);
        assert_true(info.cell_w >= 28 * scale);
        pic g = load(p);
        /* no ink in the gaps between cells or below the last row: captions stay inside */
        for (int c = 1; c < info.n_cols; c++) {
            int gx = info.x0 + c * info.pitch_x - (info.pitch_x - info.cell_w);
            assert_int_equal(count_col(&g, gx, 0, info.pitch_x - info.cell_w, g.h, INK), 0);
        }
        for (int i = 0; i < N; i++) {
            int cx = info.x0 + (i % info.n_cols) * info.pitch_x, cy = info.y0 + (i / info.n_cols) * info.pitch_y;
            assert_true(count_col(&g, cx, cy + info.caption_y, info.cell_w, info.caption_h, INK) >= 30);
        }
        free(g.rgb);
    }
    free(img);
}

static void test_viz_grid_10000_cells_lowers_scale_to_fit(void **state)
{
    (void)state;
    enum { N = 10000 };
    uint8_t *labels = malloc(N), *preds = malloc(N);
    assert_non_null(labels);
    assert_non_null(preds);
    for (int i = 0; i < N; i++) {
        labels[i] = (uint8_t)(i % 10);
        preds[i] = (uint8_t)(i % 37 == 0 ? (i + 1) % 10 : i % 10);
    }
    uint8_t *img = fake_digits(labels, N);
    mt_viz_grid_opts opt = {.n_cols = 100, .scale = 4, .title = "Test accuracy 97.30% (9730/10000)"};
    mt_viz_info info = {0};
    mt_err err = {0};
    const char *p = tu_tmp("grid10k.png");
    mt_status st = mt_viz_grid(p, img, labels, preds, N, 28, 28, &opt, &info, &err);
    if (st != MT_OK)
        fail_msg("%s", err.msg);
    assert_true(info.scale >= 1 && info.scale < 4);
    assert_int_equal(info.n_cells, N);
    assert_int_equal(info.n_cols, 100);
    assert_true(info.w <= MT_VIZ_MAX_SIDE && info.h <= MT_VIZ_MAX_SIDE);
    assert_true((long)info.w * info.h <= MT_VIZ_MAX_PIXELS);
    pic g = load(p);
    assert_int_equal(g.w, info.w);
    assert_int_equal(g.h, info.h);
    /* last cell (index 9999: right) and cell 0 (i % 37 == 0: wrong) */
    int cx = info.x0 + 99 * info.pitch_x, cy = info.y0 + 99 * info.pitch_y;
    assert_true(same(px(&g, cx, cy + info.cell_h / 2), RIGHT));
    assert_true(same(px(&g, info.x0, info.y0 + info.cell_h / 2), WRONG));
    free(g.rgb);
    free(img);
    free(labels);
    free(preds);
    run_pngcheck(p);
}

static void test_viz_grid_that_cannot_fit_is_earg(void **state)
{
    (void)state;
    enum { N = 200000 };
    uint8_t *img = calloc(N, 1), *labels = calloc(N, 1);
    assert_non_null(img);
    assert_non_null(labels);
    mt_viz_grid_opts opt = {.n_cols = 1000};
    mt_err err = {0};
    mt_status st = mt_viz_grid(tu_tmp("huge.png"), img, labels, labels, N, 1, 1, &opt, NULL, &err);
    assert_int_equal(st, MT_EARG);
    assert_non_null(strstr(err.msg, "huge.png"));
    assert_non_null(strstr(err.msg, "do not fit"));
    struct stat sb;
    assert_int_not_equal(stat(tu_tmp("huge.png"), &sb), 0);
    free(img);
    free(labels);
}

static void test_viz_grid_max_cells_and_default_columns(void **state)
{
    (void)state;
    enum { N = 50 };
    uint8_t labels[N] = {0};
    uint8_t *img = fake_digits(labels, N);
    mt_viz_grid_opts opt = {.max_cells = 16};
    mt_viz_info info = {0};
    mt_err err = {0};
    assert_int_equal(mt_viz_grid(tu_tmp("g16.png"), img, labels, labels, N, 28, 28, &opt, &info, &err), MT_OK);
    assert_int_equal(info.n_cells, 16);
    assert_int_equal(info.n_cols, 4);
    assert_int_equal(info.n_rows, 4);
    free(img);
}

static void test_viz_grid_write_failure_is_eio(void **state)
{
    (void)state;
    uint8_t labels[1] = {3};
    uint8_t *img = fake_digits(labels, 1);
    mt_viz_grid_opts opt = {0};
    mt_err err = {0};
    const char *p = tu_tmp("missing-dir/grid.png");
    assert_int_equal(mt_viz_grid(p, img, labels, labels, 1, 28, 28, &opt, NULL, &err), MT_EIO);
    assert_non_null(strstr(err.msg, p));
    free(img);
}

/* ------------------------------------------------------------------------- */
/* Mistakes                                                                  */
/* ------------------------------------------------------------------------- */

static void test_viz_mistakes_sorted_most_confident_first(void **state)
{
    (void)state;
    enum { N = 20 };
    uint8_t labels[N], preds[N], img[N * 16];
    float conf[N];
    for (int i = 0; i < N; i++) {
        labels[i] = preds[i] = (uint8_t)(i % 10);
        conf[i] = 0.9f;
        memset(img + i * 16, i * 12 + 3, 16); /* 4x4, flat gray: identifies sample i */
    }
    const int wrong[5] = {2, 7, 11, 13, 18};
    const float wconf[5] = {0.60f, 0.99f, 0.70f, NAN, 0.80f};
    for (int k = 0; k < 5; k++) {
        preds[wrong[k]] = (uint8_t)((labels[wrong[k]] + 1) % 10);
        conf[wrong[k]] = wconf[k];
    }
    const int want_order[5] = {7, 18, 11, 2, 13};
    mt_viz_grid_opts opt = {.n_cols = 5, .scale = 8, .title = "Most confident mistakes"};
    mt_viz_info info = {0};
    mt_err err = {0};
    const char *p = tu_tmp("mistakes.png");
    assert_int_equal(mt_viz_mistakes(p, img, labels, preds, conf, N, 4, 4, &opt, &info, &err), MT_OK);
    assert_int_equal(info.n_cells, 5);
    pic g = load(p);
    for (int k = 0; k < 5; k++) {
        int cx = info.x0 + k * info.pitch_x, cy = info.y0;
        assert_true(same(px(&g, cx + 1, cy + info.cell_h / 2), WRONG));
        uint8_t v = (uint8_t)(want_order[k] * 12 + 3);
        assert_true(same(px(&g, cx + info.img_x + 1, cy + info.img_y + 1), (mt_rgb){v, v, v}));
        assert_true(count_col(&g, cx, cy + info.caption_y, info.cell_w, info.caption_h, INK) >= 30);
    }
    free(g.rgb);

    opt.max_cells = 2;
    assert_int_equal(mt_viz_mistakes(p, img, labels, preds, conf, N, 4, 4, &opt, &info, &err), MT_OK);
    assert_int_equal(info.n_cells, 2);
}

static void test_viz_mistakes_none_still_writes_picture(void **state)
{
    (void)state;
    uint8_t labels[3] = {1, 2, 3}, img[3 * 4] = {0};
    float conf[3] = {0.9f, 0.8f, 0.7f};
    mt_viz_grid_opts opt = {.title = "Most confident mistakes"};
    mt_viz_info info = {0};
    mt_err err = {0};
    const char *p = tu_tmp("nomistakes.png");
    assert_int_equal(mt_viz_mistakes(p, img, labels, labels, conf, 3, 2, 2, &opt, &info, &err), MT_OK);
    assert_int_equal(info.n_cells, 0);
    pic g = load(p);
    assert_true(count_col(&g, 0, 0, g.w, g.h, INK) > 100); /* title and "No mistakes" */
    free(g.rgb);
    assert_int_equal(mt_viz_mistakes(p, img, labels, labels, NULL, 3, 2, 2, &opt, &info, &err), MT_EARG);
}

/* ------------------------------------------------------------------------- */
/* Confusion matrix                                                          */
/* ------------------------------------------------------------------------- */

static int brightness(mt_rgb c) { return c.r + c.g + c.b; }

static void test_viz_confusion_shades_follow_counts(void **state)
{
    (void)state;
    enum { K = 4 };
    const int counts[K * K] = {
        50, 30, 10, 0,
        1, 98, 1, 0,
        0, 0, 7, 0,
        5, 5, 5, 5,
    };
    const char *const names[K] = {"cat", "dog", "Ankle boot", "bird"};
    mt_viz_info info = {0};
    mt_err err = {0};
    const char *p = tu_tmp("confusion.png");
    assert_int_equal(mt_viz_confusion(p, counts, K, names, "Confusion (test)", &info, &err), MT_OK);
    pic g = load(p);
    assert_int_equal(g.w, info.w);
    mt_rgb fill[K * K];
    for (int t = 0; t < K; t++)
        for (int q = 0; q < K; q++) {
            int x = info.x0 + q * info.pitch_x, y = info.y0 + t * info.pitch_y;
            fill[t * K + q] = px(&g, x + 2, y + 2); /* corner: background, not text */
            /* the count is written in the cell: pixels other than the fill colour */
            long other = (long)(info.cell_w - 4) * (info.cell_h - 4) -
                         count_col(&g, x + 2, y + 2, info.cell_w - 4, info.cell_h - 4, fill[t * K + q]);
            assert_true(other >= 8);
        }
    /* row 0: 50 > 30 > 10 > 0 -> darker to lighter, the 0 is white */
    assert_true(brightness(fill[0]) < brightness(fill[1]));
    assert_true(brightness(fill[1]) < brightness(fill[2]));
    assert_true(brightness(fill[2]) < brightness(fill[3]));
    assert_true(same(fill[3], (mt_rgb){255, 255, 255}));
    /* blue scale: blue channel dominates in a filled cell */
    assert_true(fill[0].b > fill[0].r);
    /* row-normalised: a whole row in one cell is the darkest, however small the row */
    assert_true(same(fill[2 * K + 2], fill[1 * K + 1]) || brightness(fill[2 * K + 2]) < brightness(fill[1 * K + 1]));
    /* equal counts in a row -> equal shades */
    assert_true(same(fill[3 * K + 0], fill[3 * K + 3]));
    /* class labels left of the matrix and above it */
    assert_true(count_col(&g, 0, info.y0, info.x0 - 2, K * info.pitch_y, INK) > 100);
    assert_true(count_col(&g, info.x0, 0, K * info.pitch_x, info.y0 - 2, INK) > 100);
    free(g.rgb);
    run_pngcheck(p);
}

static void test_viz_confusion_rejects_bad_input(void **state)
{
    (void)state;
    const int neg[4] = {1, -1, 0, 2};
    mt_err err = {0};
    assert_int_equal(mt_viz_confusion(tu_tmp("c.png"), neg, 2, NULL, NULL, NULL, &err), MT_EARG);
    assert_non_null(strstr(err.msg, "negative"));
    assert_int_equal(mt_viz_confusion(tu_tmp("c.png"), neg, 0, NULL, NULL, NULL, &err), MT_EARG);
    static int big[101 * 101];
    assert_int_equal(mt_viz_confusion(tu_tmp("c.png"), big, 101, NULL, NULL, NULL, &err), MT_EARG);
    /* 100 classes, no names: still fits */
    assert_int_equal(mt_viz_confusion(tu_tmp("c100.png"), big, 100, NULL, "100 classes", NULL, &err), MT_OK);
}

/* ------------------------------------------------------------------------- */
/* Learning curves                                                           */
/* ------------------------------------------------------------------------- */

static void test_viz_curves_draw_both_sets_in_both_panels(void **state)
{
    (void)state;
    enum { E = 12 };
    float trl[E], tel[E], tra[E], tea[E];
    for (int e = 0; e < E; e++) {
        trl[e] = 0.5f * expf(-0.3f * e) + 0.02f;
        tel[e] = 0.45f * expf(-0.25f * e) + 0.07f;
        tra[e] = 1.f - trl[e] / 3.f;
        tea[e] = 1.f - tel[e] / 3.f;
    }
    tel[4] = NAN; /* missing point: line breaks, nothing crashes */
    mt_viz_curves_in in = {.n_epochs = E, .train_loss = trl, .test_loss = tel, .train_acc = tra, .test_acc = tea};
    mt_viz_info info = {0};
    mt_err err = {0};
    const char *p = tu_tmp("curves.png");
    assert_int_equal(mt_viz_curves(p, &in, &info, &err), MT_OK);
    assert_int_equal(info.n_rows, 2);
    pic g = load(p);
    assert_int_equal(g.w, info.w);
    for (int panel = 0; panel < 2; panel++) {
        int y = info.y0 + panel * info.pitch_y;
        assert_true(count_col(&g, info.x0, y, info.cell_w, info.cell_h, TRAIN) > 500);
        assert_true(count_col(&g, info.x0, y, info.cell_w, info.cell_h, TEST) > 500);
        /* tick labels left of the plot */
        assert_true(count_col(&g, 0, y, info.x0 - 2, info.cell_h, INK) > 50);
    }
    /* loss falls: train colour near the top-left and the bottom-right of panel 0 */
    int h3 = info.cell_h / 3, w6 = info.cell_w / 6;
    assert_true(count_col(&g, info.x0, info.y0, w6, h3, TRAIN) > 0);
    assert_true(count_col(&g, info.x0 + info.cell_w - w6, info.y0 + 2 * h3, w6, h3, TRAIN) > 0);
    free(g.rgb);
    run_pngcheck(p);
}

static void test_viz_curves_single_epoch_shows_markers(void **state)
{
    (void)state;
    float l[1] = {0.31f}, a[1] = {0.912f};
    mt_viz_curves_in in = {.n_epochs = 1, .train_loss = l, .test_acc = a, .held_out_name = "val"};
    mt_viz_info info = {0};
    mt_err err = {0};
    const char *p = tu_tmp("curves1.png");
    assert_int_equal(mt_viz_curves(p, &in, &info, &err), MT_OK);
    pic g = load(p);
    assert_true(count_col(&g, info.x0, info.y0, info.cell_w, info.cell_h, TRAIN) >= 49);
    assert_true(count_col(&g, info.x0, info.y0 + info.pitch_y, info.cell_w, info.cell_h, TEST) >= 49);
    free(g.rgb);

    /* only accuracy -> one panel */
    mt_viz_curves_in acc_only = {.n_epochs = 1, .test_acc = a};
    assert_int_equal(mt_viz_curves(p, &acc_only, &info, &err), MT_OK);
    assert_int_equal(info.n_rows, 1);
    /* all points missing is still a valid (empty) plot */
    float nan1[1] = {NAN};
    mt_viz_curves_in empty = {.n_epochs = 1, .train_loss = nan1};
    assert_int_equal(mt_viz_curves(p, &empty, &info, &err), MT_OK);
}

static void test_viz_curves_rejects_no_series(void **state)
{
    (void)state;
    mt_viz_curves_in in = {.n_epochs = 3};
    mt_err err = {0};
    assert_int_equal(mt_viz_curves(tu_tmp("x.png"), &in, NULL, &err), MT_EARG);
    float l[1] = {1.f};
    mt_viz_curves_in zero = {.n_epochs = 0, .train_loss = l};
    assert_int_equal(mt_viz_curves(tu_tmp("x.png"), &zero, NULL, &err), MT_EARG);
}

/* ------------------------------------------------------------------------- */
/* Samples for human eyes (MT_VIZ_SAMPLES=<dir>)                             */
/* ------------------------------------------------------------------------- */

static void test_viz_write_samples(void **state)
{
    (void)state;
    const char *dir = getenv("MT_VIZ_SAMPLES");
    if (!dir || !*dir) {
        printf("skipped: MT_VIZ_SAMPLES is not set, so no sample pictures are written\n");
        skip();
    }
    mkdir(dir, 0755);
    char path[512];
    mt_err err = {0};
    enum { N = 60 };
    uint8_t labels[N], preds[N];
    float conf[N];
    for (int i = 0; i < N; i++) {
        labels[i] = (uint8_t)((i * 7) % 10);
        preds[i] = (uint8_t)(i % 9 == 4 ? (labels[i] + 3) % 10 : labels[i]);
        conf[i] = 0.5f + 0.5f * (float)((i * 37) % 100) / 100.f;
    }
    uint8_t *img = fake_digits(labels, N);

    mt_viz_grid_opts opt = {.n_cols = 10, .max_cells = 40, .title = "Test accuracy 97.81% (9781/10000)"};
    snprintf(path, sizeof path, "%s/grid.png", dir);
    assert_int_equal(mt_viz_grid(path, img, labels, preds, N, 28, 28, &opt, NULL, &err), MT_OK);

    mt_viz_grid_opts fopt = {.n_cols = 6, .max_cells = 12, .title = "Fashion-MNIST (class names)",
                             .class_names = FASHION, .n_classes = 10};
    snprintf(path, sizeof path, "%s/grid_names.png", dir);
    assert_int_equal(mt_viz_grid(path, img, labels, preds, N, 28, 28, &fopt, NULL, &err), MT_OK);

    mt_viz_grid_opts mopt = {.n_cols = 6, .title = "Most confident mistakes"};
    snprintf(path, sizeof path, "%s/mistakes.png", dir);
    assert_int_equal(mt_viz_mistakes(path, img, labels, preds, conf, N, 28, 28, &mopt, NULL, &err), MT_OK);
    snprintf(path, sizeof path, "%s/mistakes_names.png", dir);
    mopt.class_names = FASHION;
    mopt.n_classes = 10;
    assert_int_equal(mt_viz_mistakes(path, img, labels, preds, conf, N, 28, 28, &mopt, NULL, &err), MT_OK);
    free(img);

    int counts[100] = {0};
    const int diag[10] = {973, 1126, 1008, 991, 962, 872, 940, 1004, 951, 982};
    for (int t = 0; t < 10; t++) {
        counts[t * 10 + t] = diag[t];
        counts[t * 10 + (t + 1) % 10] = 3 + t;
        counts[t * 10 + (t + 7) % 10] = t % 3;
    }
    counts[4 * 10 + 9] = 17;
    counts[7 * 10 + 2] = 12;
    snprintf(path, sizeof path, "%s/confusion.png", dir);
    assert_int_equal(mt_viz_confusion(path, counts, 10, NULL, "Confusion matrix (test set)", NULL, &err), MT_OK);
    snprintf(path, sizeof path, "%s/confusion_names.png", dir);
    assert_int_equal(mt_viz_confusion(path, counts, 10, FASHION, "Fashion-MNIST confusion", NULL, &err), MT_OK);

    enum { E = 15 };
    float trl[E], tel[E], tra[E], tea[E];
    for (int e = 0; e < E; e++) {
        trl[e] = 0.35f * expf(-0.35f * e) + 0.01f;
        tel[e] = 0.30f * expf(-0.3f * e) + 0.06f + 0.002f * e;
        tra[e] = 0.90f + 0.099f * (1.f - expf(-0.4f * e));
        tea[e] = 0.92f + 0.062f * (1.f - expf(-0.4f * e));
    }
    mt_viz_curves_in in = {.n_epochs = E, .train_loss = trl, .test_loss = tel, .train_acc = tra, .test_acc = tea,
                           .title = "mnist-train: 784-128-10, Adam lr 1e-3"};
    snprintf(path, sizeof path, "%s/curves.png", dir);
    assert_int_equal(mt_viz_curves(path, &in, NULL, &err), MT_OK);
    float l1[1] = {0.31f}, a1[1] = {0.9312f};
    mt_viz_curves_in one = {.n_epochs = 1, .train_loss = l1, .test_loss = l1, .test_acc = a1, .held_out_name = "val"};
    snprintf(path, sizeof path, "%s/curves_1epoch.png", dir);
    assert_int_equal(mt_viz_curves(path, &one, NULL, &err), MT_OK);

    /* the whole font at scale 3, 16 characters a row */
    mt_canvas cv = {0};
    assert_int_equal(mt_canvas_init(&cv, 16 * 6 * 3 + 20, 6 * 9 * 3 + 20, (mt_rgb){255, 255, 255}, &err), MT_OK);
    for (int ch = 32; ch < 127; ch++) {
        char s[2] = {(char)ch, 0};
        mt_draw_text(&cv, 10 + ((ch - 32) % 16) * 18, 10 + ((ch - 32) / 16) * 27, s, 3, (mt_rgb){0, 0, 0});
    }
    snprintf(path, sizeof path, "%s/font.png", dir);
    assert_int_equal(mt_png_write_rgb(path, cv.rgb, cv.w, cv.h, &err), MT_OK);
    mt_canvas_free(&cv);

    /* 10000 cells: the scale is lowered automatically */
    enum { BIG = 10000 };
    uint8_t *bl = malloc(BIG), *bp = malloc(BIG);
    assert_non_null(bl);
    assert_non_null(bp);
    for (int i = 0; i < BIG; i++) {
        bl[i] = (uint8_t)((i * 7) % 10);
        bp[i] = (uint8_t)(i % 41 == 3 ? (bl[i] + 1) % 10 : bl[i]);
    }
    uint8_t *bimg = fake_digits(bl, BIG);
    mt_viz_grid_opts bopt = {.n_cols = 100, .title = "Test accuracy 97.56% (9756/10000)"};
    snprintf(path, sizeof path, "%s/grid_10000.png", dir);
    assert_int_equal(mt_viz_grid(path, bimg, bl, bp, BIG, 28, 28, &bopt, NULL, &err), MT_OK);
    free(bimg);
    free(bl);
    free(bp);
    printf("sample pictures written to %s\n", dir);
}

static void test_viz_input_upscales_each_pixel_to_a_square(void **state)
{
    (void)state;
    uint8_t img[28 * 28];
    for (int i = 0; i < 28 * 28; i++)
        img[i] = (uint8_t)(i % 251);
    const char *dir = tu_mkdtemp();
    mt_err err = { 0 };
    assert_int_equal(mt_viz_input(tu_in(dir, "in.png"), img, 28, 28, 0, &err), MT_OK);
    uint8_t *g = NULL;
    int w = 0, h = 0;
    assert_int_equal(mt_png_read_gray(tu_in(dir, "in.png"), &g, &w, &h, &err), MT_OK);
    assert_int_equal(w, 224);
    assert_int_equal(h, 224);
    for (int y = 0; y < 224; y++)
        for (int x = 0; x < 224; x++)
            if (g[y * 224 + x] != img[(y / 8) * 28 + x / 8])
                fail_msg("pixel (%d,%d) is %d, want %d", x, y, g[y * 224 + x], img[(y / 8) * 28 + x / 8]);
    free(g);
    assert_int_equal(mt_viz_input(tu_in(dir, "in.png"), img, 0, 28, 4, &err), MT_EARG);
    assert_int_equal(mt_viz_input(tu_in(dir, "no/in.png"), img, 28, 28, 4, &err), MT_EIO);
    tu_rmrf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_viz_input_upscales_each_pixel_to_a_square),
        cmocka_unit_test(test_viz_grid_frames_captions_and_pixels),
        cmocka_unit_test(test_viz_grid_long_class_names_fit_inside_cells),
        cmocka_unit_test(test_viz_grid_10000_cells_lowers_scale_to_fit),
        cmocka_unit_test(test_viz_grid_that_cannot_fit_is_earg),
        cmocka_unit_test(test_viz_grid_max_cells_and_default_columns),
        cmocka_unit_test(test_viz_grid_write_failure_is_eio),
        cmocka_unit_test(test_viz_mistakes_sorted_most_confident_first),
        cmocka_unit_test(test_viz_mistakes_none_still_writes_picture),
        cmocka_unit_test(test_viz_confusion_shades_follow_counts),
        cmocka_unit_test(test_viz_confusion_rejects_bad_input),
        cmocka_unit_test(test_viz_curves_draw_both_sets_in_both_panels),
        cmocka_unit_test(test_viz_curves_single_epoch_shows_markers),
        cmocka_unit_test(test_viz_curves_rejects_no_series),
        cmocka_unit_test(test_viz_write_samples),
    };
    return cmocka_run_group_tests(tests, tu_group_setup, tu_group_teardown);
}
