/* mt_viz: prediction/mistake grids, confusion heatmap and learning curves as PNGs.
 * Draws on an mt_canvas and hands it to mt_png_write_rgb; no file format code here.
 * Layout rules (caption fitting, automatic down-scaling) are documented in mt_viz.h. */
#include "mt_viz.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_draw.h"
#include "mt_png.h"

static const mt_rgb WHITE = {255, 255, 255};
static const mt_rgb INK = {MT_VIZ_INK_RGB};
static const mt_rgb RIGHT = {MT_VIZ_RIGHT_RGB};
static const mt_rgb WRONG = {MT_VIZ_WRONG_RGB};
static const mt_rgb TRAIN = {MT_VIZ_TRAIN_RGB};
static const mt_rgb TEST = {MT_VIZ_TEST_RGB};
static const mt_rgb GRID_GRAY = {220, 220, 220};
static const mt_rgb MID_GRAY = {150, 150, 150};
static const mt_rgb HEAT_MAX = {8, 48, 107}; /* dark blue at a full row */

enum { MARGIN = 10, MAX_NAME = 64 };

static int imax(int a, int b) { return a > b ? a : b; }
static int imin(int a, int b) { return a < b ? a : b; }

static int fits(long w, long h)
{
    return w >= 1 && h >= 1 && w <= MT_VIZ_MAX_SIDE && h <= MT_VIZ_MAX_SIDE && w * h <= MT_VIZ_MAX_PIXELS;
}

/* Copies s into dst (size n) keeping at most max_chars characters; a cut string
 * ends in '.' so it reads as abbreviated. */
static void cut_copy(char *dst, size_t n, const char *s, int max_chars)
{
    int len = (int)strlen(s);
    if (max_chars < 1)
        max_chars = 1;
    if (len <= max_chars) {
        snprintf(dst, n, "%s", s);
        return;
    }
    snprintf(dst, n, "%.*s.", max_chars - 1, s);
}

/* Class name of label (or its number) into buf. */
static const char *class_name(char *buf, size_t n, int label, const char *const *names, int n_names)
{
    if (names && label >= 0 && label < n_names && names[label])
        return names[label];
    snprintf(buf, n, "%d", label);
    return buf;
}

/* Title text at scale 2, or 1 when too wide, cut to MT_VIZ_MAX_SIDE. Returns scale used. */
static int title_scale(const char *title, int avail_w)
{
    if (!title || !*title)
        return 0;
    return mt_text_width(title, 2) <= avail_w ? 2 : 1;
}

static void draw_title(mt_canvas *c, const char *title, int ts)
{
    if (!ts)
        return;
    char buf[(MT_VIZ_MAX_SIDE - 2 * MARGIN) / MT_FONT_CELL_W + 1];
    cut_copy(buf, sizeof buf, title, (c->w - 2 * MARGIN) / (MT_FONT_CELL_W * ts));
    mt_draw_text(c, MARGIN, MARGIN, buf, ts, INK);
}

/* Height taken by the title band, gap included. */
static int title_band(int ts) { return ts ? MT_FONT_CELL_H * ts + 8 : 0; }

/* ========================================================================= */
/* Image grids                                                               */
/* ========================================================================= */

typedef struct {
    int s;                  /* image scale */
    int cs, lines;          /* caption font scale, caption lines (1 or 2) */
    int cut;                /* max characters per caption line when cutting, 0 = none */
    int img_w, img_h;       /* upscaled image size */
    int content_w;          /* width inside frame + padding */
    int frame, pad, gap;    /* frame thickness, padding inside it, gap between cells */
    int cell_w, cell_h, img_y, cap_y, cap_h;
    int n_cols, n_rows, ts; /* grid shape, title scale */
    int grid_x0, grid_y0, W, H;
} grid_layout;

typedef struct {
    const uint8_t *labels, *preds;
    const float *conf;      /* NULL for the plain grid */
    const mt_viz_grid_opts *opt;
} caption_src;

/* The two caption parts of sample i: "T:<t>" and "P:<p>[ 0.97]", names cut to
 * fit cut characters per part when cut > 0. */
static void caption_parts(char *tpart, char *ppart, size_t n, const caption_src *cs, int i, int cut)
{
    char nb[16], name[MAX_NAME + 2], suffix[16] = "";
    const char *const *names = cs->opt->class_names;
    int k = cs->opt->n_classes;
    if (cs->conf) {
        float p = cs->conf[i];
        if (isfinite(p))
            snprintf(suffix, sizeof suffix, " %.2f", (double)(p < 0 ? 0 : p > 1 ? 1 : p));
        else
            snprintf(suffix, sizeof suffix, " ?");
    }
    int room_t = cut ? cut - 2 : MAX_NAME, room_p = cut ? cut - 2 - (int)strlen(suffix) : MAX_NAME;
    cut_copy(name, sizeof name, class_name(nb, sizeof nb, cs->labels[i], names, k), imin(room_t, MAX_NAME));
    snprintf(tpart, n, "T:%s", name);
    cut_copy(name, sizeof name, class_name(nb, sizeof nb, cs->preds[i], names, k), imin(room_p, MAX_NAME));
    snprintf(ppart, n, "P:%s%s", name, suffix);
}

/* Caption layout for image scale s given the longest one-line and two-line
 * captions (in characters); see mt_viz.h for the rule. */
static void plan_cells(grid_layout *L, int s, int rows, int cols, int len1, int len2)
{
    L->s = s;
    L->img_w = cols * s;
    L->img_h = rows * s;
    L->cut = 0;
    L->content_w = L->img_w;
    int found = 0;
    for (int cs = s >= 3 ? 2 : 1; cs >= 1 && !found; cs--)
        for (int lines = 1; lines <= 2 && !found; lines++)
            if ((lines == 1 ? len1 : len2) * MT_FONT_CELL_W * cs <= L->img_w) {
                L->cs = cs;
                L->lines = lines;
                found = 1;
            }
    if (!found) { /* widen the cells, up to 16 characters, and cut beyond that */
        L->cs = 1;
        L->lines = 2;
        int chars = imin(len2, 16);
        L->content_w = imax(L->img_w, chars * MT_FONT_CELL_W);
        if (len2 > L->content_w / MT_FONT_CELL_W)
            L->cut = L->content_w / MT_FONT_CELL_W;
    }
    L->frame = s >= 3 ? 3 : 2;
    L->pad = s >= 3 ? 3 : 1;
    L->gap = s >= 3 ? 6 : 3;
    L->cell_w = 2 * L->frame + 2 * L->pad + L->content_w;
    L->img_y = L->frame + L->pad;
    L->cap_y = L->img_y + L->img_h + 2;
    L->cap_h = L->lines * MT_FONT_CELL_H * L->cs;
    L->cell_h = L->cap_y + L->cap_h + L->pad + L->frame;
}

static void plan_page(grid_layout *L, int n_show, int n_cols, const char *title)
{
    L->n_cols = imax(1, imin(n_cols, n_show));
    L->n_rows = n_show ? (n_show + L->n_cols - 1) / L->n_cols : 0;
    int grid_w = L->n_cols * (L->cell_w + L->gap) - L->gap;
    L->ts = title_scale(title, imax(grid_w, MT_VIZ_MAX_SIDE - 2 * MARGIN));
    int title_w = L->ts ? mt_text_width(title, L->ts) : 0;
    L->W = 2 * MARGIN + imax(grid_w, imin(title_w, MT_VIZ_MAX_SIDE - 2 * MARGIN));
    L->grid_x0 = MARGIN;
    L->grid_y0 = MARGIN + title_band(L->ts);
    L->H = L->grid_y0 + (n_show ? L->n_rows * (L->cell_h + L->gap) - L->gap : 2 * MT_FONT_CELL_H) + MARGIN;
}

/* Draws the cells order[0..n_show) (or 0..n_show when order is NULL). */
static mt_status draw_grid(const char *path, const uint8_t *images, int rows, int cols,
                           const caption_src *src, const int *order, int n_show, const char *empty_text,
                           mt_viz_info *info, mt_err *err)
{
    mt_status st = MT_OK;
    mt_canvas cv = {0};
    const mt_viz_grid_opts *opt = src->opt;
    char tp[MAX_NAME + 24], pp[MAX_NAME + 24];

    /* Longest captions, uncut, in characters. */
    int len1 = 0, len2 = 0;
    for (int k = 0; k < n_show; k++) {
        int i = order ? order[k] : k;
        caption_parts(tp, pp, sizeof tp, src, i, 0);
        int lt = (int)strlen(tp), lp = (int)strlen(pp);
        len1 = imax(len1, lt + 1 + lp);
        len2 = imax(len2, imax(lt, lp));
    }

    int n_cols = opt->n_cols > 0 ? opt->n_cols : (int)ceil(sqrt((double)imax(n_show, 1)));
    grid_layout L = {0};
    int s;
    for (s = opt->scale > 0 ? opt->scale : 4; s >= 1; s--) {
        plan_cells(&L, s, rows, cols, len1, len2);
        plan_page(&L, n_show, n_cols, opt->title);
        if (fits(L.W, L.H))
            break;
    }
    if (s < 1) { /* not even at scale 1: fewer columns, if the height allows */
        plan_cells(&L, 1, rows, cols, len1, len2);
        int max_cols = (MT_VIZ_MAX_SIDE - 2 * MARGIN + L.gap) / (L.cell_w + L.gap);
        plan_page(&L, n_show, imin(n_cols, max_cols), opt->title);
        if (!fits(L.W, L.H)) {
            st = mt_errf(err, MT_EARG,
                         "%s: %d cells of %dx%d pixels do not fit in %dx%d pixels (%ld Mpixel) even at scale 1;"
                         " draw fewer cells", path, n_show, rows, cols, MT_VIZ_MAX_SIDE, MT_VIZ_MAX_SIDE,
                         MT_VIZ_MAX_PIXELS >> 20);
            goto fail;
        }
    }

    st = mt_canvas_init(&cv, L.W, L.H, WHITE, err);
    if (st != MT_OK)
        goto fail;
    draw_title(&cv, opt->title, L.ts);
    if (n_show == 0)
        mt_draw_text(&cv, MARGIN, L.grid_y0, empty_text, 2, INK);

    for (int k = 0; k < n_show; k++) {
        int i = order ? order[k] : k;
        int cx = L.grid_x0 + (k % L.n_cols) * (L.cell_w + L.gap);
        int cy = L.grid_y0 + (k / L.n_cols) * (L.cell_h + L.gap);
        int inner_x = cx + L.frame + L.pad;
        mt_draw_frame(&cv, cx, cy, L.cell_w, L.cell_h, L.frame,
                      src->preds[i] == src->labels[i] ? RIGHT : WRONG);
        mt_draw_gray(&cv, inner_x + (L.content_w - L.img_w) / 2, cy + L.img_y,
                     images + (size_t)i * (size_t)rows * (size_t)cols, rows, cols, L.s);
        caption_parts(tp, pp, sizeof tp, src, i, L.cut);
        int line_h = MT_FONT_CELL_H * L.cs;
        if (L.lines == 1) {
            char one[2 * sizeof tp];
            snprintf(one, sizeof one, "%s %s", tp, pp);
            mt_draw_text(&cv, inner_x + (L.content_w - mt_text_width(one, L.cs)) / 2, cy + L.cap_y, one, L.cs, INK);
        } else {
            mt_draw_text(&cv, inner_x + (L.content_w - mt_text_width(tp, L.cs)) / 2, cy + L.cap_y, tp, L.cs, INK);
            mt_draw_text(&cv, inner_x + (L.content_w - mt_text_width(pp, L.cs)) / 2, cy + L.cap_y + line_h, pp,
                         L.cs, INK);
        }
    }

    st = mt_png_write_rgb(path, cv.rgb, cv.w, cv.h, err);
    if (st != MT_OK)
        goto fail;
    if (info) {
        *info = (mt_viz_info){.w = L.W, .h = L.H, .scale = L.s, .n_cells = n_show, .n_cols = L.n_cols,
                              .n_rows = L.n_rows, .x0 = L.grid_x0, .y0 = L.grid_y0,
                              .pitch_x = L.cell_w + L.gap, .pitch_y = L.cell_h + L.gap, .cell_w = L.cell_w,
                              .cell_h = L.cell_h, .frame = L.frame,
                              .img_x = L.frame + L.pad + (L.content_w - L.img_w) / 2, .img_y = L.img_y,
                              .caption_y = L.cap_y, .caption_h = L.cap_h};
    }
fail:
    mt_canvas_free(&cv);
    return st;
}

static mt_status check_grid_args(const char *path, const uint8_t *images, const uint8_t *labels,
                                 const uint8_t *preds, int n, int rows, int cols, const mt_viz_grid_opts *opt,
                                 mt_err *err)
{
    if (!path || !opt || n < 0 || (n > 0 && (!images || !labels || !preds)))
        return mt_errf(err, MT_EARG, "%s: missing grid input", path ? path : "(null)");
    if (rows < 1 || cols < 1 || rows > 1024 || cols > 1024)
        return mt_errf(err, MT_EARG, "%s: image size %dx%d is out of range (1..1024)", path, rows, cols);
    if (opt->class_names && opt->n_classes < 1)
        return mt_errf(err, MT_EARG, "%s: class_names given but n_classes is %d", path, opt->n_classes);
    return MT_OK;
}

mt_status mt_viz_grid(const char *path, const uint8_t *images, const uint8_t *labels,
                      const uint8_t *preds, int n, int rows, int cols,
                      const mt_viz_grid_opts *opt, mt_viz_info *info, mt_err *err)
{
    mt_status st = check_grid_args(path, images, labels, preds, n, rows, cols, opt, err);
    if (st != MT_OK)
        return st;
    int n_show = opt->max_cells > 0 && opt->max_cells < n ? opt->max_cells : n;
    caption_src src = {labels, preds, NULL, opt};
    return draw_grid(path, images, rows, cols, &src, NULL, n_show, "No images", info, err);
}

typedef struct {
    float conf;
    int idx;
} ranked;

/* Most confident first; NaN last; equal confidence keeps sample order. */
static int by_conf_desc(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    int xn = isnan(x->conf), yn = isnan(y->conf);
    if (xn != yn)
        return xn - yn;
    if (!xn && x->conf != y->conf)
        return x->conf > y->conf ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

mt_status mt_viz_mistakes(const char *path, const uint8_t *images, const uint8_t *labels,
                          const uint8_t *preds, const float *conf, int n, int rows, int cols,
                          const mt_viz_grid_opts *opt, mt_viz_info *info, mt_err *err)
{
    ranked *rk = NULL;
    int *order = NULL;
    mt_status st = check_grid_args(path, images, labels, preds, n, rows, cols, opt, err);
    if (st != MT_OK)
        return st;
    if (n > 0 && !conf)
        return mt_errf(err, MT_EARG, "%s: mistakes grid needs the confidences", path);

    int n_wrong = 0;
    for (int i = 0; i < n; i++)
        n_wrong += labels[i] != preds[i];
    rk = malloc((size_t)imax(n_wrong, 1) * sizeof *rk);
    order = malloc((size_t)imax(n_wrong, 1) * sizeof *order);
    if (!rk || !order) {
        st = mt_errf(err, MT_ENOMEM, "%s: out of memory ranking %d mistakes", path, n_wrong);
        goto fail;
    }
    int k = 0;
    for (int i = 0; i < n; i++)
        if (labels[i] != preds[i])
            rk[k++] = (ranked){conf[i], i};
    qsort(rk, (size_t)n_wrong, sizeof *rk, by_conf_desc);
    for (int j = 0; j < n_wrong; j++)
        order[j] = rk[j].idx;

    int n_show = opt->max_cells > 0 && opt->max_cells < n_wrong ? opt->max_cells : n_wrong;
    caption_src src = {labels, preds, conf, opt};
    st = draw_grid(path, images, rows, cols, &src, order, n_show, "No mistakes", info, err);
fail:
    free(rk);
    free(order);
    return st;
}

/* ========================================================================= */
/* Confusion matrix                                                          */
/* ========================================================================= */

static mt_rgb lerp_rgb(mt_rgb a, mt_rgb b, double t)
{
    return (mt_rgb){(uint8_t)lround(a.r + (b.r - a.r) * t), (uint8_t)lround(a.g + (b.g - a.g) * t),
                    (uint8_t)lround(a.b + (b.b - a.b) * t)};
}

mt_status mt_viz_confusion(const char *path, const int *counts, int K,
                           const char *const *class_names, const char *title,
                           mt_viz_info *info, mt_err *err)
{
    mt_status st = MT_OK;
    mt_canvas cv = {0};
    char nb[16], lab[24], num[16];
    enum { MAX_LABEL = 20 };

    if (!path || !counts)
        return mt_errf(err, MT_EARG, "%s: missing confusion matrix", path ? path : "(null)");
    if (K < 1 || K > 100)
        return mt_errf(err, MT_EARG, "%s: %d classes; the confusion picture supports 1..100", path, K);
    int max_count = 0;
    for (int i = 0; i < K * K; i++) {
        if (counts[i] < 0)
            return mt_errf(err, MT_EARG, "%s: negative count %d at row %d, column %d", path, counts[i],
                           i / K, i % K);
        max_count = imax(max_count, counts[i]);
    }

    int s = K <= 15 ? 2 : 1; /* text scale for counts and class labels */
    const int ts = 2;        /* titles */
    snprintf(num, sizeof num, "%d", max_count);
    int cell = imax(imax(mt_text_width(num, s) + 4 * s + 4, MT_FONT_CELL_H * s + 12), 20);

    int label_w = 0; /* widest class label */
    for (int k = 0; k < K; k++) {
        cut_copy(lab, sizeof lab, class_name(nb, sizeof nb, k, class_names, K), MAX_LABEL);
        label_w = imax(label_w, mt_text_width(lab, s));
    }
    int vertical = label_w > cell - 4; /* column labels turned up when they don't fit */
    int col_lab_h = vertical ? label_w : MT_FONT_CELL_H * s;

    int ts_title = title_scale(title, MT_VIZ_MAX_SIDE - 2 * MARGIN);
    int axis_h = MT_FONT_CELL_H * ts;
    int mx = MARGIN + axis_h + 6 + label_w + 6; /* matrix left */
    int my = MARGIN + title_band(ts_title) + axis_h + 4 + col_lab_h + 4;
    int W = imax(mx + K * cell + MARGIN, ts_title ? 2 * MARGIN + mt_text_width(title, ts_title) : 0);
    W = imin(W, MT_VIZ_MAX_SIDE);
    int H = my + K * cell + MARGIN;
    if (!fits(W, H) || mx + K * cell + MARGIN > MT_VIZ_MAX_SIDE)
        return mt_errf(err, MT_EARG, "%s: a %dx%d confusion matrix does not fit in %dx%d pixels", path, K, K,
                       MT_VIZ_MAX_SIDE, MT_VIZ_MAX_SIDE);

    st = mt_canvas_init(&cv, W, H, WHITE, err);
    if (st != MT_OK)
        goto fail;
    draw_title(&cv, title, ts_title);

    /* Axis titles: "Predicted" centred over the columns, "True" up the left side. */
    const char *pred_t = "Predicted", *true_t = "True";
    mt_draw_text(&cv, mx + (K * cell - mt_text_width(pred_t, ts)) / 2, my - 4 - col_lab_h - 4 - axis_h, pred_t, ts,
                 INK);
    mt_draw_text_up(&cv, MARGIN, my + (K * cell - mt_text_width(true_t, ts)) / 2, true_t, ts, INK);

    for (int k = 0; k < K; k++) {
        cut_copy(lab, sizeof lab, class_name(nb, sizeof nb, k, class_names, K), MAX_LABEL);
        int lw = mt_text_width(lab, s);
        /* row label: right-aligned, vertically centred */
        mt_draw_text(&cv, mx - 6 - lw, my + k * cell + (cell - MT_FONT_CELL_H * s) / 2, lab, s, INK);
        if (vertical) /* bottom-aligned just above the matrix */
            mt_draw_text_up(&cv, mx + k * cell + (cell - MT_FONT_CELL_H * s) / 2, my - 4 - lw, lab, s, INK);
        else
            mt_draw_text(&cv, mx + k * cell + (cell - lw) / 2, my - 4 - col_lab_h, lab, s, INK);
    }

    for (int t = 0; t < K; t++) {
        long row_total = 0;
        for (int p = 0; p < K; p++)
            row_total += counts[t * K + p];
        for (int p = 0; p < K; p++) {
            int n = counts[t * K + p];
            /* sqrt keeps a 1% confusion visibly tinted while the order of shades
             * still follows the order of counts within the row */
            double f = row_total > 0 ? sqrt((double)n / (double)row_total) : 0.0;
            int x = mx + p * cell, y = my + t * cell;
            mt_draw_rect(&cv, x, y, cell, cell, lerp_rgb(WHITE, HEAT_MAX, f));
            snprintf(num, sizeof num, "%d", n);
            mt_rgb tc = n == 0 ? MID_GRAY : f > 0.55 ? WHITE : INK;
            mt_draw_text(&cv, x + (cell - mt_text_width(num, s)) / 2 + s / 2,
                         y + (cell - MT_FONT_CELL_H * s) / 2, num, s, tc);
        }
    }
    for (int k = 0; k <= K; k++) { /* cell borders */
        mt_draw_rect(&cv, mx + k * cell, my, 1, K * cell, GRID_GRAY);
        mt_draw_rect(&cv, mx, my + k * cell, K * cell, 1, GRID_GRAY);
    }
    mt_draw_frame(&cv, mx - 1, my - 1, K * cell + 2, K * cell + 2, 1, INK);

    st = mt_png_write_rgb(path, cv.rgb, cv.w, cv.h, err);
    if (st != MT_OK)
        goto fail;
    if (info)
        *info = (mt_viz_info){.w = W, .h = H, .scale = s, .n_cells = K * K, .n_cols = K, .n_rows = K,
                              .x0 = mx, .y0 = my, .pitch_x = cell, .pitch_y = cell, .cell_w = cell,
                              .cell_h = cell};
fail:
    mt_canvas_free(&cv);
    return st;
}

/* ========================================================================= */
/* Learning curves                                                           */
/* ========================================================================= */

/* 1, 2 or 5 times a power of ten near x: rounded (nearest) or at least x. */
static double nice_num(double x, int round_it)
{
    double e = floor(log10(x)), f = x / pow(10, e), nf;
    if (round_it)
        nf = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
    else
        nf = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
    return nf * pow(10, e);
}

typedef struct {
    const float *y; /* (n) or NULL */
    double mul;     /* 100 for accuracy in percent */
    mt_rgb col;
    char label[48];
} series;

typedef struct {
    double lo, hi, step;
    int decimals;
} axis;

/* Ticks covering [lo, hi] with about 5 steps (Heckbert's "nice numbers"). */
static axis nice_axis(double lo, double hi)
{
    axis a;
    if (!(hi > lo)) {
        double d = fabs(lo) > 1e-12 ? fabs(lo) * 0.1 : 1.0;
        lo -= d;
        hi += d;
    }
    double range = nice_num(hi - lo, 0);
    a.step = nice_num(range / 5, 1);
    a.lo = floor(lo / a.step + 1e-9) * a.step;
    a.hi = ceil(hi / a.step - 1e-9) * a.step;
    a.decimals = a.step >= 1 ? 0 : (int)ceil(-log10(a.step) - 1e-9);
    return a;
}

static int is_point(const series *sr, int i) { return sr->y && isfinite(sr->y[i]); }

/* Series q's marker centred on (x, y): train a filled 7x7 square, held-out a
 * 9x9 ring, so equal values stay visible and colour is not the only cue. */
static void draw_marker(mt_canvas *cv, int x, int y, int q, mt_rgb col)
{
    if (q == 0)
        mt_draw_rect(cv, x - 3, y - 3, 7, 7, col);
    else
        mt_draw_frame(cv, x - 4, y - 4, 9, 9, 2, col);
}

/* One panel: frame, y grid and ticks, x ticks, the series and a legend. */
static void draw_panel(mt_canvas *cv, int px, int py, int pw, int ph, const char *name, series *sr, int n_sr,
                       int n, int zero_based, double clamp_lo, double clamp_hi, int legend_top)
{
    double lo = INFINITY, hi = -INFINITY;
    for (int k = 0; k < n_sr; k++)
        for (int i = 0; i < n; i++)
            if (is_point(&sr[k], i)) {
                double v = sr[k].y[i] * sr[k].mul;
                lo = fmin(lo, v);
                hi = fmax(hi, v);
            }
    if (!(lo <= hi)) { /* no finite point at all */
        lo = 0;
        hi = 1;
    }
    if (zero_based && lo >= 0)
        lo = 0;
    axis a = nice_axis(lo, hi);
    a.lo = fmax(a.lo, clamp_lo);
    a.hi = fmin(a.hi, clamp_hi);
    if (!(a.hi > a.lo))
        a = nice_axis(lo, hi);

    mt_draw_text(cv, px, py - MT_FONT_CELL_H * 2 - 6, name, 2, INK);
    /* y grid, ticks and labels */
    char buf[32];
    int n_ticks = (int)floor((a.hi - a.lo) / a.step + 1e-6);
    for (int i = 0; i <= n_ticks; i++) {
        double v = a.lo + i * a.step;
        int y = py + ph - 1 - (int)lround((v - a.lo) / (a.hi - a.lo) * (ph - 1));
        mt_draw_rect(cv, px, y, pw, 1, GRID_GRAY);
        mt_draw_rect(cv, px - 5, y, 5, 1, INK);
        snprintf(buf, sizeof buf, "%.*f", a.decimals, v);
        mt_draw_text(cv, px - 8 - mt_text_width(buf, 2), y - MT_FONT_CELL_H, buf, 2, INK);
    }
    /* x ticks: epoch 1 and every k-th epoch, k in 1, 2, 5, 10, 20, 50, ... */
    static const int steps[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000};
    int k = 1;
    for (size_t j = 0; j < sizeof steps / sizeof steps[0]; j++) {
        k = steps[j];
        if (n / k <= 10)
            break;
    }
    for (int e = 1; e <= n; e++) {
        if (e != 1 && e % k)
            continue;
        int x = px + (int)lround((e - 0.5) * pw / n);
        mt_draw_rect(cv, x, py + ph, 1, 5, INK);
        snprintf(buf, sizeof buf, "%d", e);
        mt_draw_text(cv, x - mt_text_width(buf, 2) / 2, py + ph + 8, buf, 2, INK);
    }
    /* axes */
    mt_draw_rect(cv, px - 1, py, 2, ph + 1, INK);
    mt_draw_rect(cv, px - 1, py + ph, pw + 1, 2, INK);

    /* series: lines between neighbouring finite points, markers on points */
    for (int q = 0; q < n_sr; q++) {
        if (!sr[q].y)
            continue;
        int prev_x = 0, prev_y = 0;
        for (int i = 0; i < n; i++) {
            if (!is_point(&sr[q], i))
                continue;
            double v = sr[q].y[i] * sr[q].mul;
            v = fmin(fmax(v, a.lo), a.hi);
            int x = px + (int)lround((i + 0.5) * pw / n);
            int y = py + ph - 1 - (int)lround((v - a.lo) / (a.hi - a.lo) * (ph - 1));
            if (i > 0 && is_point(&sr[q], i - 1))
                mt_draw_line(cv, prev_x, prev_y, x, y, 3, sr[q].col);
            int isolated = !(i > 0 && is_point(&sr[q], i - 1)) && !(i + 1 < n && is_point(&sr[q], i + 1));
            if (n <= 40 || isolated)
                draw_marker(cv, x, y, q, sr[q].col);
            prev_x = x;
            prev_y = y;
        }
    }

    /* legend box in a corner: top-right for falling curves, bottom-right for rising */
    int lw = 0, n_leg = 0;
    for (int q = 0; q < n_sr; q++)
        if (sr[q].y) {
            lw = imax(lw, mt_text_width(sr[q].label, 2));
            n_leg++;
        }
    int row_h = MT_FONT_CELL_H * 2 + 4;
    int bw = 10 + 28 + 8 + lw + 10, bh = 8 + n_leg * row_h + 4;
    int bx = px + pw - bw - 8, by = legend_top ? py + 8 : py + ph - bh - 8;
    mt_draw_rect(cv, bx, by, bw, bh, WHITE);
    mt_draw_frame(cv, bx, by, bw, bh, 1, MID_GRAY);
    int ly = by + 6;
    for (int q = 0; q < n_sr; q++) {
        if (!sr[q].y)
            continue;
        mt_draw_line(cv, bx + 10, ly + row_h / 2, bx + 38, ly + row_h / 2, 3, sr[q].col);
        draw_marker(cv, bx + 24, ly + row_h / 2, q, sr[q].col);
        mt_draw_text(cv, bx + 46, ly, sr[q].label, 2, INK);
        ly += row_h;
    }
}

/* Last finite value of y (n points), NAN if none. */
static double last_value(const float *y, int n)
{
    for (int i = n - 1; i >= 0; i--)
        if (isfinite(y[i]))
            return y[i];
    return NAN;
}

static void make_label(series *sr, const char *set, const char *what, int percent, int n)
{
    double v = sr->y ? last_value(sr->y, n) : NAN;
    if (!isfinite(v))
        snprintf(sr->label, sizeof sr->label, "%.12s %s", set, what);
    else if (percent)
        snprintf(sr->label, sizeof sr->label, "%.12s %s %.2f%%", set, what, v * 100);
    else
        snprintf(sr->label, sizeof sr->label, "%.12s %s %.4f", set, what, v);
}

mt_status mt_viz_curves(const char *path, const mt_viz_curves_in *in, mt_viz_info *info, mt_err *err)
{
    mt_status st = MT_OK;
    mt_canvas cv = {0};
    if (!path || !in)
        return mt_errf(err, MT_EARG, "%s: missing curves input", path ? path : "(null)");
    if (in->n_epochs < 1)
        return mt_errf(err, MT_EARG, "%s: no epochs to plot (n_epochs = %d)", path, in->n_epochs);
    int has_loss = in->train_loss || in->test_loss, has_acc = in->train_acc || in->test_acc;
    if (!has_loss && !has_acc)
        return mt_errf(err, MT_EARG, "%s: no series to plot", path);

    const char *held = in->held_out_name ? in->held_out_name : "test";
    const char *title = in->title ? in->title : "Learning curves";
    int n = in->n_epochs;
    series loss[2] = {{in->train_loss, 1, TRAIN, ""}, {in->test_loss, 1, TEST, ""}};
    series acc[2] = {{in->train_acc, 100, TRAIN, ""}, {in->test_acc, 100, TEST, ""}};
    make_label(&loss[0], "train", "loss", 0, n);
    make_label(&loss[1], held, "loss", 0, n);
    make_label(&acc[0], "train", "acc", 1, n);
    make_label(&acc[1], held, "acc", 1, n);

    /* Panel geometry: plot area pw x ph, room for labels around it. */
    const int W = 1000, left = 110, right = 30, pw = W - left - right, ph = 300;
    const int above = 2 * MT_FONT_CELL_H + 14, below = 2 * MT_FONT_CELL_H + 24;
    int ts = title_scale(title, W - 2 * MARGIN);
    int n_panels = has_loss + has_acc;
    int pitch = above + ph + below;
    int top = MARGIN + title_band(ts) + 6;
    int H = top + n_panels * pitch + 2 * MT_FONT_CELL_H + 10;

    st = mt_canvas_init(&cv, W, H, WHITE, err);
    if (st != MT_OK)
        goto fail;
    draw_title(&cv, title, ts);
    int py = top + above;
    if (has_loss) {
        draw_panel(&cv, left, py, pw, ph, "Loss", loss, 2, n, 1, -INFINITY, INFINITY, 1);
        py += pitch;
    }
    if (has_acc)
        draw_panel(&cv, left, py, pw, ph, "Accuracy (%)", acc, 2, n, 0, 0, 100, 0);
    const char *xl = "epoch";
    mt_draw_text(&cv, left + (pw - mt_text_width(xl, 2)) / 2, H - MARGIN - 2 * MT_FONT_CELL_H, xl, 2, INK);

    st = mt_png_write_rgb(path, cv.rgb, cv.w, cv.h, err);
    if (st != MT_OK)
        goto fail;
    if (info)
        *info = (mt_viz_info){.w = W, .h = H, .n_rows = n_panels, .n_cols = 1, .x0 = left, .y0 = top + above,
                              .cell_w = pw, .cell_h = ph, .pitch_y = pitch};
fail:
    mt_canvas_free(&cv);
    return st;
}

/* ------------------------------------------------------------------------- */
/* The model's input                                                         */
/* ------------------------------------------------------------------------- */

mt_status mt_viz_input(const char *path, const uint8_t *img, int rows, int cols, int scale, mt_err *err)
{
    if (!path || !img || rows < 1 || cols < 1 || rows > 1024 || cols > 1024)
        return mt_errf(err, MT_EARG, "input picture: bad arguments (%dx%d)", cols, rows);
    if (scale <= 0)
        scale = 8;
    while (scale > 1 && ((long)rows * scale > MT_VIZ_MAX_SIDE || (long)cols * scale > MT_VIZ_MAX_SIDE ||
                         (long)rows * scale * cols * scale > MT_VIZ_MAX_PIXELS))
        scale--;
    const int W = cols * scale, H = rows * scale;
    uint8_t *rgb = malloc((size_t)W * H * 3);
    if (!rgb)
        return mt_errf(err, MT_ENOMEM, "%s: out of memory", path);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            memset(rgb + 3 * ((size_t)y * W + x), img[(size_t)(y / scale) * cols + x / scale], 3);
    mt_status st = mt_png_write_rgb(path, rgb, W, H, err);
    free(rgb);
    return st;
}
